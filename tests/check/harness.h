/* harness.h -- shared helpers of the Check suite: the reference service
 * started from C, clients, event-log waits, and the suite registry. */
#ifndef AIW_TEST_HARNESS_H
#define AIW_TEST_HARNESS_H

#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include "aiw.h"

/* A running reference service (tests/refservice/ai_worker_server.py). */
typedef struct refservice {
  pid_t pid;
  int port;
  int stdout_fd;       /* read end of the server's stdout */
  int lifeline_fd;     /* write end of the server's stdin: our exit closes it */
  char events[256];    /* its --events file */
  char target[64];     /* "127.0.0.1:<port>" */
} refservice;

/* Starts the service on port 0 with --events and extra args (NULL-terminated
 * list, may be NULL); waits for its LISTENING line. 0 on success, -1 (with a
 * message on stderr) on failure. */
int refservice_start(refservice *rs, const char *const *extra_args);
/* SIGTERM, wait (SIGKILL after 10 s); returns the exit status or -1. */
int refservice_stop(refservice *rs);

/* The shared service for the integration test cases: start/stop it from
 * unchecked fixtures (tcase_add_unchecked_fixture(tc, srv_setup, srv_teardown)). */
extern refservice g_srv;
void srv_setup(void);
void srv_teardown(void);
/* A second service started with --no-chat (ChatStream unregistered). */
extern refservice g_srv_nochat;
void srv_nochat_setup(void);
void srv_nochat_teardown(void);

/* A client to `target` with max receive size `max_recv` (0: the library's
 * default, i.e. 4 MiB). ck_asserts success. */
aiw_client *test_client(const char *target, size_t max_recv_or_zero);
/* Call options with a timeout and an optional x-request-id. ck_asserts. */
aiw_call_options *test_opts(int64_t timeout_ms, const char *request_id);

/* Waits (up to timeout_ms) for the events line of request_id in rs's events
 * file and copies its "outcome" into out. 0 if found, -1 if not. */
int events_wait(const refservice *rs, const char *request_id, char *out, size_t outsz, int timeout_ms);

/* The reference service's embedding algorithm (tests/refservice/README.md). */
uint32_t ref_fnv1a32(const void *data, size_t len);
void ref_vector(uint32_t seed, float *out, size_t n);

/* Monotonic milliseconds. */
int64_t now_ms(void);
/* A unique id for this process ("<prefix>-<pid>-<counter>"). */
void unique_id(char *buf, size_t size, const char *prefix);
/* 1 when the tests run under valgrind (AIW_TEST_SLOW set): larger timeouts. */
int test_slow(void);
/* Generous "did not hang" bound in ms, scaled under valgrind. */
int64_t hang_bound_ms(int64_t base);

/* Suites. */
Suite *suite_codes(void);
Suite *suite_options(void);
Suite *suite_messages(void);
Suite *suite_null_args(void);
Suite *suite_rpc_unary(void);
Suite *suite_rpc_chat(void);
Suite *suite_rpc_failures(void);
Suite *suite_rpc_concurrency(void);
Suite *suite_async(void);

#endif
