# examples/static.mk -- `make static`: build/bin/aiw and build/bin/aiw-backend
# linked against libaiw.a and the static archives of gRPC, protobuf-c, abseil,
# re2, c-ares, OpenSSL, zlib, jansson and libstdc++ that Debian ships, so that
# they run where gRPC is not installed (only libc-level libraries stay
# dynamic). `make test-static` proves it in a minimal Debian root. See
# tests/static/README.md (sizes, container images).
#
#   make static        build/static/bin/{aiw,aiw-backend}, then copied over
#                      build/bin/{aiw,aiw-backend}
#   make test-static   ldd checks, then the binaries (and a C program linked
#                      with `pkg-config --static --libs aiw`) run inside a
#                      debootstrap --variant=minbase chroot (build/static-root,
#                      made once and reused); ends with `N passed, M failed`
#
# The static binaries are built under build/static/ and only then copied into
# build/bin/. `make static` orders itself after the dynamic build/bin/aiw and
# build/bin/aiw-backend (order-only prerequisites), so `make all static` (also
# with -j) ends with the static ones in build/bin; a later `make` relinks the
# dynamic ones only when one of their sources changes.
#
# Link line: what `pkg-config --static --libs aiw jansson` says (aiw.pc's
# Libs.private, so what a C program of your own gets), every library taken
# from its .a (-Wl,-Bstatic) except the libc-level ones (libm, libdl, librt,
# libpthread), which stay dynamic (and are dropped when unused: --as-needed);
# libgcc and libstdc++ static. The binaries are not linked with -static
# (glibc's NSS, dlopen and getaddrinfo want the shared libc); a C program can
# be (`cc -static ... $(pkg-config --static --libs aiw)`, tested too).
#
#   make static-root   just the minimal root (tests/static/make_root.sh)

STATIC_DIR      := $(BUILD)/static
STATIC_LIB_DIR  := $(STATIC_DIR)/lib
STATIC_LIB_A    := $(STATIC_LIB_DIR)/libaiw.a
STATIC_PC_DIR   := $(STATIC_DIR)/pkgconfig
STATIC_PC       := $(STATIC_PC_DIR)/aiw.pc
STATIC_AIW      := $(STATIC_DIR)/bin/aiw
STATIC_BACKEND  := $(STATIC_DIR)/bin/aiw-backend
STATIC_ROOT     := $(BUILD)/static-root

STATIC_PKG_CONFIG = PKG_CONFIG_PATH=$(abspath $(STATIC_PC_DIR)) $(PKG_CONFIG)
STATIC_LIBC_LEVEL := -lm -ldl -lrt -lpthread -pthread -lc
# $(call static_ldlibs,PACKAGES): the link flags for the pkg-config PACKAGES.
# Recursive: pkg-config may only work once $(DEPS_STAMP) and $(STATIC_PC) exist.
static_ldlibs = $(call static_wrap,$(shell $(STATIC_PKG_CONFIG) --static --libs $(1)))
static_wrap   = -Wl,-Bstatic $(filter-out $(STATIC_LIBC_LEVEL),$(1)) -Wl,-Bdynamic -static-libgcc \
	-static-libstdc++ -Wl,--as-needed $(sort $(filter $(STATIC_LIBC_LEVEL),$(1)) -lpthread)
STATIC_CLI_LDLIBS     = $(call static_ldlibs,aiw jansson)
STATIC_BACKEND_LDLIBS = $(call static_ldlibs,aiw)

.PHONY: static test-static static-root
static: $(STATIC_AIW) $(STATIC_BACKEND) | $(AIW_CLI) $(BACKEND_BIN)
	@mkdir -p $(BUILD)/bin
	cp -f $(STATIC_AIW) $(BUILD)/bin/aiw
	cp -f $(STATIC_BACKEND) $(BUILD)/bin/aiw-backend
	@for b in $(BUILD)/bin/aiw $(BUILD)/bin/aiw-backend; do \
	  printf '%s: %s bytes (%s stripped)\n' "$$b" "$$(stat -c %s $$b)" \
	    "$$(strip -o $(STATIC_DIR)/stripped $$b && stat -c %s $(STATIC_DIR)/stripped)"; \
	  ldd $$b | sed 's/^/    /'; done; rm -f $(STATIC_DIR)/stripped

# libaiw.a as lib/lib.mk makes it, without its COMDAT group: lib/lib.mk's
# `objcopy --localize-hidden` makes the group's key, the hidden
# DW.ref.__gxx_personality_v0 of lib/service_config.cc, a local symbol, but
# the linker still keeps libaiw's copy of the group and drops libgrpc++.a's,
# leaving grpc++'s references to it undefined ("relocation R_X86_64_PC32
# against undefined hidden symbol `DW.ref.__gxx_personality_v0' can not be
# used when making a PIE object"). Ungrouped, libaiw's copy is just its own
# local one. A no-op once lib/lib.mk's $(LIB_A) rule removes the group too
# (objcopy --localize-hidden --remove-section=.group).
$(STATIC_LIB_A): $(LIB_A) examples/static.mk
	@mkdir -p $(dir $@)
	objcopy --remove-section=.group $< $@.tmp
	mv -f $@.tmp $@

# aiw.pc for the static build: lib/aiw.pc.in with libdir build/static/lib
# (libaiw.a only, so that -laiw cannot pick libaiw.so) and no rpath.
$(STATIC_PC): lib/aiw.pc.in lib/lib.mk examples/static.mk | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(abspath $(STATIC_DIR))|' -e 's|@LIBDIR@|$(abspath $(STATIC_LIB_DIR))|' \
	    -e 's|@INCLUDEDIR@|$(abspath include)|' -e 's|@VERSION@|$(LIB_VERSION)|' -e 's|@RPATH@||' \
	    -e 's|@LIBS_PRIVATE@|$(LIB_PC_PRIVATE)|' $< > $@

# The CLI's objects are the dynamic build's (same flags): only the link differs.
$(STATIC_AIW): $(AIW_CLI_OBJS) $(STATIC_LIB_A) $(STATIC_PC) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(AIW_CLI_OBJS) $(STATIC_CLI_LDLIBS)

# The gateway: cgo's `#cgo pkg-config: aiw` finds the static aiw.pc
# (-L build/static/lib -laiw), the external linker gets the rest. A GOCACHE
# of its own, and CGO_LDFLAGS repeating aiw.pc's Libs (see
# examples/go-backend/backend.mk on Go's cache and cgo). The old binary is
# removed first: go build does not know that libaiw.a changed, and would
# keep a binary that it thinks is up to date.
STATIC_GOENV = GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=1 \
	GOCACHE=$(abspath $(STATIC_DIR))/gocache PKG_CONFIG_PATH=$(abspath $(STATIC_PC_DIR)) \
	CGO_LDFLAGS="$(shell $(STATIC_PKG_CONFIG) --libs aiw 2>/dev/null)"
$(STATIC_BACKEND): $(BACKEND_SRCS) $(STATIC_LIB_A) $(STATIC_PC) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	rm -f $@
	cd $(BACKEND_DIR) && $(STATIC_GOENV) go build -trimpath \
		-ldflags '-linkmode external -extldflags "$(STATIC_BACKEND_LDLIBS)"' -o $(abspath $@) .

# The minimal Debian root (debootstrap --variant=minbase), made once.
static-root:
	@bash tests/static/make_root.sh $(STATIC_ROOT)

test-static: $(STATIC_AIW) $(STATIC_BACKEND) $(LIB_A) $(LIB_PC) $(PY_STUBS) | $(DEPS_STAMP)
	@STATIC_AIW=$(abspath $(STATIC_AIW)) STATIC_BACKEND=$(abspath $(STATIC_BACKEND)) \
	  STATIC_ROOT=$(abspath $(STATIC_ROOT)) STATIC_PC_DIR=$(abspath $(STATIC_PC_DIR)) \
	  AIW_PC_DIR=$(abspath $(dir $(LIB_PC))) AIW_LIB_A=$(abspath $(LIB_A)) \
	  PYTHON=$(PYTHON_GRPC) CC="$(CC)" bash tests/static/run.sh
