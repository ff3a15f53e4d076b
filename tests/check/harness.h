/* harness.h -- shared helpers of the Check suite: the reference service
 * started from C, clients and test-case fixtures, event-log waits, threads
 * and timing, and the suite registry. What the service answers is checked
 * by expect.h. */
#ifndef AIW_TEST_HARNESS_H
#define AIW_TEST_HARNESS_H

#include <check.h>
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include "aiw.h"
#include "expect.h"

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
/* A client to `target` with max send size `max_send` (ck_asserts). */
aiw_client *send_limited_client(const char *target, size_t max_send);
/* Call options with a timeout and an optional x-request-id. ck_asserts. */
aiw_call_options *test_opts(int64_t timeout_ms, const char *request_id);

/* The client of the test cases that use the client fixture: made (to g_srv)
 * before each test, freed after it. */
extern aiw_client *g_client;
/* Fixture: g_client with the library's default receive limit (4 MiB). */
void client_setup(void);
/* Fixture: g_client with a 64 MiB receive limit (the service's own). */
void client_big_setup(void);
/* Fixture: frees g_client. */
void client_teardown(void);
/* A test case of suite s that runs against g_srv (started once for the
 * case), with a timeout of timeout_s, and, when client_up is not NULL, the
 * fixture client_up / client_teardown around each test. */
TCase *server_tcase(Suite *s, const char *name, int timeout_s, void (*client_up)(void));

/* A loopback port bound but not listening (connections are refused) whose
 * socket stays open in *fd (the caller closes it; closing it at once leaves
 * the port unused too, just not reserved); "127.0.0.1:<port>" in target. */
void unlistened_target(char *target, size_t size, int *fd);

/* Waits (up to timeout_ms) for the events line of request_id in rs's events
 * file and copies its "outcome" into out. 0 if found, -1 if not. */
int events_wait(const refservice *rs, const char *request_id, char *out, size_t outsz, int timeout_ms);
/* ck_asserts that rs's events file gets (within timeout_ms, scaled under
 * valgrind) the line of request_id, with outcome `want` ("OK", "CANCELLED"). */
void expect_outcome(const refservice *rs, const char *request_id, const char *want, int timeout_ms);

/* The reference service's embedding vector of content bytes data[0..len):
 * the semantic one, or the visual one when `visual`, as the service computes
 * it (tests/refservice/embedding.py, the formula's only implementation),
 * read from one `embedding.py --serve` helper process per test process,
 * started on first use. On success NULL, and *out is a malloc'd array (the
 * caller frees it) of *n floats; else what went wrong (details on stderr),
 * *out NULL, *n 0. Any thread. */
const char *ref_vector(const void *data, size_t len, int visual, float **out, size_t *n);

/* Monotonic milliseconds. */
int64_t now_ms(void);
/* A unique id for this process ("<prefix>-<pid>-<counter>"). */
void unique_id(char *buf, size_t size, const char *prefix);
/* 1 when the tests run under valgrind (AIW_TEST_SLOW set): larger timeouts. */
int test_slow(void);
/* Generous "did not hang" bound in ms, scaled under valgrind. */
int64_t hang_bound_ms(int64_t base);
/* ck_asserts that less than bound_ms passed since now_ms() was t0; `what`
 * names what took that long. */
void expect_within(int64_t t0, int64_t bound_ms, const char *what);

/* Starts n threads fn(args + i * arg_size) (ck_asserts each start). */
void threads_start(pthread_t *th, int n, void *(*fn)(void *), void *args, size_t arg_size);
/* Joins n threads. */
void threads_join(pthread_t *th, int n);

/* A thread that cancels a token and/or closes a client, at once or when
 * signalled (e.g. from a chat callback once the first chunk arrived). */
typedef struct interrupter {
  aiw_cancel_token *token; /* cancelled when not NULL */
  aiw_client *client;      /* closed when not NULL */
  int wait;                /* 1: fires only after interrupter_signal */
  sem_t go;
  int64_t fired_at; /* now_ms() when it fired */
  pthread_t thread;
} interrupter;
/* Starts the thread (ck_asserts); `wait` as in the struct. */
void interrupter_start(interrupter *it, aiw_cancel_token *token, aiw_client *client, int wait);
/* Lets a waiting interrupter fire (any thread, async-signal-safe). */
void interrupter_signal(interrupter *it);
/* Joins the thread and releases its semaphore; fired_at is set after. */
void interrupter_join(interrupter *it);

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
Suite *suite_async_stream(void);
Suite *suite_raw(void);
Suite *suite_interop(void);
Suite *suite_faults(void);
Suite *suite_hardening(void);
Suite *suite_channel(void);
Suite *suite_stats(void);

#endif
