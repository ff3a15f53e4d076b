# tests/soak.mk -- `make soak`: the faults suite's soak (tests/check/check_faults.c,
# test case "soak") run for longer than in `make test-c` (20 s there).
#
#   make soak                    600 s (SOAK_SECONDS=600), release build
#   make soak SOAK_SECONDS=3600  an hour
#
# Mixed calls from several threads with the reference service killed and
# restarted every minute; fails on any call that ends other than OK or
# UNAVAILABLE, past its deadline, or with a wrong answer, and when threads,
# fds or VmRSS grew (beyond a fixed slack) between the warm-up and the end.

SOAK_SECONDS ?= 600

.PHONY: soak
soak: $(CHECK_BIN) $(PY_STUBS)
	@CHECK_SUITE=faults CHECK_CASE=soak AIW_SOAK_SECONDS=$(SOAK_SECONDS) \
		$(RUN_CHECK) soak $$(( $(SOAK_SECONDS) + 300 )) -- $(CHECK_BIN)
