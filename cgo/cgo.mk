# cgo/cgo.mk -- package aiworker (module github.com/thinkbank/libaiw/cgo), the
# Go bindings of libaiw. Go 1.19, standard library only, no downloads.
#
#   make cgo        compile the package (and vet it) against build/lib
#   make test-go    vet + the Go suite (release, -race, and -asan against the
#                   ASan+UBSan libaiw) + sanitizer self-tests; ends with
#                   `N passed, M failed`
#   make bench-go   the Go benchmarks (unary and streaming, with allocations)
#   make gen-go     regenerate cgo/ai_service.pb.go from idl/ai_service.proto
#                   (committed, so that `go build` from another module works)
#   make check-generated  the committed file is what the .proto gives today

CGO_DIR       := cgo
CGO_BUILD     := $(BUILD)/cgo
CGO_ASAN_PC   := $(CGO_BUILD)/asan-pkgconfig/aiw.pc
CGO_SRCS      := $(wildcard $(CGO_DIR)/*.go $(CGO_DIR)/*.c $(CGO_DIR)/*.h) $(CGO_DIR)/go.mod
CGO_GOENV      = GOFLAGS=-mod=mod GOPROXY=off CGO_ENABLED=1 GOCACHE=$(abspath $(CGO_BUILD))/gocache \
	PKG_CONFIG_PATH=$(abspath $(dir $(LIB_PC)))
CGO_BENCHTIME ?= 2s

.PHONY: cgo test-go bench-go gen-go check-generated
all: cgo

cgo: $(CGO_BUILD)/.built

$(CGO_BUILD)/.built: $(CGO_SRCS) $(LIB_SO_LINK) $(LIB_PC) include/aiw.h | $(DEPS_STAMP)
	@mkdir -p $(CGO_BUILD)
	cd $(CGO_DIR) && $(CGO_GOENV) go build ./... && $(CGO_GOENV) go vet ./...
	@touch $@

# pkg-config file for the sanitizer build: same header, build/asan/lib, and
# the UBSan runtime (libaiw's ASan build needs it; go -asan adds ASan's).
$(CGO_ASAN_PC): $(CGO_DIR)/cgo.mk
	@mkdir -p $(dir $@)
	@printf '%s\n' 'Name: aiw' 'Description: libaiw ASan+UBSan build, for go test -asan' 'Version: $(LIB_VERSION)' \
	  'Cflags: -I$(abspath include)' \
	  'Libs: -L$(abspath $(SAN_LIB_DIR)) -Wl,-rpath,$(abspath $(SAN_LIB_DIR)) -laiw -fsanitize=undefined' > $@

test-go: $(LIB_SO_LINK) $(LIB_PC) $(SAN_LIB_SO) $(CGO_ASAN_PC) | $(DEPS_STAMP)
	@mkdir -p $(CGO_BUILD)
	@GOCACHE=$(abspath $(CGO_BUILD))/gocache AIW_PC_DIR=$(abspath $(dir $(LIB_PC))) \
	  AIW_ASAN_PC_DIR=$(abspath $(dir $(CGO_ASAN_PC))) AIW_BUILD_DIR=$(abspath $(CGO_BUILD)) \
	  AIW_LSAN_SUPP=$(abspath tests/check/lsan.supp) bash $(CGO_DIR)/run_tests.sh

bench-go: $(LIB_SO_LINK) $(LIB_PC) | $(DEPS_STAMP)
	cd $(CGO_DIR) && $(CGO_GOENV) go test -run '^$$' -bench . -benchmem -benchtime $(CGO_BENCHTIME)

gen-go: | $(DEPS_STAMP)
	bash $(CGO_DIR)/gen_go.sh $(CGO_DIR)

check-generated: | $(DEPS_STAMP)
	@bash $(CGO_DIR)/check_generated.sh
