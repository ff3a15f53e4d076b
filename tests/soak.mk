# tests/soak.mk -- `make soak`: the soaks run for longer than in `make test`:
# the C faults suite's (tests/check/check_faults.c, test case "soak"; 20 s in
# `make test-c`) and the Go package's (cgo/soak_test.go,
# TestSoakWithRestarts; 12 s in `make test-go`), one after the other.
#
#   make soak                    600 s (SOAK_SECONDS=600), release build
#   make soak SOAK_SECONDS=3600  an hour
#
# Mixed calls from several threads with the reference service killed and
# restarted every minute; fails on any call that ends other than OK or
# UNAVAILABLE, past its deadline, or with a wrong answer, and when threads,
# fds or VmRSS grew (beyond a fixed slack) between the warm-up and the end.

SOAK_SECONDS ?= 600

.PHONY: soak soak-c soak-go
soak: soak-c soak-go

soak-c: $(CHECK_BIN) $(PY_STUBS)
	@CHECK_SUITE=faults CHECK_CASE=soak AIW_SOAK_SECONDS=$(SOAK_SECONDS) \
		$(RUN_CHECK) soak $$(( $(SOAK_SECONDS) + 300 )) -- $(CHECK_BIN)

soak-go: $(LIB_SO_LINK) $(LIB_PC) $(PY_STUBS) | $(DEPS_STAMP)
	cd $(CGO_DIR) && $(CGO_GOENV) AIW_SOAK_SECONDS=$(SOAK_SECONDS) \
		go test -count=1 -v -timeout $$(( $(SOAK_SECONDS) + 300 ))s -run '^TestSoakWithRestarts$$' .
