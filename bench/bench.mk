# bench/bench.mk -- client-cost benchmarks: libaiw vs a raw gRPC C core client
# (the floor) vs grpc++ (sync) vs grpc-go vs the Go package aiworker (cgo over
# libaiw), side by side against one fast benchmark server (bench_server.cc,
# grpc++ async) -- bench/README.md.
#
#   make bench            build the clients and the server, run bench/run.sh
#                         (~8 min): tables + ratios on stdout, bench/RESULTS.md rewritten
#   make bench-smoke      each client with tiny counts; ends `N passed, M failed`
#   make bench-callgrind  instruction share of libaiw's own code (aiw_*) per call
#   make bench-build      just build build/bench/bench_{server,rawc,aiw,cpp,grpcgo,aiwgo}
#
# bench_aiwgo is built by its own rule, which may fail while cgo/ is being
# changed: bench-build, bench and bench-smoke go on without it (run.sh
# reports the client as missing).
#
# BENCH_ARGS is passed to bench/run.sh (e.g. BENCH_ARGS="--rounds 1").

BENCH_DIR      := $(BUILD)/bench
BENCH_GEN      := $(BENCH_DIR)/gen
BENCH_GOPATH   := $(BENCH_DIR)/gopath
BENCH_GO_PKG   := $(BENCH_GOPATH)/src/thinkbank/ai_service
BENCH_AIW      := $(BENCH_DIR)/bench_aiw
BENCH_CPP      := $(BENCH_DIR)/bench_cpp
BENCH_GO       := $(BENCH_DIR)/bench_grpcgo
BENCH_AIWGO    := $(BENCH_DIR)/bench_aiwgo
BENCH_SERVER   := $(BENCH_DIR)/bench_server
BENCH_RAWC     := $(BENCH_DIR)/bench_rawc
BENCH_BINS     := $(BENCH_SERVER) $(BENCH_RAWC) $(BENCH_AIW) $(BENCH_CPP) $(BENCH_GO)
BENCH_ARGS     ?=

BENCH_CFLAGS    = $(CSTD) $(OPT) $(WARNINGS) -pthread -Ibench
BENCH_CXXFLAGS  = -std=c++17 $(OPT) -Wall -Wextra -Werror -pthread -Ibench -I$(BENCH_GEN) \
	$(shell $(PKG_CONFIG) --cflags grpc++ protobuf)
BENCH_CXXLIBS   = $(shell $(PKG_CONFIG) --libs grpc++ protobuf) -pthread
# libaiw through its in-tree pkg-config file (carries the rpath to build/lib).
BENCH_AIW_CFLAGS = $(shell PKG_CONFIG_PATH=$(abspath $(dir $(LIB_PC))) $(PKG_CONFIG) --cflags aiw)
BENCH_AIW_LIBS   = $(shell PKG_CONFIG_PATH=$(abspath $(dir $(LIB_PC))) $(PKG_CONFIG) --libs aiw)
BENCH_GO_ENV    = GO111MODULE=off GOFLAGS= GOPROXY=off GOPATH=$(abspath $(BENCH_GOPATH)):/usr/share/gocode
# The Go package, module mode, through build/lib's aiw.pc; a private GOCACHE
# (a shared Go build cache does not notice pkg-config changes).
BENCH_AIWGO_ENV = GO111MODULE=on GOFLAGS=-mod=mod GOPROXY=off CGO_ENABLED=1 \
	GOCACHE=$(abspath $(BENCH_DIR))/gocache PKG_CONFIG_PATH=$(abspath $(dir $(LIB_PC)))
BENCH_AIWGO_SRCS = bench/aiwgo/bench_aiwgo.go bench/aiwgo/go.mod \
	$(filter-out %_test.go,$(wildcard cgo/*.go)) $(wildcard cgo/*.c cgo/*.h) cgo/go.mod

.PHONY: bench bench-build bench-smoke bench-callgrind bench-aiwgo

# The Go package's client is built when it can be: a failure is reported
# (and the stale binary removed, so that run.sh reports it missing) but does
# not stop the other clients.
bench-build: $(BENCH_BINS)
	@$(MAKE) --no-print-directory bench-aiwgo || { rm -f $(BENCH_AIWGO); \
		echo "bench: bench_aiwgo (the Go package) does not build; its rows will be missing" >&2; }

bench-aiwgo: $(BENCH_AIWGO)

bench: bench-build
	@bash bench/run.sh --build-dir $(BENCH_DIR) --python $(PYTHON_GRPC) $(BENCH_ARGS)

bench-smoke: bench-build
	@bash bench/run.sh --smoke --build-dir $(BENCH_DIR) --python $(PYTHON_GRPC)

bench-callgrind: $(BENCH_AIW) $(BENCH_RAWC) $(BENCH_CPP) $(BENCH_SERVER)
	@bash bench/run.sh --callgrind-only --build-dir $(BENCH_DIR) --python $(PYTHON_GRPC)

# ---- the shared C harness ------------------------------------------------
$(BENCH_DIR)/obj/harness.o: bench/harness.c bench/harness.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -c $< -o $@

# ---- libaiw ---------------------------------------------------------------
$(BENCH_DIR)/obj/bench_aiw.o: bench/bench_aiw.c bench/harness.h include/aiw.h $(LIB_PC) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(BENCH_AIW_CFLAGS) -c $< -o $@

$(BENCH_AIW): $(BENCH_DIR)/obj/bench_aiw.o $(BENCH_DIR)/obj/harness.o $(LIB_SO_LINK) $(LIB_PC)
	$(CC) -o $@ $(BENCH_DIR)/obj/bench_aiw.o $(BENCH_DIR)/obj/harness.o $(BENCH_AIW_LIBS) -pthread

# ---- C++: grpc++ sync client, code generated from idl/ at build time ------
$(BENCH_GEN)/ai_service.pb.cc $(BENCH_GEN)/ai_service.pb.h \
$(BENCH_GEN)/ai_service.grpc.pb.cc $(BENCH_GEN)/ai_service.grpc.pb.h &: idl/ai_service.proto | $(DEPS_STAMP)
	@mkdir -p $(BENCH_GEN)
	protoc -Iidl --cpp_out=$(BENCH_GEN) --grpc_out=$(BENCH_GEN) \
		--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin idl/ai_service.proto
	@touch $(BENCH_GEN)/ai_service.pb.cc $(BENCH_GEN)/ai_service.pb.h \
		$(BENCH_GEN)/ai_service.grpc.pb.cc $(BENCH_GEN)/ai_service.grpc.pb.h

BENCH_CPP_OBJS := $(BENCH_DIR)/obj/cpp/ai_service.pb.o $(BENCH_DIR)/obj/cpp/ai_service.grpc.pb.o \
	$(BENCH_DIR)/obj/cpp/bench_cpp.o

# Generated code: not ours to warn about beyond -Wall.
$(BENCH_DIR)/obj/cpp/%.o: $(BENCH_GEN)/%.cc $(BENCH_GEN)/ai_service.pb.h $(BENCH_GEN)/ai_service.grpc.pb.h
	@mkdir -p $(dir $@)
	$(CXX) $(filter-out -Wextra,$(BENCH_CXXFLAGS)) -c $< -o $@

$(BENCH_DIR)/obj/cpp/bench_cpp.o: bench/bench_cpp.cc bench/harness.h $(BENCH_GEN)/ai_service.grpc.pb.h \
		$(BENCH_GEN)/ai_service.pb.h
	@mkdir -p $(dir $@)
	$(CXX) $(BENCH_CXXFLAGS) -c $< -o $@

$(BENCH_CPP): $(BENCH_CPP_OBJS) $(BENCH_DIR)/obj/harness.o
	$(CXX) -o $@ $^ $(BENCH_CXXLIBS)

# ---- the benchmark server: grpc++ async, same generated code ----------------
$(BENCH_DIR)/obj/cpp/bench_server.o: bench/bench_server.cc $(BENCH_GEN)/ai_service.grpc.pb.h $(BENCH_GEN)/ai_service.pb.h
	@mkdir -p $(dir $@)
	$(CXX) $(BENCH_CXXFLAGS) -c $< -o $@

$(BENCH_SERVER): $(BENCH_DIR)/obj/cpp/bench_server.o $(BENCH_DIR)/obj/cpp/ai_service.pb.o \
		$(BENCH_DIR)/obj/cpp/ai_service.grpc.pb.o
	$(CXX) -o $@ $^ $(BENCH_CXXLIBS)

# ---- the floor: raw gRPC C core + protobuf-c (libaiw's generated code) ------
BENCH_RAWC_CFLAGS = $(shell $(PKG_CONFIG) --cflags grpc libprotobuf-c)
BENCH_RAWC_LIBS   = $(shell $(PKG_CONFIG) --libs grpc libprotobuf-c)

$(BENCH_DIR)/obj/rawc/bench_rawc.o: bench/bench_rawc.c bench/harness.h $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -I$(GEN_DIR) $(BENCH_RAWC_CFLAGS) -c $< -o $@

$(BENCH_DIR)/obj/rawc/ai_service.pb-c.o: $(GEN_SRCS) $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) -Wall -Werror -I$(GEN_DIR) $(BENCH_RAWC_CFLAGS) -c $< -o $@

$(BENCH_RAWC): $(BENCH_DIR)/obj/rawc/bench_rawc.o $(BENCH_DIR)/obj/rawc/ai_service.pb-c.o $(BENCH_DIR)/obj/harness.o
	$(CC) -o $@ $^ $(BENCH_RAWC_LIBS) -pthread

# ---- grpc-go 1.33 from Debian, GOPATH mode ---------------------------------
$(BENCH_GO_PKG)/ai_service.pb.go $(BENCH_GO_PKG)/ai_service_grpc.pb.go &: idl/ai_service.proto | $(DEPS_STAMP)
	@mkdir -p $(BENCH_GOPATH)/src
	protoc -Iidl --go_out=$(BENCH_GOPATH)/src --go-grpc_out=$(BENCH_GOPATH)/src idl/ai_service.proto
	@touch $(BENCH_GO_PKG)/ai_service.pb.go $(BENCH_GO_PKG)/ai_service_grpc.pb.go

$(BENCH_GO): bench/go/bench_grpcgo.go $(BENCH_GO_PKG)/ai_service.pb.go $(BENCH_GO_PKG)/ai_service_grpc.pb.go
	cd bench/go && $(BENCH_GO_ENV) go build -o $(abspath $@) bench_grpcgo.go

# ---- the Go package aiworker (cgo over libaiw), module mode -----------------
$(BENCH_AIWGO): $(BENCH_AIWGO_SRCS) $(LIB_SO_LINK) $(LIB_PC) include/aiw.h | $(DEPS_STAMP)
	@mkdir -p $(BENCH_DIR)/gocache
	cd bench/aiwgo && $(BENCH_AIWGO_ENV) go build -o $(abspath $@) .
