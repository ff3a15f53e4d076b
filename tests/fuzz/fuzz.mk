# tests/fuzz/fuzz.mk -- libFuzzer on the call engine's receive path (clang):
# typed decode and the raw-message interface, from gRPC byte buffers.
# `make test-fuzz` runs it for FUZZ_SECONDS (30, inside `make test`) and
# reports `N passed, M failed`; `make fuzz` runs it for FUZZ_LONG_SECONDS
# (1800). Both start from the seed corpus kept in tests/fuzz/corpus/ (what
# they find goes to build/fuzz/corpus; copy an input worth keeping into the
# tree); bash tests/fuzz/seed_corpus.sh tests/fuzz/corpus rewrites the seeds.

FUZZ_SECONDS ?= 30
FUZZ_BIN     := $(BUILD)/fuzz/fuzz_decode
FUZZ_CORPUS  := $(BUILD)/fuzz/corpus

FUZZ_LONG_SECONDS ?= 1800

.PHONY: test-fuzz fuzz
FUZZ_SAN := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
# The CLI's generated JSON builders walk every getter (fuzz_decode.c's walk).
FUZZ_JSON_SRCS := examples/aiw/json.gen.c examples/aiw/json_out.c examples/aiw/text_out.c
$(FUZZ_BIN): tests/fuzz/fuzz_decode.c $(LIB_SRCS) $(GEN_SRCS) $(LIB_HDRS) lib/service_config.cc $(FUZZ_JSON_SRCS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	clang++ -std=c++17 -g -O1 $(FUZZ_SAN) -Ilib $(GRPC_CFLAGS) -c lib/service_config.cc -o $(BUILD)/fuzz/service_config.o
	clang $(CSTD) -g -O1 $(FUZZ_SAN) -Iinclude -Ilib -I$(GEN_DIR) -Iexamples/aiw \
		$(GRPC_CFLAGS) tests/fuzz/fuzz_decode.c $(LIB_SRCS) $(GEN_SRCS) $(FUZZ_JSON_SRCS) \
		$(BUILD)/fuzz/service_config.o -o $@ $(GRPC_LIBS) -ljansson -lpthread

test-fuzz: $(FUZZ_BIN)
	@mkdir -p $(FUZZ_CORPUS)
	@cp tests/fuzz/corpus/* $(FUZZ_CORPUS)/
	@if $(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/ \
		$(FUZZ_CORPUS) > $(BUILD)/fuzz/fuzz.log 2>&1; then \
		tail -n 12 $(BUILD)/fuzz/fuzz.log; echo "fuzz_decode: no crash, leak or UB in $(FUZZ_SECONDS)s"; \
		echo "1 passed, 0 failed"; \
	else \
		tail -n 60 $(BUILD)/fuzz/fuzz.log; echo "fuzz_decode: FAILED (the crashing input is saved under $(BUILD)/fuzz/)"; \
		echo "0 passed, 1 failed"; exit 1; \
	fi

fuzz:
	@$(MAKE) --no-print-directory test-fuzz FUZZ_SECONDS=$(FUZZ_LONG_SECONDS)
