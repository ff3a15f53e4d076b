/* torture.c -- allocation failure injection, as curl's torture tests do.
 *
 * Only in the torture build (-DAIW_TORTURE, `make test-torture`): every
 * malloc/calloc/realloc/strdup of libaiw's own code comes here (internal.h
 * redirects them), counts, and fails when it is the Nth since
 * aiw_torture_fail_at(N). gRPC's and protobuf-c's own allocations are not
 * counted, except protobuf-c's decoding, which allocates through libaiw's
 * allocator (decode.c). The two control functions are exported by the
 * torture build only and declared by its test, never in aiw.h. */
#include "internal.h"

#ifdef AIW_TORTURE
#undef malloc
#undef calloc
#undef realloc
#undef strdup

static _Atomic long fail_at; /* 0: never */
static _Atomic long counted; /* allocations since aiw_torture_fail_at */

AIW_API void aiw_torture_fail_at(long n);
AIW_API long aiw_torture_allocations(void);

void aiw_torture_fail_at(long n) {
  atomic_store(&counted, 0);
  atomic_store(&fail_at, n);
}

long aiw_torture_allocations(void) { return atomic_load(&counted); }

static int should_fail(void) {
  long n = atomic_fetch_add(&counted, 1) + 1;
  return n == atomic_load(&fail_at);
}

void *aiw__torture_malloc(size_t n) { return should_fail() ? NULL : malloc(n); }
void *aiw__torture_calloc(size_t n, size_t size) { return should_fail() ? NULL : calloc(n, size); }
void *aiw__torture_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n); }
char *aiw__torture_strdup(const char *s) { return should_fail() ? NULL : strdup(s); }
#else
typedef int aiw__torture_unused; /* an empty translation unit is not ISO C */
#endif
