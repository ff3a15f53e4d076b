/* check_main.c -- runs every Check suite of libaiw and prints, last, a line
 * `N passed, M failed`. CHECK_SUITE / CHECK_CASE select one suite / case
 * (empty = all). CK_FORK=no runs everything in one process (sanitizers,
 * valgrind); otherwise each test runs in its own process. */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

static const char *env_or_null(const char *name) {
  const char *v = getenv(name);
  return (v != NULL && *v != '\0') ? v : NULL;
}

int main(void) {
  SRunner *sr = srunner_create(suite_codes());
  srunner_add_suite(sr, suite_options());
  srunner_add_suite(sr, suite_messages());
  srunner_add_suite(sr, suite_null_args());
  srunner_add_suite(sr, suite_rpc_unary());
  srunner_add_suite(sr, suite_rpc_chat());
  srunner_add_suite(sr, suite_rpc_failures());
  srunner_add_suite(sr, suite_rpc_concurrency());
  srunner_add_suite(sr, suite_async());
  srunner_add_suite(sr, suite_async_stream());
  srunner_add_suite(sr, suite_raw());
  srunner_add_suite(sr, suite_interop());
  srunner_add_suite(sr, suite_faults());
  srunner_add_suite(sr, suite_hardening());
  srunner_add_suite(sr, suite_channel());
  srunner_add_suite(sr, suite_stats());
  srunner_run(sr, env_or_null("CHECK_SUITE"), env_or_null("CHECK_CASE"), CK_NORMAL);
  int run = srunner_ntests_run(sr);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  fflush(stderr);
  printf("%d passed, %d failed\n", run - failed, failed);
  fflush(stdout);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
