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
  aiw_code rc = aiw_completion_code(c);
  ck_assert_msg(rc == code, "%s: got %s (%s), want %s", method, aiw_code_name(rc), e->message, aiw_code_name(code));
  ck_assert_int_eq(e->code, rc);
}

static uint32_t seed_of(const void *data, size_t len) {
  uint32_t s = ref_fnv1a32(data, len);
  return s != 0 ? s : 1;
}

static uint32_t vseed_of(uint32_t seed) {
  uint32_t v = seed ^ 0x9e3779b9u;
  return v != 0 ? v : 1;
}

/* 1 when v[0..len) is the reference vector of `seed` with n elements. */
static int vector_is(const float *v, size_t len, uint32_t seed, size_t n) {
  if (len != n || v == NULL) return 0;
  float *want = malloc(n * sizeof *want);
  if (want == NULL) return 0;
  ref_vector(seed, want, n);
  int same = memcmp(v, want, n * sizeof *want) == 0;
  free(want);
  return same;
}

static aiw_embedding_request *embed_req(const char *text, aiw_embedding_type type) {
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(aiw_embedding_request_set_text(r, text), AIW_OK);
  ck_assert_int_eq(aiw_embedding_request_set_type(r, type), AIW_OK);
  return r;
}

static aiw_search_request *search_req(const char *query) {
  aiw_search_request *r = aiw_search_request_new();
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(aiw_search_request_set_query(r, query), AIW_OK);
  return r;
}

static aiw_asset_request *asset_req(const char *id, const char *path, const char *mime) {
  aiw_asset_request *r = aiw_asset_request_new();
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(aiw_asset_request_set_asset_id(r, id), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_file_path(r, path), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_mime_type(r, mime), AIW_OK);
  return r;
}

/* Starts one RPC of kind k (0 embed, 1 search, 2 process) whose main string
 * is `s`; asserts AIW_OK. */
static void start_kind(aiw_client *cl, int k, const char *s, const aiw_call_options *o, aiw_queue *q, void *tag) {
  aiw_error err;
  aiw_code rc;
  if (k == 0) {
    aiw_embedding_request *r = embed_req(s, AIW_EMBEDDING_UNKNOWN);
    rc = aiw_get_embedding_start(cl, r, o, q, tag, &err);
    aiw_embedding_request_free(r);
  } else if (k == 1) {
    aiw_search_request *r = search_req(s);
    rc = aiw_vector_search_start(cl, r, o, q, tag, &err);
    aiw_search_request_free(r);
  } else {
    aiw_asset_request *r = asset_req(s, "b/o", "text/plain");
    rc = aiw_process_asset_start(cl, r, o, q, tag, &err);
    aiw_asset_request_free(r);
  }
  ck_assert_msg(rc == AIW_OK, "start kind %d: %s: %s", k, aiw_code_name(rc), err.message);
  ck_assert_int_eq(err.code, AIW_OK);
}

static const char *const METHOD[3] = {"GetEmbedding", "VectorSearch", "ProcessAsset"};

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

static aiw_client *client;
static void client_setup(void) { client = test_client(g_srv.target, 0); }
static void client_teardown(void) {
  aiw_client_free(client);
  client = NULL;
}

/* ------------------------------------------------------- the three RPCs */

START_TEST(test_embedding_start) {
  aiw_queue *q = new_queue();
  aiw_embedding_request *r = embed_req("hello", AIW_EMBEDDING_BOTH);
  int tag;
  aiw_error err;
  ck_assert_int_eq(aiw_get_embedding_start(client, r, NULL, q, &tag, &err), AIW_OK);
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
  ck_assert_int_eq(aiw_embedding_response_success(resp), 1);
  ck_assert_str_eq(aiw_embedding_response_error(resp), "");
  size_t sl = 0, vl = 0;
  const float *sv = aiw_embedding_response_semantic_vector(resp, &sl);
  const float *vv = aiw_embedding_response_visual_vector(resp, &vl);
  ck_assert_msg(vector_is(sv, sl, 0x4f9f2cabu, 1024), "semantic vector of \"hello\" (len %zu)", sl);
  ck_assert_msg(vector_is(vv, vl, 0xd1a85512u, 1152), "visual vector of \"hello\" (len %zu)", vl);
  ck_assert_float_eq(sv[0], -0.61f);
  ck_assert_float_eq(sv[1], 0.0621f);
  ck_assert_float_eq(vv[0], 0.5168f);
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
  ck_assert_int_eq(aiw_vector_search_start(client, r, NULL, q, tag, &err), AIW_OK);
  aiw_search_request_free(r);
  aiw_completion *c = next_within(q, hang_bound_ms(20000));
  check_completion(c, tag, "VectorSearch", AIW_OK);
  aiw_search_response *resp = aiw_completion_take_search_response(c);
  aiw_completion_free(c);
  ck_assert_ptr_nonnull(resp);
  static const char *const ids[] = {"doc-001", "img-002", "doc-003", "img-004", "doc-005",
                                    "img-006", "doc-007", "img-008", "doc-009", "img-010"};
  static const float scores[] = {0.95f, 0.9f, 0.875f, 0.8f, 0.75f, 0.7f, 0.625f, 0.6f, 0.5f, 0.45f};
  ck_assert_int_eq(aiw_search_response_success(resp), 1);
  ck_assert_int_eq(aiw_search_response_total_count(resp), 12);
  ck_assert_uint_eq(aiw_search_response_result_count(resp), 10);
  for (size_t i = 0; i < 10; i++) {
    const aiw_search_result *x = aiw_search_response_result(resp, i);
    ck_assert_str_eq(aiw_search_result_asset_id(x), ids[i]);
    ck_assert_float_eq(aiw_search_result_score(x), scores[i]);
    char url[128];
    snprintf(url, sizeof url, "https://thumbs.example.com/%s.jpg", ids[i]);
    ck_assert_str_eq(aiw_search_result_thumbnail_url(x), url);
  }
  const aiw_search_result *x = aiw_search_response_result(resp, 7);
  ck_assert_str_eq(aiw_search_result_caption(x), "Scanned receipt, caf\xc3\xa9 M\xc3\xbchle");
  ck_assert_str_eq(aiw_search_result_mime_type(x), "image/jpeg");
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "owner"), "carol");
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "year"), "2022");
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "kind"), "receipt");
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
  ck_assert_int_eq(aiw_process_asset_start(client, r, NULL, q, &tag, &err), AIW_OK);
  aiw_asset_request_free(r);
  aiw_completion *c = next_within(q, hang_bound_ms(20000));
  check_completion(c, &tag, "ProcessAsset", AIW_OK);
  aiw_process_status *st = aiw_completion_take_process_status(c);
  aiw_completion_free(c);
  ck_assert_ptr_nonnull(st);
  ck_assert_int_eq(aiw_process_status_success(st), 1);
  ck_assert_str_eq(aiw_process_status_error(st), "");
  ck_assert_int_eq(aiw_process_status_stage(st), AIW_STAGE_COMPLETED);
  ck_assert_float_eq(aiw_process_status_progress(st), 1.0f);
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
  start_kind(client, 0, "hello", NULL, q, NULL);
  start_kind(client, 1, "q", NULL, q, &tags[1]);
  start_kind(client, 2, "asset-2", NULL, q, &tags[2]);
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
  for (int k = 0; k < 3; k++) start_kind(client, k, k == 0 ? "hello" : k == 1 ? "q" : "asset-3", NULL, q, (void *)(intptr_t)(k + 1));
  for (int i = 0; i < 3; i++) {
    aiw_completion *c = next_within(q, hang_bound_ms(20000));
    int k = (int)(intptr_t)aiw_completion_tag(c) - 1;
    ck_assert_int_ge(k, 0);
    ck_assert_int_le(k, 2);
    check_completion(c, (void *)(intptr_t)(k + 1), METHOD[k], AIW_OK);
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
  for (int k = 0; k < 3; k++) start_kind(client, k, k == 0 ? "hello" : k == 1 ? "q" : "asset-3", NULL, q, NULL);
  for (int i = 0; i < 3; i++) aiw_completion_free(next_within(q, hang_bound_ms(20000)));
  aiw_queue_free(q);
}
END_TEST

/* -------------------------------------------------- errors of all kinds */

START_TEST(test_status_error) {
  aiw_queue *q = new_queue();
  for (int k = 0; k < 3; k++) start_kind(client, k, "!error:NOT_FOUND:no such thing: x", NULL, q, (void *)(intptr_t)(k + 1));
  for (int i = 0; i < 3; i++) {
    aiw_completion *c = next_within(q, hang_bound_ms(20000));
    int k = (int)(intptr_t)aiw_completion_tag(c) - 1;
    ck_assert(k >= 0 && k <= 2);
    check_completion(c, (void *)(intptr_t)(k + 1), METHOD[k], AIW_NOT_FOUND);
    const aiw_error *e = aiw_completion_error(c);
    ck_assert_int_eq(e->grpc_status, 5);
    ck_assert_str_eq(e->message, "no such thing: x");
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
  for (int k = 0; k < 3; k++) start_kind(client, k, "!fail:model offline", NULL, q, (void *)(intptr_t)(k + 1));
  for (int i = 0; i < 3; i++) {
    aiw_completion *c = next_within(q, hang_bound_ms(20000));
    int k = (int)(intptr_t)aiw_completion_tag(c) - 1;
    ck_assert(k >= 0 && k <= 2);
    check_completion(c, (void *)(intptr_t)(k + 1), METHOD[k], AIW_SERVICE_ERROR);
    const aiw_error *e = aiw_completion_error(c);
    ck_assert_int_eq(e->grpc_status, 0);
    ck_assert_str_eq(e->message, "model offline");
    if (k == 0) {
      aiw_embedding_response *r = aiw_completion_take_embedding_response(c);
      ck_assert_ptr_nonnull(r);
      ck_assert_int_eq(aiw_embedding_response_success(r), 0);
      ck_assert_str_eq(aiw_embedding_response_error(r), "model offline");
      size_t n = 99;
      ck_assert_ptr_null(aiw_embedding_response_semantic_vector(r, &n));
      ck_assert_uint_eq(n, 0);
      aiw_embedding_response_free(r);
    } else if (k == 1) {
      aiw_search_response *r = aiw_completion_take_search_response(c);
      ck_assert_ptr_nonnull(r);
      ck_assert_int_eq(aiw_search_response_success(r), 0);
      ck_assert_str_eq(aiw_search_response_error(r), "model offline");
      ck_assert_uint_eq(aiw_search_response_result_count(r), 0);
      ck_assert_int_eq(aiw_search_response_total_count(r), 0);
      aiw_search_response_free(r);
    } else {
      aiw_process_status *r = aiw_completion_take_process_status(c);
      ck_assert_ptr_nonnull(r);
      ck_assert_int_eq(aiw_process_status_success(r), 0);
      ck_assert_str_eq(aiw_process_status_error(r), "model offline");
      ck_assert_int_eq(aiw_process_status_stage(r), AIW_STAGE_FAILED);
      ck_assert_float_eq(aiw_process_status_progress(r), 0.0f);
      aiw_process_status_free(r);
    }
    aiw_completion_free(c);
  }
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_undecodable) {
  aiw_queue *q = new_queue();
  for (int k = 0; k < 3; k++) start_kind(client, k, "!garbage", NULL, q, (void *)(intptr_t)(k + 1));
  for (int i = 0; i < 3; i++) {
    aiw_completion *c = next_within(q, hang_bound_ms(20000));
    int k = (int)(intptr_t)aiw_completion_tag(c) - 1;
    ck_assert(k >= 0 && k <= 2);
    check_completion(c, (void *)(intptr_t)(k + 1), METHOD[k], AIW_INTERNAL);
    const char *msg = aiw_completion_error(c)->message;
    ck_assert_msg(strcasestr(msg, "decod") || strcasestr(msg, "pars") || strcasestr(msg, "unpack"),
                  "message does not say the response could not be decoded: %s", msg);
    ck_assert_int_eq(take_any(c), 0);
    aiw_completion_free(c);
  }
  /* The client and the queue still work afterwards. */
  start_kind(client, 1, "q", NULL, q, NULL);
  aiw_completion *c = next_within(q, hang_bound_ms(20000));
  check_completion(c, NULL, "VectorSearch", AIW_OK);
  aiw_completion_free(c);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_unreachable_server) {
  /* A port bound but not listening: connection refused -> UNAVAILABLE. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t alen = sizeof a;
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", ntohs(a.sin_port));
  aiw_client *dead = test_client(target, 0);
  aiw_queue *q = new_queue();
  aiw_call_options *o = test_opts(hang_bound_ms(10000), NULL);
  for (int k = 0; k < 3; k++) start_kind(dead, k, "q", o, q, (void *)(intptr_t)(k + 1));
  aiw_call_options_free(o);
  for (int i = 0; i < 3; i++) {
    aiw_completion *c = next_within(q, hang_bound_ms(20000));
    int k = (int)(intptr_t)aiw_completion_tag(c) - 1;
    ck_assert(k >= 0 && k <= 2);
    check_completion(c, (void *)(intptr_t)(k + 1), METHOD[k], AIW_UNAVAILABLE);
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
  for (int k = 0; k < 3; k++) start_kind(client, k, SLOW_DIRECTIVE, o, q, (void *)(intptr_t)(k + 1));
  aiw_call_options_free(o);
  for (int i = 0; i < 3; i++) {
    aiw_completion *c = next_within(q, prompt_bound_ms());
    int k = (int)(intptr_t)aiw_completion_tag(c) - 1;
    ck_assert(k >= 0 && k <= 2);
    check_completion(c, (void *)(intptr_t)(k + 1), METHOD[k], AIW_DEADLINE_EXCEEDED);
    ck_assert_int_eq(aiw_completion_error(c)->grpc_status, 4);
    ck_assert_int_eq(take_any(c), 0);
    aiw_completion_free(c);
  }
  ck_assert_int_lt(now_ms() - t0, prompt_bound_ms());
  aiw_queue_free(q);
}
END_TEST

typedef struct canceller {
  aiw_cancel_token *token;
  aiw_client *client; /* closed instead when not NULL */
} canceller;

static void *cancel_main(void *arg) {
  canceller *cn = arg;
  if (cn->client != NULL)
    aiw_client_close(cn->client);
  else
    aiw_cancel_token_cancel(cn->token);
  return NULL;
}

START_TEST(test_cancel_token_other_thread) {
  /* Slow calls with a token, one normal call without: the token, fired from
   * another thread, cancels exactly the first ones, promptly. */
  aiw_queue *q = new_queue();
  aiw_cancel_token *tok = aiw_cancel_token_new();
  ck_assert_ptr_nonnull(tok);
  aiw_call_options *o = test_opts(0, NULL);
  ck_assert_int_eq(aiw_call_options_set_cancel_token(o, tok), AIW_OK);
  for (int k = 0; k < 3; k++) start_kind(client, k, SLOW_DIRECTIVE, o, q, (void *)(intptr_t)(k + 1));
  aiw_call_options_free(o); /* the token itself must outlive the calls; the options need not */
  start_kind(client, 1, "!slow:200", NULL, q, (void *)(intptr_t)4);

  int64_t t0 = now_ms();
  pthread_t th;
  canceller cn = {.token = tok, .client = NULL};
  ck_assert_int_eq(pthread_create(&th, NULL, cancel_main, &cn), 0);
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
  pthread_join(th, NULL);
  ck_assert_int_lt(now_ms() - t0, prompt_bound_ms());
  ck_assert_int_eq(cancelled, 3);
  ck_assert_int_eq(ok, 1);

  /* A start with the token already cancelled sends nothing: either the start
   * refuses with CANCELLED, or its one completion is CANCELLED. */
  o = test_opts(0, NULL);
  ck_assert_int_eq(aiw_call_options_set_cancel_token(o, tok), AIW_OK);
  aiw_search_request *r = search_req("q");
  aiw_error err;
  aiw_code rc = aiw_vector_search_start(client, r, o, q, (void *)(intptr_t)9, &err);
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
  ck_assert_int_eq(aiw_vector_search_start(client, r, o, q, (void *)(intptr_t)10, &err), AIW_OK);
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
  pthread_t th;
  canceller cn = {.token = NULL, .client = c1};
  ck_assert_int_eq(pthread_create(&th, NULL, cancel_main, &cn), 0);
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
  pthread_join(th, NULL);
  ck_assert_int_lt(now_ms() - t0, prompt_bound_ms());
  for (int i = 0; i < N; i++) ck_assert_int_eq(seen[i], 1);
  expect_empty(q, 0);

  /* A start on the closed client: CANCELLED, either from the start (nothing
   * queued) or as its one completion. */
  for (int k = 0; k < 3; k++) {
    aiw_error err;
    aiw_code rc;
    if (k == 0) {
      aiw_embedding_request *r = embed_req("hello", AIW_EMBEDDING_UNKNOWN);
      rc = aiw_get_embedding_start(c1, r, NULL, q, NULL, &err);
      aiw_embedding_request_free(r);
    } else if (k == 1) {
      aiw_search_request *r = search_req("q");
      rc = aiw_vector_search_start(c1, r, NULL, q, NULL, &err);
      aiw_search_request_free(r);
    } else {
      aiw_asset_request *r = asset_req("a", "b", "c");
      rc = aiw_process_asset_start(c1, r, NULL, q, NULL, &err);
      aiw_asset_request_free(r);
    }
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
  start_kind(client, 2, "asset-4", NULL, q, NULL);
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
  ck_assert_int_eq(aiw_search_request_set_type(sr, AIW_SEARCH_HYBRID), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_limit(sr, 7), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_threshold(sr, 0.25f), AIW_OK);
  ck_assert_int_eq(aiw_search_request_add_filter(sr, "owner=alice"), AIW_OK);
  ck_assert_int_eq(aiw_search_request_add_filter(sr, "image/"), AIW_OK);
  aiw_call_options *o = test_opts(hang_bound_ms(20000), rid);
  ck_assert_int_eq(aiw_call_options_add_metadata(o, "authorization", "Bearer t0k.en", &err), AIW_OK);
  const unsigned char bin[] = {0, 1, 0xfe, 0xff};
  ck_assert_int_eq(aiw_call_options_add_metadata_bin(o, "trace-bin", bin, sizeof bin, &err), AIW_OK);
  ck_assert_int_eq(aiw_vector_search_start(client, sr, o, q, (void *)(intptr_t)1, &err), AIW_OK);
  aiw_search_request_free(sr);
  aiw_call_options_free(o);

  /* ProcessAsset !echo: the request's strings and options come back. */
  aiw_asset_request *ar = asset_req("!echo", "bucket/async.png", "image/png");
  ck_assert_int_eq(aiw_asset_request_set_enable_ocr(ar, 1), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_max_chunk_size(ar, 321), AIW_OK);
  o = test_opts(hang_bound_ms(20000), rid);
  ck_assert_int_eq(aiw_process_asset_start(client, ar, o, q, (void *)(intptr_t)2, &err), AIW_OK);
  aiw_asset_request_free(ar);
  aiw_call_options_free(o);

  /* GetEmbedding: the text (in a buffer scribbled over after start). */
  char text[64];
  snprintf(text, sizeof text, "freed-%.50s", rid);
  uint32_t seed = seed_of(text, strlen(text));
  aiw_embedding_request *er = embed_req(text, AIW_EMBEDDING_VISUAL);
  memset(text, 'z', sizeof text - 1);
  o = test_opts(hang_bound_ms(20000), rid);
  ck_assert_int_eq(aiw_get_embedding_start(client, er, o, q, (void *)(intptr_t)3, &err), AIW_OK);
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
      ck_assert_ptr_nonnull(resp);
      ck_assert_int_eq(aiw_search_response_total_count(resp), 1);
      const aiw_search_result *x = aiw_search_response_result(resp, 0);
      ck_assert_str_eq(aiw_search_result_asset_id(x), "echo");
      ck_assert_float_eq(aiw_search_result_score(x), 0.25f);
      ck_assert_str_eq(aiw_search_result_caption(x), "!echo");
      ck_assert_str_eq(aiw_search_result_mime_type(x), "SEARCH_HYBRID");
      ck_assert_str_eq(aiw_search_result_metadata_get(x, "query"), "!echo");
      ck_assert_str_eq(aiw_search_result_metadata_get(x, "limit"), "7");
      ck_assert_str_eq(aiw_search_result_metadata_get(x, "threshold"), "0.25");
      ck_assert_str_eq(aiw_search_result_metadata_get(x, "filters"), "owner=alice|image/");
      ck_assert_str_eq(aiw_search_result_metadata_get(x, "md:x-request-id"), rid);
      ck_assert_str_eq(aiw_search_result_metadata_get(x, "md:authorization"), "Bearer t0k.en");
      ck_assert_str_eq(aiw_search_result_metadata_get(x, "md:trace-bin"), "AAH+/w==");
      aiw_search_response_free(resp);
    } else if (k == 2) {
      check_completion(c, (void *)(intptr_t)2, "ProcessAsset", AIW_OK);
      aiw_process_status *st = aiw_completion_take_process_status(c);
      ck_assert_ptr_nonnull(st);
      ck_assert_str_eq(aiw_process_status_error(st),
                       "asset_id=!echo;file_path=bucket/async.png;mime_type=image/png;ocr=1;caption=0;"
                       "embedding=0;summary=0;max_chunk_size=321;options=1");
      ck_assert_int_eq(aiw_process_status_stage(st), AIW_STAGE_PROCESSING);
      ck_assert_float_eq(aiw_process_status_progress(st), 0.5f);
      aiw_process_status_free(st);
    } else {
      ck_assert_int_eq(k, 3);
      check_completion(c, (void *)(intptr_t)3, "GetEmbedding", AIW_OK);
      aiw_embedding_response *e = aiw_completion_take_embedding_response(c);
      ck_assert_ptr_nonnull(e);
      size_t n = 0;
      const float *v = aiw_embedding_response_visual_vector(e, &n);
      ck_assert_msg(vector_is(v, n, vseed_of(seed), 1152), "visual vector of the freed text");
      aiw_embedding_response_free(e);
    }
    aiw_completion_free(c);
  }
  ck_assert_int_eq(seen, 0xe);
  /* The server saw the request id (three calls carried it). */
  char outcome[32];
  ck_assert_int_eq(events_wait(&g_srv, rid, outcome, sizeof outcome, 5000), 0);
  ck_assert_str_eq(outcome, "OK");
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
  ck_assert_int_lt(now_ms() - t0, hang_bound_ms(5000));

  /* A call that cannot finish within 50 ms (the service sleeps 1 s): the
   * short waits run out, a long one gets it. */
  start_kind(client, 1, "!slow:1000", NULL, q, q);
  expect_empty(q, 0);
  expect_empty(q, 50);
  aiw_completion *c = next_within(q, hang_bound_ms(20000));
  check_completion(c, q, "VectorSearch", AIW_OK);
  ck_assert_int_eq(take_any(c), 1);
  aiw_completion_free(c);

  /* -1 waits for ever: it returns when the call finishes. */
  start_kind(client, 2, "!slow:100", NULL, q, NULL);
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
    start_kind(client, 1, "!slow:100", NULL, q, (void *)(intptr_t)(i + 1));
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
  aiw_error err;
  aiw_embedding_request *er = aiw_embedding_request_new();
  aiw_search_request *sr = aiw_search_request_new();
  aiw_asset_request *ar = aiw_asset_request_new();
  aiw_embedding_request_set_text(er, "hello");
  aiw_search_request_set_query(sr, "q");
  aiw_asset_request_set_asset_id(ar, "a");
  aiw_asset_request_set_file_path(ar, "b");
  aiw_asset_request_set_mime_type(ar, "c");
  x->rc[0] = aiw_get_embedding_start(x->client, er, NULL, x->q, NULL, &err);
  x->err_code[0] = err.code;
  x->rc[1] = aiw_vector_search_start(x->client, sr, NULL, x->q, NULL, &err);
  x->err_code[1] = err.code;
  x->rc[2] = aiw_process_asset_start(x->client, ar, NULL, x->q, NULL, &err);
  x->err_code[2] = err.code;
  aiw_embedding_request_free(er);
  aiw_search_request_free(sr);
  aiw_asset_request_free(ar);
  return 0;
}

START_TEST(test_start_from_callback_refused) {
  /* Starting an RPC from inside a libaiw callback is refused
   * (RECURSIVE_API_CALL), the asynchronous starts included. */
  aiw_queue *q = new_queue();
  cb_ctx x = {.client = client, .q = q};
  aiw_chat_request *cr = aiw_chat_request_new();
  ck_assert_int_eq(aiw_chat_request_set_query(cr, "hi"), AIW_OK);
  aiw_error err;
  ck_assert_int_eq(aiw_chat_stream(client, cr, NULL, start_from_callback, &x, &err), AIW_OK);
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
  aiw_client_options *co = aiw_client_options_new();
  ck_assert_int_eq(aiw_client_options_set_max_send_size(co, 1024), AIW_OK);
  aiw_client *small = NULL;
  aiw_error err;
  ck_assert_int_eq(aiw_client_new(g_srv.target, co, &small, &err), AIW_OK);
  aiw_client_options_free(co);
  char text[4096];
  memset(text, 'a', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  aiw_queue *q = new_queue();
  aiw_embedding_request *e = embed_req(text, AIW_EMBEDDING_UNKNOWN);
  aiw_code rc = aiw_get_embedding_start(small, e, NULL, q, NULL, &err);
  ck_assert_msg(rc == AIW_RESOURCE_EXHAUSTED, "got %s: %s", aiw_code_name(rc), err.message);
  ck_assert_int_eq(err.code, AIW_RESOURCE_EXHAUSTED);
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
  aiw_error err;
  aiw_embedding_request *er = embed_req("hello", AIW_EMBEDDING_UNKNOWN);
  aiw_search_request *sr = search_req("q");
  aiw_asset_request *ar = asset_req("a", "b", "c");
  ck_assert_int_eq(aiw_get_embedding_start(client, er, NULL, q, NULL, &err), AIW_CANCELLED);
  ck_assert_int_eq(err.code, AIW_CANCELLED);
  ck_assert_int_eq(aiw_vector_search_start(client, sr, NULL, q, NULL, &err), AIW_CANCELLED);
  ck_assert_int_eq(err.code, AIW_CANCELLED);
  ck_assert_int_eq(aiw_process_asset_start(client, ar, NULL, q, NULL, NULL), AIW_CANCELLED);
  /* Nothing comes out: the queue is shut down and empty, so next says
   * CANCELLED at once whatever the timeout (-1 included). */
  aiw_completion *c = (aiw_completion *)&c;
  ck_assert_int_eq(aiw_queue_next(q, 0, &c), AIW_CANCELLED);
  ck_assert_ptr_null(c);
  c = (aiw_completion *)&c;
  ck_assert_int_eq(aiw_queue_next(q, 50, &c), AIW_CANCELLED);
  ck_assert_ptr_null(c);
  c = (aiw_completion *)&c;
  ck_assert_int_eq(aiw_queue_next(q, -1, &c), AIW_CANCELLED);
  ck_assert_ptr_null(c);
  aiw_embedding_request_free(er);
  aiw_search_request_free(sr);
  aiw_asset_request_free(ar);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_shutdown_drains_in_flight) {
  /* Shut down with calls in flight (two of them slow): they still complete
   * normally and can be taken; then next says CANCELLED. */
  aiw_queue *q = new_queue();
  start_kind(client, 0, "hello", NULL, q, (void *)(intptr_t)1);
  start_kind(client, 1, "!slow:500", NULL, q, (void *)(intptr_t)2);
  start_kind(client, 2, "!slow:300", NULL, q, (void *)(intptr_t)3);
  aiw_queue_shutdown(q);
  aiw_search_request *sr = search_req("q");
  aiw_error err;
  ck_assert_int_eq(aiw_vector_search_start(client, sr, NULL, q, (void *)(intptr_t)4, &err), AIW_CANCELLED);
  aiw_search_request_free(sr);
  int seen = 0;
  for (int i = 0; i < 3; i++) {
    aiw_completion *c = next_within(q, hang_bound_ms(20000));
    int k = (int)(intptr_t)aiw_completion_tag(c);
    ck_assert(k >= 1 && k <= 3);
    seen |= 1 << k;
    check_completion(c, (void *)(intptr_t)k, METHOD[k - 1], AIW_OK);
    ck_assert_int_eq(take_any(c), 1);
    aiw_completion_free(c);
  }
  ck_assert_int_eq(seen, 0xe);
  aiw_completion *c = (aiw_completion *)&c;
  ck_assert_int_eq(aiw_queue_next(q, -1, &c), AIW_CANCELLED);
  ck_assert_ptr_null(c);
  ck_assert_int_eq(aiw_queue_next(q, 0, &c), AIW_CANCELLED);
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
  for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, waiter_main, &w[i]), 0);
  /* A call that completes wakes exactly one of them... */
  start_kind(client, 1, "q", NULL, q, NULL);
  /* ...and the shutdown wakes the other. Joining proves neither hangs (the
   * test's timeout catches a hang). */
  int64_t t0 = now_ms();
  aiw_queue_shutdown(q);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  ck_assert_int_lt(now_ms() - t0, hang_bound_ms(20000));
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
    start_kind(client, i % 3, i % 3 == 1 ? "q" : i % 3 == 0 ? "hello" : "asset-5", o, q, NULL);
    aiw_call_options_free(o);
  }
  aiw_completion *c = next_within(q, hang_bound_ms(20000));
  ck_assert_int_eq(aiw_completion_code(c), AIW_OK);
  aiw_completion_free(c);
  aiw_queue_free(q); /* 7 not taken */
  for (int i = 0; i < 8; i++) {
    char outcome[32];
    ck_assert_msg(events_wait(&g_srv, rid[i], outcome, sizeof outcome, 10000) == 0, "no events line for %s", rid[i]);
    ck_assert_str_eq(outcome, "OK");
  }

  /* And a queue freed right after its starts. */
  q = new_queue();
  for (int i = 0; i < 6; i++) start_kind(client, i % 3, i % 3 == 1 ? "q" : i % 3 == 0 ? "hello" : "asset-6", NULL, q, NULL);
  aiw_queue_free(q);
  /* The client is fine afterwards. */
  q = new_queue();
  start_kind(client, 1, "q", NULL, q, NULL);
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
  for (int i = 0; i < 6; i++) start_kind(client, i % 3, SLOW_DIRECTIVE, o, q, NULL);
  aiw_call_options_free(o);
  int64_t t0 = now_ms();
  aiw_cancel_token_cancel(tok);
  aiw_queue_free(q);
  ck_assert_int_lt(now_ms() - t0, prompt_bound_ms());
  aiw_cancel_token_free(tok);

  /* The same with aiw_client_close as the cancellation. */
  aiw_client *c2 = test_client(g_srv.target, 0);
  q = new_queue();
  for (int i = 0; i < 6; i++) start_kind(c2, i % 3, SLOW_DIRECTIVE, NULL, q, NULL);
  t0 = now_ms();
  aiw_client_close(c2);
  aiw_queue_free(q);
  ck_assert_int_lt(now_ms() - t0, prompt_bound_ms());
  aiw_client_free(c2);

  /* And with deadlines: free waits for them (300 ms), not for the replies. */
  o = test_opts(300, NULL);
  q = new_queue();
  for (int i = 0; i < 3; i++) start_kind(client, i, SLOW_DIRECTIVE, o, q, NULL);
  aiw_call_options_free(o);
  t0 = now_ms();
  aiw_queue_free(q);
  ck_assert_int_lt(now_ms() - t0, prompt_bound_ms());
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
  for (int i = 0; i < 4; i++) start_kind(c2, i % 3, i % 3 == 1 ? "q" : i % 3 == 0 ? "hello" : "asset-7", NULL, qs[i], qs[i]);
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
  if (s->kind == 0) {
    aiw_embedding_response *e = aiw_completion_take_embedding_response(c);
    size_t n = 0;
    const float *v = aiw_embedding_response_semantic_vector(e, &n);
    int good = e != NULL && vector_is(v, n, seed_of(s->text, strlen(s->text)), 1024);
    aiw_embedding_response_free(e);
    if (!good) return "embedding of another request";
  } else if (s->kind == 1) {
    aiw_search_response *r = aiw_completion_take_search_response(c);
    const aiw_search_result *x = aiw_search_response_result(r, 0);
    char lim[16];
    snprintf(lim, sizeof lim, "%d", s->idx);
    const char *f = aiw_search_result_metadata_get(x, "filters");
    const char *l = aiw_search_result_metadata_get(x, "limit");
    const char *id = aiw_search_result_metadata_get(x, "md:x-request-id");
    int good = r != NULL && f && l && id && !strcmp(f, s->text) && !strcmp(l, lim) && !strcmp(id, s->rid);
    aiw_search_response_free(r);
    if (!good) return "search answer of another request";
  } else {
    aiw_process_status *p = aiw_completion_take_process_status(c);
    char want[256];
    snprintf(want, sizeof want,
             "asset_id=!echo;file_path=%s;mime_type=text/plain;ocr=0;caption=0;embedding=0;summary=0;"
             "max_chunk_size=%d;options=1",
             s->text, s->idx);
    int good = p != NULL && strcmp(aiw_process_status_error(p), want) == 0;
    aiw_process_status_free(p);
    if (!good) return "process status of another request";
  }
  return NULL;
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
  for (int i = 0; i < NSTARTERS + NCOLLECTORS; i++) {
    ta[i].m = m;
    ta[i].id = i;
    ck_assert_int_eq(pthread_create(&th[i], NULL, i < NSTARTERS ? starter_main : collector_main, &ta[i]), 0);
  }
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
  for (int i = 0; i < NSTARTERS; i++) pthread_join(th[i], NULL);
  aiw_queue_shutdown(m->q); /* the collectors drain it and stop */
  for (int i = NSTARTERS; i < NSTARTERS + NCOLLECTORS; i++) pthread_join(th[i], NULL);
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
  aiw_completion *c = (aiw_completion *)&c;
  ck_assert_int_eq(aiw_queue_next(m->q, -1, &c), AIW_CANCELLED);
  ck_assert_ptr_null(c);
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
  run_many(MANY_PLAIN, client, b);
  aiw_client_free(b);
}
END_TEST

START_TEST(test_many_client_closed_midway) {
  /* Client a is closed while its calls start and complete: each of them is
   * refused (CANCELLED at start, nothing queued), cancelled, or answered
   * correctly; client b's calls are unaffected. */
  aiw_client *a = test_client(g_srv.target, 0);
  run_many(MANY_CLOSE_CLIENT, a, client);
  aiw_client_free(a);
  /* Again: the race is different every time. */
  a = test_client(g_srv.target, 0);
  run_many(MANY_CLOSE_CLIENT, a, client);
  aiw_client_free(a);
}
END_TEST

START_TEST(test_many_tiny_deadlines) {
  /* 200 calls with a 1 ms deadline: their completions come out while their
   * starts may still be returning (in other threads); each one is either
   * DEADLINE_EXCEEDED or answered correctly. Three rounds. */
  aiw_client *b = test_client(g_srv.target, 0);
  for (int round = 0; round < 3; round++) run_many(MANY_TINY_DEADLINE, client, b);
  aiw_client_free(b);
}
END_TEST

START_TEST(test_many_queue_shut_down_midway) {
  /* The queue is shut down while calls start: each start either succeeds
   * (and its one completion comes out, answered) or is refused; once refused
   * always refused; next says CANCELLED only after the last completion. */
  aiw_client *b = test_client(g_srv.target, 0);
  run_many(MANY_SHUTDOWN_QUEUE, client, b);
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
      ck_assert_ptr_nonnull(r);
      ck_assert_int_eq(aiw_search_response_total_count(r), 12);
      ck_assert_str_eq(aiw_search_result_asset_id(aiw_search_response_result(r, 0)), "doc-001");
      aiw_search_response_free(r);
    } else {
      check_completion(c, t, "GetEmbedding", AIW_OK);
      aiw_embedding_response *e = aiw_completion_take_embedding_response(c);
      ck_assert_ptr_nonnull(e);
      size_t n = 0;
      const float *v = aiw_embedding_response_semantic_vector(e, &n);
      ck_assert(vector_is(v, n, 0x4f9f2cabu, 1024));
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

#define CK_INVAL(expr) ck_assert_int_eq((expr), AIW_INVALID_ARGUMENT)

static void check_inval_err(const aiw_error *err) {
  ck_assert_int_eq(err->code, AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(err->grpc_status, -1);
  ck_assert_uint_gt(strlen(err->message), 0);
}

START_TEST(test_null_args) {
  /* NULL-safe functions. */
  aiw_queue_shutdown(NULL);
  aiw_queue_free(NULL);
  aiw_completion_free(NULL);
  /* Getters and takes of NULL: no crash, nothing returned. */
  ck_assert_ptr_null(aiw_completion_tag(NULL));
  ck_assert_int_ne(aiw_completion_code(NULL), AIW_OK);
  const aiw_error *e = aiw_completion_error(NULL);
  ck_assert(e == NULL || e->code != AIW_OK);
  const char *m = aiw_completion_method(NULL);
  ck_assert(m == NULL || *m == '\0');
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
  aiw_embedding_request *er = embed_req("hello", AIW_EMBEDDING_UNKNOWN);
  aiw_search_request *sr = search_req("q");
  aiw_asset_request *ar = asset_req("a", "b", "c");
  aiw_error err;
  CK_INVAL(aiw_get_embedding_start(NULL, er, NULL, q, NULL, &err));
  check_inval_err(&err);
  CK_INVAL(aiw_get_embedding_start(client, NULL, NULL, q, NULL, &err));
  check_inval_err(&err);
  CK_INVAL(aiw_get_embedding_start(client, er, NULL, NULL, NULL, &err));
  check_inval_err(&err);
  CK_INVAL(aiw_get_embedding_start(client, er, NULL, NULL, NULL, NULL));
  CK_INVAL(aiw_vector_search_start(NULL, sr, NULL, q, NULL, &err));
  check_inval_err(&err);
  CK_INVAL(aiw_vector_search_start(client, NULL, NULL, q, NULL, &err));
  check_inval_err(&err);
  CK_INVAL(aiw_vector_search_start(client, sr, NULL, NULL, NULL, &err));
  check_inval_err(&err);
  CK_INVAL(aiw_vector_search_start(NULL, NULL, NULL, NULL, NULL, NULL));
  CK_INVAL(aiw_process_asset_start(NULL, ar, NULL, q, NULL, &err));
  check_inval_err(&err);
  CK_INVAL(aiw_process_asset_start(client, NULL, NULL, q, NULL, &err));
  check_inval_err(&err);
  CK_INVAL(aiw_process_asset_start(client, ar, NULL, NULL, NULL, &err));
  check_inval_err(&err);
  CK_INVAL(aiw_process_asset_start(client, ar, NULL, NULL, NULL, NULL));

  /* Requests the blocking calls refuse are refused at start too. */
  aiw_embedding_request *empty_e = aiw_embedding_request_new();
  aiw_search_request *empty_s = aiw_search_request_new();
  aiw_asset_request *empty_a = asset_req("a", "", "c");
  CK_INVAL(aiw_get_embedding_start(client, empty_e, NULL, q, NULL, &err));
  check_inval_err(&err);
  CK_INVAL(aiw_vector_search_start(client, empty_s, NULL, q, NULL, &err));
  check_inval_err(&err);
  CK_INVAL(aiw_process_asset_start(client, empty_a, NULL, q, NULL, &err));
  check_inval_err(&err);
  aiw_embedding_request_free(empty_e);
  aiw_search_request_free(empty_s);
  aiw_asset_request_free(empty_a);

  /* None of the refused starts queued anything; the queue still works. */
  expect_empty(q, 0);
  ck_assert_int_eq(aiw_vector_search_start(client, sr, NULL, q, NULL, NULL), AIW_OK);
  c = next_within(q, hang_bound_ms(20000));
  check_completion(c, NULL, "VectorSearch", AIW_OK);
  aiw_completion_free(c);
  expect_empty(q, 0);
  aiw_embedding_request_free(er);
  aiw_search_request_free(sr);
  aiw_asset_request_free(ar);
  aiw_queue_free(q);
}
END_TEST

Suite *suite_async(void) {
  Suite *s = suite_create("async");
  TCase *tb = tcase_create("basics");
  tcase_add_unchecked_fixture(tb, srv_setup, srv_teardown);
  tcase_add_checked_fixture(tb, client_setup, client_teardown);
  tcase_set_timeout(tb, 60);
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
  suite_add_tcase(s, tb);

  TCase *tf = tcase_create("failures");
  tcase_add_unchecked_fixture(tf, srv_setup, srv_teardown);
  tcase_add_checked_fixture(tf, client_setup, client_teardown);
  tcase_set_timeout(tf, 60);
  tcase_add_test(tf, test_status_error);
  tcase_add_test(tf, test_service_error);
  tcase_add_test(tf, test_undecodable);
  tcase_add_test(tf, test_unreachable_server);
  tcase_add_test(tf, test_deadline);
  tcase_add_test(tf, test_cancel_token_other_thread);
  tcase_add_test(tf, test_client_close_in_flight);
  suite_add_tcase(s, tf);

  TCase *tl = tcase_create("lifecycle");
  tcase_add_unchecked_fixture(tl, srv_setup, srv_teardown);
  tcase_add_checked_fixture(tl, client_setup, client_teardown);
  tcase_set_timeout(tl, 60);
  tcase_add_test(tl, test_shutdown_then_start);
  tcase_add_test(tl, test_shutdown_drains_in_flight);
  tcase_add_test(tl, test_shutdown_wakes_waiters);
  tcase_add_test(tl, test_free_with_uncollected_completions);
  tcase_add_test(tl, test_free_with_cancelled_in_flight);
  tcase_add_test(tl, test_queue_outlives_client_runtime);
  suite_add_tcase(s, tl);

  TCase *tm = tcase_create("many");
  tcase_add_unchecked_fixture(tm, srv_setup, srv_teardown);
  tcase_add_checked_fixture(tm, client_setup, client_teardown);
  tcase_set_timeout(tm, 180);
  tcase_add_test(tm, test_many_in_flight_threads);
  tcase_add_test(tm, test_many_client_closed_midway);
  tcase_add_test(tm, test_many_queue_shut_down_midway);
  tcase_add_test(tm, test_many_tiny_deadlines);
  tcase_add_test(tm, test_two_clients_one_queue);
  suite_add_tcase(s, tm);
  return s;
}
