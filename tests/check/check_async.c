/* check_async.c -- asynchronous unary calls (aiw_queue, aiw_*_start,
 * aiw_queue_next, aiw_completion_*) against the reference service: the three
 * RPCs with their check values; 200 calls in flight over two clients, started
 * from 4 threads while 2 others collect, every completion matched by tag and
 * its content checked -- also with 1 ms deadlines, and with a client closed or
 * the queue shut down midway; two clients on one queue; queue timeouts;
 * status / service / decoding / connection errors; deadlines; cancel tokens
 * and aiw_client_close from another thread; request and options freed right
 * after start; take rules; starts refused from callbacks and over the send
 * limit; shutdown, draining and waking waiters; freeing a queue with work left
 * in it (no leak: the ASan and valgrind modes check); NULL arguments.
 * Expected values come from tests/refservice/README.md. Worker threads never
 * ck_assert: they record the first problem, checked by the test's thread
 * after join. */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* A bound for "this comes out promptly" (cancellations, deadlines) that is
 * still far below the 120 s of the !slow calls they interrupt. */
#define SLOW_DIRECTIVE "!slow:120000"
static int64_t prompt_bound_ms(void) { return hang_bound_ms(5000); }

/* ------------------------------------------------------------------ helpers */

static aiw_queue *new_queue(void) {
  aiw_queue *q = aiw_queue_new();
  ck_assert_ptr_nonnull(q);
  return q;
}

/* The next completion within `bound_ms` (ck_asserts that there is one). */
static aiw_completion *next_within(aiw_queue *q, int64_t bound_ms) {
  aiw_completion *c = (aiw_completion *)&c; /* must be overwritten */
  aiw_code rc = aiw_queue_next(q, bound_ms, &c);
  ck_assert_msg(rc == AIW_OK, "aiw_queue_next: %s after %lld ms", aiw_code_name(rc), (long long)bound_ms);
  ck_assert_ptr_nonnull(c);
  return c;
}

/* Asserts that nothing is (or becomes within timeout_ms) available. */
static void expect_empty(aiw_queue *q, int64_t timeout_ms) {
  aiw_completion *c = (aiw_completion *)&c;
  aiw_code rc = aiw_queue_next(q, timeout_ms, &c);
  if (rc == AIW_OK) {
    const char *m = aiw_completion_method(c);
    aiw_code cc = aiw_completion_code(c);
    aiw_completion_free(c);
    ck_abort_msg("unexpected completion: %s %s", m ? m : "(null)", aiw_code_name(cc));
  }
  ck_assert_msg(rc == AIW_DEADLINE_EXCEEDED, "aiw_queue_next: %s", aiw_code_name(rc));
  ck_assert_ptr_null(c);
}

/* Checks the completion's tag, method and code; its error agrees. */
static void check_completion(const aiw_completion *c, void *tag, const char *method, aiw_code code) {
  ck_assert_ptr_eq(aiw_completion_tag(c), tag);
  const char *m = aiw_completion_method(c);
  ck_assert_ptr_nonnull(m);
  ck_assert_str_eq(m, method);
  const aiw_error *e = aiw_completion_error(c);
  ck_assert_ptr_nonnull(e);
  expect_code(method, aiw_completion_code(c), e, code);
}

/* The method of each kind of RPC. */
static const char *const METHOD[3] = {"GetEmbedding", "VectorSearch", "ProcessAsset"};

/* Starts one RPC of kind k (0 embed, 1 search, 2 process) whose main string
 * is `s`; returns what the start returned (err filled). */
static aiw_code try_start_kind(aiw_client *cl, int k, const char *s, const aiw_call_options *o, aiw_queue *q,
                               void *tag, aiw_error *err) {
  aiw_code rc;
  if (k == 0) {
    aiw_embedding_request *r = embed_req(s, AIW_EMBEDDING_UNKNOWN);
    rc = aiw_get_embedding_start(cl, r, o, q, tag, err);
    aiw_embedding_request_free(r);
  } else if (k == 1) {
    aiw_search_request *r = search_req(s);
    rc = aiw_vector_search_start(cl, r, o, q, tag, err);
    aiw_search_request_free(r);
  } else {
    aiw_asset_request *r = asset_req(s, "b/o", "text/plain");
    rc = aiw_process_asset_start(cl, r, o, q, tag, err);
    aiw_asset_request_free(r);
  }
  return rc;
}

/* try_start_kind; ck_asserts AIW_OK. */
static void start_kind(aiw_client *cl, int k, const char *s, const aiw_call_options *o, aiw_queue *q, void *tag) {
  aiw_error err;
  aiw_code rc = try_start_kind(cl, k, s, o, q, tag, &err);
  ck_assert_msg(rc == AIW_OK, "start kind %d: %s: %s", k, aiw_code_name(rc), err.message);
  ck_assert_int_eq(err.code, AIW_OK);
}

/* A main string kind k answers normally ("hello", "q", `asset`). */
static const char *normal_string(int k, const char *asset) { return k == 0 ? "hello" : k == 1 ? "q" : asset; }

/* Starts the three kinds with main string s, tagged k + 1. */
static void start_three(aiw_client *cl, const char *s, const aiw_call_options *o, aiw_queue *q) {
  for (int k = 0; k < 3; k++) start_kind(cl, k, s, o, q, (void *)(intptr_t)(k + 1));
}

/* The next completion (within bound_ms) of one started by start_three: its
 * kind in *k; ck_asserts its tag, method and code. */
static aiw_completion *next_of_three(aiw_queue *q, int64_t bound_ms, aiw_code code, int *k) {
  aiw_completion *c = next_within(q, bound_ms);
  *k = (int)(intptr_t)aiw_completion_tag(c) - 1;
  ck_assert_msg(*k >= 0 && *k <= 2, "tag %p", aiw_completion_tag(c));
  check_completion(c, (void *)(intptr_t)(*k + 1), METHOD[*k], code);
  return c;
}

/* Asserts that next says CANCELLED with no completion (shut down, drained). */
static void expect_next_cancelled(aiw_queue *q, int64_t timeout_ms) {
  aiw_completion *c = (aiw_completion *)&c;
  ck_assert_int_eq(aiw_queue_next(q, timeout_ms, &c), AIW_CANCELLED);
  ck_assert_ptr_null(c);
}

/* One request of each kind that any start accepts. */
typedef struct three_reqs {
  aiw_embedding_request *er;
  aiw_search_request *sr;
  aiw_asset_request *ar;
} three_reqs;

static three_reqs three_reqs_new(void) {
  three_reqs t = {embed_req("hello", AIW_EMBEDDING_UNKNOWN), search_req("q"), asset_req("a", "b", "c")};
  return t;
}

static void three_reqs_free(three_reqs *t) {
  aiw_embedding_request_free(t->er);
  aiw_search_request_free(t->sr);
  aiw_asset_request_free(t->ar);
}

/* Starts the three requests of t on cl, tag NULL: rc[k] and err_code[k] get
 * what start k returned. */
static void start_three_reqs(const three_reqs *t, aiw_client *cl, aiw_queue *q, aiw_code rc[3], aiw_code err_code[3]) {
  aiw_error err;
  rc[0] = aiw_get_embedding_start(cl, t->er, NULL, q, NULL, &err);
  err_code[0] = err.code;
  rc[1] = aiw_vector_search_start(cl, t->sr, NULL, q, NULL, &err);
  err_code[1] = err.code;
  rc[2] = aiw_process_asset_start(cl, t->ar, NULL, q, NULL, &err);
  err_code[2] = err.code;
}

/* Takes (and frees) whatever response the completion carries. */
static int take_any(aiw_completion *c) {
  aiw_embedding_response *e = aiw_completion_take_embedding_response(c);
  aiw_search_response *s = aiw_completion_take_search_response(c);
  aiw_process_status *p = aiw_completion_take_process_status(c);
  int n = (e != NULL) + (s != NULL) + (p != NULL);
  aiw_embedding_response_free(e);
  aiw_search_response_free(s);
  aiw_process_status_free(p);
  return n;
}

/* The test cases use g_client (the library's default receive limit). */

/* ------------------------------------------------------- the three RPCs */

START_TEST(test_embedding_start) {
  aiw_queue *q = new_queue();
  aiw_embedding_request *r = embed_req("hello", AIW_EMBEDDING_BOTH);
  int tag;
  aiw_error err;
  ck_assert_int_eq(aiw_get_embedding_start(g_client, r, NULL, q, &tag, &err), AIW_OK);
  ck_assert_int_eq(err.code, AIW_OK);
  ck_assert_str_eq(err.message, "");
  aiw_embedding_request_free(r);

  aiw_completion *c = next_within(q, hang_bound_ms(20000));
  check_completion(c, &tag, "GetEmbedding", AIW_OK);
  const aiw_error *e = aiw_completion_error(c);
  ck_assert_int_eq(e->grpc_status, 0);
  ck_assert_str_eq(e->message, "");
  aiw_embedding_response *resp = aiw_completion_take_embedding_response(c);
  ck_assert_ptr_nonnull(resp);
  aiw_completion_free(c); /* the response is ours now: it outlives the completion */
  expect_embedding(resp, "hello", 5, 0, AIW_EMBEDDING_BOTH);
  const float *sv = aiw_embedding_response_semantic_vector(resp, NULL);
  const float *vv = aiw_embedding_response_visual_vector(resp, NULL);
  ck_assert_float_eq(sv[0], -0.61f); /* README check values */
  ck_assert_float_eq(sv[1], 0.0621f);
  ck_assert_float_eq(vv[0], 0.5168f);
  ck_assert_float_eq(vv[1], 0.8384f);
  aiw_embedding_response_free(resp);
  expect_empty(q, 0); /* exactly one completion per call */
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_search_start) {
  aiw_queue *q = new_queue();
  aiw_search_request *r = search_req("q");
  char tag[] = "search tag";
  aiw_error err;
  ck_assert_int_eq(aiw_vector_search_start(g_client, r, NULL, q, tag, &err), AIW_OK);
  aiw_search_request_free(r);
  aiw_completion *c = next_within(q, hang_bound_ms(20000));
  check_completion(c, tag, "VectorSearch", AIW_OK);
  aiw_search_response *resp = aiw_completion_take_search_response(c);
  aiw_completion_free(c);
  expect_default_search(resp); /* every field of every result */
  aiw_search_response_free(resp);
  expect_empty(q, 0);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_process_start) {
  aiw_queue *q = new_queue();
  aiw_asset_request *r = asset_req("asset-1", "bucket/object.png", "image/png");
  long tag;
  aiw_error err;
  ck_assert_int_eq(aiw_process_asset_start(g_client, r, NULL, q, &tag, &err), AIW_OK);
  aiw_asset_request_free(r);
  aiw_completion *c = next_within(q, hang_bound_ms(20000));
  check_completion(c, &tag, "ProcessAsset", AIW_OK);
  aiw_process_status *st = aiw_completion_take_process_status(c);
  aiw_completion_free(c);
  expect_process_completed(st);
  aiw_process_status_free(st);
  expect_empty(q, 0);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_three_kinds_one_queue_null_tag) {
  /* All three at once on one queue; a NULL tag is a tag like any other. The
   * order of completions is not defined: match them by method. */
  aiw_queue *q = new_queue();
  int tags[3];
  start_kind(g_client, 0, "hello", NULL, q, NULL);
  start_kind(g_client, 1, "q", NULL, q, &tags[1]);
  start_kind(g_client, 2, "asset-2", NULL, q, &tags[2]);
  int seen[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    aiw_completion *c = next_within(q, hang_bound_ms(20000));
    const char *m = aiw_completion_method(c);
    ck_assert_ptr_nonnull(m);
    int k = strcmp(m, METHOD[0]) == 0 ? 0 : strcmp(m, METHOD[1]) == 0 ? 1 : strcmp(m, METHOD[2]) == 0 ? 2 : -1;
    ck_assert_msg(k >= 0, "method %s", m);
    check_completion(c, k == 0 ? NULL : &tags[k], METHOD[k], AIW_OK);
    seen[k]++;
    ck_assert_int_eq(take_any(c), 1);
    aiw_completion_free(c);
  }
  ck_assert_int_eq(seen[0] + seen[1] * 10 + seen[2] * 100, 111);
  expect_empty(q, 0);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_take_rules) {
  /* A response can be taken once, only by the take of its own RPC; a
   * completion freed with its response untaken frees it (no leak). */
  aiw_queue *q = new_queue();
  for (int k = 0; k < 3; k++) start_kind(g_client, k, normal_string(k, "asset-3"), NULL, q, (void *)(intptr_t)(k + 1));
  for (int i = 0; i < 3; i++) {
    int k;
    aiw_completion *c = next_of_three(q, hang_bound_ms(20000), AIW_OK, &k);
    /* Wrong types first: NULL, and the right take still works afterwards. */
    if (k != 0) ck_assert_ptr_null(aiw_completion_take_embedding_response(c));
    if (k != 1) ck_assert_ptr_null(aiw_completion_take_search_response(c));
    if (k != 2) ck_assert_ptr_null(aiw_completion_take_process_status(c));
    if (k == 0) {
      aiw_embedding_response *e = aiw_completion_take_embedding_response(c);
      ck_assert_ptr_nonnull(e);
      ck_assert_ptr_null(aiw_completion_take_embedding_response(c));
      aiw_embedding_response_free(e);
    } else if (k == 1) {
      aiw_search_response *s = aiw_completion_take_search_response(c);
      ck_assert_ptr_nonnull(s);
      ck_assert_ptr_null(aiw_completion_take_search_response(c));
      aiw_search_response_free(s);
    } else {
      aiw_process_status *p = aiw_completion_take_process_status(c);
      ck_assert_ptr_nonnull(p);
      ck_assert_ptr_null(aiw_completion_take_process_status(c));
      aiw_process_status_free(p);
    }
    /* Still readable after the take. */
    ck_assert_str_eq(aiw_completion_method(c), METHOD[k]);
    ck_assert_int_eq(aiw_completion_code(c), AIW_OK);
    aiw_completion_free(c);
  }
  /* Untaken responses are freed with their completion. */
  for (int k = 0; k < 3; k++) start_kind(g_client, k, normal_string(k, "asset-3"), NULL, q, NULL);
  for (int i = 0; i < 3; i++) aiw_completion_free(next_within(q, hang_bound_ms(20000)));
  aiw_queue_free(q);
}
END_TEST

/* -------------------------------------------------- errors of all kinds */

START_TEST(test_status_error) {
  aiw_queue *q = new_queue();
  start_three(g_client, "!error:NOT_FOUND:no such thing: x", NULL, q);
  for (int i = 0; i < 3; i++) {
    int k;
    aiw_completion *c = next_of_three(q, hang_bound_ms(20000), AIW_NOT_FOUND, &k);
    expect_status_error(aiw_completion_error(c), AIW_NOT_FOUND, "no such thing: x"); /* grpc_status 5 */
    ck_assert_int_eq(take_any(c), 0); /* no response on a status error */
    aiw_completion_free(c);
  }
  expect_empty(q, 0);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_service_error) {
  /* success=false: SERVICE_ERROR with the service's text, the response takeable. */
  aiw_queue *q = new_queue();
  start_three(g_client, "!fail:model offline", NULL, q);
  for (int i = 0; i < 3; i++) {
    int k;
    aiw_completion *c = next_of_three(q, hang_bound_ms(20000), AIW_SERVICE_ERROR, &k);
    const aiw_error *e = aiw_completion_error(c);
    ck_assert_int_eq(e->grpc_status, 0);
    ck_assert_str_eq(e->message, "model offline");
    if (k == 0) {
      aiw_embedding_response *r = aiw_completion_take_embedding_response(c);
      expect_embedding_failed(r, "model offline");
      aiw_embedding_response_free(r);
    } else if (k == 1) {
      aiw_search_response *r = aiw_completion_take_search_response(c);
      expect_search_failed(r, "model offline");
      aiw_search_response_free(r);
    } else {
      aiw_process_status *r = aiw_completion_take_process_status(c);
      expect_process_failed(r, "model offline", AIW_STAGE_FAILED);
      aiw_process_status_free(r);
    }
    aiw_completion_free(c);
  }
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_undecodable) {
  aiw_queue *q = new_queue();
  start_three(g_client, "!garbage", NULL, q);
  for (int i = 0; i < 3; i++) {
    int k;
    aiw_completion *c = next_of_three(q, hang_bound_ms(20000), AIW_INTERNAL, &k);
    expect_undecodable(aiw_completion_code(c), aiw_completion_error(c), 0);
    ck_assert_int_eq(take_any(c), 0);
    aiw_completion_free(c);
  }
  /* The client and the queue still work afterwards. */
  start_kind(g_client, 1, "q", NULL, q, NULL);
  aiw_completion *c = next_within(q, hang_bound_ms(20000));
  check_completion(c, NULL, "VectorSearch", AIW_OK);
  aiw_completion_free(c);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_unreachable_server) {
  /* A port bound but not listening: connection refused -> UNAVAILABLE. */
  char target[64];
  int fd;
  unlistened_target(target, sizeof target, &fd);
  aiw_client *dead = test_client(target, 0);
  aiw_queue *q = new_queue();
  aiw_call_options *o = test_opts(hang_bound_ms(10000), NULL);
  start_three(dead, "q", o, q);
  aiw_call_options_free(o);
  for (int i = 0; i < 3; i++) {
    int k;
    aiw_completion *c = next_of_three(q, hang_bound_ms(20000), AIW_UNAVAILABLE, &k);
    ck_assert_int_eq(aiw_completion_error(c)->grpc_status, 14);
    ck_assert_int_eq(take_any(c), 0);
    aiw_completion_free(c);
  }
  aiw_queue_free(q);
  aiw_client_free(dead);
  close(fd);
}
END_TEST

/* ------------------------------------------- deadlines and cancellation */

START_TEST(test_deadline) {
  aiw_queue *q = new_queue();
  aiw_call_options *o = test_opts(300, NULL);
  int64_t t0 = now_ms();
  start_three(g_client, SLOW_DIRECTIVE, o, q);
  aiw_call_options_free(o);
  for (int i = 0; i < 3; i++) {
    int k;
    aiw_completion *c = next_of_three(q, prompt_bound_ms(), AIW_DEADLINE_EXCEEDED, &k);
    ck_assert_int_eq(aiw_completion_error(c)->grpc_status, 4);
    ck_assert_int_eq(take_any(c), 0);
    aiw_completion_free(c);
  }
  expect_within(t0, prompt_bound_ms(), "three calls past a 300 ms deadline");
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_cancel_token_other_thread) {
  /* Slow calls with a token, one normal call without: the token, fired from
   * another thread, cancels exactly the first ones, promptly. */
  aiw_queue *q = new_queue();
  aiw_cancel_token *tok = aiw_cancel_token_new();
  ck_assert_ptr_nonnull(tok);
  aiw_call_options *o = test_opts(0, NULL);
  ck_assert_int_eq(aiw_call_options_set_cancel_token(o, tok), AIW_OK);
  start_three(g_client, SLOW_DIRECTIVE, o, q);
  aiw_call_options_free(o); /* the token itself must outlive the calls; the options need not */
  start_kind(g_client, 1, "!slow:200", NULL, q, (void *)(intptr_t)4);

  int64_t t0 = now_ms();
  interrupter it;
  interrupter_start(&it, tok, NULL, 0);
  int cancelled = 0, ok = 0;
  for (int i = 0; i < 4; i++) {
    aiw_completion *c = next_within(q, prompt_bound_ms());
    int k = (int)(intptr_t)aiw_completion_tag(c) - 1;
    ck_assert(k >= 0 && k <= 3);
    if (k == 3) {
      check_completion(c, (void *)(intptr_t)4, "VectorSearch", AIW_OK);
      ck_assert_int_eq(take_any(c), 1);
      ok++;
    } else {
      check_completion(c, (void *)(intptr_t)(k + 1), METHOD[k], AIW_CANCELLED);
      ck_assert_int_eq(take_any(c), 0);
      cancelled++;
    }
    aiw_completion_free(c);
  }
  interrupter_join(&it);
  expect_within(t0, prompt_bound_ms(), "cancelling three calls by a token");
  ck_assert_int_eq(cancelled, 3);
  ck_assert_int_eq(ok, 1);

  /* A start with the token already cancelled sends nothing: either the start
   * refuses with CANCELLED, or its one completion is CANCELLED. */
  o = test_opts(0, NULL);
  ck_assert_int_eq(aiw_call_options_set_cancel_token(o, tok), AIW_OK);
  aiw_search_request *r = search_req("q");
  aiw_error err;
  aiw_code rc = aiw_vector_search_start(g_client, r, o, q, (void *)(intptr_t)9, &err);
  ck_assert_msg(rc == AIW_OK || rc == AIW_CANCELLED, "start with a cancelled token: %s", aiw_code_name(rc));
  ck_assert_int_eq(err.code, rc);
  if (rc == AIW_OK) {
    aiw_completion *c = next_within(q, prompt_bound_ms());
    check_completion(c, (void *)(intptr_t)9, "VectorSearch", AIW_CANCELLED);
    aiw_completion_free(c);
  }
  expect_empty(q, 0);
  /* Reset: the token is usable again. */
  aiw_cancel_token_reset(tok);
  ck_assert_int_eq(aiw_vector_search_start(g_client, r, o, q, (void *)(intptr_t)10, &err), AIW_OK);
  aiw_completion *c = next_within(q, hang_bound_ms(20000));
  check_completion(c, (void *)(intptr_t)10, "VectorSearch", AIW_OK);
  aiw_completion_free(c);
  aiw_search_request_free(r);
  aiw_call_options_free(o);
  aiw_queue_free(q);
  aiw_cancel_token_free(tok);
}
END_TEST

START_TEST(test_client_close_in_flight) {
  /* Ten slow calls of a client in flight; aiw_client_close from another
   * thread cancels them all, promptly; later starts are refused. */
  enum { N = 10 };
  aiw_client *c1 = test_client(g_srv.target, 0);
  aiw_queue *q = new_queue();
  int tags[N];
  for (int i = 0; i < N; i++) start_kind(c1, i % 3, SLOW_DIRECTIVE, NULL, q, &tags[i]);
  int64_t t0 = now_ms();
  interrupter it;
  interrupter_start(&it, NULL, c1, 0);
  int seen[N] = {0};
  for (int i = 0; i < N; i++) {
    aiw_completion *c = next_within(q, prompt_bound_ms());
    int *t = aiw_completion_tag(c);
    ck_assert(t >= tags && t < tags + N);
    int idx = (int)(t - tags);
    seen[idx]++;
    check_completion(c, t, METHOD[idx % 3], AIW_CANCELLED);
    ck_assert_int_eq(take_any(c), 0);
    aiw_completion_free(c);
  }
  interrupter_join(&it);
  expect_within(t0, prompt_bound_ms(), "closing a client with ten calls in flight");
  for (int i = 0; i < N; i++) ck_assert_int_eq(seen[i], 1);
  expect_empty(q, 0);

  /* A start on the closed client: CANCELLED, either from the start (nothing
   * queued) or as its one completion. */
  for (int k = 0; k < 3; k++) {
    aiw_error err;
    aiw_code rc = try_start_kind(c1, k, normal_string(k, "a"), NULL, q, NULL, &err);
    ck_assert_msg(rc == AIW_CANCELLED || rc == AIW_OK, "start on a closed client: %s", aiw_code_name(rc));
    ck_assert_int_eq(err.code, rc);
    if (rc == AIW_OK) {
      aiw_completion *c = next_within(q, prompt_bound_ms());
      check_completion(c, NULL, METHOD[k], AIW_CANCELLED);
      aiw_completion_free(c);
    }
    expect_empty(q, 0);
  }
  aiw_client_free(c1);
  /* The queue serves other clients still. */
  start_kind(g_client, 2, "asset-4", NULL, q, NULL);
  aiw_completion *c = next_within(q, hang_bound_ms(20000));
  check_completion(c, NULL, "ProcessAsset", AIW_OK);
  aiw_completion_free(c);
  aiw_queue_free(q);
}
END_TEST

/* ------------------------------------ inputs copied: freed after start */

START_TEST(test_req_opts_freed_after_start) {
  aiw_queue *q = new_queue();
  char rid[64];
  unique_id(rid, sizeof rid, "async-echo");
  aiw_error err;

  /* VectorSearch !echo: every field and the metadata come back. */
  aiw_search_request *sr = search_req("!echo");
  search_req_set(sr, AIW_SEARCH_HYBRID, 7, 0.25f, "owner=alice", "image/", NULL);
  aiw_call_options *o = test_opts(hang_bound_ms(20000), rid);
  add_echo_metadata(o);
  ck_assert_int_eq(aiw_vector_search_start(g_client, sr, o, q, (void *)(intptr_t)1, &err), AIW_OK);
  aiw_search_request_free(sr);
  aiw_call_options_free(o);

  /* ProcessAsset !echo: the request's strings and options come back. */
  const asset_echo asset_want = {"!echo", "bucket/async.png", "image/png", .ocr = 1, .max_chunk_size = 321,
                                 .options = 1};
  aiw_asset_request *ar = asset_req_echo(&asset_want);
  o = test_opts(hang_bound_ms(20000), rid);
  ck_assert_int_eq(aiw_process_asset_start(g_client, ar, o, q, (void *)(intptr_t)2, &err), AIW_OK);
  aiw_asset_request_free(ar);
  aiw_call_options_free(o);

  /* GetEmbedding: the text (in a buffer scribbled over after start). */
  char text[64];
  snprintf(text, sizeof text, "freed-%.50s", rid);
  char sent[sizeof text];
  memcpy(sent, text, sizeof text);
  aiw_embedding_request *er = embed_req(text, AIW_EMBEDDING_VISUAL);
  memset(text, 'z', sizeof text - 1);
  o = test_opts(hang_bound_ms(20000), rid);
  ck_assert_int_eq(aiw_get_embedding_start(g_client, er, o, q, (void *)(intptr_t)3, &err), AIW_OK);
  aiw_embedding_request_free(er);
  aiw_call_options_free(o);

  /* Scribble over freshly allocated memory that may reuse the freed blocks. */
  for (int i = 0; i < 64; i++) {
    char *p = malloc(64 + (size_t)i * 16);
    ck_assert_ptr_nonnull(p);
    memset(p, 0x5a, 64 + (size_t)i * 16);
    free(p);
  }

  int seen = 0;
  for (int i = 0; i < 3; i++) {
    aiw_completion *c = next_within(q, hang_bound_ms(20000));
    int k = (int)(intptr_t)aiw_completion_tag(c);
    seen |= 1 << k;
    if (k == 1) {
      check_completion(c, (void *)(intptr_t)1, "VectorSearch", AIW_OK);
      aiw_search_response *resp = aiw_completion_take_search_response(c);
      const search_echo want = {.query = "!echo", .type = "SEARCH_HYBRID", .limit = 7, .threshold = "0.25",
                                .score = 0.25f, .filters = "owner=alice|image/", .request_id = rid,
                                .echo_metadata = 1};
      expect_search_echo(resp, &want);
      aiw_search_response_free(resp);
    } else if (k == 2) {
      check_completion(c, (void *)(intptr_t)2, "ProcessAsset", AIW_OK);
      aiw_process_status *st = aiw_completion_take_process_status(c);
      expect_process_echo(st, &asset_want);
      aiw_process_status_free(st);
    } else {
      ck_assert_int_eq(k, 3);
      check_completion(c, (void *)(intptr_t)3, "GetEmbedding", AIW_OK);
      aiw_embedding_response *e = aiw_completion_take_embedding_response(c);
      expect_embedding(e, sent, strlen(sent), 0, AIW_EMBEDDING_VISUAL); /* of the text before it was scribbled over */
      aiw_embedding_response_free(e);
    }
    aiw_completion_free(c);
  }
  ck_assert_int_eq(seen, 0xe);
  /* The server saw the request id (three calls carried it). */
  expect_outcome(&g_srv, rid, "OK", 5000);
  aiw_queue_free(q);
}
END_TEST

/* -------------------------------------------- aiw_queue_next timeouts */

START_TEST(test_next_timeouts) {
  aiw_queue *q = new_queue();
  expect_empty(q, 0);  /* nothing in flight: just looks */
  expect_empty(q, 50); /* a small positive timeout */
  int64_t t0 = now_ms();
  expect_empty(q, 1);
  expect_within(t0, hang_bound_ms(5000), "a 1 ms wait");

  /* A call that cannot finish within 50 ms (the service sleeps 1 s): the
   * short waits run out, a long one gets it. */
  start_kind(g_client, 1, "!slow:1000", NULL, q, q);
  expect_empty(q, 0);
  expect_empty(q, 50);
  aiw_completion *c = next_within(q, hang_bound_ms(20000));
  check_completion(c, q, "VectorSearch", AIW_OK);
  ck_assert_int_eq(take_any(c), 1);
  aiw_completion_free(c);

  /* -1 waits for ever: it returns when the call finishes. */
  start_kind(g_client, 2, "!slow:100", NULL, q, NULL);
  c = (aiw_completion *)&c;
  ck_assert_int_eq(aiw_queue_next(q, -1, &c), AIW_OK);
  check_completion(c, NULL, "ProcessAsset", AIW_OK);
  aiw_completion_free(c);
  expect_empty(q, 0);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_next_huge_timeouts) {
  /* Timeouts so long that adding them to the clock overflows: still "wait",
   * never "already past". */
  aiw_queue *q = new_queue();
  const int64_t timeouts[] = {INT64_MAX, INT64_MAX - 1, (int64_t)1 << 50, INT64_MAX / 1000 + 1};
  for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
    start_kind(g_client, 1, "!slow:100", NULL, q, (void *)(intptr_t)(i + 1));
    aiw_completion *c = (aiw_completion *)&c;
    aiw_code rc = aiw_queue_next(q, timeouts[i], &c);
    ck_assert_msg(rc == AIW_OK, "timeout %lld: %s", (long long)timeouts[i], aiw_code_name(rc));
    check_completion(c, (void *)(intptr_t)(i + 1), "VectorSearch", AIW_OK);
    aiw_completion_free(c);
  }
  aiw_queue_free(q);
}
END_TEST

typedef struct cb_ctx {
  aiw_client *client;
  aiw_queue *q;
  int calls;
  aiw_code rc[3];
  aiw_code err_code[3];
} cb_ctx;

static int start_from_callback(const aiw_chat_response *chunk, void *ud) {
  (void)chunk;
  cb_ctx *x = ud;
  if (x->calls++ > 0) return 0;
  three_reqs t = three_reqs_new();
  start_three_reqs(&t, x->client, x->q, x->rc, x->err_code);
  three_reqs_free(&t);
  return 0;
}

START_TEST(test_start_from_callback_refused) {
  /* Starting an RPC from inside a libaiw callback is refused
   * (RECURSIVE_API_CALL), the asynchronous starts included. */
  aiw_queue *q = new_queue();
  cb_ctx x = {.client = g_client, .q = q};
  aiw_chat_request *cr = chat_req("hi");
  aiw_error err;
  ck_assert_int_eq(aiw_chat_stream(g_client, cr, NULL, start_from_callback, &x, &err), AIW_OK);
  aiw_chat_request_free(cr);
  ck_assert_int_gt(x.calls, 0);
  for (int k = 0; k < 3; k++) {
    ck_assert_msg(x.rc[k] == AIW_RECURSIVE_API_CALL, "%s start from a callback: %s", METHOD[k],
                  aiw_code_name(x.rc[k]));
    ck_assert_int_eq(x.err_code[k], AIW_RECURSIVE_API_CALL);
  }
  expect_empty(q, 0);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_send_limit_at_start) {
  /* A request larger than the client's max send size: refused by the start
   * as by the blocking call, nothing queued. */
  aiw_client *small = send_limited_client(g_srv.target, 1024);
  char text[4096];
  memset(text, 'a', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  aiw_queue *q = new_queue();
  aiw_embedding_request *e = embed_req(text, AIW_EMBEDDING_UNKNOWN);
  aiw_error err;
  expect_code("GetEmbedding start over the send limit", aiw_get_embedding_start(small, e, NULL, q, NULL, &err), &err,
              AIW_RESOURCE_EXHAUSTED);
  expect_empty(q, 0);
  /* A small one goes through on the same client and queue. */
  ck_assert_int_eq(aiw_embedding_request_set_text(e, "hello"), AIW_OK);
  ck_assert_int_eq(aiw_get_embedding_start(small, e, NULL, q, e, &err), AIW_OK);
  aiw_completion *c = next_within(q, hang_bound_ms(20000));
  check_completion(c, e, "GetEmbedding", AIW_OK);
  aiw_completion_free(c);
  aiw_embedding_request_free(e);
  aiw_queue_free(q);
  aiw_client_free(small);
}
END_TEST

/* ---------------------------------------------------- shutdown and free */

START_TEST(test_shutdown_then_start) {
  aiw_queue *q = new_queue();
  aiw_queue_shutdown(q);
  aiw_queue_shutdown(q); /* idempotent */
  three_reqs t = three_reqs_new();
  aiw_code rc[3], err_code[3];
  start_three_reqs(&t, g_client, q, rc, err_code);
  for (int k = 0; k < 3; k++) {
    ck_assert_msg(rc[k] == AIW_CANCELLED, "%s start on a shut down queue: %s", METHOD[k], aiw_code_name(rc[k]));
    ck_assert_int_eq(err_code[k], AIW_CANCELLED);
  }
  ck_assert_int_eq(aiw_process_asset_start(g_client, t.ar, NULL, q, NULL, NULL), AIW_CANCELLED); /* err NULL */
  /* Nothing comes out: the queue is shut down and empty, so next says
   * CANCELLED at once whatever the timeout (-1 included). */
  expect_next_cancelled(q, 0);
  expect_next_cancelled(q, 50);
  expect_next_cancelled(q, -1);
  three_reqs_free(&t);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_shutdown_drains_in_flight) {
  /* Shut down with calls in flight (two of them slow): they still complete
   * normally and can be taken; then next says CANCELLED. */
  aiw_queue *q = new_queue();
  start_kind(g_client, 0, "hello", NULL, q, (void *)(intptr_t)1);
  start_kind(g_client, 1, "!slow:500", NULL, q, (void *)(intptr_t)2);
  start_kind(g_client, 2, "!slow:300", NULL, q, (void *)(intptr_t)3);
  aiw_queue_shutdown(q);
  aiw_search_request *sr = search_req("q");
  aiw_error err;
  ck_assert_int_eq(aiw_vector_search_start(g_client, sr, NULL, q, (void *)(intptr_t)4, &err), AIW_CANCELLED);
  aiw_search_request_free(sr);
  int seen = 0;
  for (int i = 0; i < 3; i++) {
    int k;
    aiw_completion *c = next_of_three(q, hang_bound_ms(20000), AIW_OK, &k);
    seen |= 1 << (k + 1);
    ck_assert_int_eq(take_any(c), 1);
    aiw_completion_free(c);
  }
  ck_assert_int_eq(seen, 0xe);
  expect_next_cancelled(q, -1);
  expect_next_cancelled(q, 0);
  aiw_queue_free(q);
}
END_TEST

typedef struct waiter {
  aiw_queue *q;
  int64_t timeout;
  aiw_code rc;
  int got_null;
} waiter;

static void *waiter_main(void *arg) {
  waiter *w = arg;
  aiw_completion *c = (aiw_completion *)&c;
  w->rc = aiw_queue_next(w->q, w->timeout, &c);
  w->got_null = (c == NULL);
  if (w->rc == AIW_OK && c != NULL) aiw_completion_free(c);
  return NULL;
}

START_TEST(test_shutdown_wakes_waiters) {
  /* Threads waiting on an empty queue (one for ever, one with a long
   * timeout) return CANCELLED when another thread shuts it down. */
  aiw_queue *q = new_queue();
  waiter w[2] = {{q, -1, AIW_OK, 0}, {q, hang_bound_ms(60000), AIW_OK, 0}};
  pthread_t th[2];
  threads_start(th, 2, waiter_main, w, sizeof w[0]);
  /* A call that completes wakes exactly one of them... */
  start_kind(g_client, 1, "q", NULL, q, NULL);
  /* ...and the shutdown wakes the other. Joining proves neither hangs (the
   * test's timeout catches a hang). */
  int64_t t0 = now_ms();
  aiw_queue_shutdown(q);
  threads_join(th, 2);
  expect_within(t0, hang_bound_ms(20000), "waking the waiters");
  int oks = 0, cancels = 0;
  for (int i = 0; i < 2; i++) {
    ck_assert_msg(w[i].rc == AIW_OK || w[i].rc == AIW_CANCELLED, "waiter %d: %s", i, aiw_code_name(w[i].rc));
    if (w[i].rc == AIW_OK) oks++;
    else {
      cancels++;
      ck_assert(w[i].got_null);
    }
  }
  ck_assert_int_eq(oks, 1);
  ck_assert_int_eq(cancels, 1);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_free_with_uncollected_completions) {
  /* Calls whose completions are never taken (one is taken, its response left
   * in it): aiw_queue_free waits for them -- it does not cancel them: the
   * server logs each one OK -- and frees them with their responses. (The
   * calls progress only while some thread waits on the queue, so nothing
   * here waits for them before the free.) */
  aiw_queue *q = new_queue();
  char rid[8][64];
  for (int i = 0; i < 8; i++) {
    unique_id(rid[i], sizeof rid[i], "uncollected");
    aiw_call_options *o = test_opts(0, rid[i]);
    start_kind(g_client, i % 3, normal_string(i % 3, "asset-5"), o, q, NULL);
    aiw_call_options_free(o);
  }
  aiw_completion *c = next_within(q, hang_bound_ms(20000));
  ck_assert_int_eq(aiw_completion_code(c), AIW_OK);
  aiw_completion_free(c);
  aiw_queue_free(q); /* 7 not taken */
  for (int i = 0; i < 8; i++) expect_outcome(&g_srv, rid[i], "OK", 10000);

  /* And a queue freed right after its starts. */
  q = new_queue();
  for (int i = 0; i < 6; i++) start_kind(g_client, i % 3, normal_string(i % 3, "asset-6"), NULL, q, NULL);
  aiw_queue_free(q);
  /* The client is fine afterwards. */
  q = new_queue();
  start_kind(g_client, 1, "q", NULL, q, NULL);
  c = next_within(q, hang_bound_ms(20000));
  check_completion(c, NULL, "VectorSearch", AIW_OK);
  aiw_completion_free(c);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_free_with_cancelled_in_flight) {
  /* Slow calls in flight, cancelled (token), then aiw_queue_free without
   * taking anything: it returns promptly and leaks nothing. */
  aiw_cancel_token *tok = aiw_cancel_token_new();
  ck_assert_ptr_nonnull(tok);
  aiw_call_options *o = test_opts(0, NULL);
  ck_assert_int_eq(aiw_call_options_set_cancel_token(o, tok), AIW_OK);
  aiw_queue *q = new_queue();
  for (int i = 0; i < 6; i++) start_kind(g_client, i % 3, SLOW_DIRECTIVE, o, q, NULL);
  aiw_call_options_free(o);
  int64_t t0 = now_ms();
  aiw_cancel_token_cancel(tok);
  aiw_queue_free(q);
  expect_within(t0, prompt_bound_ms(), "freeing a queue of cancelled calls");
  aiw_cancel_token_free(tok);

  /* The same with aiw_client_close as the cancellation. */
  aiw_client *c2 = test_client(g_srv.target, 0);
  q = new_queue();
  for (int i = 0; i < 6; i++) start_kind(c2, i % 3, SLOW_DIRECTIVE, NULL, q, NULL);
  t0 = now_ms();
  aiw_client_close(c2);
  aiw_queue_free(q);
  expect_within(t0, prompt_bound_ms(), "freeing a queue of a closed client's calls");
  aiw_client_free(c2);

  /* And with deadlines: free waits for them (300 ms), not for the replies. */
  o = test_opts(300, NULL);
  q = new_queue();
  for (int i = 0; i < 3; i++) start_kind(g_client, i, SLOW_DIRECTIVE, o, q, NULL);
  aiw_call_options_free(o);
  t0 = now_ms();
  aiw_queue_free(q);
  expect_within(t0, prompt_bound_ms(), "freeing a queue of calls with 300 ms deadlines");
}
END_TEST

START_TEST(test_queue_outlives_client_runtime) {
  /* The queue holds a runtime reference of its own: made before any client,
   * used, the client freed first, the queue freed last. Also queues with no
   * calls at all, several at once. */
  for (int i = 0; i < 3; i++) aiw_queue_free(new_queue());
  aiw_queue *qs[4];
  for (int i = 0; i < 4; i++) qs[i] = new_queue();
  aiw_client *c2 = test_client(g_srv.target, 0);
  for (int i = 0; i < 4; i++) start_kind(c2, i % 3, normal_string(i % 3, "asset-7"), NULL, qs[i], qs[i]);
  for (int i = 0; i < 4; i++) {
    aiw_completion *c = next_within(qs[i], hang_bound_ms(20000));
    check_completion(c, qs[i], METHOD[i % 3], AIW_OK);
    ck_assert_int_eq(take_any(c), 1);
    aiw_completion_free(c);
    expect_empty(qs[i], 0);
  }
  aiw_client_free(c2);
  for (int i = 3; i >= 0; i--) aiw_queue_free(qs[i]);
}
END_TEST

/* ------------------------------------------------------ many in flight */

/* Calls are started from NSTARTERS threads at once while NCOLLECTORS other
 * threads take their completions from the one queue, every completion
 * matched to its request by tag and its content checked. When the starters
 * are done the test's thread shuts the queue down: the collectors drain it
 * and stop on AIW_CANCELLED. In the racing modes the test's thread, once
 * RACE_AFTER calls were started (a condition variable, not a sleep), closes
 * client a or shuts the queue down while starts and completions are still
 * under way. */
#define NCALLS 200
#define NSTARTERS 4
#define NCOLLECTORS 2
#define RACE_AFTER 50

enum many_mode { MANY_PLAIN, MANY_CLOSE_CLIENT, MANY_SHUTDOWN_QUEUE, MANY_TINY_DEADLINE };

typedef struct slot {
  int idx;
  int kind;
  char text[64];
  char rid[64];
  int started;   /* its start returned AIW_OK */
  int refused;   /* its start returned AIW_CANCELLED (racing modes) */
  int seen;      /* completions received for it (atomic) */
  int checked;   /* 1 when the completion matched */
  int cancelled; /* it completed CANCELLED (client closed) or DEADLINE_EXCEEDED (1 ms) */
  char why[160]; /* else the first mismatch */
} slot;

typedef struct many_ctx {
  enum many_mode mode;
  aiw_queue *q;
  aiw_client *clients[2]; /* call i goes through clients[i % 2] */
  slot slots[NCALLS];
  int collected; /* atomic */
  int nstarted;  /* atomic */
  int64_t deadline;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char failure[NSTARTERS + NCOLLECTORS][256];
} many_ctx;

typedef struct thread_arg {
  many_ctx *m;
  int id;
} thread_arg;

static aiw_code start_slot(many_ctx *m, slot *s, aiw_error *err) {
  aiw_client *cl = m->clients[s->idx % 2];
  aiw_call_options *o = aiw_call_options_new();
  aiw_code rc = AIW_OUT_OF_MEMORY;
  snprintf(err->message, sizeof err->message, "setting up the request failed");
  if (o == NULL || aiw_call_options_add_metadata(o, "x-request-id", s->rid, err) != AIW_OK ||
      aiw_call_options_set_timeout_ms(o, m->mode == MANY_TINY_DEADLINE ? 1 : hang_bound_ms(60000)) != AIW_OK) {
    aiw_call_options_free(o);
    return AIW_OUT_OF_MEMORY;
  }
  if (s->kind == 0) {
    aiw_embedding_request *r = aiw_embedding_request_new();
    if (r != NULL && aiw_embedding_request_set_text(r, s->text) == AIW_OK)
      rc = aiw_get_embedding_start(cl, r, o, m->q, s, err);
    aiw_embedding_request_free(r);
  } else if (s->kind == 1) {
    aiw_search_request *r = aiw_search_request_new();
    if (r != NULL && aiw_search_request_set_query(r, "!echo") == AIW_OK &&
        aiw_search_request_set_limit(r, s->idx) == AIW_OK && aiw_search_request_add_filter(r, s->text) == AIW_OK)
      rc = aiw_vector_search_start(cl, r, o, m->q, s, err);
    aiw_search_request_free(r);
  } else {
    aiw_asset_request *r = aiw_asset_request_new();
    if (r != NULL && aiw_asset_request_set_asset_id(r, "!echo") == AIW_OK &&
        aiw_asset_request_set_file_path(r, s->text) == AIW_OK &&
        aiw_asset_request_set_mime_type(r, "text/plain") == AIW_OK &&
        aiw_asset_request_set_max_chunk_size(r, s->idx) == AIW_OK)
      rc = aiw_process_asset_start(cl, r, o, m->q, s, err);
    aiw_asset_request_free(r);
  }
  aiw_call_options_free(o);
  return rc;
}

static void *starter_main(void *arg) {
  thread_arg *ta = arg;
  many_ctx *m = ta->m;
  char *failure = m->failure[ta->id];
  int refused_before[2] = {0, 0};
  for (int i = ta->id; i < NCALLS; i += NSTARTERS) {
    slot *s = &m->slots[i];
    aiw_error err;
    aiw_code rc = start_slot(m, s, &err);
    if (rc == AIW_OK) {
      if (refused_before[i % 2]) {
        snprintf(failure, 256, "call %d: started after a start was refused", i);
        return NULL;
      }
      s->started = 1;
      if (__atomic_add_fetch(&m->nstarted, 1, __ATOMIC_SEQ_CST) == RACE_AFTER) {
        pthread_mutex_lock(&m->mu);
        pthread_cond_broadcast(&m->cv);
        pthread_mutex_unlock(&m->mu);
      }
      continue;
    }
    /* Refused: only in the racing modes, with CANCELLED, and for good. */
    int may_refuse = (m->mode == MANY_SHUTDOWN_QUEUE) || (m->mode == MANY_CLOSE_CLIENT && i % 2 == 0);
    if (rc == AIW_CANCELLED && err.code == AIW_CANCELLED && may_refuse) {
      s->refused = 1;
      if (m->mode == MANY_SHUTDOWN_QUEUE) refused_before[0] = refused_before[1] = 1;
      else refused_before[i % 2] = 1;
      continue;
    }
    snprintf(failure, 256, "call %d: start: %s: %.200s", i, aiw_code_name(rc), err.message);
    return NULL;
  }
  return NULL;
}

/* Checks one completion against its slot; returns NULL or what is wrong. */
static const char *check_slot(const many_ctx *m, aiw_completion *c, slot *s, char *buf, size_t size) {
  const char *meth = aiw_completion_method(c);
  if (meth == NULL || strcmp(meth, METHOD[s->kind]) != 0) {
    snprintf(buf, size, "method %s, want %s", meth ? meth : "(null)", METHOD[s->kind]);
    return buf;
  }
  aiw_code rc = aiw_completion_code(c);
  if (rc == AIW_CANCELLED && m->mode == MANY_CLOSE_CLIENT && s->idx % 2 == 0) {
    s->cancelled = 1;
    return take_any(c) == 0 ? NULL : "a response in a CANCELLED completion";
  }
  if (rc == AIW_DEADLINE_EXCEEDED && m->mode == MANY_TINY_DEADLINE) {
    s->cancelled = 1;
    return take_any(c) == 0 ? NULL : "a response in a DEADLINE_EXCEEDED completion";
  }
  if (rc != AIW_OK) {
    snprintf(buf, size, "%s: %.120s", aiw_code_name(rc), aiw_completion_error(c)->message);
    return buf;
  }
  const char *why;
  if (s->kind == 0) {
    aiw_embedding_response *e = aiw_completion_take_embedding_response(c);
    why = embedding_mismatch(e, s->text, strlen(s->text), 0, AIW_EMBEDDING_UNKNOWN, buf, size);
    aiw_embedding_response_free(e);
  } else if (s->kind == 1) {
    aiw_search_response *r = aiw_completion_take_search_response(c);
    const search_echo want = {.query = "!echo", .limit = s->idx, .filters = s->text, .request_id = s->rid};
    why = search_echo_mismatch(r, &want, buf, size);
    aiw_search_response_free(r);
  } else {
    aiw_process_status *p = aiw_completion_take_process_status(c);
    const asset_echo want = {"!echo", s->text, "text/plain", .max_chunk_size = s->idx, .options = 1};
    why = process_echo_mismatch(p, &want, buf, size);
    aiw_process_status_free(p);
  }
  return why; /* NULL, or an answer that is not this request's */
}

static void *collector_main(void *arg) {
  thread_arg *ta = arg;
  many_ctx *m = ta->m;
  char *failure = m->failure[ta->id];
  for (;;) {
    if (now_ms() > m->deadline) {
      snprintf(failure, 256, "collector %d: timed out with %d collected", ta->id,
               __atomic_load_n(&m->collected, __ATOMIC_SEQ_CST));
      return NULL;
    }
    aiw_completion *c = NULL;
    aiw_code rc = aiw_queue_next(m->q, 100, &c);
    if (rc == AIW_DEADLINE_EXCEEDED) continue;
    if (rc == AIW_CANCELLED && c == NULL) return NULL; /* shut down and drained */
    if (rc != AIW_OK || c == NULL) {
      snprintf(failure, 256, "collector %d: aiw_queue_next: %s", ta->id, aiw_code_name(rc));
      return NULL;
    }
    slot *s = aiw_completion_tag(c);
    if (s < m->slots || s >= m->slots + NCALLS) {
      snprintf(failure, 256, "collector %d: unknown tag %p", ta->id, (void *)s);
      aiw_completion_free(c);
      return NULL;
    }
    if (__atomic_add_fetch(&s->seen, 1, __ATOMIC_SEQ_CST) == 1) {
      char buf[160];
      const char *why = check_slot(m, c, s, buf, sizeof buf);
      if (why != NULL)
        snprintf(s->why, sizeof s->why, "%s", why);
      else
        s->checked = 1;
    }
    aiw_completion_free(c);
    __atomic_add_fetch(&m->collected, 1, __ATOMIC_SEQ_CST);
  }
}

/* Runs NCALLS calls over clients a (even calls) and b (odd calls). */
static void run_many(enum many_mode mode, aiw_client *a, aiw_client *b) {
  many_ctx *m = calloc(1, sizeof *m);
  ck_assert_ptr_nonnull(m);
  m->mode = mode;
  m->q = new_queue();
  m->clients[0] = a;
  m->clients[1] = b;
  m->deadline = now_ms() + hang_bound_ms(90000);
  pthread_mutex_init(&m->mu, NULL);
  pthread_cond_init(&m->cv, NULL);
  for (int i = 0; i < NCALLS; i++) {
    slot *s = &m->slots[i];
    s->idx = i;
    s->kind = i % 3;
    snprintf(s->text, sizeof s->text, "async %d \xe2\x9c\x93 of %d (mode %d)", i, NCALLS, (int)mode);
    snprintf(s->rid, sizeof s->rid, "many-%d-%d-%d", (int)getpid(), (int)mode, i);
  }
  pthread_t th[NSTARTERS + NCOLLECTORS];
  thread_arg ta[NSTARTERS + NCOLLECTORS];
  for (int i = 0; i < NSTARTERS + NCOLLECTORS; i++) ta[i] = (thread_arg){.m = m, .id = i};
  threads_start(th, NSTARTERS, starter_main, ta, sizeof ta[0]);
  threads_start(th + NSTARTERS, NCOLLECTORS, collector_main, ta + NSTARTERS, sizeof ta[0]);
  if (mode == MANY_CLOSE_CLIENT || mode == MANY_SHUTDOWN_QUEUE) {
    /* Wait for RACE_AFTER started calls, then pull the rug. */
    pthread_mutex_lock(&m->mu);
    while (__atomic_load_n(&m->nstarted, __ATOMIC_SEQ_CST) < RACE_AFTER && now_ms() < m->deadline) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += 1;
      pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    }
    pthread_mutex_unlock(&m->mu);
    if (mode == MANY_CLOSE_CLIENT)
      aiw_client_close(a);
    else
      aiw_queue_shutdown(m->q);
  }
  threads_join(th, NSTARTERS);
  aiw_queue_shutdown(m->q); /* the collectors drain it and stop */
  threads_join(th + NSTARTERS, NCOLLECTORS);
  for (int i = 0; i < NSTARTERS + NCOLLECTORS; i++)
    ck_assert_msg(m->failure[i][0] == '\0', "thread %d: %s", i, m->failure[i]);
  int started = 0, refused = 0, cancelled = 0;
  for (int i = 0; i < NCALLS; i++) {
    slot *s = &m->slots[i];
    ck_assert_msg(s->started + s->refused == 1, "call %d: started %d, refused %d", i, s->started, s->refused);
    ck_assert_msg(s->seen == s->started, "call %d (started %d): %d completions", i, s->started, s->seen);
    if (s->started)
      ck_assert_msg(s->checked, "call %d (%s): %s", i, METHOD[s->kind], s->why);
    started += s->started;
    refused += s->refused;
    cancelled += s->cancelled;
  }
  ck_assert_int_eq(m->collected, started);
  ck_assert_int_ge(started, mode == MANY_PLAIN || mode == MANY_TINY_DEADLINE ? NCALLS : RACE_AFTER);
  /* Shut down and drained: next says so, at once, whatever the timeout. */
  expect_next_cancelled(m->q, -1);
  aiw_queue_free(m->q);
  pthread_mutex_destroy(&m->mu);
  pthread_cond_destroy(&m->cv);
  free(m);
  if (mode != MANY_PLAIN)
    fprintf(stderr, "async race mode %d: %d started (%d of them cancelled), %d refused\n", (int)mode, started,
            cancelled, refused);
}

START_TEST(test_many_in_flight_threads) {
  /* 200 calls of the three RPCs over two clients; all succeed. */
  aiw_client *b = test_client(g_srv.target, 0);
  run_many(MANY_PLAIN, g_client, b);
  aiw_client_free(b);
}
END_TEST

START_TEST(test_many_client_closed_midway) {
  /* Client a is closed while its calls start and complete: each of them is
   * refused (CANCELLED at start, nothing queued), cancelled, or answered
   * correctly; client b's calls are unaffected. */
  aiw_client *a = test_client(g_srv.target, 0);
  run_many(MANY_CLOSE_CLIENT, a, g_client);
  aiw_client_free(a);
  /* Again: the race is different every time. */
  a = test_client(g_srv.target, 0);
  run_many(MANY_CLOSE_CLIENT, a, g_client);
  aiw_client_free(a);
}
END_TEST

START_TEST(test_many_tiny_deadlines) {
  /* 200 calls with a 1 ms deadline: their completions come out while their
   * starts may still be returning (in other threads); each one is either
   * DEADLINE_EXCEEDED or answered correctly. Three rounds. */
  aiw_client *b = test_client(g_srv.target, 0);
  for (int round = 0; round < 3; round++) run_many(MANY_TINY_DEADLINE, g_client, b);
  aiw_client_free(b);
}
END_TEST

START_TEST(test_many_queue_shut_down_midway) {
  /* The queue is shut down while calls start: each start either succeeds
   * (and its one completion comes out, answered) or is refused; once refused
   * always refused; next says CANCELLED only after the last completion. */
  aiw_client *b = test_client(g_srv.target, 0);
  run_many(MANY_SHUTDOWN_QUEUE, g_client, b);
  aiw_client_free(b);
}
END_TEST
START_TEST(test_two_clients_one_queue) {
  /* Two clients (different receive limits) on one queue; closing one
   * cancels only its own calls. */
  enum { N = 12 };
  aiw_client *a = test_client(g_srv.target, 0);
  aiw_client *b = test_client(g_srv.target, 8u << 20);
  aiw_queue *q = new_queue();
  int tags[2 * N];
  for (int i = 0; i < N; i++) {
    start_kind(a, 1, "q", NULL, q, &tags[i]);
    start_kind(b, 0, "hello", NULL, q, &tags[N + i]);
  }
  int seen[2 * N] = {0};
  for (int i = 0; i < 2 * N; i++) {
    aiw_completion *c = next_within(q, hang_bound_ms(20000));
    int *t = aiw_completion_tag(c);
    ck_assert(t >= tags && t < tags + 2 * N);
    int idx = (int)(t - tags);
    seen[idx]++;
    if (idx < N) {
      check_completion(c, t, "VectorSearch", AIW_OK);
      aiw_search_response *r = aiw_completion_take_search_response(c);
      expect_default_search(r);
      aiw_search_response_free(r);
    } else {
      check_completion(c, t, "GetEmbedding", AIW_OK);
      aiw_embedding_response *e = aiw_completion_take_embedding_response(c);
      expect_embedding(e, "hello", 5, 0, AIW_EMBEDDING_UNKNOWN);
      aiw_embedding_response_free(e);
    }
    aiw_completion_free(c);
  }
  for (int i = 0; i < 2 * N; i++) ck_assert_int_eq(seen[i], 1);

  /* a: slow calls, then closed; b: a normal call meanwhile, unaffected. */
  for (int i = 0; i < 3; i++) start_kind(a, i, SLOW_DIRECTIVE, NULL, q, &tags[i]);
  start_kind(b, 2, "!slow:200", NULL, q, &tags[N]);
  aiw_client_close(a);
  int cancelled = 0, ok = 0;
  for (int i = 0; i < 4; i++) {
    aiw_completion *c = next_within(q, prompt_bound_ms());
    int *t = aiw_completion_tag(c);
    if (t == &tags[N]) {
      check_completion(c, t, "ProcessAsset", AIW_OK);
      ok++;
    } else {
      ck_assert(t >= tags && t < tags + 3);
      check_completion(c, t, METHOD[t - tags], AIW_CANCELLED);
      cancelled++;
    }
    aiw_completion_free(c);
  }
  ck_assert_int_eq(cancelled, 3);
  ck_assert_int_eq(ok, 1);
  expect_empty(q, 0);
  aiw_queue_free(q);
  aiw_client_free(a);
  aiw_client_free(b);
}
END_TEST

/* ------------------------------------------------------ NULL arguments */

/* Refused before any RPC, err filled: INVALID_ARGUMENT, grpc_status -1, a message. */
#define CK_INVAL_ERR(expr)                          \
  do {                                              \
    CK_INVAL(expr);                                 \
    expect_local_error(&err, AIW_INVALID_ARGUMENT); \
  } while (0)

START_TEST(test_null_args) {
  /* NULL-safe functions. */
  aiw_queue_shutdown(NULL);
  aiw_queue_free(NULL);
  aiw_completion_free(NULL);
  /* Getters and takes of NULL: no crash, nothing returned. */
  ck_assert_ptr_null(aiw_completion_tag(NULL));
  /* aiw.h: NULL, AIW_INVALID_ARGUMENT, NULL and "". */
  ck_assert_int_eq(aiw_completion_code(NULL), AIW_INVALID_ARGUMENT);
  ck_assert_ptr_null(aiw_completion_error(NULL));
  ck_assert_str_eq(aiw_completion_method(NULL), "");
  ck_assert_ptr_null(aiw_completion_take_embedding_response(NULL));
  ck_assert_ptr_null(aiw_completion_take_search_response(NULL));
  ck_assert_ptr_null(aiw_completion_take_process_status(NULL));

  /* aiw_queue_next. */
  aiw_queue *q = new_queue();
  aiw_completion *c = (aiw_completion *)&c;
  CK_INVAL(aiw_queue_next(NULL, 0, &c));
  ck_assert_ptr_null(c);
  CK_INVAL(aiw_queue_next(NULL, -1, &c)); /* not a hang */
  CK_INVAL(aiw_queue_next(q, 0, NULL));
  CK_INVAL(aiw_queue_next(q, -1, NULL));

  /* The starts: NULL client, request or queue; err filled or NULL. */
  three_reqs t = three_reqs_new();
  aiw_embedding_request *er = t.er;
  aiw_search_request *sr = t.sr;
  aiw_asset_request *ar = t.ar;
  aiw_error err;
  CK_INVAL_ERR(aiw_get_embedding_start(NULL, er, NULL, q, NULL, &err));
  CK_INVAL_ERR(aiw_get_embedding_start(g_client, NULL, NULL, q, NULL, &err));
  CK_INVAL_ERR(aiw_get_embedding_start(g_client, er, NULL, NULL, NULL, &err));
  CK_INVAL(aiw_get_embedding_start(g_client, er, NULL, NULL, NULL, NULL));
  CK_INVAL_ERR(aiw_vector_search_start(NULL, sr, NULL, q, NULL, &err));
  CK_INVAL_ERR(aiw_vector_search_start(g_client, NULL, NULL, q, NULL, &err));
  CK_INVAL_ERR(aiw_vector_search_start(g_client, sr, NULL, NULL, NULL, &err));
  CK_INVAL(aiw_vector_search_start(NULL, NULL, NULL, NULL, NULL, NULL));
  CK_INVAL_ERR(aiw_process_asset_start(NULL, ar, NULL, q, NULL, &err));
  CK_INVAL_ERR(aiw_process_asset_start(g_client, NULL, NULL, q, NULL, &err));
  CK_INVAL_ERR(aiw_process_asset_start(g_client, ar, NULL, NULL, NULL, &err));
  CK_INVAL(aiw_process_asset_start(g_client, ar, NULL, NULL, NULL, NULL));

  /* Requests the blocking calls refuse are refused at start too. */
  aiw_embedding_request *empty_e = aiw_embedding_request_new();
  aiw_search_request *empty_s = aiw_search_request_new();
  aiw_asset_request *empty_a = asset_req("a", "", "c");
  CK_INVAL_ERR(aiw_get_embedding_start(g_client, empty_e, NULL, q, NULL, &err));
  CK_INVAL_ERR(aiw_vector_search_start(g_client, empty_s, NULL, q, NULL, &err));
  CK_INVAL_ERR(aiw_process_asset_start(g_client, empty_a, NULL, q, NULL, &err));
  aiw_embedding_request_free(empty_e);
  aiw_search_request_free(empty_s);
  aiw_asset_request_free(empty_a);

  /* None of the refused starts queued anything; the queue still works. */
  expect_empty(q, 0);
  ck_assert_int_eq(aiw_vector_search_start(g_client, sr, NULL, q, NULL, NULL), AIW_OK);
  c = next_within(q, hang_bound_ms(20000));
  check_completion(c, NULL, "VectorSearch", AIW_OK);
  aiw_completion_free(c);
  expect_empty(q, 0);
  three_reqs_free(&t);
  aiw_queue_free(q);
}
END_TEST

Suite *suite_async(void) {
  Suite *s = suite_create("async");
  TCase *tb = server_tcase(s, "basics", 60, client_setup);
  tcase_add_test(tb, test_embedding_start);
  tcase_add_test(tb, test_search_start);
  tcase_add_test(tb, test_process_start);
  tcase_add_test(tb, test_three_kinds_one_queue_null_tag);
  tcase_add_test(tb, test_take_rules);
  tcase_add_test(tb, test_req_opts_freed_after_start);
  tcase_add_test(tb, test_next_timeouts);
  tcase_add_test(tb, test_next_huge_timeouts);
  tcase_add_test(tb, test_start_from_callback_refused);
  tcase_add_test(tb, test_send_limit_at_start);
  tcase_add_test(tb, test_null_args);

  TCase *tf = server_tcase(s, "failures", 60, client_setup);
  tcase_add_test(tf, test_status_error);
  tcase_add_test(tf, test_service_error);
  tcase_add_test(tf, test_undecodable);
  tcase_add_test(tf, test_unreachable_server);
  tcase_add_test(tf, test_deadline);
  tcase_add_test(tf, test_cancel_token_other_thread);
  tcase_add_test(tf, test_client_close_in_flight);

  TCase *tl = server_tcase(s, "lifecycle", 60, client_setup);
  tcase_add_test(tl, test_shutdown_then_start);
  tcase_add_test(tl, test_shutdown_drains_in_flight);
  tcase_add_test(tl, test_shutdown_wakes_waiters);
  tcase_add_test(tl, test_free_with_uncollected_completions);
  tcase_add_test(tl, test_free_with_cancelled_in_flight);
  tcase_add_test(tl, test_queue_outlives_client_runtime);

  TCase *tm = server_tcase(s, "many", 180, client_setup);
  tcase_add_test(tm, test_many_in_flight_threads);
  tcase_add_test(tm, test_many_client_closed_midway);
  tcase_add_test(tm, test_many_queue_shut_down_midway);
  tcase_add_test(tm, test_many_tiny_deadlines);
  tcase_add_test(tm, test_two_clients_one_queue);
  return s;
}
