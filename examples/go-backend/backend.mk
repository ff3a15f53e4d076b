# examples/go-backend/backend.mk -- aiw-backend, the Go HTTP gateway in front
# of the AI service (issue 5), and its tests.
#
#   make build/bin/aiw-backend   the gateway (part of `make` / `make all`)
#   make test-backend            go vet + httptest suite against the reference
#                                service + the headless-Chromium check; ends
#                                with `N passed, M failed`
#   make run-backend             the gateway against a running AI service
#                                (AI_TARGET=host:port, a gRPC target or a
#                                comma list of IP:port replicas; LISTEN=addr)
#   make install                 also installs $(PREFIX)/bin/aiw-backend
#
# Go 1.19; the gateway uses the standard library and Debian's Prometheus
# client_golang (golang-github-prometheus-client-golang-dev) for /metrics.
# The module uses the in-tree cgo/ package through a `replace`, and
# google.golang.org/protobuf (the package's protoc-gen-go messages),
# client_golang and the modules they need from Debian's copies under
# /usr/share/gocode/src through more (see go.mod); nothing is downloaded
# (GOPROXY=off).

BACKEND_DIR      := examples/go-backend
BACKEND_BIN      := $(BUILD)/bin/aiw-backend
BACKEND_WORK     := $(BUILD)/go-backend
BACKEND_INST_BIN := $(BACKEND_WORK)/install/aiw-backend
BACKEND_INST_PC  := $(BACKEND_WORK)/install-pc/aiw.pc
BACKEND_SRCS     := $(shell find $(BACKEND_DIR) cgo -type f \( -name '*.go' -o -name '*.c' -o -name '*.h' \
                      -o -name 'go.mod' -o -name '*.html' \) -not -name '*_test.go' 2>/dev/null)

# A private GOCACHE: Go's build cache does not key cgo packages on what
# pkg-config prints, so a cache shared with builds that see another aiw.pc
# (sanitizer builds, other checkouts) can hand back a package with the wrong
# link flags. CGO_LDFLAGS repeats aiw.pc's Libs so that a changed aiw.pc also
# changes the cache key (the flags appear twice on the link line: harmless).
BACKEND_PC_PATH  = $(abspath $(LIB_DIR))/pkgconfig
BACKEND_GOENV    = GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=1 \
	GOCACHE=$(abspath $(BACKEND_WORK))/gocache PKG_CONFIG_PATH=$(BACKEND_PC_PATH) \
	CGO_LDFLAGS="$(shell PKG_CONFIG_PATH=$(BACKEND_PC_PATH) $(PKG_CONFIG) --libs aiw 2>/dev/null)"

.PHONY: test-backend run-backend install-backend
all: $(BACKEND_BIN)
install: install-backend

$(BACKEND_BIN): $(BACKEND_SRCS) $(LIB_SO_LINK) $(LIB_PC) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	cd $(BACKEND_DIR) && $(BACKEND_GOENV) go build -trimpath -o $(abspath $@) .

test-backend: $(BACKEND_BIN)
	@$(BACKEND_GOENV) bash $(BACKEND_DIR)/run_tests.sh

AI_TARGET ?= 127.0.0.1:50051
LISTEN    ?= 127.0.0.1:8080
run-backend: $(BACKEND_BIN)
	$(BACKEND_BIN) -listen $(LISTEN) -ai-target $(AI_TARGET)

# The installed binary is linked again with an rpath to $(PREFIX)/lib (the
# in-tree one points at build/lib).
$(BACKEND_INST_PC): $(LIB_PC)
	@mkdir -p $(dir $@)
	sed -e 's|^Libs:.*|Libs: -L$(abspath $(LIB_DIR)) -Wl,-rpath,$(PREFIX)/lib -laiw|' $< > $@

$(BACKEND_INST_BIN): $(BACKEND_SRCS) $(LIB_SO_LINK) $(BACKEND_INST_PC) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	cd $(BACKEND_DIR) && GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=1 \
		GOCACHE=$(abspath $(BACKEND_WORK))/gocache PKG_CONFIG_PATH=$(abspath $(dir $(BACKEND_INST_PC))) \
		CGO_LDFLAGS="-L$(abspath $(LIB_DIR)) -Wl,-rpath,$(PREFIX)/lib -laiw" \
		go build -trimpath -o $(abspath $@) .

install-backend: $(BACKEND_INST_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BACKEND_INST_BIN) $(DESTDIR)$(PREFIX)/bin/aiw-backend
