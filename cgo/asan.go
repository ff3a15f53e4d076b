//go:build asan

package aiworker

// Built only with `go test -asan` (the "asan" tool tag): the explicit
// LeakSanitizer check that TestMain runs at the end (Go exits without running
// C's atexit handlers, so LSan would never look otherwise), and self-tests
// proving that errors in this package's C code and in libaiw are caught
// (cgo.mk runs them and expects the reports).

/*
#include <stdlib.h>
#include <sanitizer/lsan_interface.h>
#include "aiwgo.h"

static int aiwgo_leak_check(void) { return __lsan_do_recoverable_leak_check(); }

static volatile size_t aiwgo_selftest_index = 8;

// 1: heap overflow in cgo C code; 2: use after free inside libaiw;
// 3: a leaked libaiw object.
static void aiwgo_selftest(int what) {
  if (what == 1) {
    char *p = malloc(8);
    p[aiwgo_selftest_index] = 1;
    free(p);
  } else if (what == 2) {
    aiw_search_request *r = aiw_search_request_new();
    aiw_search_request_free(r);
    aiw_search_request_set_limit(r, 1);
  } else if (what == 3) {
    aiw_search_request *r = aiw_search_request_new();
    aiw_search_request_set_limit(r, 1);
  }
}
*/
import "C"

const asanBuild = true

// leakCheck runs LeakSanitizer now; non-zero when it found leaks (reported on stderr).
func leakCheck() int { return int(C.aiwgo_leak_check()) }

func asanSelfTest(what int) { C.aiwgo_selftest(C.int(what)) }
