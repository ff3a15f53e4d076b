# tests/torture/torture.mk -- allocation failure torture (lib/torture.c).
#
#   make test-torture   libaiw built with -DAIW_TORTURE and ASan+UBSan; each
#                       request path of tests/torture/torture.c run with every
#                       one of its allocations failing in turn; ends with
#                       `N passed, M failed`

TORTURE_DIR   := $(BUILD)/torture
TORTURE_LIB   := $(TORTURE_DIR)/lib/libaiw.so
TORTURE_OBJS  := $(call lib_objs,$(TORTURE_DIR))
TORTURE_BIN   := $(TORTURE_DIR)/torture
TORTURE_TSRCS := tests/torture/torture.c tests/check/harness.c tests/check/expect.c

.PHONY: test-torture

$(TORTURE_DIR)/obj/lib/%.o: lib/%.c $(LIB_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -O1 $(SAN_FLAGS) -DAIW_TORTURE -c $< -o $@

$(TORTURE_DIR)/obj/gen/%.o: $(GEN_DIR)/%.c $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(GEN_CFLAGS) -O1 $(SAN_FLAGS) -c $< -o $@

$(eval $(call lib_cxx_rule,$(TORTURE_DIR),-O1 $$(SAN_FLAGS)))

$(TORTURE_LIB): $(TORTURE_OBJS) lib/libaiw.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(SAN_FLAGS) -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=lib/libaiw.map \
		-o $@ $(TORTURE_OBJS) $(GRPC_LIBS) -lpthread
	ln -sf libaiw.so $(dir $@)/$(LIB_SONAME)

$(TORTURE_BIN): $(TORTURE_TSRCS) $(CHECK_HDRS) include/aiw.h $(TORTURE_LIB)
	$(CC) $(CHECK_CFLAGS) -O1 $(SAN_FLAGS) -o $@ $(TORTURE_TSRCS) -L$(dir $(TORTURE_LIB)) -laiw \
		-Wl,-rpath,$(abspath $(dir $(TORTURE_LIB))) $(CHECK_LIBS)

test-torture: $(TORTURE_BIN) $(PY_STUBS)
	@$(ASAN_ENV) timeout 900 $(TORTURE_BIN)
