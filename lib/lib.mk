# lib/lib.mk -- libaiw itself: generated protobuf-c code, the shared and the
# static library, a sanitizer build for the tests, pkg-config file, install.

LIB_VERSION  := 1.1.0
LIB_SONAME   := libaiw.so.1
LIB_DIR      := $(BUILD)/lib
GEN_DIR      := $(BUILD)/gen
LIB_SO_REAL  := $(LIB_DIR)/libaiw.so.$(LIB_VERSION)
LIB_SO_NAME  := $(LIB_DIR)/$(LIB_SONAME)
LIB_SO_LINK  := $(LIB_DIR)/libaiw.so
LIB_A        := $(LIB_DIR)/libaiw.a
LIB_PC       := $(LIB_DIR)/pkgconfig/aiw.pc

# Lazily expanded: pkg-config may only exist once $(DEPS_STAMP) has run.
GRPC_CFLAGS = $(shell $(PKG_CONFIG) --cflags grpc libprotobuf-c)
GRPC_LIBS   = $(shell $(PKG_CONFIG) --libs grpc libprotobuf-c)

LIB_SRCS   := $(sort $(wildcard lib/*.c))
GEN_SRCS   := $(GEN_DIR)/ai_service.pb-c.c
GEN_HDRS   := $(GEN_DIR)/ai_service.pb-c.h
LIB_HDRS   := include/aiw.h $(wildcard lib/*.h) $(GEN_HDRS)

LIB_CFLAGS = $(CSTD) $(OPT) $(WARNINGS) -fPIC -fvisibility=hidden -DAIW_BUILDING_LIBRARY \
	-Iinclude -Ilib -I$(GEN_DIR) $(GRPC_CFLAGS)
# Generated code is not ours to warn about beyond -Wall.
GEN_CFLAGS = $(CSTD) $(OPT) -Wall -Werror -fPIC -fvisibility=hidden -I$(GEN_DIR) $(GRPC_CFLAGS)

LIB_OBJS     := $(patsubst lib/%.c,$(BUILD)/obj/lib/%.o,$(LIB_SRCS)) $(BUILD)/obj/gen/ai_service.pb-c.o

# Sanitizer variant (AddressSanitizer + UBSan), used by the test suite.
SAN_FLAGS     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_LIB_DIR   := $(BUILD)/asan/lib
SAN_LIB_SO    := $(SAN_LIB_DIR)/libaiw.so
SAN_LIB_OBJS  := $(patsubst lib/%.c,$(BUILD)/asan/obj/lib/%.o,$(LIB_SRCS)) $(BUILD)/asan/obj/gen/ai_service.pb-c.o

.PHONY: lib lib-asan install-lib check-abi abi-baseline
lib: $(LIB_SO_REAL) $(LIB_SO_NAME) $(LIB_SO_LINK) $(LIB_A) $(LIB_PC)
lib-asan: $(SAN_LIB_SO)

$(GEN_DIR)/ai_service.pb-c.c $(GEN_DIR)/ai_service.pb-c.h: idl/ai_service.proto | $(DEPS_STAMP)
	@mkdir -p $(GEN_DIR)
	protoc-c -Iidl --c_out=$(GEN_DIR) idl/ai_service.proto

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
	objcopy --localize-hidden $(BUILD)/obj/libaiw-all.o
	rm -f $@ && ar rcs $@ $(BUILD)/obj/libaiw-all.o

# In-tree pkg-config file: lets cgo and other builds link build/lib directly.
$(LIB_PC): lib/aiw.pc.in Makefile lib/lib.mk
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(abspath $(BUILD))|' -e 's|@LIBDIR@|$(abspath $(LIB_DIR))|' \
	    -e 's|@INCLUDEDIR@|$(abspath include)|' -e 's|@VERSION@|$(LIB_VERSION)|' \
	    -e 's|@RPATH@|-Wl,-rpath,$${libdir} |' $< > $@

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
	abidw --headers-dir include --no-corpus-path --drop-undefined-syms $(LIB_SO_REAL) > lib/abi/libaiw.so.1.abi

LIBDIR_INSTALL = $(DESTDIR)$(PREFIX)/lib
install-lib: lib
	install -d $(DESTDIR)$(PREFIX)/include $(LIBDIR_INSTALL)/pkgconfig
	install -m 644 include/aiw.h $(DESTDIR)$(PREFIX)/include/aiw.h
	install -m 755 $(LIB_SO_REAL) $(LIBDIR_INSTALL)/
	ln -sf libaiw.so.$(LIB_VERSION) $(LIBDIR_INSTALL)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(LIBDIR_INSTALL)/libaiw.so
	install -m 644 $(LIB_A) $(LIBDIR_INSTALL)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(PREFIX)/lib|' -e 's|@INCLUDEDIR@|$(PREFIX)/include|' \
	    -e 's|@VERSION@|$(LIB_VERSION)|' -e 's|@RPATH@||' lib/aiw.pc.in > $(LIBDIR_INSTALL)/pkgconfig/aiw.pc

install: install-lib
