# cgo/grpcconn/grpcconn.mk -- package grpcconn (module
# github.com/thinkbank/libaiw/cgo/grpcconn): libaiw as a grpc-go
# grpc.ClientConnInterface, and its benchmark (bench/grpcconn/). Included by
# the top Makefile after bench/bench.mk:
#
#   -include cgo/grpcconn/grpcconn.mk
#
#   make grpcconn              build + vet the package against build/lib
#   make grpcconn-gen          generate the test's grpc-go client from idl/ai_service.proto
#                              (protoc-gen-go + protoc-gen-go-grpc) into cgo/grpcconn/gen/ (gitignored)
#   make test-grpcconn         gofmt, vet, the shared table over grpcconn.Conn and grpc-go's
#                              ClientConn (plain and -race), the bench smoke; ends `N passed, M failed`
#   make bench-grpcconn        the benchmark (~3 min): grpcconn vs grpc-go vs aiworker, writes
#                              bench/grpcconn/RESULTS.md (GRPCCONN_BENCH_ARGS="--rounds 3" for a shorter run)
#   make bench-grpcconn-smoke  the benchmark client, every client, tiny counts
#   make bench-grpcconn-build  just build build/grpcconn/bench_grpcconn
#   make grpcconn-clean        remove cgo/grpcconn/gen/ (also run by `make clean`)
#
# `make bench` runs bench-grpcconn too (after bench.mk's prerequisites; set
# GRPCCONN_IN_BENCH=0 to leave it out).
#
# Go: Debian's grpc-go 1.33 / protobuf / genproto in module mode, offline:
# replace directives into /usr/share/gocode/src and stub modules
# (cgo/grpcconn/stubs/) for grpc-go's graph-only requirements. A program that
# links the Go package aiworker *and* its own protoc-gen-go copy of
# ai_service.proto registers the file twice; the protobuf runtime panics at
# start unless its conflict policy says otherwise, hence GRPCCONN_LDFLAGS on
# everything here that links both (README.md, "The registration conflict").

GRPCCONN_DIR      := cgo/grpcconn
GRPCCONN_BUILD    := $(BUILD)/grpcconn
GRPCCONN_GEN      := $(GRPCCONN_DIR)/gen/ai_service
GRPCCONN_GEN_PKG  := github.com/thinkbank/libaiw/cgo/grpcconn/gen/ai_service
GRPCCONN_GEN_GO   := $(GRPCCONN_GEN)/ai_service.pb.go $(GRPCCONN_GEN)/ai_service_grpc.pb.go
GRPCCONN_SRCS     := $(wildcard $(GRPCCONN_DIR)/*.go) $(GRPCCONN_DIR)/go.mod
GRPCCONN_AIW_SRCS := $(filter-out %_test.go,$(wildcard cgo/*.go)) $(wildcard cgo/*.c cgo/*.h) cgo/go.mod
GRPCCONN_BENCH    := $(GRPCCONN_BUILD)/bench_grpcconn
GRPCCONN_BENCH_SERVER := $(BUILD)/bench/bench_server
GRPCCONN_LDFLAGS  :=
GRPCCONN_GOENV     = GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off CGO_ENABLED=1 \
	GOCACHE=$(abspath $(GRPCCONN_BUILD))/gocache PKG_CONFIG_PATH=$(abspath $(dir $(LIB_PC)))
GRPCCONN_BENCH_GOBUILD = cd bench/grpcconn && $(GRPCCONN_GOENV) go build -ldflags='$(GRPCCONN_LDFLAGS)' \
	-o $(abspath $(GRPCCONN_BENCH)) .
GRPCCONN_BENCH_ARGS ?=
GRPCCONN_IN_BENCH   ?= 1

.PHONY: grpcconn grpcconn-gen test-grpcconn bench-grpcconn bench-grpcconn-smoke bench-grpcconn-build grpcconn-clean

grpcconn: $(GRPCCONN_BUILD)/.built

$(GRPCCONN_BUILD)/.built: $(GRPCCONN_SRCS) $(GRPCCONN_AIW_SRCS) $(LIB_SO_LINK) $(LIB_PC) include/aiw.h | $(DEPS_STAMP)
	@mkdir -p $(GRPCCONN_BUILD)
	cd $(GRPCCONN_DIR) && $(GRPCCONN_GOENV) go build . && $(GRPCCONN_GOENV) go vet .
	@touch $@

# The client ADR-003's `protoc --go_out --go-grpc_out` makes, under an import
# path of this module (M options: the .proto's go_package is thinkbank/ai_service).
grpcconn-gen: $(GRPCCONN_GEN_GO)

$(GRPCCONN_GEN_GO) &: idl/ai_service.proto | $(DEPS_STAMP)
	@mkdir -p $(GRPCCONN_GEN)
	protoc -Iidl --go_out=$(GRPCCONN_GEN) --go_opt=paths=source_relative \
		--go_opt=Mai_service.proto="$(GRPCCONN_GEN_PKG);ai_service" \
		--go-grpc_out=$(GRPCCONN_GEN) --go-grpc_opt=paths=source_relative \
		--go-grpc_opt=Mai_service.proto="$(GRPCCONN_GEN_PKG);ai_service" idl/ai_service.proto
	@touch $(GRPCCONN_GEN_GO)

# The bench client is built here (not as a prerequisite) so that a failure
# to build it is counted by the smoke instead of stopping the suite.
test-grpcconn: $(GRPCCONN_GEN_GO) $(LIB_SO_LINK) $(LIB_PC) | $(DEPS_STAMP)
	@mkdir -p $(GRPCCONN_BUILD)
	@$(GRPCCONN_BENCH_GOBUILD) || { rm -f $(GRPCCONN_BENCH); \
		echo "test-grpcconn: bench_grpcconn does not build; the bench smoke will fail" >&2; }
	@$(MAKE) --no-print-directory $(GRPCCONN_BENCH_SERVER) >/dev/null 2>&1 || \
		echo "test-grpcconn: $(GRPCCONN_BENCH_SERVER) does not build; its smoke runs are skipped" >&2
	@$(GRPCCONN_GOENV) GRPCCONN_LDFLAGS='$(GRPCCONN_LDFLAGS)' GRPCCONN_BENCH='$(abspath $(GRPCCONN_BENCH))' \
		GRPCCONN_BENCH_DIR='$(abspath $(BUILD)/bench)' PYTHON_GRPC='$(PYTHON_GRPC)' \
		bash $(GRPCCONN_DIR)/run_tests.sh

# ---- the benchmark ------------------------------------------------------------
bench-grpcconn-build: $(GRPCCONN_BENCH)

$(GRPCCONN_BENCH): bench/grpcconn/bench_grpcconn.go bench/grpcconn/go.mod $(GRPCCONN_SRCS) $(GRPCCONN_GEN_GO) \
		$(GRPCCONN_AIW_SRCS) $(LIB_SO_LINK) $(LIB_PC) include/aiw.h | $(DEPS_STAMP)
	@mkdir -p $(GRPCCONN_BUILD)
	$(GRPCCONN_BENCH_GOBUILD)

bench-grpcconn: $(GRPCCONN_BENCH) $(GRPCCONN_BENCH_SERVER)
	@bash bench/grpcconn/run.sh --build-dir $(BUILD)/bench --bin $(GRPCCONN_BENCH) --python $(PYTHON_GRPC) $(GRPCCONN_BENCH_ARGS)

bench-grpcconn-smoke: $(GRPCCONN_BENCH) $(GRPCCONN_BENCH_SERVER)
	@bash bench/grpcconn/run.sh --smoke --build-dir $(BUILD)/bench --bin $(GRPCCONN_BENCH) --python $(PYTHON_GRPC)

ifeq ($(GRPCCONN_IN_BENCH),1)
bench: bench-grpcconn
endif

grpcconn-clean:
	rm -rf $(GRPCCONN_DIR)/gen

clean: grpcconn-clean
