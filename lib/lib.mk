# lib/lib.mk -- libaiw itself: generated protobuf-c code, the shared and the
# static library, a sanitizer build for the tests, pkg-config file, install.

LIB_VERSION  := 1.2.0
LIB_SONAME   := libaiw.so.1
LIB_DIR      := $(BUILD)/lib
GEN_DIR      := $(BUILD)/gen
LIB_SO_REAL  := $(LIB_DIR)/libaiw.so.$(LIB_VERSION)
LIB_SO_NAME  := $(LIB_DIR)/$(LIB_SONAME)
LIB_SO_LINK  := $(LIB_DIR)/libaiw.so
LIB_A        := $(LIB_DIR)/libaiw.a
LIB_PC       := $(LIB_DIR)/pkgconfig/aiw.pc

# Lazily expanded: pkg-config may only exist once $(DEPS_STAMP) has run.
# grpc++ only for lib/service_config.cc (gRPC's service-config validator).
GRPC_CFLAGS = $(shell $(PKG_CONFIG) --cflags grpc libprotobuf-c)
GRPC_LIBS   = $(shell $(PKG_CONFIG) --libs grpc++ grpc libprotobuf-c) -lstdc++

LIB_SRCS   := $(sort $(wildcard lib/*.c))
LIB_CXX    := service_config
# The message code protoc-c generates; ai_service first (tests build it alone from $<).
GEN_NAMES  := ai_service health rpc_status
GEN_SRCS   := $(patsubst %,$(GEN_DIR)/%.pb-c.c,$(GEN_NAMES))
GEN_HDRS   := $(patsubst %,$(GEN_DIR)/%.pb-c.h,$(GEN_NAMES))
LIB_HDRS   := include/aiw.h $(wildcard lib/*.h) $(GEN_HDRS)
# The objects of one build variant under $(1): lib/*.c, generated, C++.
lib_objs    = $(patsubst lib/%.c,$(1)/obj/lib/%.o,$(LIB_SRCS)) $(patsubst %,$(1)/obj/gen/%.pb-c.o,$(GEN_NAMES)) 	$(patsubst %,$(1)/obj/lib/%.o,$(LIB_CXX))
LIB_CXXFLAGS = -std=c++17 $(OPT) -Wall -Wextra -Werror -fPIC -fvisibility=hidden -Ilib $(GRPC_CFLAGS)

LIB_CFLAGS = $(CSTD) $(OPT) $(WARNINGS) -fPIC -fvisibility=hidden -DAIW_BUILDING_LIBRARY \
	-Iinclude -Ilib -I$(GEN_DIR) $(GRPC_CFLAGS)
# Generated code is not ours to warn about beyond -Wall.
GEN_CFLAGS = $(CSTD) $(OPT) -Wall -Werror -fPIC -fvisibility=hidden -I$(GEN_DIR) $(GRPC_CFLAGS)

LIB_OBJS     := $(call lib_objs,$(BUILD))

# Sanitizer variant (AddressSanitizer + UBSan), used by the test suite.
SAN_FLAGS     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_LIB_DIR   := $(BUILD)/asan/lib
SAN_LIB_SO    := $(SAN_LIB_DIR)/libaiw.so
SAN_LIB_OBJS  := $(call lib_objs,$(BUILD)/asan)

.PHONY: lib lib-asan install-lib check-abi abi-baseline
lib: $(LIB_SO_REAL) $(LIB_SO_NAME) $(LIB_SO_LINK) $(LIB_A) $(LIB_PC)
lib-asan: $(SAN_LIB_SO)

$(GEN_DIR)/%.pb-c.c $(GEN_DIR)/%.pb-c.h: idl/%.proto | $(DEPS_STAMP)
	@mkdir -p $(GEN_DIR)
	protoc-c -Iidl --c_out=$(GEN_DIR) $<

# The message layer, generated from idl/ai_service.proto by
# lib/gen/protoc-gen-aiw.py (a protoc plugin) and committed: the C
# functions, the blocks of include/aiw.h between BEGIN/END GENERATED, new
# lines of lib/symbols.txt and lib/libaiw.map, and the CLI's JSON. When the
# .proto (or the generator, or the hand-written rules it reads) changes,
# make regenerates them into $(AIW_GEN_DIR) and copies into the tree only
# the files that differ, so that nothing else is rebuilt for nothing.
# `make check-generated-c` (tests/schema) proves the tree is up to date.
AIW_GEN_DIR   := $(GEN_DIR)/aiw
AIW_GEN_FILES := include/aiw.h lib/messages.gen.c lib/symbols.txt lib/libaiw.map \
	examples/aiw/json.gen.c examples/aiw/json.gen.h
AIW_GEN_STAMP := $(AIW_GEN_DIR)/.stamp
AIW_GEN_INPUTS := idl/ai_service.proto lib/gen/protoc-gen-aiw.py lib/message_rules.c
# $(1): the output directory. Run from the top of the tree (the plugin reads
# the current aiw.h, symbols.txt, libaiw.map and message_rules.c).
aiw_gen = protoc -Iidl --plugin=protoc-gen-aiw=lib/gen/protoc-gen-aiw.py --aiw_out=$(1) \
	--aiw_opt=version=$(LIB_VERSION) idl/ai_service.proto

.PHONY: gen
gen: $(AIW_GEN_STAMP)
$(AIW_GEN_STAMP): $(AIW_GEN_INPUTS) | $(DEPS_STAMP)
	@rm -rf $(AIW_GEN_DIR) && mkdir -p $(AIW_GEN_DIR)
	$(call aiw_gen,$(AIW_GEN_DIR))
	@for f in $(AIW_GEN_FILES); do \
	  cmp -s $(AIW_GEN_DIR)/$$f $$f || { cp $(AIW_GEN_DIR)/$$f $$f && echo "gen: $$f updated from idl/ai_service.proto"; }; \
	done
	@touch $@
$(AIW_GEN_FILES): $(AIW_GEN_STAMP) ;

# lib/*.cc, in every variant ($(1): the variant's directory, $(2): its flags).
define lib_cxx_rule
$(1)/obj/lib/%.o: lib/%.cc lib/internal.h | $$(DEPS_STAMP)
	@mkdir -p $$(dir $$@)
	$$(CXX) $$(LIB_CXXFLAGS) $(2) -c $$< -o $$@
endef
$(eval $(call lib_cxx_rule,$(BUILD),))
$(eval $(call lib_cxx_rule,$(BUILD)/asan,-O1 $$(SAN_FLAGS)))

$(BUILD)/obj/lib/%.o: lib/%.c $(LIB_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -c $< -o $@

$(BUILD)/obj/gen/%.o: $(GEN_DIR)/%.c $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(GEN_CFLAGS) -c $< -o $@

$(LIB_SO_REAL): $(LIB_OBJS) lib/libaiw.map
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=lib/libaiw.map -Wl,--no-undefined \
		-Wl,-z,defs -o $@ $(LIB_OBJS) $(GRPC_LIBS) -lpthread

$(LIB_SO_NAME): $(LIB_SO_REAL)
	ln -sf $(notdir $<) $@

$(LIB_SO_LINK): $(LIB_SO_NAME)
	ln -sf $(notdir $<) $@

# One relocatable object whose hidden symbols are made local, so that the
# static library, like the shared one, exports only aiw_* names.
$(LIB_A): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(LD) -r -o $(BUILD)/obj/libaiw-all.o $^
	@# .group sections dropped: a COMDAT key localised (DW.ref.__gxx_personality_v0,
	@# service_config.cc) would leave libgrpc++.a's references to it undefined.
	objcopy --localize-hidden --remove-section=.group $(BUILD)/obj/libaiw-all.o
	rm -f $@ && ar rcs $@ $(BUILD)/obj/libaiw-all.o

# In-tree pkg-config file: lets cgo and other builds link build/lib directly.
# Libs.private (pkg-config --static): everything libaiw.a needs, in link
# order, the C++ runtime last (see lib/aiw.pc.in).
LIB_PC_PRIVATE = $(shell $(PKG_CONFIG) --static --libs grpc++ grpc libprotobuf-c) -lstdc++ -lm -lpthread
$(LIB_PC): lib/aiw.pc.in Makefile lib/lib.mk | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(abspath $(BUILD))|' -e 's|@LIBDIR@|$(abspath $(LIB_DIR))|' \
	    -e 's|@INCLUDEDIR@|$(abspath include)|' -e 's|@VERSION@|$(LIB_VERSION)|' \
	    -e 's|@RPATH@|-Wl,-rpath,$${libdir} |' -e 's|@LIBS_PRIVATE@|$(LIB_PC_PRIVATE)|' $< > $@

$(BUILD)/asan/obj/lib/%.o: lib/%.c $(LIB_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -O1 $(SAN_FLAGS) -c $< -o $@

$(BUILD)/asan/obj/gen/%.o: $(GEN_DIR)/%.c $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(GEN_CFLAGS) -O1 $(SAN_FLAGS) -c $< -o $@

$(SAN_LIB_SO): $(SAN_LIB_OBJS) lib/libaiw.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(SAN_FLAGS) -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=lib/libaiw.map \
		-o $@ $(SAN_LIB_OBJS) $(GRPC_LIBS) -lpthread
	ln -sf libaiw.so $(SAN_LIB_DIR)/$(LIB_SONAME)

# Every exported symbol is aiw_* and listed in lib/symbols.txt, and vice versa.
check-abi: $(LIB_SO_REAL) $(LIB_A)
	@bash lib/check_abi.sh $(LIB_SO_REAL) lib/symbols.txt

# After a release adds symbols: record the new ABI as the baseline.
abi-baseline: $(LIB_SO_REAL)
	abidw --headers-dir include --drop-private-types --no-corpus-path --drop-undefined-syms $(LIB_SO_REAL) > lib/abi/libaiw.so.1.abi

LIBDIR_INSTALL = $(DESTDIR)$(PREFIX)/lib
install-lib: lib
	install -d $(DESTDIR)$(PREFIX)/include $(LIBDIR_INSTALL)/pkgconfig
	install -m 644 include/aiw.h $(DESTDIR)$(PREFIX)/include/aiw.h
	install -m 755 $(LIB_SO_REAL) $(LIBDIR_INSTALL)/
	ln -sf libaiw.so.$(LIB_VERSION) $(LIBDIR_INSTALL)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(LIBDIR_INSTALL)/libaiw.so
	install -m 644 $(LIB_A) $(LIBDIR_INSTALL)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(PREFIX)/lib|' -e 's|@INCLUDEDIR@|$(PREFIX)/include|' \
	    -e 's|@VERSION@|$(LIB_VERSION)|' -e 's|@RPATH@||' -e 's|@LIBS_PRIVATE@|$(LIB_PC_PRIVATE)|' \
	    lib/aiw.pc.in > $(LIBDIR_INSTALL)/pkgconfig/aiw.pc

install: install-lib
