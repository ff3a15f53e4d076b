/* check_channel.c -- the production channel (aiw.h "since 1.2") against real
 * reference services on loopback: service config validation, replicas
 * balanced by round_robin (one killed, one NOT_SERVING, one frozen),
 * retries, keepalive against grpcio's ping enforcement, compression, call
 * credentials, response information, status details, connectivity and
 * health. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define HEALTHY_RR_CONFIG                                                                                          \
  "{\"loadBalancingConfig\":[{\"round_robin\":{}}],"                                                               \
  "\"healthCheckConfig\":{\"serviceName\":\"ai_service.AiWorker\"},"                                               \
  "\"methodConfig\":[{\"name\":[{}],\"retryPolicy\":{\"maxAttempts\":5,\"initialBackoff\":\"0.05s\","              \
  "\"maxBackoff\":\"0.5s\",\"backoffMultiplier\":2,\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]}"

/* ---- helpers ------------------------------------------------------------- */

static int ignore_chunk(const aiw_chat_response *chunk, void *userdata) {
  (void)chunk;
  (void)userdata;
  return 0;
}

/* A client made with `opts` (ck_asserts success). */
static aiw_client *client_with(const char *target, aiw_client_options *opts) {
  aiw_client *c = NULL;
  aiw_error err;
  aiw_code rc = aiw_client_new(target, opts, &c, &err);
  ck_assert_msg(rc == AIW_OK, "aiw_client_new(%s): %s", target, err.message);
  return c;
}

/* aiw_client_new's code with `opts`, its message in msg. */
static aiw_code client_new_code(aiw_client_options *opts, char *msg, size_t size) {
  aiw_client *c = NULL;
  aiw_error err;
  aiw_code rc = aiw_client_new("127.0.0.1:1", opts, &c, &err);
  snprintf(msg, size, "%s", rc == AIW_OK ? "" : err.message);
  aiw_client_free(c);
  return rc;
}

/* A GetEmbedding of `text` whose trailer `key` (if wanted) is copied to out. */
static aiw_code embed(aiw_client *c, const char *text, int64_t timeout_ms, const char *key, char *out,
                      size_t size, aiw_error *err) {
  aiw_embedding_request *req = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_text(req, text), AIW_OK);
  aiw_call_options *o = test_opts(timeout_ms, NULL);
  aiw_response_info *info = aiw_response_info_new();
  ck_assert_ptr_nonnull(info);
  aiw_call_options_set_response_info(o, info);
  aiw_embedding_response *resp = NULL;
  aiw_code rc = aiw_get_embedding(c, req, o, &resp, err);
  if (out) {
    size_t len = 0;
    const char *v = aiw_response_info_get(info, 1, key, &len);
    snprintf(out, size, "%.*s", v ? (int)len : 0, v ? v : "");
  }
  aiw_embedding_response_free(resp);
  aiw_response_info_free(info);
  aiw_call_options_free(o);
  aiw_embedding_request_free(req);
  return rc;
}

/* n reference services named r0, r1, ... with `extra` arguments. */
static void replicas_start(refservice *rs, int n, const char *const *extra) {
  for (int i = 0; i < n; i++) {
    char name[16];
    snprintf(name, sizeof name, "r%d", i);
    const char *args[16] = {"--name", name};
    int k = 2;
    for (int j = 0; extra && extra[j] && k < 15; j++) args[k++] = extra[j];
    args[k] = NULL;
    ck_assert_msg(refservice_start(&rs[i], args) == 0, "replica %d did not start", i);
  }
}

static void replicas_stop(refservice *rs, int n) {
  for (int i = 0; i < n; i++)
    if (rs[i].pid > 0) refservice_stop(&rs[i]);
}

/* "ipv4:127.0.0.1:p0,127.0.0.1:p1,..." */
static void replicas_target(const refservice *rs, int n, char *out, size_t size) {
  size_t len = (size_t)snprintf(out, size, "ipv4:");
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(out + len, size - len, "%s127.0.0.1:%d", i ? "," : "", rs[i].port);
}

/* Index of the replica named in `name` ("r1" -> 1), -1 if none. */
static int replica_index(const char *name) { return name[0] == 'r' ? atoi(name + 1) : -1; }

/* round_robin picks among the READY replicas, so until all n have
 * connected the first ones get more: calls until each has answered
 * (ck_asserts that they all do, within a bound). */
static void warm_up_all(aiw_client *c, int n) {
  int seen[8] = {0};
  int answered = 0;
  int64_t t0 = now_ms();
  while (answered < n && now_ms() - t0 < hang_bound_ms(10000)) {
    char who[16];
    aiw_error err;
    ck_assert_msg(embed(c, "warm", 10000, "x-aiw-replica", who, sizeof who, &err) == AIW_OK, "%s", err.message);
    int r = replica_index(who);
    ck_assert_msg(r >= 0 && r < n, "answered by \"%s\"", who);
    if (!seen[r]++) answered++;
  }
  ck_assert_msg(answered == n, "%d of %d replicas answered within the bound", answered, n);
}

static aiw_client_options *rr_options(const char *config) {
  aiw_client_options *o = aiw_client_options_new();
  ck_assert_ptr_nonnull(o);
  ck_assert_int_eq(aiw_client_options_set_service_config(o, config), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_reconnect_backoff(o, 100, 500, 500), AIW_OK);
  return o;
}

/* Stops pid with SIGSTOP and waits until the kernel says it is stopped
 * (state T in /proc/pid/stat): the signal is delivered asynchronously. */
static void freeze(pid_t pid) {
  ck_assert_int_eq(kill(pid, SIGSTOP), 0);
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int64_t t0 = now_ms();
  for (;;) {
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')'); /* "pid (comm) S ..." */
    if (close_paren && close_paren[1] == ' ' && close_paren[2] == 'T') return;
    ck_assert_msg(now_ms() - t0 < hang_bound_ms(5000), "process %d not stopped after SIGSTOP", (int)pid);
    usleep(1000);
  }
}

/* ---- options -------------------------------------------------------------- */

START_TEST(test_bad_service_config_refused) {
  aiw_client_options *o = aiw_client_options_new();
  char msg[AIW_ERROR_MESSAGE_SIZE];
  ck_assert_int_eq(aiw_client_options_set_service_config(o, "{\"loadBalancingConfig\": [ {"), AIW_OK);
  ck_assert_int_eq(client_new_code(o, msg, sizeof msg), AIW_INVALID_ARGUMENT);
  ck_assert_msg(strstr(msg, "invalid service config") && strstr(msg, "JSON"), "%s", msg);
  /* gRPC's own reason, field by field. */
  aiw_client_options_set_service_config(o, "{\"methodConfig\":[{\"name\":[{}],\"retryPolicy\":{\"maxAttempts\":\"x\"}}]}");
  ck_assert_int_eq(client_new_code(o, msg, sizeof msg), AIW_INVALID_ARGUMENT);
  ck_assert_msg(strstr(msg, "retryPolicy.maxAttempts"), "%s", msg);
  aiw_client_options_set_service_config(o, "{\"loadBalancingConfig\":[{\"no_such_policy\":{}}]}");
  ck_assert_int_eq(client_new_code(o, msg, sizeof msg), AIW_INVALID_ARGUMENT);
  /* A good one, then the typed helpers. */
  aiw_client_options_set_service_config(o, HEALTHY_RR_CONFIG);
  ck_assert_int_eq(client_new_code(o, msg, sizeof msg), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_retry_policy(o, 3, 100, 1000), AIW_OK);
  ck_assert_int_eq(client_new_code(o, msg, sizeof msg), AIW_INVALID_ARGUMENT); /* both */
  ck_assert_msg(strstr(msg, "retry"), "%s", msg);
  aiw_client_options_set_service_config(o, NULL);
  ck_assert_int_eq(client_new_code(o, msg, sizeof msg), AIW_OK);
  /* Retries are found as gRPC parses them -- a key spelled with an escape
   * counts, a string value does not -- for the compression refusal. */
  ck_assert_int_eq(aiw_client_options_set_retry_policy(o, 0, 0, 0), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_compression(o, "gzip"), AIW_OK);
  aiw_client_options_set_service_config(
      o, "{\"methodConfig\":[{\"name\":[{}],\"retry\\u0050olicy\":{\"maxAttempts\":3,\"initialBackoff\":\"0.1s\","
         "\"maxBackoff\":\"1s\",\"backoffMultiplier\":2,\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]}");
  ck_assert_int_eq(client_new_code(o, msg, sizeof msg), AIW_INVALID_ARGUMENT);
  ck_assert_msg(strstr(msg, "retr"), "%s", msg);
  aiw_client_options_set_service_config(o, "{\"methodConfig\":[{\"name\":[{\"service\":\"retryPolicy\"}]}]}");
  ck_assert_int_eq(client_new_code(o, msg, sizeof msg), AIW_OK);
  aiw_client_options_set_service_config(o, NULL);
  aiw_client_options_set_compression(o, NULL);
  ck_assert_int_eq(aiw_client_options_set_lb_policy(o, "round_robin"), AIW_OK);
  ck_assert_int_eq(client_new_code(o, msg, sizeof msg), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_lb_policy(o, "grpclb"), AIW_OK); /* exists, but needs a config */
  ck_assert_int_eq(client_new_code(o, msg, sizeof msg), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_lb_policy(o, "no_such_policy"), AIW_OK);
  ck_assert_int_eq(client_new_code(o, msg, sizeof msg), AIW_INVALID_ARGUMENT);
  ck_assert_msg(strstr(msg, "no_such_policy"), "%s", msg);
  aiw_client_options_free(o);
}
END_TEST

START_TEST(test_option_ranges) {
  aiw_client_options *o = aiw_client_options_new();
  ck_assert_int_eq(aiw_client_options_set_retry_policy(o, 1, 100, 1000), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_retry_policy(o, 6, 100, 1000), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_retry_policy(o, 3, 1000, 100), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_retry_policy(o, 0, 0, 0), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_keepalive(o, 999, 1000, 0), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_keepalive(o, 1000, 0, 0), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_keepalive(o, -1, 10, 0), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_keepalive(o, 0, 0, 0), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_reconnect_backoff(o, 2000, 0, 1000), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_reconnect_backoff(o, -1, 0, 0), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_idle_timeout_ms(o, -5), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_compression(o, "brotli"), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_compression(o, "deflate"), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_lb_policy(o, ""), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_authority(o, ""), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_bearer_token(o, "bad\ntoken"), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_service_config(NULL, "{}"), AIW_INVALID_ARGUMENT);
  aiw_call_options *co = aiw_call_options_new();
  ck_assert_int_eq(aiw_call_options_set_compression(co, "zstd"), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_call_options_set_compression(co, "gzip"), AIW_OK);
  ck_assert_int_eq(aiw_call_options_set_compression(co, NULL), AIW_OK);
  ck_assert_int_eq(aiw_call_options_set_max_receive_size(co, (size_t)INT32_MAX + 1), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_call_options_set_response_info(NULL, NULL), AIW_INVALID_ARGUMENT);
  aiw_call_options_free(co);
  aiw_client_options_free(o);
  /* NULL-safe getters. */
  ck_assert_str_eq(aiw_response_info_peer(NULL), "");
  ck_assert_uint_eq(aiw_response_info_metadata_count(NULL, 0), 0);
  ck_assert_ptr_null(aiw_response_info_get(NULL, 1, "k", NULL));
  ck_assert_int_eq(aiw_response_info_has_status_details(NULL), 0);
  ck_assert_ptr_null(aiw_completion_response_info(NULL));
  ck_assert_int_eq(aiw_client_get_state(NULL, 1), AIW_STATE_SHUTDOWN);
  ck_assert_int_eq(aiw_client_wait_for_state_change(NULL, AIW_STATE_IDLE, 10), 0);
  ck_assert_str_eq(aiw_connectivity_state_name(AIW_STATE_TRANSIENT_FAILURE), "TRANSIENT_FAILURE");
  ck_assert_str_eq(aiw_connectivity_state_name((aiw_connectivity_state)77), "UNKNOWN");
  ck_assert_str_eq(aiw_health_status_name(AIW_HEALTH_NOT_SERVING), "NOT_SERVING");
  aiw_health_status hs;
  ck_assert_int_eq(aiw_health_check(NULL, "", NULL, &hs, NULL), AIW_INVALID_ARGUMENT);
  aiw_response_info_free(NULL);
}
END_TEST

/* ---- replicas -------------------------------------------------------------- */

START_TEST(test_round_robin_spreads_calls) {
  refservice rs[3];
  replicas_start(rs, 3, NULL);
  char target[128];
  replicas_target(rs, 3, target, sizeof target);
  aiw_client_options *o = rr_options(HEALTHY_RR_CONFIG);
  aiw_client *c = client_with(target, o);
  warm_up_all(c, 3);
  int seen[3] = {0, 0, 0};
  for (int i = 0; i < 60; i++) {
    char who[16];
    aiw_error err;
    ck_assert_msg(embed(c, "spread", 10000, "x-aiw-replica", who, sizeof who, &err) == AIW_OK, "%s", err.message);
    int r = replica_index(who);
    ck_assert_msg(r >= 0 && r < 3, "answered by \"%s\"", who);
    seen[r]++;
  }
  /* round_robin: all three READY, every one gets its turn. */
  for (int r = 0; r < 3; r++) ck_assert_msg(seen[r] >= 15, "replica %d got %d of 60 calls", r, seen[r]);
  aiw_client_free(c);
  aiw_client_options_free(o);
  replicas_stop(rs, 3);
}
END_TEST

typedef struct load_arg {
  aiw_client *client;
  int calls;
  int ok;
  char first_error[AIW_ERROR_MESSAGE_SIZE];
  volatile int *started;
} load_arg;

static void *load_thread(void *p) {
  load_arg *a = p;
  for (int i = 0; i < a->calls; i++) {
    aiw_error err;
    aiw_code rc = embed(a->client, "load", hang_bound_ms(20000), NULL, NULL, 0, &err);
    if (rc == AIW_OK) a->ok++;
    else if (!a->first_error[0]) snprintf(a->first_error, sizeof a->first_error, "%s: %.400s", aiw_code_name(rc), err.message);
    __atomic_add_fetch(a->started, 1, __ATOMIC_SEQ_CST);
  }
  return NULL;
}

START_TEST(test_replica_killed_mid_load) {
  refservice rs[3];
  replicas_start(rs, 3, NULL);
  char target[128];
  replicas_target(rs, 3, target, sizeof target);
  aiw_client_options *o = rr_options(HEALTHY_RR_CONFIG);
  aiw_client *c = client_with(target, o);
  enum { THREADS = 4 };
  int per_thread = test_slow() ? 60 : 250; /* 1,000 calls in all (240 under valgrind) */
  volatile int done = 0;
  load_arg args[THREADS];
  memset(args, 0, sizeof args);
  for (int i = 0; i < THREADS; i++) args[i] = (load_arg){c, per_thread, 0, "", &done};
  pthread_t th[THREADS];
  threads_start(th, THREADS, load_thread, args, sizeof args[0]);
  int64_t t0 = now_ms();
  while (__atomic_load_n(&done, __ATOMIC_SEQ_CST) < THREADS * per_thread / 3 && now_ms() - t0 < hang_bound_ms(60000))
    usleep(1000);
  kill(rs[1].pid, SIGKILL); /* mid-load: its calls in flight fail UNAVAILABLE and are retried */
  threads_join(th, THREADS);
  int ok = 0;
  for (int i = 0; i < THREADS; i++) {
    ok += args[i].ok;
    ck_assert_msg(args[i].ok == per_thread, "thread %d: %d of %d OK; first error %s", i, args[i].ok, per_thread,
                  args[i].first_error);
  }
  ck_assert_int_eq(ok, THREADS * per_thread);
  aiw_client_free(c);
  aiw_client_options_free(o);
  int status;
  waitpid(rs[1].pid, &status, 0);
  rs[1].pid = -1;
  close(rs[1].stdout_fd);
  close(rs[1].lifeline_fd);
  replicas_stop(rs, 3);
}
END_TEST

START_TEST(test_not_serving_replica_gets_no_calls) {
  refservice rs[3];
  replicas_start(rs, 3, NULL);
  char target[128];
  replicas_target(rs, 3, target, sizeof target);
  aiw_client_options *o = rr_options(HEALTHY_RR_CONFIG);
  aiw_client *c = client_with(target, o);
  char who[16];
  aiw_error err;
  warm_up_all(c, 3);
  kill(rs[2].pid, SIGUSR1); /* r2: NOT_SERVING; its Watch stream tells the client */
  /* Until the client has seen it (a Watch message away), calls may still
   * reach r2; then none may. */
  int64_t t0 = now_ms();
  int clean = 0;
  while (clean < 12 && now_ms() - t0 < hang_bound_ms(10000)) {
    ck_assert_int_eq(embed(c, "drain", 10000, "x-aiw-replica", who, sizeof who, &err), AIW_OK);
    clean = strcmp(who, "r2") == 0 ? 0 : clean + 1;
  }
  ck_assert_msg(clean == 12, "calls still reach the NOT_SERVING replica after %lld ms", (long long)(now_ms() - t0));
  int seen[3] = {0, 0, 0};
  for (int i = 0; i < 60; i++) {
    ck_assert_int_eq(embed(c, "after", 10000, "x-aiw-replica", who, sizeof who, &err), AIW_OK);
    seen[replica_index(who)]++;
  }
  ck_assert_int_eq(seen[2], 0);
  ck_assert_msg(seen[0] > 10 && seen[1] > 10, "r0 %d, r1 %d", seen[0], seen[1]);
  /* SERVING again: it gets calls again. */
  kill(rs[2].pid, SIGUSR2);
  t0 = now_ms();
  int back = 0;
  while (!back && now_ms() - t0 < hang_bound_ms(10000)) {
    ck_assert_int_eq(embed(c, "back", 10000, "x-aiw-replica", who, sizeof who, &err), AIW_OK);
    back = strcmp(who, "r2") == 0;
  }
  ck_assert_msg(back, "the replica SERVING again got no call");
  aiw_client_free(c);
  aiw_client_options_free(o);
  replicas_stop(rs, 3);
}
END_TEST

typedef struct frozen_arg {
  aiw_client *client;
  aiw_code rc;
  char who[16];
  char msg[AIW_ERROR_MESSAGE_SIZE];
} frozen_arg;

static void *frozen_call(void *p) {
  frozen_arg *a = p;
  aiw_error err;
  a->rc = embed(a->client, "frozen", 8000, "x-aiw-replica", a->who, sizeof a->who, &err);
  snprintf(a->msg, sizeof a->msg, "%s", a->rc == AIW_OK ? "" : err.message);
  return NULL;
}

/* Calls started right after r1 froze, on a client with or without
 * keepalive: returns how many ended OK (of n), answered by whom in who. */
static int calls_around_frozen(int keepalive, int *frozen_answers, char *first_error, size_t size) {
  const char *extra[] = {"--min-ping-interval-ms", "100", "--permit-keepalive-without-calls", NULL};
  refservice rs[3];
  replicas_start(rs, 3, extra);
  char target[128];
  replicas_target(rs, 3, target, sizeof target);
  aiw_client_options *o = rr_options(HEALTHY_RR_CONFIG);
  if (keepalive) ck_assert_int_eq(aiw_client_options_set_keepalive(o, 1000, 1000, 0), AIW_OK);
  aiw_client *c = client_with(target, o);
  warm_up_all(c, 3);
  freeze(rs[1].pid); /* alive to TCP, silent to HTTP/2 */
  enum { N = 6 };           /* round_robin sends two of them to r1 */
  frozen_arg args[N];
  memset(args, 0, sizeof args);
  for (int i = 0; i < N; i++) args[i].client = c;
  pthread_t th[N];
  threads_start(th, N, frozen_call, args, sizeof args[0]);
  threads_join(th, N);
  int ok = 0;
  *frozen_answers = 0;
  first_error[0] = '\0';
  for (int i = 0; i < N; i++) {
    if (args[i].rc == AIW_OK) ok++;
    else if (!first_error[0]) snprintf(first_error, size, "%s: %.400s", aiw_code_name(args[i].rc), args[i].msg);
    if (strcmp(args[i].who, "r1") == 0) (*frozen_answers)++;
  }
  kill(rs[1].pid, SIGCONT);
  aiw_client_free(c);
  aiw_client_options_free(o);
  replicas_stop(rs, 3);
  return ok;
}

START_TEST(test_frozen_replica_keepalive) {
  int frozen_answers;
  char first_error[AIW_ERROR_MESSAGE_SIZE];
  /* With keepalive (1 s + 1 s): the frozen connection is closed within
   * about 2 s, its calls fail UNAVAILABLE and are retried on the others,
   * well before their 8 s deadline. */
  int ok = calls_around_frozen(1, &frozen_answers, first_error, sizeof first_error);
  ck_assert_msg(ok == 6, "with keepalive %d of 6 calls OK; first error %s", ok, first_error);
  ck_assert_int_eq(frozen_answers, 0);
  /* Without keepalive nothing notices: the calls sent to it hit their deadline. */
  ok = calls_around_frozen(0, &frozen_answers, first_error, sizeof first_error);
  ck_assert_msg(ok < 6 && strstr(first_error, "DEADLINE_EXCEEDED"), "without keepalive %d of 6 OK (%s)", ok,
                first_error);
}
END_TEST

/* ---- retries ---------------------------------------------------------------- */

static aiw_code attempt_count(aiw_client *c, const char *key, int *count) {
  char text[96], v[16];
  snprintf(text, sizeof text, "!attempts:%s", key);
  aiw_error err;
  aiw_code rc = embed(c, text, 10000, "x-aiw-attempt-count", v, sizeof v, &err);
  *count = atoi(v);
  return rc;
}

static void check_retries(aiw_client *c) {
  char key[64], text[128], v[16];
  aiw_error err;
  unique_id(key, sizeof key, "retry");
  snprintf(text, sizeof text, "!fail-attempts:2:%s", key);
  ck_assert_msg(embed(c, text, 10000, "x-aiw-attempt", v, sizeof v, &err) == AIW_OK, "%s", err.message);
  ck_assert_str_eq(v, "3"); /* the third attempt answered */
  int count;
  ck_assert_int_eq(attempt_count(c, key, &count), AIW_OK);
  ck_assert_int_eq(count, 3);
  /* Not retryable: one attempt, its code. */
  unique_id(key, sizeof key, "noretry");
  snprintf(text, sizeof text, "!fail-attempts:2:%s:INVALID_ARGUMENT", key);
  ck_assert_int_eq(embed(c, text, 10000, NULL, NULL, 0, &err), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(attempt_count(c, key, &count), AIW_OK);
  ck_assert_int_eq(count, 1);
  /* More failures than attempts: UNAVAILABLE after maxAttempts (3). */
  unique_id(key, sizeof key, "exhaust");
  snprintf(text, sizeof text, "!fail-attempts:9:%s", key);
  ck_assert_int_eq(embed(c, text, 10000, NULL, NULL, 0, &err), AIW_UNAVAILABLE);
  ck_assert_int_eq(attempt_count(c, key, &count), AIW_OK);
  ck_assert_int_eq(count, 3);
}

START_TEST(test_retry_policy) {
  aiw_client_options *o = aiw_client_options_new();
  ck_assert_int_eq(aiw_client_options_set_service_config(
                       o, "{\"methodConfig\":[{\"name\":[{\"service\":\"ai_service.AiWorker\"}],"
                          "\"retryPolicy\":{\"maxAttempts\":3,\"initialBackoff\":\"0.01s\",\"maxBackoff\":\"0.1s\","
                          "\"backoffMultiplier\":2,\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]}"),
                   AIW_OK);
  aiw_client *c = client_with(g_srv.target, o);
  check_retries(c);
  aiw_client_free(c);
  /* The typed helper says the same. */
  aiw_client_options_set_service_config(o, NULL);
  ck_assert_int_eq(aiw_client_options_set_retry_policy(o, 3, 10, 100), AIW_OK);
  c = client_with(g_srv.target, o);
  check_retries(c);
  aiw_client_free(c);
  /* Without a policy: no retry. */
  aiw_client_options_set_retry_policy(o, 0, 0, 0);
  c = client_with(g_srv.target, o);
  char key[64], text[128];
  aiw_error err;
  int count;
  unique_id(key, sizeof key, "none");
  snprintf(text, sizeof text, "!fail-attempts:1:%s", key);
  ck_assert_int_eq(embed(c, text, 10000, NULL, NULL, 0, &err), AIW_UNAVAILABLE);
  ck_assert_int_eq(attempt_count(c, key, &count), AIW_OK);
  ck_assert_int_eq(count, 1);
  aiw_client_free(c);
  aiw_client_options_free(o);
}
END_TEST

/* ---- keepalive against grpcio's enforcement ------------------------------ */

/* A ChatStream held silent for hold_ms, on a client pinging every ping_ms,
 * against a server that allows one ping per min_ms (grpcio's 5 minutes,
 * scaled down). */
static aiw_code held_stream(int ping_ms, int min_ms, int hold_ms, char *msg, size_t size) {
  char min[16];
  snprintf(min, sizeof min, "%d", min_ms);
  const char *extra[] = {"--min-ping-interval-ms", min, NULL};
  refservice rs;
  ck_assert_int_eq(refservice_start(&rs, extra), 0);
  aiw_client_options *o = aiw_client_options_new();
  ck_assert_int_eq(aiw_client_options_set_keepalive(o, ping_ms, 5000, 0), AIW_OK);
  aiw_client *c = client_with(rs.target, o);
  aiw_chat_request *req = aiw_chat_request_new();
  char query[32];
  snprintf(query, sizeof query, "!hold:%d", hold_ms);
  ck_assert_int_eq(aiw_chat_request_set_query(req, query), AIW_OK);
  aiw_error err;
  aiw_code rc = aiw_chat_stream(c, req, NULL, ignore_chunk, NULL, &err);
  snprintf(msg, size, "%s", rc == AIW_OK ? "" : err.message);
  aiw_chat_request_free(req);
  aiw_client_free(c);
  aiw_client_options_free(o);
  refservice_stop(&rs);
  return rc;
}

START_TEST(test_keepalive_within_server_policy) {
  char msg[AIW_ERROR_MESSAGE_SIZE];
  /* Pings no more often than the server allows: the silent stream lives. */
  aiw_code rc = held_stream(1100, 1000, 7000, msg, sizeof msg);
  ck_assert_msg(rc == AIW_OK, "%s: %s", aiw_code_name(rc), msg);
  /* Twice too often: after two strikes GOAWAY too_many_pings ends it. */
  rc = held_stream(1000, 2000, 9000, msg, sizeof msg);
  ck_assert_msg(rc == AIW_UNAVAILABLE, "%s: %s", aiw_code_name(rc), msg);
}
END_TEST

/* ---- compression ---------------------------------------------------------- */

/* One GetEmbedding with call options `co` (may be NULL); its code. */
static aiw_code embed_with(aiw_client *c, const aiw_call_options *co, aiw_error *err) {
  aiw_embedding_request *req = aiw_embedding_request_new();
  aiw_embedding_request_set_text(req, "squeeze me squeeze me squeeze me squeeze me");
  aiw_embedding_response *resp = NULL;
  aiw_code rc = aiw_get_embedding(c, req, co, &resp, err);
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(req);
  return rc;
}

START_TEST(test_compression) {
  /* grpcio hides a request's grpc-encoding from its handlers, but a server
   * that allows identity only refuses anything else -- before its handler
   * runs, so what it refuses was compressed on the wire. */
  const char *extra[] = {"--reject-compressed-requests", NULL};
  refservice strict;
  ck_assert_int_eq(refservice_start(&strict, extra), 0);
  aiw_error err;
  aiw_client_options *o = aiw_client_options_new();
  ck_assert_int_eq(aiw_client_options_set_compression(o, "gzip"), AIW_OK);
  aiw_client *gz = client_with(strict.target, o);
  aiw_client *plain = client_with(strict.target, NULL);
  aiw_call_options *co = aiw_call_options_new();
  /* The client's default: gzip. */
  ck_assert_int_eq(embed_with(gz, NULL, &err), AIW_UNIMPLEMENTED);
  ck_assert_msg(strstr(err.message, "gzip"), "%s", err.message);
  /* Per call: identity overrides it; deflate and gzip on a plain client. */
  aiw_call_options_set_compression(co, "identity");
  ck_assert_int_eq(embed_with(gz, co, &err), AIW_OK);
  ck_assert_int_eq(embed_with(plain, NULL, &err), AIW_OK);
  aiw_call_options_set_compression(co, "deflate");
  ck_assert_int_eq(embed_with(plain, co, &err), AIW_UNIMPLEMENTED);
  ck_assert_msg(strstr(err.message, "deflate"), "%s", err.message);
  aiw_call_options_set_compression(co, "gzip");
  ck_assert_int_eq(embed_with(plain, co, &err), AIW_UNIMPLEMENTED);
  aiw_call_options_set_compression(co, NULL); /* back to the client's */
  ck_assert_int_eq(embed_with(plain, co, &err), AIW_OK);
  ck_assert_int_eq(embed_with(gz, co, &err), AIW_UNIMPLEMENTED);
  /* A server that accepts it decodes the compressed request. */
  aiw_client_free(gz);
  gz = client_with(g_srv.target, o);
  aiw_embedding_request *req = aiw_embedding_request_new();
  aiw_embedding_request_set_text(req, "compressed question");
  aiw_embedding_response *resp = NULL;
  ck_assert_msg(aiw_get_embedding(gz, req, NULL, &resp, &err) == AIW_OK, "%s", err.message);
  size_t n = 0;
  const float *got = aiw_embedding_response_semantic_vector(resp, &n);
  char buf[200];
  const char *why = vector_mismatch(got, n, "compressed question", strlen("compressed question"), 0, buf, sizeof buf);
  ck_assert_msg(why == NULL, "%s", why);
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(req);
  /* gRPC 1.51 corrupts compressed retries: refused, client-wide and per call. */
  ck_assert_int_eq(aiw_client_options_set_retry_policy(o, 3, 10, 100), AIW_OK);
  char msg[AIW_ERROR_MESSAGE_SIZE];
  ck_assert_int_eq(client_new_code(o, msg, sizeof msg), AIW_INVALID_ARGUMENT);
  ck_assert_msg(strstr(msg, "retr"), "%s", msg);
  ck_assert_int_eq(aiw_client_options_set_compression(o, NULL), AIW_OK);
  aiw_client *retrying = client_with(g_srv.target, o);
  aiw_call_options_set_compression(co, "gzip");
  ck_assert_int_eq(embed_with(retrying, co, &err), AIW_INVALID_ARGUMENT);
  aiw_call_options_set_compression(co, "identity");
  ck_assert_int_eq(embed_with(retrying, co, &err), AIW_OK);
  aiw_client_free(retrying);
  aiw_call_options_free(co);
  aiw_client_free(gz);
  aiw_client_free(plain);
  aiw_client_options_free(o);
  refservice_stop(&strict);
}
END_TEST

START_TEST(test_compressed_responses_accepted) {
  const char *extra[] = {"--gzip", NULL};
  refservice rs;
  ck_assert_int_eq(refservice_start(&rs, extra), 0);
  aiw_client *c = client_with(rs.target, NULL);
  aiw_embedding_request *req = aiw_embedding_request_new();
  aiw_embedding_request_set_text(req, "compressed answer");
  aiw_embedding_response *resp = NULL;
  aiw_error err;
  ck_assert_msg(aiw_get_embedding(c, req, NULL, &resp, &err) == AIW_OK, "%s", err.message);
  size_t n = 0;
  const float *got = aiw_embedding_response_semantic_vector(resp, &n);
  char buf[200];
  const char *why = vector_mismatch(got, n, "compressed answer", strlen("compressed answer"), 0, buf, sizeof buf);
  ck_assert_msg(why == NULL, "%s", why);
  aiw_embedding_response_free(resp);
  aiw_chat_request *chat = aiw_chat_request_new();
  aiw_chat_request_set_query(chat, "!many:50");
  ck_assert_int_eq(aiw_chat_stream(c, chat, NULL, ignore_chunk, NULL, &err), AIW_OK);
  aiw_chat_request_free(chat);
  /* 100,000 'x': gzip surely shrinks it, so this one crossed compressed. */
  aiw_search_request *sreq = aiw_search_request_new();
  aiw_search_request_set_query(sreq, "!big:100000");
  aiw_search_response *sresp = NULL;
  ck_assert_msg(aiw_vector_search(c, sreq, NULL, &sresp, &err) == AIW_OK, "%s", err.message);
  size_t caption_len = 0;
  aiw_search_result_caption_with_len(aiw_search_response_result(sresp, 0), &caption_len);
  ck_assert_uint_eq(caption_len, 100000);
  aiw_search_response_free(sresp);
  aiw_search_request_free(sreq);
  aiw_embedding_request_free(req);
  aiw_client_free(c);
  refservice_stop(&rs);
}
END_TEST

/* ---- call credentials ---------------------------------------------------- */

typedef struct token_state {
  int calls; /* invocations of the callback */
  int fail;
  int big;   /* the token of the next invocation is longer than 512 bytes */
  char last_method[96];
} token_state;

static long token_fn(const char *method, char *buf, size_t size, void *userdata) {
  token_state *t = userdata;
  int n = ++t->calls; /* blocking calls from one thread */
  snprintf(t->last_method, sizeof t->last_method, "%s", method);
  if (t->fail) return -3; /* any negative: failed (not a length) */
  if (t->big) { /* longer than the library's first buffer: it asks again */
    char big[700];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    if (size > sizeof big + 16) t->big = 0;
    return snprintf(buf, size, "tok-big-%s", big);
  }
  return snprintf(buf, size, "tok-%d", n);
}

START_TEST(test_token_callback) {
  token_state ts = {0, 0, 0, ""};
  aiw_client_options *o = aiw_client_options_new();
  ck_assert_int_eq(aiw_client_options_set_token_callback(o, token_fn, &ts), AIW_OK);
  char msg[AIW_ERROR_MESSAGE_SIZE];
  aiw_client *c = NULL;
  aiw_error err;
  /* Plaintext without the opt-in: refused. */
  ck_assert_int_eq(aiw_client_new(g_srv.target, o, &c, &err), AIW_INVALID_ARGUMENT);
  ck_assert_msg(strstr(err.message, "plaintext"), "%s", err.message);
  ck_assert_int_eq(aiw_client_options_allow_insecure_credentials(o, 1), AIW_OK);
  c = client_with(g_srv.target, o);
  int want_calls = 0;
  for (int i = 1; i <= 4; i++) {
    ts.big = i == 3;
    want_calls += i == 3 ? 2 : 1;
    char id[64];
    unique_id(id, sizeof id, "token");
    aiw_embedding_request *req = aiw_embedding_request_new();
    aiw_embedding_request_set_text(req, "who am i");
    aiw_call_options *co = test_opts(10000, id);
    aiw_embedding_response *resp = NULL;
    ck_assert_int_eq(aiw_get_embedding(c, req, co, &resp, &err), AIW_OK);
    ck_assert_int_eq(ts.calls, want_calls); /* once per call (twice for a long token) */
    ck_assert_str_eq(ts.last_method, AIW_PATH_GET_EMBEDDING);
    char outcome[32];
    ck_assert_int_eq(events_wait(&g_srv, id, outcome, sizeof outcome, (int)hang_bound_ms(5000)), 0);
    aiw_embedding_response_free(resp);
    aiw_call_options_free(co);
    aiw_embedding_request_free(req);
  }
  /* The server saw "Bearer tok-<n>" each time: the events log has it. */
  FILE *f = fopen(g_srv.events, "r");
  ck_assert_ptr_nonnull(f);
  char line[4096];
  int bearer_seen = 0, long_seen = 0;
  while (fgets(line, sizeof line, f)) {
    if (strstr(line, "\"authorization\": \"Bearer tok-2\"")) bearer_seen++;
    if (strstr(line, "\"authorization\": \"Bearer tok-big-kkkk")) long_seen++;
  }
  fclose(f);
  ck_assert_int_eq(bearer_seen, 1);
  ck_assert_int_eq(long_seen, 1);
  /* A failing callback: UNAUTHENTICATED, nothing sent. */
  ts.fail = 1;
  ck_assert_int_eq(embed(c, "nope", 10000, NULL, NULL, 0, &err), AIW_UNAUTHENTICATED);
  ck_assert_msg(strstr(err.message, "token callback failed"), "%s", err.message);
  /* A closed client refuses before asking for a token. */
  int before = ts.calls;
  aiw_client_close(c);
  ck_assert_int_eq(embed(c, "closed", 10000, NULL, NULL, 0, &err), AIW_CANCELLED);
  ck_assert_int_eq(ts.calls, before);
  aiw_client_free(c);
  /* A static token too. */
  ck_assert_int_eq(aiw_client_options_set_bearer_token(o, "static-secret"), AIW_OK);
  c = client_with(g_srv.target, o);
  char id[64];
  unique_id(id, sizeof id, "static");
  aiw_chat_request *chat = aiw_chat_request_new();
  aiw_chat_request_set_query(chat, "hello");
  aiw_call_options *co = test_opts(10000, id);
  ck_assert_int_eq(aiw_chat_stream(c, chat, co, ignore_chunk, NULL, &err), AIW_OK);
  char outcome[32];
  ck_assert_int_eq(events_wait(&g_srv, id, outcome, sizeof outcome, (int)hang_bound_ms(5000)), 0);
  f = fopen(g_srv.events, "r");
  int static_seen = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, id) && strstr(line, "\"authorization\": \"Bearer static-secret\"")) static_seen++;
  fclose(f);
  ck_assert_int_eq(static_seen, 1);
  (void)msg;
  aiw_call_options_free(co);
  aiw_chat_request_free(chat);
  aiw_client_free(c);
  aiw_client_options_free(o);
}
END_TEST

/* ---- response information ------------------------------------------------- */

static void echo_opts(aiw_call_options *co, aiw_response_info *info) {
  ck_assert_int_eq(aiw_call_options_add_metadata(co, "x-grpc-test-echo-initial", "hello-header", NULL), AIW_OK);
  ck_assert_int_eq(aiw_call_options_add_metadata_bin(co, "x-grpc-test-echo-trailing-bin", "\x00\xff\x01", 3, NULL),
                   AIW_OK);
  aiw_call_options_set_response_info(co, info);
}

static void check_echoed(const aiw_response_info *info, const char *peer_port) {
  size_t len;
  const char *h = aiw_response_info_get(info, 0, "x-grpc-test-echo-initial", &len);
  ck_assert_ptr_nonnull(h);
  ck_assert_str_eq(h, "hello-header");
  const unsigned char *t = aiw_response_info_get(info, 1, "x-grpc-test-echo-trailing-bin", &len);
  ck_assert_ptr_nonnull(t);
  ck_assert_uint_eq(len, 3);
  ck_assert(t[0] == 0x00 && t[1] == 0xff && t[2] == 0x01);
  ck_assert_ptr_null(aiw_response_info_get(info, 0, "x-grpc-test-echo-trailing-bin", NULL));
  char want[64];
  snprintf(want, sizeof want, "ipv4:127.0.0.1:%s", peer_port);
  ck_assert_str_eq(aiw_response_info_peer(info), want);
}

typedef struct header_probe {
  const aiw_response_info *info;
  int chunks;
  int header_seen_in_callback;
} header_probe;

static int probe_chunk(const aiw_chat_response *chunk, void *userdata) {
  (void)chunk;
  header_probe *p = userdata;
  if (p->chunks++ == 0) p->header_seen_in_callback = aiw_response_info_get(p->info, 0, "x-grpc-test-echo-initial", NULL) != NULL;
  return 0;
}

START_TEST(test_response_info_blocking) {
  char port[16];
  snprintf(port, sizeof port, "%d", g_srv.port);
  aiw_response_info *info = aiw_response_info_new();
  aiw_call_options *co = aiw_call_options_new();
  echo_opts(co, info);
  aiw_error err;
  /* Unary. */
  aiw_search_request *sreq = aiw_search_request_new();
  aiw_search_request_set_query(sreq, "cat");
  aiw_search_response *sresp = NULL;
  ck_assert_int_eq(aiw_vector_search(g_client, sreq, co, &sresp, &err), AIW_OK);
  check_echoed(info, port);
  aiw_search_response_free(sresp);
  /* Stream: headers already inside the first callback. */
  aiw_chat_request *chat = aiw_chat_request_new();
  aiw_chat_request_set_query(chat, "hello");
  header_probe p = {info, 0, 0};
  ck_assert_int_eq(aiw_chat_stream(g_client, chat, co, probe_chunk, &p, &err), AIW_OK);
  ck_assert_int_gt(p.chunks, 0);
  ck_assert_int_eq(p.header_seen_in_callback, 1);
  check_echoed(info, port);
  /* Raw. */
  void *bytes = NULL;
  size_t n = 0;
  ck_assert_int_eq(aiw_raw_call(g_client, AIW_PATH_GET_EMBEDDING, "\x0a\x01x", 3, co, &bytes, &n, &err), AIW_OK);
  check_echoed(info, port);
  aiw_free(bytes);
  /* A failed call still has its trailers; the next call empties the info. */
  aiw_search_request_set_query(sreq, "!error:NOT_FOUND:gone");
  ck_assert_int_eq(aiw_vector_search(g_client, sreq, co, &sresp, &err), AIW_NOT_FOUND);
  ck_assert_ptr_nonnull(aiw_response_info_get(info, 1, "x-grpc-test-echo-trailing-bin", NULL));
  aiw_call_options_clear_metadata(co);
  aiw_search_request_set_query(sreq, "cat");
  ck_assert_int_eq(aiw_vector_search(g_client, sreq, co, &sresp, &err), AIW_OK);
  ck_assert_ptr_null(aiw_response_info_get(info, 1, "x-grpc-test-echo-trailing-bin", NULL));
  ck_assert_ptr_null(aiw_response_info_get(info, 0, "x-grpc-test-echo-initial", NULL));
  aiw_search_response_free(sresp);
  /* Unreachable: no peer, nothing. */
  char target[64];
  int fd;
  unlistened_target(target, sizeof target, &fd);
  aiw_client *dead = test_client(target, 0);
  ck_assert_int_eq(aiw_vector_search(dead, sreq, co, &sresp, &err), AIW_UNAVAILABLE);
  ck_assert_str_eq(aiw_response_info_peer(info), "");
  ck_assert_uint_eq(aiw_response_info_metadata_count(info, 0), 0);
  ck_assert_uint_eq(aiw_response_info_metadata_count(info, 1), 0);
  aiw_client_free(dead);
  close(fd);
  aiw_chat_request_free(chat);
  aiw_search_request_free(sreq);
  aiw_call_options_free(co);
  aiw_response_info_free(info);
}
END_TEST

START_TEST(test_response_info_async) {
  char port[16];
  snprintf(port, sizeof port, "%d", g_srv.port);
  aiw_queue *q = aiw_queue_new();
  aiw_call_options *co = aiw_call_options_new();
  aiw_response_info *unused = aiw_response_info_new();
  echo_opts(co, unused);
  aiw_error err;
  aiw_chat_request *chat = aiw_chat_request_new();
  aiw_chat_request_set_query(chat, "hello");
  ck_assert_int_eq(aiw_chat_stream_start(g_client, chat, co, q, (void *)1, &err), AIW_OK);
  int messages = 0, result = 0;
  while (!result) {
    aiw_completion *comp;
    ck_assert_int_eq(aiw_queue_wait(q, hang_bound_ms(10000), &comp), AIW_QUEUE_COMPLETION);
    const aiw_response_info *info = aiw_completion_response_info(comp);
    if (aiw_completion_is_message(comp)) {
      messages++;
      ck_assert_ptr_nonnull(aiw_response_info_get(info, 0, "x-grpc-test-echo-initial", NULL));
      ck_assert_uint_eq(aiw_response_info_metadata_count(info, 1), 0);
    } else {
      result = 1;
      ck_assert_int_eq(aiw_completion_code(comp), AIW_OK);
      check_echoed(info, port);
    }
    aiw_completion_free(comp);
  }
  ck_assert_int_gt(messages, 0);
  /* The options' info is for blocking calls only. */
  ck_assert_uint_eq(aiw_response_info_metadata_count(unused, 0), 0);
  aiw_chat_request_free(chat);
  aiw_call_options_free(co);
  aiw_response_info_free(unused);
  aiw_queue_free(q);
}
END_TEST

static void check_details(const aiw_response_info *info) {
  ck_assert_int_eq(aiw_response_info_has_status_details(info), 1);
  ck_assert_int_eq(aiw_response_info_status_code(info), AIW_FAILED_PRECONDITION);
  ck_assert_str_eq(aiw_response_info_status_message(info), "not now");
  ck_assert_uint_eq(aiw_response_info_detail_count(info), 2);
  ck_assert_str_eq(aiw_response_info_detail_type_url(info, 0), "type.googleapis.com/google.rpc.ErrorInfo");
  size_t len;
  const unsigned char *v = aiw_response_info_detail_value(info, 0, &len);
  /* ErrorInfo{reason: "AIW_TEST", domain: "refservice.thinkbank"} */
  static const unsigned char want[] = "\x0a\x08" "AIW_TEST" "\x12\x14" "refservice.thinkbank";
  ck_assert_uint_eq(len, sizeof want - 1);
  ck_assert_int_eq(memcmp(v, want, len), 0);
  ck_assert_str_eq(aiw_response_info_detail_type_url(info, 1), "type.googleapis.com/aiw.test.Raw");
  v = aiw_response_info_detail_value(info, 1, &len);
  ck_assert_uint_eq(len, 4);
  ck_assert(v[0] == 0x00 && v[1] == 0x01 && v[2] == 0xfe && v[3] == 0xff);
  ck_assert_ptr_null(aiw_response_info_detail_type_url(info, 2));
  ck_assert_ptr_null(aiw_response_info_detail_value(info, 2, &len));
}

START_TEST(test_status_details) {
  aiw_response_info *info = aiw_response_info_new();
  aiw_call_options *co = aiw_call_options_new();
  aiw_call_options_set_response_info(co, info);
  aiw_error err;
  aiw_embedding_request *req = aiw_embedding_request_new();
  aiw_embedding_request_set_text(req, "!details:FAILED_PRECONDITION:not now");
  aiw_embedding_response *resp = NULL;
  ck_assert_int_eq(aiw_get_embedding(g_client, req, co, &resp, &err), AIW_FAILED_PRECONDITION);
  ck_assert_str_eq(err.message, "not now");
  check_details(info);
  /* A stream, before any message. */
  aiw_chat_request *chat = aiw_chat_request_new();
  aiw_chat_request_set_query(chat, "!details:FAILED_PRECONDITION:not now");
  ck_assert_int_eq(aiw_chat_stream(g_client, chat, co, ignore_chunk, NULL, &err), AIW_FAILED_PRECONDITION);
  check_details(info);
  /* Async. */
  aiw_queue *q = aiw_queue_new();
  ck_assert_int_eq(aiw_get_embedding_start(g_client, req, NULL, q, NULL, &err), AIW_OK);
  aiw_completion *comp;
  ck_assert_int_eq(aiw_queue_wait(q, hang_bound_ms(10000), &comp), AIW_QUEUE_COMPLETION);
  ck_assert_int_eq(aiw_completion_code(comp), AIW_FAILED_PRECONDITION);
  check_details(aiw_completion_response_info(comp));
  aiw_completion_free(comp);
  aiw_queue_free(q);
  /* An ordinary error: none. */
  aiw_embedding_request_set_text(req, "!error:NOT_FOUND:nothing");
  ck_assert_int_eq(aiw_get_embedding(g_client, req, co, &resp, &err), AIW_NOT_FOUND);
  ck_assert_int_eq(aiw_response_info_has_status_details(info), 0);
  ck_assert_uint_eq(aiw_response_info_detail_count(info), 0);
  aiw_chat_request_free(chat);
  aiw_embedding_request_free(req);
  aiw_call_options_free(co);
  aiw_response_info_free(info);
}
END_TEST

START_TEST(test_max_receive_per_call) {
  aiw_call_options *co = aiw_call_options_new();
  ck_assert_int_eq(aiw_call_options_set_max_receive_size(co, 1000), AIW_OK);
  aiw_search_request *sreq = aiw_search_request_new();
  aiw_search_request_set_query(sreq, "!big:5000");
  aiw_search_response *sresp = NULL;
  aiw_error err;
  ck_assert_int_eq(aiw_vector_search(g_client, sreq, co, &sresp, &err), AIW_RESOURCE_EXHAUSTED);
  ck_assert_msg(strstr(err.message, "max receive size"), "%s", err.message);
  ck_assert_ptr_null(sresp);
  aiw_search_request_set_query(sreq, "!big:100");
  ck_assert_int_eq(aiw_vector_search(g_client, sreq, co, &sresp, &err), AIW_OK);
  aiw_search_response_free(sresp);
  /* A stream: the large message fails it. */
  aiw_chat_request *chat = aiw_chat_request_new();
  aiw_chat_request_set_query(chat, "!sizes:10,5000,10");
  ck_assert_int_eq(aiw_chat_stream(g_client, chat, co, ignore_chunk, NULL, &err), AIW_RESOURCE_EXHAUSTED);
  /* Raw, async. */
  aiw_queue *q = aiw_queue_new();
  ck_assert_int_eq(aiw_raw_stream_start(g_client, AIW_PATH_CHAT_STREAM, "\x0a\x10!sizes:10,5000,9", 18, co, q, NULL,
                                        &err),
                   AIW_OK);
  aiw_code last = AIW_OK;
  for (;;) {
    aiw_completion *comp;
    ck_assert_int_eq(aiw_queue_wait(q, hang_bound_ms(10000), &comp), AIW_QUEUE_COMPLETION);
    int msg = aiw_completion_is_message(comp);
    last = aiw_completion_code(comp);
    aiw_completion_free(comp);
    if (!msg) break;
  }
  ck_assert_int_eq(last, AIW_RESOURCE_EXHAUSTED);
  aiw_queue_free(q);
  aiw_chat_request_free(chat);
  aiw_search_request_free(sreq);
  aiw_call_options_free(co);
}
END_TEST

/* ---- connectivity and health ---------------------------------------------- */

/* Waits (bounded) until the client's state is `want`; 1 if it got there. */
static int wait_state(aiw_client *c, aiw_connectivity_state want, int64_t bound_ms) {
  int64_t t0 = now_ms();
  for (;;) {
    aiw_connectivity_state s = aiw_client_get_state(c, 1);
    if (s == want) return 1;
    int64_t left = bound_ms - (now_ms() - t0);
    if (left <= 0) return 0;
    aiw_client_wait_for_state_change(c, s, left);
  }
}

START_TEST(test_connectivity_transitions) {
  refservice rs;
  ck_assert_int_eq(refservice_start(&rs, NULL), 0);
  int port = rs.port;
  aiw_client_options *o = aiw_client_options_new();
  ck_assert_int_eq(aiw_client_options_set_reconnect_backoff(o, 100, 200, 300), AIW_OK);
  aiw_client *c = client_with(rs.target, o);
  ck_assert_int_eq(aiw_client_get_state(c, 0), AIW_STATE_IDLE); /* lazy */
  ck_assert_int_eq(aiw_client_wait_for_state_change(c, AIW_STATE_IDLE, 50), 0); /* nothing happens by itself */
  ck_assert_int_eq(aiw_client_wait_for_state_change(c, AIW_STATE_READY, 0), 1); /* already not READY */
  ck_assert_msg(wait_state(c, AIW_STATE_READY, hang_bound_ms(10000)), "never READY");
  refservice_stop(&rs);
  /* The connection goes: READY -> IDLE/TRANSIENT_FAILURE. */
  ck_assert_int_eq(aiw_client_wait_for_state_change(c, AIW_STATE_READY, hang_bound_ms(10000)), 1);
  aiw_connectivity_state s = aiw_client_get_state(c, 1);
  ck_assert_msg(s != AIW_STATE_READY, "still READY after the server stopped");
  /* The server back on the same port: READY again. */
  char portarg[16];
  snprintf(portarg, sizeof portarg, "%d", port);
  const char *extra[] = {"--port", portarg, NULL};
  ck_assert_int_eq(refservice_start(&rs, extra), 0);
  ck_assert_int_eq(rs.port, port);
  ck_assert_msg(wait_state(c, AIW_STATE_READY, hang_bound_ms(15000)), "not READY after the restart");
  /* Closed: SHUTDOWN, and a wait returns. */
  aiw_client_close(c);
  ck_assert_int_eq(aiw_client_get_state(c, 0), AIW_STATE_SHUTDOWN);
  ck_assert_int_eq(aiw_client_wait_for_state_change(c, AIW_STATE_READY, 1000), 1);
  ck_assert_int_eq(aiw_client_wait_for_state_change(c, AIW_STATE_SHUTDOWN, 100), 0);
  aiw_client_free(c);
  aiw_client_options_free(o);
  refservice_stop(&rs);
}
END_TEST

START_TEST(test_idle_timeout) {
  /* With no call for the idle timeout, the channel lets its connection go:
   * READY -> IDLE by itself (gRPC's default would be 30 minutes). */
  aiw_client_options *o = aiw_client_options_new();
  ck_assert_int_eq(aiw_client_options_set_idle_timeout_ms(o, 1000), AIW_OK);
  aiw_client *c = client_with(g_srv.target, o);
  aiw_error err;
  ck_assert_int_eq(embed(c, "wake", 10000, NULL, NULL, 0, &err), AIW_OK);
  ck_assert_int_eq(aiw_client_get_state(c, 0), AIW_STATE_READY);
  int64_t t0 = now_ms();
  while (aiw_client_get_state(c, 0) != AIW_STATE_IDLE && now_ms() - t0 < hang_bound_ms(10000))
    aiw_client_wait_for_state_change(c, aiw_client_get_state(c, 0), 1000);
  ck_assert_int_eq(aiw_client_get_state(c, 0), AIW_STATE_IDLE);
  ck_assert_int_eq(embed(c, "again", 10000, NULL, NULL, 0, &err), AIW_OK); /* and reconnects */
  aiw_client_free(c);
  /* The control: without it the channel stays READY. */
  aiw_client_options_set_idle_timeout_ms(o, 0);
  c = client_with(g_srv.target, o);
  ck_assert_int_eq(embed(c, "wake", 10000, NULL, NULL, 0, &err), AIW_OK);
  ck_assert_int_eq(aiw_client_wait_for_state_change(c, AIW_STATE_READY, 2500), 0);
  aiw_client_free(c);
  aiw_client_options_free(o);
}
END_TEST

static void *close_later(void *p) {
  usleep(100 * 1000);
  aiw_client_close(p);
  return NULL;
}

START_TEST(test_wait_ends_at_close) {
  aiw_client *c = client_with(g_srv.target, NULL);
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, close_later, c), 0);
  int64_t t0 = now_ms();
  /* IDLE for ever: only the close ends this wait. */
  ck_assert_int_eq(aiw_client_wait_for_state_change(c, AIW_STATE_IDLE, -1), 1);
  expect_within(t0, hang_bound_ms(5000), "a state wait across aiw_client_close");
  pthread_join(th, NULL);
  aiw_client_free(c);
}
END_TEST

START_TEST(test_health_check) {
  aiw_health_status hs = AIW_HEALTH_UNKNOWN;
  aiw_error err;
  aiw_call_options *co = test_opts(10000, NULL);
  ck_assert_int_eq(aiw_health_check(g_client, "", co, &hs, &err), AIW_OK);
  ck_assert_int_eq(hs, AIW_HEALTH_SERVING);
  ck_assert_int_eq(aiw_health_check(g_client, "ai_service.AiWorker", co, &hs, &err), AIW_OK);
  ck_assert_int_eq(hs, AIW_HEALTH_SERVING);
  ck_assert_int_eq(aiw_health_check(g_client, "no.such.Service", co, &hs, &err), AIW_OK);
  ck_assert_int_eq(hs, AIW_HEALTH_SERVICE_UNKNOWN);
  ck_assert_int_eq(aiw_health_check(g_client, "\xff", co, &hs, &err), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_health_check(g_client, NULL, co, NULL, &err), AIW_INVALID_ARGUMENT);
  /* A replica of its own, flipped. */
  refservice rs;
  ck_assert_int_eq(refservice_start(&rs, NULL), 0);
  aiw_client *c = client_with(rs.target, NULL);
  aiw_asset_request *a = aiw_asset_request_new();
  aiw_asset_request_set_asset_id(a, "!health:NOT_SERVING");
  aiw_asset_request_set_file_path(a, "b/o");
  aiw_asset_request_set_mime_type(a, "text/plain");
  aiw_process_status *ps = NULL;
  ck_assert_int_eq(aiw_process_asset(c, a, co, &ps, &err), AIW_OK);
  aiw_process_status_free(ps);
  ck_assert_int_eq(aiw_health_check(c, "ai_service.AiWorker", co, &hs, &err), AIW_OK);
  ck_assert_int_eq(hs, AIW_HEALTH_NOT_SERVING);
  kill(rs.pid, SIGUSR2);
  int64_t t0 = now_ms();
  do {
    ck_assert_int_eq(aiw_health_check(c, "", co, &hs, &err), AIW_OK);
  } while (hs != AIW_HEALTH_SERVING && now_ms() - t0 < hang_bound_ms(5000));
  ck_assert_int_eq(hs, AIW_HEALTH_SERVING);
  aiw_asset_request_free(a);
  aiw_client_free(c);
  refservice_stop(&rs);
  /* Unreachable: the call's error. */
  char target[64];
  int fd;
  unlistened_target(target, sizeof target, &fd);
  c = client_with(target, NULL);
  ck_assert_int_eq(aiw_health_check(c, "", co, &hs, &err), AIW_UNAVAILABLE);
  ck_assert_int_eq(hs, AIW_HEALTH_UNKNOWN);
  aiw_client_free(c);
  close(fd);
  aiw_call_options_free(co);
}
END_TEST

Suite *suite_channel(void) {
  Suite *s = suite_create("channel");
  TCase *tc = tcase_create("options");
  tcase_add_test(tc, test_bad_service_config_refused);
  tcase_add_test(tc, test_option_ranges);
  suite_add_tcase(s, tc);

  tc = tcase_create("replicas");
  tcase_set_timeout(tc, test_slow() ? 900 : 180);
  tcase_add_test(tc, test_round_robin_spreads_calls);
  tcase_add_test(tc, test_replica_killed_mid_load);
  tcase_add_test(tc, test_not_serving_replica_gets_no_calls);
  tcase_add_test(tc, test_frozen_replica_keepalive);
  suite_add_tcase(s, tc);

  tc = tcase_create("keepalive");
  tcase_set_timeout(tc, test_slow() ? 600 : 120);
  tcase_add_test(tc, test_keepalive_within_server_policy);
  suite_add_tcase(s, tc);

  tc = server_tcase(s, "channel_calls", 120, client_setup);
  tcase_add_test(tc, test_retry_policy);
  tcase_add_test(tc, test_compression);
  tcase_add_test(tc, test_compressed_responses_accepted);
  tcase_add_test(tc, test_token_callback);
  tcase_add_test(tc, test_response_info_blocking);
  tcase_add_test(tc, test_response_info_async);
  tcase_add_test(tc, test_status_details);
  tcase_add_test(tc, test_max_receive_per_call);
  tcase_add_test(tc, test_connectivity_transitions);
  tcase_add_test(tc, test_wait_ends_at_close);
  tcase_add_test(tc, test_idle_timeout);
  tcase_add_test(tc, test_health_check);
  return s;
}
