# tests/tsan/tsan.mk -- the Check suite under ThreadSanitizer.
#
#   make test-c-tsan   libaiw and the Check suite built with -fsanitize=thread,
#                      run in one process; any report fails; ends with
#                      `N passed, M failed`
#
# gRPC core is not instrumented: lib/internal.h annotates the hand-over of a
# call through a completion queue (AIW_HANDOFF_*), and tests/tsan/tsan.supp
# suppresses narrowly what remains, each line saying why it is no race.

TSAN_FLAGS    := -fsanitize=thread -fno-omit-frame-pointer
TSAN_DIR      := $(BUILD)/tsan
TSAN_LIB      := $(TSAN_DIR)/lib/libaiw.so
TSAN_OBJS     := $(call lib_objs,$(TSAN_DIR))
TSAN_TOBJS    := $(patsubst tests/check/%.c,$(TSAN_DIR)/tobj/%.o,$(CHECK_SRCS))
TSAN_BIN      := $(TSAN_DIR)/check_aiw
TSAN_ENV       = TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 \
	suppressions=$(abspath tests/tsan/tsan.supp)"

.PHONY: test-c-tsan

$(TSAN_DIR)/obj/lib/%.o: lib/%.c $(LIB_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -O1 $(TSAN_FLAGS) -c $< -o $@

$(TSAN_DIR)/obj/gen/%.o: $(GEN_DIR)/%.c $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(GEN_CFLAGS) -O1 $(TSAN_FLAGS) -c $< -o $@

$(eval $(call lib_cxx_rule,$(TSAN_DIR),-O1 $$(TSAN_FLAGS)))

$(TSAN_LIB): $(TSAN_OBJS) lib/libaiw.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(TSAN_FLAGS) -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=lib/libaiw.map \
		-o $@ $(TSAN_OBJS) $(GRPC_LIBS) -lpthread
	ln -sf libaiw.so $(dir $@)/$(LIB_SONAME)

$(TSAN_DIR)/tobj/%.o: tests/check/%.c $(CHECK_HDRS) include/aiw.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CHECK_CFLAGS) -O1 $(TSAN_FLAGS) -c $< -o $@

$(TSAN_DIR)/tobj/gen/ai_service.pb-c.o: $(GEN_SRCS) $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CHECK_PB_CFLAGS) -O1 $(TSAN_FLAGS) -c $< -o $@

$(TSAN_BIN): $(TSAN_TOBJS) $(TSAN_DIR)/tobj/gen/ai_service.pb-c.o $(TSAN_LIB)
	$(CC) $(TSAN_FLAGS) -o $@ $(TSAN_TOBJS) $(TSAN_DIR)/tobj/gen/ai_service.pb-c.o -L$(dir $(TSAN_LIB)) -laiw \
		-Wl,-rpath,$(abspath $(dir $(TSAN_LIB))) $(CHECK_LIBS)

# No fork: one process, so a race between tests' threads is seen too.
test-c-tsan: $(TSAN_BIN) $(PY_STUBS)
	@$(CHECK_ENV) CK_FORK=no $(TSAN_ENV) $(RUN_CHECK) test-c-tsan 900 -- $(TSAN_BIN)
