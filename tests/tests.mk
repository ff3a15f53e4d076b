# tests/tests.mk -- the reference AI service, the Check suite and `make test`.
#
#   make refservice       Python stubs for tests/refservice/ai_worker_server.py
#   make test             everything: tests/run_all.sh (all suites, one summary)
#   make test-c           Check suite against build/lib/libaiw.so
#   make test-c-asan      same suite, ASan+UBSan, against build/asan/lib/libaiw.so
#   make test-c-valgrind  same suite (release build) under valgrind memcheck
#
# Each test-c* target ends its output with `N passed, M failed` and fails on
# any failed test, sanitizer report, leak or valgrind error.
# CHECK_SUITE=name / CHECK_CASE=name run one Check suite / test case.

PY_GEN_DIR   := $(BUILD)/gen/py
PY_STUBS     := $(PY_GEN_DIR)/ai_service_pb2.py $(PY_GEN_DIR)/ai_service_pb2_grpc.py
REFSERVICE   := tests/refservice/ai_worker_server.py

TEST_BUILD       := $(BUILD)/tests
CHECK_SRCS       := $(sort $(wildcard tests/check/*.c))
CHECK_HDRS       := $(wildcard tests/check/*.h)
CHECK_OBJS       := $(patsubst tests/check/%.c,$(TEST_BUILD)/obj/%.o,$(CHECK_SRCS))
CHECK_ASAN_OBJS  := $(patsubst tests/check/%.c,$(TEST_BUILD)/asan/obj/%.o,$(CHECK_SRCS))
# The raw-message suite (check_raw.c) encodes and decodes with its own copy
# of the protobuf-c code (libaiw's copy is hidden inside libaiw.so).
CHECK_PB_OBJ      := $(TEST_BUILD)/obj/gen/ai_service.pb-c.o
CHECK_ASAN_PB_OBJ := $(TEST_BUILD)/asan/obj/gen/ai_service.pb-c.o
CHECK_BIN        := $(TEST_BUILD)/check_aiw
CHECK_ASAN_BIN   := $(TEST_BUILD)/asan/check_aiw

CHECK_DEFS   = -DAIW_TEST_PYTHON='"$(PYTHON_GRPC)"' -DAIW_TEST_SERVER='"$(abspath $(REFSERVICE))"'
CHECK_CFLAGS = $(CSTD) $(OPT) $(WARNINGS) -Iinclude -Itests/check -I$(GEN_DIR) $(CHECK_DEFS) \
	$(shell $(PKG_CONFIG) --cflags check libprotobuf-c)
CHECK_LIBS   = $(shell $(PKG_CONFIG) --libs check libprotobuf-c) -lpthread -lm
CHECK_PB_CFLAGS = $(CSTD) $(OPT) -Wall -Werror -I$(GEN_DIR) $(shell $(PKG_CONFIG) --cflags libprotobuf-c)

CHECK_ENV    = CHECK_SUITE="$(CHECK_SUITE)" CHECK_CASE="$(CHECK_CASE)"
RUN_CHECK    := bash tests/check/run_check.sh
VALGRIND_FLAGS := --quiet --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
	--show-leak-kinds=definite --num-callers=30 --suppressions=tests/check/valgrind.supp
# LSan: fail on any leak; tests/check/lsan.supp lists gRPC-internal allocations only.
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0 \
	LSAN_OPTIONS=suppressions=$(abspath tests/check/lsan.supp):print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: refservice test test-c test-c-asan test-c-valgrind check-build

refservice: $(PY_STUBS)

$(PY_STUBS) &: idl/ai_service.proto | $(DEPS_STAMP)
	@mkdir -p $(PY_GEN_DIR)
	protoc -Iidl --python_out=$(PY_GEN_DIR) --grpc_out=$(PY_GEN_DIR) \
		--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin idl/ai_service.proto
	@touch $(PY_STUBS)

test: all
	@MAKE="$(MAKE)" bash tests/run_all.sh

# The C style (.clang-format): `make format` applies it, `make check-format`
# (in make test) fails on a file that differs from it.
FORMAT_SRCS = $(wildcard lib/*.c lib/*.h lib/*.cc include/*.h cgo/*.c cgo/*.h examples/aiw/*.c examples/aiw/*.h)
.PHONY: format check-format
format: | $(DEPS_STAMP)
	clang-format -i $(FORMAT_SRCS)

check-format: | $(DEPS_STAMP)
	@bad=0; for f in $(FORMAT_SRCS); do \
	  if ! clang-format "$$f" | cmp -s - "$$f"; then echo "FAIL: $$f is not clang-formatted (make format):"; \
	    clang-format "$$f" | diff -u "$$f" - | head -20; bad=$$((bad + 1)); fi; done; \
	n=$(words $(FORMAT_SRCS)); echo "check-format: $$((n - bad)) of $$n files as .clang-format says"; \
	if [ $$bad -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; exit 1; fi

# lib/ in one direction: gRPC only in the engine, no circle of calls.
.PHONY: check-layering
check-layering: $(LIB_SO_REAL)
	@bash lib/check_layering.sh $(BUILD)/obj/lib

# The README's C and Go examples, compiled and run (tests/readme/run.sh).
.PHONY: test-readme
test-readme: $(LIB_SO_LINK) $(LIB_PC) $(PY_STUBS) | $(DEPS_STAMP)
	@bash tests/readme/run.sh

$(TEST_BUILD)/obj/%.o: tests/check/%.c $(CHECK_HDRS) include/aiw.h $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CHECK_CFLAGS) -c $< -o $@

$(TEST_BUILD)/asan/obj/%.o: tests/check/%.c $(CHECK_HDRS) include/aiw.h $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CHECK_CFLAGS) -O1 $(SAN_FLAGS) -c $< -o $@

$(CHECK_PB_OBJ): $(GEN_SRCS) $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CHECK_PB_CFLAGS) -c $< -o $@

$(CHECK_ASAN_PB_OBJ): $(GEN_SRCS) $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CHECK_PB_CFLAGS) -O1 $(SAN_FLAGS) -c $< -o $@

$(CHECK_BIN): $(CHECK_OBJS) $(CHECK_PB_OBJ) $(LIB_SO_LINK)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(CHECK_OBJS) $(CHECK_PB_OBJ) -L$(LIB_DIR) -laiw -Wl,-rpath,$(abspath $(LIB_DIR)) $(CHECK_LIBS)

$(CHECK_ASAN_BIN): $(CHECK_ASAN_OBJS) $(CHECK_ASAN_PB_OBJ) $(SAN_LIB_SO)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_FLAGS) -o $@ $(CHECK_ASAN_OBJS) $(CHECK_ASAN_PB_OBJ) -L$(SAN_LIB_DIR) -laiw \
		-Wl,-rpath,$(abspath $(SAN_LIB_DIR)) $(CHECK_LIBS)

check-build: $(CHECK_BIN)

# Release build, fork mode: each test in its own process (isolation, timeouts).
test-c: $(CHECK_BIN) $(PY_STUBS)
	@$(CHECK_ENV) $(RUN_CHECK) test-c 600 -- $(CHECK_BIN)

# ASan+UBSan, no fork: one process, so LeakSanitizer checks everything at exit.
test-c-asan: $(CHECK_ASAN_BIN) $(PY_STUBS)
	@$(CHECK_ENV) CK_FORK=no $(ASAN_ENV) $(RUN_CHECK) test-c-asan 900 -- $(CHECK_ASAN_BIN)

# Release build under memcheck, no fork (valgrind sees the whole run).
test-c-valgrind: $(CHECK_BIN) $(PY_STUBS)
	@$(CHECK_ENV) CK_FORK=no AIW_TEST_SLOW=1 $(RUN_CHECK) test-c-valgrind 900 -- \
		valgrind $(VALGRIND_FLAGS) $(CHECK_BIN)
