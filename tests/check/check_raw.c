/* check_raw.c -- the raw-message interface (since 1.1): aiw_raw_call,
 * aiw_raw_stream, aiw_raw_call_start, aiw_raw_stream_start,
 * aiw_completion_message, aiw_free and the AIW_PATH_* paths, with requests
 * serialized and responses decoded here with protobuf-c (the test binary's
 * own copy of the generated code). Every method of the service; bytes the
 * library must not decode (`!garbage` comes back byte for byte, `!empty` as
 * a non-NULL zero-length buffer, success=false as OK); receive and send
 * limits; method paths without '/' and unknown ones; metadata, deadlines,
 * cancel tokens and a closed client; callbacks aborting (on the last message
 * too); flow control and cancellation of raw streams on a queue; NULL
 * arguments. Expected values come from tests/refservice/README.md. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ai_service.pb-c.h"
#include "harness.h"

static int64_t prompt_bound_ms(void) { return hang_bound_ms(5000); }
#define SLOW_DIRECTIVE "!slow:120000"

/* ------------------------------------------------------------ encoding */

typedef struct bytes {
  uint8_t *data;
  size_t len;
} bytes;

static bytes pack(const ProtobufCMessage *m) {
  bytes b;
  b.len = protobuf_c_message_get_packed_size(m);
  b.data = malloc(b.len + 1);
  ck_assert_ptr_nonnull(b.data);
  ck_assert_uint_eq(protobuf_c_message_pack(m, b.data), b.len);
  return b;
}

static bytes embed_msg(const char *text, AiService__EmbeddingType type) {
  AiService__EmbeddingRequest r = AI_SERVICE__EMBEDDING_REQUEST__INIT;
  r.content_case = AI_SERVICE__EMBEDDING_REQUEST__CONTENT_TEXT;
  r.text = (char *)text;
  r.type = type;
  return pack(&r.base);
}

static bytes image_msg(const void *data, size_t len, const char *format) {
  AiService__ImageData img = AI_SERVICE__IMAGE_DATA__INIT;
  img.data.data = (uint8_t *)data;
  img.data.len = len;
  img.format = (char *)format;
  AiService__EmbeddingRequest r = AI_SERVICE__EMBEDDING_REQUEST__INIT;
  r.content_case = AI_SERVICE__EMBEDDING_REQUEST__CONTENT_IMAGE;
  r.image = &img;
  return pack(&r.base);
}

static bytes search_msg(const char *query, AiService__SearchType type, int32_t limit, float threshold,
                        const char *filter) {
  AiService__SearchRequest r = AI_SERVICE__SEARCH_REQUEST__INIT;
  r.query = (char *)query;
  r.type = type;
  r.limit = limit;
  r.threshold = threshold;
  char *filters[1] = {(char *)filter};
  if (filter != NULL) {
    r.n_filters = 1;
    r.filters = filters;
  }
  return pack(&r.base);
}

static bytes asset_msg(const char *id, const char *path, const char *mime, int with_options) {
  AiService__ProcessingOptions po = AI_SERVICE__PROCESSING_OPTIONS__INIT;
  po.enable_ocr = 1;
  po.enable_summary = 1;
  po.max_chunk_size = 321;
  AiService__AssetRequest r = AI_SERVICE__ASSET_REQUEST__INIT;
  r.asset_id = (char *)id;
  r.file_path = (char *)path;
  r.mime_type = (char *)mime;
  if (with_options) r.options = &po;
  return pack(&r.base);
}

static bytes chat_msg(const char *query) {
  AiService__ChatRequest r = AI_SERVICE__CHAT_REQUEST__INIT;
  r.query = (char *)query;
  return pack(&r.base);
}

static void bytes_free(bytes *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
}

/* -------------------------------------------------------------- calls */

/* aiw_raw_call of `req` on cl; ck_asserts `want` (and err.code); on AIW_OK
 * returns the response (non-NULL, free with aiw_free) and its length in
 * *len; otherwise ck_asserts *response NULL and *len 0. */
static void *raw_call_expect(aiw_client *cl, const char *method, const bytes *req, const aiw_call_options *o,
                             aiw_code want, size_t *len, aiw_error *err) {
  void *resp = (void *)&resp; /* must be overwritten */
  *len = 12345;
  aiw_code rc = aiw_raw_call(cl, method, req ? req->data : NULL, req ? req->len : 0, o, &resp, len, err);
  expect_code(method, rc, err, want);
  if (rc == AIW_OK) {
    ck_assert_msg(resp != NULL, "%s: AIW_OK with a NULL response", method);
    ck_assert_int_eq(err->grpc_status, 0);
    ck_assert_str_eq(err->message, "");
  } else {
    ck_assert_ptr_null(resp);
    ck_assert_uint_eq(*len, 0);
  }
  return rc == AIW_OK ? resp : NULL;
}

/* What a raw stream delivered: every message, copied. */
typedef struct raw_msgs {
  size_t n;
  bytes m[2100];
  int abort_on;               /* return non-zero on this message (1-based; 0 never) */
  int cancel_on;              /* cancel `token` during this message (0 never) */
  aiw_cancel_token *token;
  aiw_client *recurse;        /* if set: try calls from inside the callback (first message) */
  aiw_queue *recurse_q;
  aiw_code recursive_rc[3];
  void *self;
} raw_msgs;

static int on_raw(const void *data, size_t len, void *ud) {
  raw_msgs *x = ud;
  ck_assert_ptr_eq(x->self, x); /* userdata passed through */
  ck_assert_msg(x->n < sizeof x->m / sizeof x->m[0], "too many messages");
  ck_assert(len == 0 || data != NULL);
  bytes *b = &x->m[x->n++];
  b->data = malloc(len + 1);
  ck_assert_ptr_nonnull(b->data);
  if (len > 0) memcpy(b->data, data, len);
  b->len = len;
  if (x->recurse != NULL && x->n == 1) {
    bytes req = search_msg("q", 0, 0, 0, NULL);
    void *resp = (void *)&resp;
    size_t rlen = 9;
    aiw_error err;
    x->recursive_rc[0] = aiw_raw_call(x->recurse, AIW_PATH_VECTOR_SEARCH, req.data, req.len, NULL, &resp, &rlen, &err);
    ck_assert_ptr_null(resp);
    x->recursive_rc[1] = aiw_raw_stream(x->recurse, AIW_PATH_CHAT_STREAM, req.data, req.len, NULL, on_raw, x, &err);
    x->recursive_rc[2] = aiw_raw_call_start(x->recurse, AIW_PATH_VECTOR_SEARCH, req.data, req.len, NULL, x->recurse_q,
                                            NULL, &err);
    bytes_free(&req);
  }
  if (x->cancel_on > 0 && (size_t)x->cancel_on == x->n) aiw_cancel_token_cancel(x->token);
  return x->abort_on > 0 && (size_t)x->abort_on == x->n ? 1 : 0;
}

static raw_msgs *raw_msgs_new(void) {
  raw_msgs *x = calloc(1, sizeof *x);
  ck_assert_ptr_nonnull(x);
  x->self = x;
  return x;
}

static void raw_msgs_free(raw_msgs *x) {
  for (size_t i = 0; i < x->n; i++) free(x->m[i].data);
  free(x);
}

/* aiw_raw_stream of `req` on cl into x; ck_asserts `want`. */
static void raw_stream_expect(aiw_client *cl, const char *method, const bytes *req, const aiw_call_options *o,
                              raw_msgs *x, aiw_code want, aiw_error *err) {
  aiw_code rc = aiw_raw_stream(cl, method, req ? req->data : NULL, req ? req->len : 0, o, on_raw, x, err);
  expect_code(method, rc, err, want);
}

static AiService__ChatResponse *unpack_chat(const bytes *b) {
  AiService__ChatResponse *r = ai_service__chat_response__unpack(NULL, b->len, b->data);
  ck_assert_msg(r != NULL, "a ChatResponse of %zu bytes does not decode", b->len);
  return r;
}

/* ck_asserts that x holds `!many:n` (n chunks and the final message). */
static void expect_raw_many(const raw_msgs *x, int n) {
  ck_assert_uint_eq(x->n, (size_t)n + 1);
  for (int i = 0; i <= n; i++) {
    AiService__ChatResponse *r = unpack_chat(&x->m[i]);
    if (i < n) {
      char want[32];
      snprintf(want, sizeof want, "chunk-%d ", i);
      ck_assert_str_eq(r->chunk, want);
      ck_assert_int_eq(r->is_final, 0);
    } else {
      ck_assert_str_eq(r->chunk, "");
      ck_assert_int_eq(r->is_final, 1);
      ck_assert_uint_eq(r->n_sources, 3);
      ck_assert_str_eq(r->sources[0]->asset_id, "doc-001");
    }
    ai_service__chat_response__free_unpacked(r, NULL);
  }
}

/* ------------------------------------------------------------ helpers: queues */

static aiw_queue *new_queue(void) {
  aiw_queue *q = aiw_queue_new();
  ck_assert_ptr_nonnull(q);
  return q;
}

static aiw_completion *wait_within(aiw_queue *q, int64_t bound_ms) {
  aiw_completion *c = (aiw_completion *)&c;
  aiw_queue_result r = aiw_queue_wait(q, bound_ms, &c);
  ck_assert_msg(r == AIW_QUEUE_COMPLETION, "aiw_queue_wait: %d after %lld ms", (int)r, (long long)bound_ms);
  ck_assert_ptr_nonnull(c);
  return c;
}

static void expect_nothing(aiw_queue *q, int64_t timeout_ms) {
  aiw_completion *c = (aiw_completion *)&c;
  aiw_queue_result r = aiw_queue_wait(q, timeout_ms, &c);
  if (r == AIW_QUEUE_COMPLETION) {
    int msg = aiw_completion_is_message(c);
    aiw_code cc = aiw_completion_code(c);
    aiw_completion_free(c);
    ck_abort_msg("unexpected %s completion (%s)", msg ? "MESSAGE" : "RESULT", aiw_code_name(cc));
  }
  ck_assert_int_eq(r, AIW_QUEUE_TIMEOUT);
  ck_assert_ptr_null(c);
}

/* ck_asserts a raw MESSAGE completion of `tag`; returns its bytes (borrowed). */
static bytes raw_message(aiw_completion *c, void *tag) {
  ck_assert_msg(aiw_completion_is_message(c) == 1, "a RESULT (%s: %s) where a MESSAGE was due",
                aiw_code_name(aiw_completion_code(c)), aiw_completion_error(c)->message);
  ck_assert_ptr_eq(aiw_completion_tag(c), tag);
  ck_assert_int_eq(aiw_completion_code(c), AIW_OK);
  ck_assert_ptr_null(aiw_completion_take_chat_response(c)); /* a raw completion has no typed response */
  size_t len = 12345;
  const void *p = aiw_completion_message(c, &len);
  ck_assert_msg(p != NULL, "a raw MESSAGE completion without a message");
  ck_assert_ptr_eq(aiw_completion_message(c, NULL), p); /* len may be NULL */
  bytes b = {(uint8_t *)p, len};
  return b;
}

/* ck_asserts a RESULT completion of `tag` with `code`; returns its message
 * (borrowed; must be non-NULL when `has_message`, else NULL with len 0). */
static bytes raw_result(aiw_completion *c, void *tag, aiw_code code, int has_message) {
  ck_assert_msg(aiw_completion_is_message(c) == 0, "a MESSAGE where the RESULT (%s) was due", aiw_code_name(code));
  ck_assert_ptr_eq(aiw_completion_tag(c), tag);
  expect_code("raw RESULT", aiw_completion_code(c), aiw_completion_error(c), code);
  ck_assert_ptr_null(aiw_completion_take_chat_response(c));
  ck_assert_ptr_null(aiw_completion_take_embedding_response(c));
  ck_assert_ptr_null(aiw_completion_take_search_response(c));
  ck_assert_ptr_null(aiw_completion_take_process_status(c));
  size_t len = 12345;
  const void *p = aiw_completion_message(c, &len);
  if (has_message) {
    ck_assert_msg(p != NULL, "a unary raw RESULT (OK) without its response");
  } else {
    ck_assert_ptr_null(p);
    ck_assert_uint_eq(len, 0);
  }
  bytes b = {(uint8_t *)p, len};
  return b;
}

static void raw_start(aiw_client *cl, int stream, const char *method, const bytes *req, const aiw_call_options *o,
                      aiw_queue *q, void *tag) {
  aiw_error err;
  aiw_code rc = stream ? aiw_raw_stream_start(cl, method, req->data, req->len, o, q, tag, &err)
                       : aiw_raw_call_start(cl, method, req->data, req->len, o, q, tag, &err);
  ck_assert_msg(rc == AIW_OK, "%s start %s: %s: %s", stream ? "raw stream" : "raw call", method, aiw_code_name(rc),
                err.message);
  ck_assert_int_eq(err.code, AIW_OK);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* ------------------------------------------------- blocking unary calls */

START_TEST(test_raw_get_embedding) {
  aiw_error err;
  size_t len;
  bytes req = embed_msg("hello", AI_SERVICE__EMBEDDING_TYPE__EMBEDDING_BOTH);
  void *resp = raw_call_expect(g_client, AIW_PATH_GET_EMBEDDING, &req, NULL, AIW_OK, &len, &err);
  bytes_free(&req);
  AiService__EmbeddingResponse *e = ai_service__embedding_response__unpack(NULL, len, resp);
  aiw_free(resp);
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(e->success, 1);
  ck_assert_str_eq(e->error, "");
  char buf[160];
  const char *why = vector_mismatch(e->semantic_vector, e->n_semantic_vector, "hello", 5, 0, buf, sizeof buf);
  ck_assert_msg(why == NULL, "semantic: %s", why);
  why = vector_mismatch(e->visual_vector, e->n_visual_vector, "hello", 5, 1, buf, sizeof buf);
  ck_assert_msg(why == NULL, "visual: %s", why);
  ck_assert_float_eq(e->semantic_vector[0], -0.61f);
  ai_service__embedding_response__free_unpacked(e, NULL);

  /* An image (bytes 61 00 62), type UNKNOWN: the visual vector. */
  req = image_msg("a\0b", 3, "png");
  resp = raw_call_expect(g_client, AIW_PATH_GET_EMBEDDING, &req, NULL, AIW_OK, &len, &err);
  bytes_free(&req);
  e = ai_service__embedding_response__unpack(NULL, len, resp);
  aiw_free(resp);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->n_semantic_vector, 0);
  why = vector_mismatch(e->visual_vector, e->n_visual_vector, "a\0b", 3, 1, buf, sizeof buf);
  ck_assert_msg(why == NULL, "visual: %s", why);
  ai_service__embedding_response__free_unpacked(e, NULL);

  /* success=false is the caller's to read: AIW_OK, no SERVICE_ERROR. */
  req = embed_msg("!fail:model offline", 0);
  resp = raw_call_expect(g_client, AIW_PATH_GET_EMBEDDING, &req, NULL, AIW_OK, &len, &err);
  bytes_free(&req);
  e = ai_service__embedding_response__unpack(NULL, len, resp);
  aiw_free(resp);
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(e->success, 0);
  ck_assert_str_eq(e->error, "model offline");
  ai_service__embedding_response__free_unpacked(e, NULL);

  /* The empty message (NULL, 0) is a request like any other: the service
   * answers its own INVALID_ARGUMENT (a status, not a local refusal). */
  resp = raw_call_expect(g_client, AIW_PATH_GET_EMBEDDING, NULL, NULL, AIW_INVALID_ARGUMENT, &len, &err);
  expect_status_error(&err, AIW_INVALID_ARGUMENT, "content is required: set text or image");
  /* A server status: NOT_FOUND with its message. */
  req = embed_msg("!error:NOT_FOUND:no such model: x", 0);
  resp = raw_call_expect(g_client, AIW_PATH_GET_EMBEDDING, &req, NULL, AIW_NOT_FOUND, &len, &err);
  expect_status_error(&err, AIW_NOT_FOUND, "no such model: x");
  bytes_free(&req);
}
END_TEST

START_TEST(test_raw_vector_search) {
  aiw_error err;
  size_t len;
  /* The default search. */
  bytes req = search_msg("q", 0, 0, 0, NULL);
  void *resp = raw_call_expect(g_client, AIW_PATH_VECTOR_SEARCH, &req, NULL, AIW_OK, &len, &err);
  bytes_free(&req);
  AiService__SearchResponse *s = ai_service__search_response__unpack(NULL, len, resp);
  aiw_free(resp);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(s->success, 1);
  ck_assert_int_eq(s->total_count, 12);
  ck_assert_uint_eq(s->n_results, 10);
  static const char *const ids[10] = {"doc-001", "img-002", "doc-003", "img-004", "doc-005",
                                      "img-006", "doc-007", "img-008", "doc-009", "img-010"};
  for (int i = 0; i < 10; i++) ck_assert_str_eq(s->results[i]->asset_id, ids[i]);
  ck_assert_float_eq(s->results[0]->score, 0.95f);
  ck_assert_str_eq(s->results[7]->caption, "Scanned receipt, café Mühle");
  ck_assert_str_eq(s->results[1]->thumbnail_url, "https://thumbs.example.com/img-002.jpg");
  ck_assert_uint_eq(s->results[0]->n_metadata, 3);
  ai_service__search_response__free_unpacked(s, NULL);

  /* VISUAL, threshold 0.8, limit 2, filter image/. */
  req = search_msg("q", AI_SERVICE__SEARCH_TYPE__SEARCH_VISUAL, 2, 0.8f, "image/");
  resp = raw_call_expect(g_client, AIW_PATH_VECTOR_SEARCH, &req, NULL, AIW_OK, &len, &err);
  bytes_free(&req);
  s = ai_service__search_response__unpack(NULL, len, resp);
  aiw_free(resp);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(s->total_count, 4);
  ck_assert_uint_eq(s->n_results, 2);
  ck_assert_str_eq(s->results[0]->asset_id, "img-002");
  ck_assert_float_eq(s->results[0]->score, 0.97f);
  ck_assert_str_eq(s->results[1]->asset_id, "img-004");
  ai_service__search_response__free_unpacked(s, NULL);

  /* The empty message: an empty query, answered normally. */
  resp = raw_call_expect(g_client, AIW_PATH_VECTOR_SEARCH, NULL, NULL, AIW_OK, &len, &err);
  s = ai_service__search_response__unpack(NULL, len, resp);
  aiw_free(resp);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(s->total_count, 12);
  ai_service__search_response__free_unpacked(s, NULL);

  /* A request the service's own checks refuse (limit < 0). */
  req = search_msg("q", 0, -1, 0, NULL);
  raw_call_expect(g_client, AIW_PATH_VECTOR_SEARCH, &req, NULL, AIW_INVALID_ARGUMENT, &len, &err);
  expect_status_error(&err, AIW_INVALID_ARGUMENT, "limit must be >= 0");
  bytes_free(&req);
}
END_TEST

START_TEST(test_raw_process_asset) {
  aiw_error err;
  size_t len;
  bytes req = asset_msg("asset-1", "bucket/o.png", "image/png", 0);
  void *resp = raw_call_expect(g_client, AIW_PATH_PROCESS_ASSET, &req, NULL, AIW_OK, &len, &err);
  bytes_free(&req);
  AiService__ProcessStatus *p = ai_service__process_status__unpack(NULL, len, resp);
  aiw_free(resp);
  ck_assert_ptr_nonnull(p);
  ck_assert_int_eq(p->success, 1);
  ck_assert_int_eq(p->stage, AI_SERVICE__PROCESSING_STAGE__STAGE_COMPLETED);
  ck_assert_float_eq(p->progress, 1.0f);
  ai_service__process_status__free_unpacked(p, NULL);

  /* `!echo`: the request's fields as encoded here. */
  req = asset_msg("!echo", "b/raw.txt", "text/plain", 1);
  resp = raw_call_expect(g_client, AIW_PATH_PROCESS_ASSET, &req, NULL, AIW_OK, &len, &err);
  bytes_free(&req);
  p = ai_service__process_status__unpack(NULL, len, resp);
  aiw_free(resp);
  ck_assert_ptr_nonnull(p);
  ck_assert_str_eq(p->error,
                   "asset_id=!echo;file_path=b/raw.txt;mime_type=text/plain;ocr=1;caption=0;embedding=0;summary=1;"
                   "max_chunk_size=321;options=1");
  ck_assert_int_eq(p->stage, AI_SERVICE__PROCESSING_STAGE__STAGE_PROCESSING);
  ai_service__process_status__free_unpacked(p, NULL);

  /* `!empty`: zero bytes on the wire -- AIW_OK, a non-NULL buffer, length 0. */
  req = asset_msg("!empty", "b", "c", 0);
  resp = raw_call_expect(g_client, AIW_PATH_PROCESS_ASSET, &req, NULL, AIW_OK, &len, &err);
  bytes_free(&req);
  ck_assert_uint_eq(len, 0);
  aiw_free(resp);
  /* The same for the other two. */
  req = embed_msg("!empty", 0);
  resp = raw_call_expect(g_client, AIW_PATH_GET_EMBEDDING, &req, NULL, AIW_OK, &len, &err);
  ck_assert_uint_eq(len, 0);
  aiw_free(resp);
  bytes_free(&req);
  req = search_msg("!empty", 0, 0, 0, NULL);
  resp = raw_call_expect(g_client, AIW_PATH_VECTOR_SEARCH, &req, NULL, AIW_OK, &len, &err);
  ck_assert_uint_eq(len, 0);
  aiw_free(resp);
  bytes_free(&req);
}
END_TEST

START_TEST(test_raw_garbage_returned_verbatim) {
  /* The library does not decode: `!garbage` (3 bytes that are no protobuf
   * message) is AIW_OK with exactly those bytes, for each unary method. */
  static const unsigned char garbage[3] = {0x0f, 0xff, 0xff};
  bytes reqs[3] = {embed_msg("!garbage", 0), search_msg("!garbage", 0, 0, 0, NULL),
                   asset_msg("!garbage", "b", "c", 0)};
  const char *paths[3] = {AIW_PATH_GET_EMBEDDING, AIW_PATH_VECTOR_SEARCH, AIW_PATH_PROCESS_ASSET};
  for (int i = 0; i < 3; i++) {
    aiw_error err;
    size_t len;
    void *resp = raw_call_expect(g_client, paths[i], &reqs[i], NULL, AIW_OK, &len, &err);
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(resp, garbage, 3);
    ck_assert_ptr_null(ai_service__search_response__unpack(NULL, len, resp)); /* ours to report */
    aiw_free(resp);
    bytes_free(&reqs[i]);
  }
  /* ChatStream: the good message, then the 3 bytes, then OK. */
  bytes req = chat_msg("!garbage");
  raw_msgs *x = raw_msgs_new();
  aiw_error err;
  raw_stream_expect(g_client, AIW_PATH_CHAT_STREAM, &req, NULL, x, AIW_OK, &err);
  ck_assert_uint_eq(x->n, 2);
  AiService__ChatResponse *r = unpack_chat(&x->m[0]);
  ck_assert_str_eq(r->chunk, "before garbage ");
  ai_service__chat_response__free_unpacked(r, NULL);
  ck_assert_uint_eq(x->m[1].len, 3);
  ck_assert_mem_eq(x->m[1].data, garbage, 3);
  raw_msgs_free(x);
  bytes_free(&req);
}
END_TEST

/* ---------------------------------------------------- blocking streams */

START_TEST(test_raw_stream_chat) {
  aiw_error err;
  /* The five-chunk answer. */
  bytes req = chat_msg(UNI);
  raw_msgs *x = raw_msgs_new();
  raw_stream_expect(g_client, AIW_PATH_CHAT_STREAM, &req, NULL, x, AIW_OK, &err);
  bytes_free(&req);
  ck_assert_int_eq(err.grpc_status, 0);
  ck_assert_uint_eq(x->n, 5);
  char text[1024] = "";
  for (size_t i = 0; i < 5; i++) {
    AiService__ChatResponse *r = unpack_chat(&x->m[i]);
    strncat(text, r->chunk, sizeof text - strlen(text) - 1);
    ck_assert_int_eq(r->is_final, i == 4);
    ck_assert_uint_eq(r->n_sources, i == 4 ? 3 : 0);
    ai_service__chat_response__free_unpacked(r, NULL);
  }
  char want[512];
  chat_answer(want, sizeof want, UNI);
  ck_assert_str_eq(text, want);
  raw_msgs_free(x);

  /* 2,000 chunks and the final one, in order (200 under valgrind). */
  int n = test_slow() ? 200 : 2000;
  char q[32];
  snprintf(q, sizeof q, "!many:%d", n);
  req = chat_msg(q);
  x = raw_msgs_new();
  raw_stream_expect(g_client, AIW_PATH_CHAT_STREAM, &req, NULL, x, AIW_OK, &err);
  bytes_free(&req);
  expect_raw_many(x, n);
  raw_msgs_free(x);

  /* No message at all; one of zero bytes. */
  req = chat_msg("!count:0");
  x = raw_msgs_new();
  raw_stream_expect(g_client, AIW_PATH_CHAT_STREAM, &req, NULL, x, AIW_OK, &err);
  ck_assert_uint_eq(x->n, 0);
  raw_msgs_free(x);
  bytes_free(&req);
  req = chat_msg("!empty");
  x = raw_msgs_new();
  raw_stream_expect(g_client, AIW_PATH_CHAT_STREAM, &req, NULL, x, AIW_OK, &err);
  ck_assert_uint_eq(x->n, 1);
  ck_assert_uint_eq(x->m[0].len, 0);
  raw_msgs_free(x);
  bytes_free(&req);

  /* An error after two messages. */
  req = chat_msg("!error-after:2:ABORTED:boom: raw");
  x = raw_msgs_new();
  raw_stream_expect(g_client, AIW_PATH_CHAT_STREAM, &req, NULL, x, AIW_ABORTED, &err);
  expect_status_error(&err, AIW_ABORTED, "boom: raw");
  ck_assert_uint_eq(x->n, 2);
  raw_msgs_free(x);
  bytes_free(&req);

  /* A server-streaming call of a unary method: its one message, then OK. */
  req = embed_msg("hello", 0);
  x = raw_msgs_new();
  raw_stream_expect(g_client, AIW_PATH_GET_EMBEDDING, &req, NULL, x, AIW_OK, &err);
  ck_assert_uint_eq(x->n, 1);
  AiService__EmbeddingResponse *e = ai_service__embedding_response__unpack(NULL, x->m[0].len, x->m[0].data);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->n_semantic_vector, 1024);
  ai_service__embedding_response__free_unpacked(e, NULL);
  raw_msgs_free(x);
  bytes_free(&req);
}
END_TEST

START_TEST(test_raw_stream_callback_abort) {
  aiw_error err;
  /* Abort on the second of five slow messages: CALLBACK_ABORTED, not
   * called again, the server saw the cancellation. */
  char rid[64];
  unique_id(rid, sizeof rid, "raw-abort");
  aiw_call_options *o = test_opts(0, rid);
  bytes req = chat_msg("!slow:300");
  raw_msgs *x = raw_msgs_new();
  x->abort_on = 2;
  raw_stream_expect(g_client, AIW_PATH_CHAT_STREAM, &req, o, x, AIW_CALLBACK_ABORTED, &err);
  ck_assert_uint_eq(x->n, 2);
  expect_outcome(&g_srv, rid, "CANCELLED", 10000);
  raw_msgs_free(x);
  bytes_free(&req);
  aiw_call_options_free(o);

  /* Abort on the LAST message: CALLBACK_ABORTED, never OK -- also when the
   * token fired during that callback. */
  aiw_cancel_token *tok = aiw_cancel_token_new();
  ck_assert_ptr_nonnull(tok);
  o = test_opts(0, NULL);
  ck_assert_int_eq(aiw_call_options_set_cancel_token(o, tok), AIW_OK);
  const struct {
    const char *query;
    int n;
  } shapes[] = {{"hello", 5}, {"!many:0", 1}, {"!count:2", 2}};
  char problems[2048] = "";
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    req = chat_msg(shapes[s].query);
    for (int v = 0; v < 3; v++) {
      /* v 0: abort on the last; 1: the same with the token fired in that
       * callback (CALLBACK_ABORTED); 2: the token fired in the last
       * callback, which returns 0 (CANCELLED). */
      aiw_cancel_token_reset(tok);
      x = raw_msgs_new();
      x->abort_on = v < 2 ? shapes[s].n : 0;
      x->cancel_on = v > 0 ? shapes[s].n : 0;
      x->token = tok;
      aiw_code want = v < 2 ? AIW_CALLBACK_ABORTED : AIW_CANCELLED;
      aiw_code rc = aiw_raw_stream(g_client, AIW_PATH_CHAT_STREAM, req.data, req.len, v ? o : NULL, on_raw, x, &err);
      if (rc != want || err.code != rc || x->n != (size_t)shapes[s].n) {
        size_t l = strlen(problems);
        snprintf(problems + l, sizeof problems - l, "\n  %s (abort on %d, cancel on %d): %s after %zu messages, want %s",
                 shapes[s].query, x->abort_on, x->cancel_on, aiw_code_name(rc), x->n, aiw_code_name(want));
      }
      raw_msgs_free(x);
    }
    bytes_free(&req);
  }
  aiw_call_options_free(o);
  aiw_cancel_token_free(tok);

  /* Calls from inside the callback are refused. */
  aiw_queue *q = new_queue();
  req = chat_msg("hi");
  x = raw_msgs_new();
  x->recurse = g_client;
  x->recurse_q = q;
  raw_stream_expect(g_client, AIW_PATH_CHAT_STREAM, &req, NULL, x, AIW_OK, &err);
  ck_assert_uint_eq(x->n, 5);
  for (int i = 0; i < 3; i++) ck_assert_int_eq(x->recursive_rc[i], AIW_RECURSIVE_API_CALL);
  expect_nothing(q, 50);
  aiw_queue_free(q);
  raw_msgs_free(x);
  bytes_free(&req);
  ck_assert_msg(problems[0] == '\0', "aiw_raw_stream:%s", problems);
}
END_TEST

/* ------------------------------------------------------- sizes, paths */

START_TEST(test_raw_size_limits) {
  aiw_error err;
  size_t len;
  aiw_queue *q = new_queue();
  /* A client accepting 64 KiB: a 200,000-byte response is RESOURCE_EXHAUSTED. */
  aiw_client *small = test_client(g_srv.target, 64 * 1024);
  bytes big = search_msg("!big:200000", 0, 0, 0, NULL);
  raw_call_expect(small, AIW_PATH_VECTOR_SEARCH, &big, NULL, AIW_RESOURCE_EXHAUSTED, &len, &err);
  ck_assert_int_eq(err.grpc_status, 8);
  bytes ok = search_msg("!big:1000", 0, 0, 0, NULL);
  void *resp = raw_call_expect(small, AIW_PATH_VECTOR_SEARCH, &ok, NULL, AIW_OK, &len, &err);
  AiService__SearchResponse *s = ai_service__search_response__unpack(NULL, len, resp);
  ck_assert_ptr_nonnull(s);
  ck_assert_uint_eq(strlen(s->results[0]->caption), 1000);
  ai_service__search_response__free_unpacked(s, NULL);
  aiw_free(resp);
  bytes bigchat = chat_msg("!big:200000");
  raw_msgs *x = raw_msgs_new();
  raw_stream_expect(small, AIW_PATH_CHAT_STREAM, &bigchat, NULL, x, AIW_RESOURCE_EXHAUSTED, &err);
  ck_assert_uint_eq(x->n, 0);
  raw_msgs_free(x);
  /* On a queue likewise. */
  raw_start(small, 0, AIW_PATH_VECTOR_SEARCH, &big, NULL, q, &big);
  aiw_completion *c = wait_within(q, hang_bound_ms(20000));
  raw_result(c, &big, AIW_RESOURCE_EXHAUSTED, 0);
  aiw_completion_free(c);
  raw_start(small, 1, AIW_PATH_CHAT_STREAM, &bigchat, NULL, q, &bigchat);
  c = wait_within(q, hang_bound_ms(20000));
  raw_result(c, &bigchat, AIW_RESOURCE_EXHAUSTED, 0);
  aiw_completion_free(c);
  expect_nothing(q, 0);
  aiw_client_free(small);
  bytes_free(&big);
  bytes_free(&ok);
  bytes_free(&bigchat);

  /* A client sending at most 1 KiB: a 4 KiB request is RESOURCE_EXHAUSTED,
   * blocking or started (refused by the start, or its one completion). */
  aiw_client *tiny = send_limited_client(g_srv.target, 1024);
  char text[4096];
  memset(text, 'a', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  bytes large = embed_msg(text, 0);
  bytes largechat = chat_msg(text);
  raw_call_expect(tiny, AIW_PATH_GET_EMBEDDING, &large, NULL, AIW_RESOURCE_EXHAUSTED, &len, &err);
  x = raw_msgs_new();
  raw_stream_expect(tiny, AIW_PATH_CHAT_STREAM, &largechat, NULL, x, AIW_RESOURCE_EXHAUSTED, &err);
  ck_assert_uint_eq(x->n, 0);
  raw_msgs_free(x);
  for (int stream = 0; stream < 2; stream++) {
    const bytes *b = stream ? &largechat : &large;
    const char *path = stream ? AIW_PATH_CHAT_STREAM : AIW_PATH_GET_EMBEDDING;
    aiw_code rc = stream ? aiw_raw_stream_start(tiny, path, b->data, b->len, NULL, q, NULL, &err)
                         : aiw_raw_call_start(tiny, path, b->data, b->len, NULL, q, NULL, &err);
    ck_assert_msg(rc == AIW_RESOURCE_EXHAUSTED || rc == AIW_OK, "raw %s start over the send limit: %s",
                  stream ? "stream" : "call", aiw_code_name(rc));
    ck_assert_int_eq(err.code, rc);
    if (rc == AIW_OK) {
      c = wait_within(q, hang_bound_ms(20000));
      raw_result(c, NULL, AIW_RESOURCE_EXHAUSTED, 0);
      aiw_completion_free(c);
    }
    expect_nothing(q, 0);
  }
  /* A small request goes through on the same client. */
  bytes small_req = embed_msg("hello", 0);
  resp = raw_call_expect(tiny, AIW_PATH_GET_EMBEDDING, &small_req, NULL, AIW_OK, &len, &err);
  aiw_free(resp);
  bytes_free(&small_req);
  bytes_free(&large);
  bytes_free(&largechat);
  aiw_client_free(tiny);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_raw_method_paths) {
  aiw_error err;
  size_t len;
  aiw_queue *q = new_queue();
  bytes req = embed_msg("hello", 0);
  /* Not starting with '/': INVALID_ARGUMENT, before any RPC. */
  const char *bad[] = {"ai_service.AiWorker/GetEmbedding", "", "GetEmbedding", " /ai_service.AiWorker/GetEmbedding"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    raw_call_expect(g_client, bad[i], &req, NULL, AIW_INVALID_ARGUMENT, &len, &err);
    expect_local_error(&err, AIW_INVALID_ARGUMENT);
    raw_msgs *x = raw_msgs_new();
    raw_stream_expect(g_client, bad[i], &req, NULL, x, AIW_INVALID_ARGUMENT, &err);
    expect_local_error(&err, AIW_INVALID_ARGUMENT);
    ck_assert_uint_eq(x->n, 0);
    raw_msgs_free(x);
    CK_INVAL(aiw_raw_call_start(g_client, bad[i], req.data, req.len, NULL, q, NULL, &err));
    expect_local_error(&err, AIW_INVALID_ARGUMENT);
    CK_INVAL(aiw_raw_stream_start(g_client, bad[i], req.data, req.len, NULL, q, NULL, &err));
    expect_local_error(&err, AIW_INVALID_ARGUMENT);
  }
  expect_nothing(q, 0);
  /* Unknown methods (of this service or another): the server's UNIMPLEMENTED. */
  const char *unknown[] = {"/ai_service.AiWorker/Nope", "/grpc.health.v1.Health/Nope"};
  for (size_t i = 0; i < 2; i++) {
    raw_call_expect(g_client, unknown[i], &req, NULL, AIW_UNIMPLEMENTED, &len, &err);
    ck_assert_int_eq(err.grpc_status, 12);
    raw_msgs *x = raw_msgs_new();
    raw_stream_expect(g_client, unknown[i], &req, NULL, x, AIW_UNIMPLEMENTED, &err);
    ck_assert_int_eq(err.grpc_status, 12);
    ck_assert_uint_eq(x->n, 0);
    raw_msgs_free(x);
    raw_start(g_client, 0, unknown[i], &req, NULL, q, q);
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    raw_result(c, q, AIW_UNIMPLEMENTED, 0);
    ck_assert_int_eq(aiw_completion_error(c)->grpc_status, 12);
    aiw_completion_free(c);
    raw_start(g_client, 1, unknown[i], &req, NULL, q, q);
    c = wait_within(q, hang_bound_ms(20000));
    raw_result(c, q, AIW_UNIMPLEMENTED, 0);
    aiw_completion_free(c);
  }
  /* The method string is copied: a buffer scribbled over after the start. */
  char path[64];
  snprintf(path, sizeof path, "%s", AIW_PATH_GET_EMBEDDING);
  raw_start(g_client, 0, path, &req, NULL, q, path);
  memset(path, 'x', sizeof path - 1);
  aiw_completion *c = wait_within(q, hang_bound_ms(20000));
  bytes m = raw_result(c, path, AIW_OK, 1);
  AiService__EmbeddingResponse *e = ai_service__embedding_response__unpack(NULL, m.len, m.data);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->n_semantic_vector, 1024);
  ai_service__embedding_response__free_unpacked(e, NULL);
  aiw_completion_free(c);
  bytes_free(&req);
  aiw_queue_free(q);
}
END_TEST

/* --------------------------------------- metadata, deadlines, cancel */

START_TEST(test_raw_metadata_deadline_cancel) {
  aiw_error err;
  size_t len;
  /* Metadata: `!echo` reflects it (unary and stream). */
  char rid[64];
  unique_id(rid, sizeof rid, "raw-echo");
  aiw_call_options *o = test_opts(hang_bound_ms(20000), rid);
  add_echo_metadata(o);
  bytes req = search_msg("!echo", AI_SERVICE__SEARCH_TYPE__SEARCH_HYBRID, 7, 0.25f, "owner=alice");
  void *resp = raw_call_expect(g_client, AIW_PATH_VECTOR_SEARCH, &req, o, AIW_OK, &len, &err);
  bytes_free(&req);
  AiService__SearchResponse *s = ai_service__search_response__unpack(NULL, len, resp);
  aiw_free(resp);
  ck_assert_ptr_nonnull(s);
  ck_assert_uint_eq(s->n_results, 1);
  int seen = 0;
  for (size_t i = 0; i < s->results[0]->n_metadata; i++) {
    const AiService__SearchResult__MetadataEntry *m = s->results[0]->metadata[i];
    if (strcmp(m->key, "md:x-request-id") == 0) {
      ck_assert_str_eq(m->value, rid);
      seen |= 1;
    } else if (strcmp(m->key, "md:authorization") == 0) {
      ck_assert_str_eq(m->value, "Bearer t0k.en");
      seen |= 2;
    } else if (strcmp(m->key, "md:trace-bin") == 0) {
      ck_assert_str_eq(m->value, "AAH+/w==");
      seen |= 4;
    } else if (strcmp(m->key, "filters") == 0) {
      ck_assert_str_eq(m->value, "owner=alice");
      seen |= 8;
    } else if (strcmp(m->key, "type") == 0) {
      ck_assert_str_eq(m->value, "SEARCH_HYBRID");
      seen |= 16;
    }
  }
  ck_assert_int_eq(seen, 31);
  ai_service__search_response__free_unpacked(s, NULL);
  req = chat_msg("!echo");
  raw_msgs *x = raw_msgs_new();
  raw_stream_expect(g_client, AIW_PATH_CHAT_STREAM, &req, o, x, AIW_OK, &err);
  bytes_free(&req);
  ck_assert_uint_eq(x->n, 1);
  AiService__ChatResponse *cr = unpack_chat(&x->m[0]);
  ck_assert_uint_eq(cr->n_sources, 1);
  int found = 0;
  for (size_t i = 0; i < cr->sources[0]->n_metadata; i++)
    if (strcmp(cr->sources[0]->metadata[i]->key, "md:x-request-id") == 0 &&
        strcmp(cr->sources[0]->metadata[i]->value, rid) == 0)
      found = 1;
  ck_assert_msg(found, "the stream's x-request-id did not reach the server");
  ai_service__chat_response__free_unpacked(cr, NULL);
  raw_msgs_free(x);
  aiw_call_options_free(o);
  expect_outcome(&g_srv, rid, "OK", 5000);

  /* Deadlines: 100 ms against a 2 s sleep. */
  o = test_opts(100, NULL);
  int64_t t0 = now_ms();
  req = embed_msg("!slow:2000", 0);
  raw_call_expect(g_client, AIW_PATH_GET_EMBEDDING, &req, o, AIW_DEADLINE_EXCEEDED, &len, &err);
  ck_assert_int_eq(err.grpc_status, 4);
  bytes_free(&req);
  req = chat_msg("!slow:2000");
  x = raw_msgs_new();
  raw_stream_expect(g_client, AIW_PATH_CHAT_STREAM, &req, o, x, AIW_DEADLINE_EXCEEDED, &err);
  ck_assert_uint_eq(x->n, 0);
  raw_msgs_free(x);
  if (!test_slow()) expect_within(t0, 1800, "two raw calls past a 100 ms deadline");
  /* On a queue: deadline_expired says whose deadline it was. */
  aiw_queue *q = new_queue();
  raw_start(g_client, 1, AIW_PATH_CHAT_STREAM, &req, o, q, NULL);
  aiw_completion *c = wait_within(q, prompt_bound_ms());
  raw_result(c, NULL, AIW_DEADLINE_EXCEEDED, 0);
  ck_assert_int_eq(aiw_completion_deadline_expired(c), 1);
  aiw_completion_free(c);
  bytes_free(&req);
  req = embed_msg("!slow:2000", 0);
  raw_start(g_client, 0, AIW_PATH_GET_EMBEDDING, &req, o, q, NULL);
  c = wait_within(q, prompt_bound_ms());
  raw_result(c, NULL, AIW_DEADLINE_EXCEEDED, 0);
  ck_assert_int_eq(aiw_completion_deadline_expired(c), 1);
  aiw_completion_free(c);
  bytes_free(&req);
  aiw_call_options_free(o);
  o = test_opts(hang_bound_ms(30000), NULL);
  req = embed_msg("!error:DEADLINE_EXCEEDED:upstream slow", 0);
  raw_start(g_client, 0, AIW_PATH_GET_EMBEDDING, &req, o, q, NULL);
  c = wait_within(q, hang_bound_ms(20000));
  raw_result(c, NULL, AIW_DEADLINE_EXCEEDED, 0);
  expect_status_error(aiw_completion_error(c), AIW_DEADLINE_EXCEEDED, "upstream slow");
  ck_assert_int_eq(aiw_completion_deadline_expired(c), 0);
  aiw_completion_free(c);
  bytes_free(&req);
  aiw_call_options_free(o);

  /* A cancel token fired from another thread: CANCELLED, promptly. */
  aiw_cancel_token *tok = aiw_cancel_token_new();
  ck_assert_ptr_nonnull(tok);
  o = test_opts(0, NULL);
  ck_assert_int_eq(aiw_call_options_set_cancel_token(o, tok), AIW_OK);
  req = embed_msg(SLOW_DIRECTIVE, 0);
  interrupter it;
  interrupter_start(&it, tok, NULL, 0);
  t0 = now_ms();
  raw_call_expect(g_client, AIW_PATH_GET_EMBEDDING, &req, o, AIW_CANCELLED, &len, &err);
  interrupter_join(&it);
  expect_within(t0, prompt_bound_ms(), "a cancelled raw call");
  bytes_free(&req);
  aiw_cancel_token_reset(tok);
  req = chat_msg(SLOW_DIRECTIVE);
  interrupter_start(&it, tok, NULL, 0);
  x = raw_msgs_new();
  raw_stream_expect(g_client, AIW_PATH_CHAT_STREAM, &req, o, x, AIW_CANCELLED, &err);
  interrupter_join(&it);
  ck_assert_uint_eq(x->n, 0);
  raw_msgs_free(x);
  bytes_free(&req);
  aiw_call_options_free(o);
  aiw_cancel_token_free(tok);

  /* A closed client: CANCELLED. */
  aiw_client *c2 = test_client(g_srv.target, 0);
  req = embed_msg(SLOW_DIRECTIVE, 0);
  interrupter_start(&it, NULL, c2, 0);
  interrupter_join(&it);
  raw_call_expect(c2, AIW_PATH_GET_EMBEDDING, &req, NULL, AIW_CANCELLED, &len, &err);
  bytes_free(&req);
  aiw_client_free(c2);
  aiw_queue_free(q);
}
END_TEST

/* ------------------------------------------------------------ on a queue */

START_TEST(test_raw_async_unary) {
  /* Each unary method on a queue; the request buffer freed right after the
   * start; the response read with aiw_completion_message. */
  aiw_queue *q = new_queue();
  bytes reqs[3] = {embed_msg("hello", AI_SERVICE__EMBEDDING_TYPE__EMBEDDING_SEMANTIC),
                   search_msg("q", 0, 0, 0, NULL), asset_msg("asset-2", "b/o", "text/plain", 0)};
  const char *paths[3] = {AIW_PATH_GET_EMBEDDING, AIW_PATH_VECTOR_SEARCH, AIW_PATH_PROCESS_ASSET};
  int tags[3];
  for (int i = 0; i < 3; i++) {
    raw_start(g_client, 0, paths[i], &reqs[i], NULL, q, &tags[i]);
    memset(reqs[i].data, 0xee, reqs[i].len); /* copied: scribbling over it changes nothing */
    bytes_free(&reqs[i]);
  }
  int seen = 0;
  for (int n = 0; n < 3; n++) {
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    int *t = aiw_completion_tag(c);
    ck_assert(t >= tags && t < tags + 3);
    int i = (int)(t - tags);
    seen |= 1 << i;
    bytes m = raw_result(c, t, AIW_OK, 1);
    ck_assert_int_eq(aiw_completion_deadline_expired(c), 0);
    if (i == 0) {
      AiService__EmbeddingResponse *e = ai_service__embedding_response__unpack(NULL, m.len, m.data);
      ck_assert_ptr_nonnull(e);
      char buf[160];
      const char *why = vector_mismatch(e->semantic_vector, e->n_semantic_vector, "hello", 5, 0, buf, sizeof buf);
      ck_assert_msg(why == NULL, "%s", why);
      ai_service__embedding_response__free_unpacked(e, NULL);
    } else if (i == 1) {
      AiService__SearchResponse *s = ai_service__search_response__unpack(NULL, m.len, m.data);
      ck_assert_ptr_nonnull(s);
      ck_assert_int_eq(s->total_count, 12);
      ck_assert_str_eq(s->results[0]->asset_id, "doc-001");
      ai_service__search_response__free_unpacked(s, NULL);
    } else {
      AiService__ProcessStatus *p = ai_service__process_status__unpack(NULL, m.len, m.data);
      ck_assert_ptr_nonnull(p);
      ck_assert_int_eq(p->stage, AI_SERVICE__PROCESSING_STAGE__STAGE_COMPLETED);
      ai_service__process_status__free_unpacked(p, NULL);
    }
    aiw_completion_free(c);
  }
  ck_assert_int_eq(seen, 7);
  expect_nothing(q, 0);

  /* `!empty`: a non-NULL pointer, length 0; `!garbage`: the 3 bytes; a
   * status error: no message. */
  bytes req = asset_msg("!empty", "b", "c", 0);
  raw_start(g_client, 0, AIW_PATH_PROCESS_ASSET, &req, NULL, q, NULL);
  bytes_free(&req);
  aiw_completion *c = wait_within(q, hang_bound_ms(20000));
  bytes m = raw_result(c, NULL, AIW_OK, 1);
  ck_assert_uint_eq(m.len, 0);
  aiw_completion_free(c);
  req = search_msg("!garbage", 0, 0, 0, NULL);
  raw_start(g_client, 0, AIW_PATH_VECTOR_SEARCH, &req, NULL, q, NULL);
  bytes_free(&req);
  c = wait_within(q, hang_bound_ms(20000));
  m = raw_result(c, NULL, AIW_OK, 1);
  ck_assert_uint_eq(m.len, 3);
  ck_assert_mem_eq(m.data, "\x0f\xff\xff", 3);
  aiw_completion_free(c);
  req = search_msg("!error:PERMISSION_DENIED:not yours", 0, 0, 0, NULL);
  raw_start(g_client, 0, AIW_PATH_VECTOR_SEARCH, &req, NULL, q, NULL);
  bytes_free(&req);
  c = wait_within(q, hang_bound_ms(20000));
  raw_result(c, NULL, AIW_PERMISSION_DENIED, 0);
  expect_status_error(aiw_completion_error(c), AIW_PERMISSION_DENIED, "not yours");
  aiw_completion_free(c);

  /* A typed completion carries no raw message. */
  aiw_embedding_request *er = embed_req("hello", AIW_EMBEDDING_UNKNOWN);
  ck_assert_int_eq(aiw_get_embedding_start(g_client, er, NULL, q, NULL, NULL), AIW_OK);
  aiw_embedding_request_free(er);
  c = wait_within(q, hang_bound_ms(20000));
  ck_assert_int_eq(aiw_completion_code(c), AIW_OK);
  size_t len = 5;
  ck_assert_ptr_null(aiw_completion_message(c, &len));
  ck_assert_uint_eq(len, 0);
  aiw_completion_free(c);

  /* A shut-down queue refuses raw starts. */
  aiw_queue_shutdown(q);
  req = embed_msg("hello", 0);
  aiw_error err;
  expect_code("raw call start on a shut-down queue",
              aiw_raw_call_start(g_client, AIW_PATH_GET_EMBEDDING, req.data, req.len, NULL, q, NULL, &err), &err,
              AIW_CANCELLED);
  expect_code("raw stream start on a shut-down queue",
              aiw_raw_stream_start(g_client, AIW_PATH_CHAT_STREAM, req.data, req.len, NULL, q, NULL, &err), &err,
              AIW_CANCELLED);
  bytes_free(&req);
  c = (aiw_completion *)&c;
  ck_assert_int_eq(aiw_queue_wait(q, -1, &c), AIW_QUEUE_SHUTDOWN);
  ck_assert_ptr_null(c);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_raw_async_stream) {
  aiw_queue *q = new_queue();
  int n = test_slow() ? 50 : 500;
  char query[32];
  snprintf(query, sizeof query, "!many:%d", n);
  bytes req = chat_msg(query);
  int tag;
  raw_start(g_client, 1, AIW_PATH_CHAT_STREAM, &req, NULL, q, &tag);
  bytes_free(&req);
  for (int i = 0; i <= n; i++) {
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    bytes m = raw_message(c, &tag);
    AiService__ChatResponse *r = unpack_chat(&m);
    aiw_completion_free(c);
    if (i < n) {
      char want[32];
      snprintf(want, sizeof want, "chunk-%d ", i);
      ck_assert_str_eq(r->chunk, want);
      ck_assert_int_eq(r->is_final, 0);
    } else {
      ck_assert_int_eq(r->is_final, 1);
      ck_assert_uint_eq(r->n_sources, 3);
    }
    ai_service__chat_response__free_unpacked(r, NULL);
  }
  aiw_completion *c = wait_within(q, hang_bound_ms(20000));
  raw_result(c, &tag, AIW_OK, 0); /* a stream's RESULT carries no message */
  aiw_completion_free(c);
  expect_nothing(q, 0);

  /* No message; a zero-byte one (non-NULL pointer, length 0); garbage. */
  req = chat_msg("!count:0");
  raw_start(g_client, 1, AIW_PATH_CHAT_STREAM, &req, NULL, q, &tag);
  bytes_free(&req);
  c = wait_within(q, hang_bound_ms(20000));
  raw_result(c, &tag, AIW_OK, 0);
  aiw_completion_free(c);
  req = chat_msg("!empty");
  raw_start(g_client, 1, AIW_PATH_CHAT_STREAM, &req, NULL, q, &tag);
  bytes_free(&req);
  c = wait_within(q, hang_bound_ms(20000));
  bytes m = raw_message(c, &tag);
  ck_assert_uint_eq(m.len, 0);
  aiw_completion_free(c);
  c = wait_within(q, hang_bound_ms(20000));
  raw_result(c, &tag, AIW_OK, 0);
  aiw_completion_free(c);
  req = chat_msg("!garbage");
  raw_start(g_client, 1, AIW_PATH_CHAT_STREAM, &req, NULL, q, &tag);
  bytes_free(&req);
  c = wait_within(q, hang_bound_ms(20000));
  raw_message(c, &tag);
  aiw_completion_free(c);
  c = wait_within(q, hang_bound_ms(20000));
  m = raw_message(c, &tag);
  ck_assert_uint_eq(m.len, 3);
  ck_assert_mem_eq(m.data, "\x0f\xff\xff", 3);
  aiw_completion_free(c);
  c = wait_within(q, hang_bound_ms(20000));
  raw_result(c, &tag, AIW_OK, 0);
  aiw_completion_free(c);
  expect_nothing(q, 0);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_raw_async_stream_flow_and_cancel) {
  aiw_queue *q = new_queue();
  aiw_cancel_token *tok = aiw_cancel_token_new();
  ck_assert_ptr_nonnull(tok);
  aiw_call_options *o = test_opts(0, NULL);
  ck_assert_int_eq(aiw_call_options_set_cancel_token(o, tok), AIW_OK);
  /* Flow control: a held message stops the stream. */
  bytes req = chat_msg("!many:100000");
  raw_start(g_client, 1, AIW_PATH_CHAT_STREAM, &req, o, q, tok);
  bytes_free(&req);
  aiw_completion *c = wait_within(q, hang_bound_ms(20000));
  raw_message(c, tok);
  expect_nothing(q, 300);
  sleep_ms(200);
  expect_nothing(q, 0);
  aiw_completion_free(c);
  for (int i = 1; i < 20; i++) {
    c = wait_within(q, hang_bound_ms(20000));
    bytes m = raw_message(c, tok);
    AiService__ChatResponse *r = unpack_chat(&m);
    char want[32];
    snprintf(want, sizeof want, "chunk-%d ", i);
    ck_assert_str_eq(r->chunk, want);
    ai_service__chat_response__free_unpacked(r, NULL);
    if (i == 19) aiw_cancel_token_cancel(tok); /* mid-stream, message held */
    aiw_completion_free(c);
  }
  c = wait_within(q, prompt_bound_ms());
  raw_result(c, tok, AIW_CANCELLED, 0);
  aiw_completion_free(c);
  expect_nothing(q, 0);

  /* The last message held, the token fired, the message freed: CANCELLED,
   * never OK. Without the cancel: OK. */
  for (int round = 0; round < 4; round++) {
    int cancel = round % 2 == 0;
    aiw_cancel_token_reset(tok);
    req = chat_msg("!count:2");
    raw_start(g_client, 1, AIW_PATH_CHAT_STREAM, &req, o, q, tok);
    bytes_free(&req);
    c = wait_within(q, hang_bound_ms(20000));
    raw_message(c, tok);
    aiw_completion_free(c);
    c = wait_within(q, hang_bound_ms(20000));
    raw_message(c, tok);
    expect_nothing(q, round < 2 ? 0 : 150); /* held: no RESULT yet */
    if (cancel) aiw_cancel_token_cancel(tok);
    aiw_completion_free(c);
    c = wait_within(q, prompt_bound_ms());
    ck_assert_msg(aiw_completion_is_message(c) || aiw_completion_code(c) == (cancel ? AIW_CANCELLED : AIW_OK),
                  "raw stream, last message held, %s, freed: RESULT %s", cancel ? "cancelled" : "not cancelled",
                  aiw_code_name(aiw_completion_code(c)));
    raw_result(c, tok, cancel ? AIW_CANCELLED : AIW_OK, 0);
    aiw_completion_free(c);
  }
  /* A unary raw call cancelled in flight. */
  aiw_cancel_token_reset(tok);
  req = search_msg(SLOW_DIRECTIVE, 0, 0, 0, NULL);
  raw_start(g_client, 0, AIW_PATH_VECTOR_SEARCH, &req, o, q, tok);
  bytes_free(&req);
  aiw_cancel_token_cancel(tok);
  c = wait_within(q, prompt_bound_ms());
  raw_result(c, tok, AIW_CANCELLED, 0);
  aiw_completion_free(c);
  expect_nothing(q, 0);
  aiw_call_options_free(o);
  aiw_cancel_token_free(tok);

  /* aiw_client_close with raw streams in flight: one RESULT each, CANCELLED. */
  aiw_client *c2 = test_client(g_srv.target, 0);
  int tags[3], results[3] = {0};
  req = chat_msg("!many:100000");
  for (int i = 0; i < 3; i++) raw_start(c2, 1, AIW_PATH_CHAT_STREAM, &req, NULL, q, &tags[i]);
  bytes_free(&req);
  c = wait_within(q, hang_bound_ms(20000));
  aiw_client_close(c2);
  aiw_completion_free(c);
  int done = 0;
  while (done < 3) {
    c = wait_within(q, prompt_bound_ms());
    int *t = aiw_completion_tag(c);
    ck_assert(t >= tags && t < tags + 3);
    if (!aiw_completion_is_message(c)) {
      raw_result(c, t, AIW_CANCELLED, 0);
      ck_assert_int_eq(results[t - tags]++, 0);
      done++;
    }
    aiw_completion_free(c);
  }
  expect_nothing(q, 0);
  aiw_queue_free(q);
  aiw_client_free(c2);
}
END_TEST

/* ------------------------------------------------------ NULL arguments */

#define CK_INVAL_ERR(expr)                          \
  do {                                              \
    CK_INVAL(expr);                                 \
    expect_local_error(&err, AIW_INVALID_ARGUMENT); \
  } while (0)

static int on_raw_nop(const void *data, size_t len, void *ud) {
  (void)data;
  (void)len;
  (void)ud;
  return 0;
}

START_TEST(test_raw_null_args) {
  aiw_free(NULL);
  size_t len = 9;
  ck_assert_ptr_null(aiw_completion_message(NULL, &len));
  ck_assert_uint_eq(len, 0);
  ck_assert_ptr_null(aiw_completion_message(NULL, NULL));

  aiw_error err;
  bytes req = embed_msg("hello", 0);
  const char *P = AIW_PATH_GET_EMBEDDING;
  void *resp = (void *)&resp;
  len = 9;
  /* aiw_raw_call: NULL client, method, request with a length, out pointers. */
  CK_INVAL_ERR(aiw_raw_call(NULL, P, req.data, req.len, NULL, &resp, &len, &err));
  ck_assert_ptr_null(resp);
  ck_assert_uint_eq(len, 0);
  resp = (void *)&resp;
  len = 9;
  CK_INVAL_ERR(aiw_raw_call(g_client, NULL, req.data, req.len, NULL, &resp, &len, &err));
  ck_assert_ptr_null(resp);
  ck_assert_uint_eq(len, 0);
  CK_INVAL_ERR(aiw_raw_call(g_client, P, NULL, 5, NULL, &resp, &len, &err));
  CK_INVAL_ERR(aiw_raw_call(g_client, P, req.data, req.len, NULL, NULL, &len, &err));
  CK_INVAL_ERR(aiw_raw_call(g_client, P, req.data, req.len, NULL, &resp, NULL, &err));
  CK_INVAL(aiw_raw_call(NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL));
  /* aiw_raw_stream: the same, and a NULL callback. */
  CK_INVAL_ERR(aiw_raw_stream(NULL, AIW_PATH_CHAT_STREAM, req.data, req.len, NULL, on_raw_nop, NULL, &err));
  CK_INVAL_ERR(aiw_raw_stream(g_client, NULL, req.data, req.len, NULL, on_raw_nop, NULL, &err));
  CK_INVAL_ERR(aiw_raw_stream(g_client, AIW_PATH_CHAT_STREAM, NULL, 5, NULL, on_raw_nop, NULL, &err));
  CK_INVAL_ERR(aiw_raw_stream(g_client, AIW_PATH_CHAT_STREAM, req.data, req.len, NULL, NULL, NULL, &err));
  CK_INVAL(aiw_raw_stream(NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL));
  /* The starts: NULL client, method, queue, request with a length. */
  aiw_queue *q = new_queue();
  CK_INVAL_ERR(aiw_raw_call_start(NULL, P, req.data, req.len, NULL, q, NULL, &err));
  CK_INVAL_ERR(aiw_raw_call_start(g_client, NULL, req.data, req.len, NULL, q, NULL, &err));
  CK_INVAL_ERR(aiw_raw_call_start(g_client, P, req.data, req.len, NULL, NULL, NULL, &err));
  CK_INVAL_ERR(aiw_raw_call_start(g_client, P, NULL, 5, NULL, q, NULL, &err));
  CK_INVAL(aiw_raw_call_start(NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL));
  CK_INVAL_ERR(aiw_raw_stream_start(NULL, AIW_PATH_CHAT_STREAM, req.data, req.len, NULL, q, NULL, &err));
  CK_INVAL_ERR(aiw_raw_stream_start(g_client, NULL, req.data, req.len, NULL, q, NULL, &err));
  CK_INVAL_ERR(aiw_raw_stream_start(g_client, AIW_PATH_CHAT_STREAM, req.data, req.len, NULL, NULL, NULL, &err));
  CK_INVAL_ERR(aiw_raw_stream_start(g_client, AIW_PATH_CHAT_STREAM, NULL, 5, NULL, q, NULL, &err));
  CK_INVAL(aiw_raw_stream_start(NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL));
  expect_nothing(q, 0);
  /* err NULL, and (NULL, 0) requests, on valid calls. */
  len = 9;
  ck_assert_int_eq(aiw_raw_call(g_client, P, req.data, req.len, NULL, &resp, &len, NULL), AIW_OK);
  ck_assert_ptr_nonnull(resp);
  ck_assert_uint_gt(len, 0);
  aiw_free(resp);
  ck_assert_int_eq(aiw_raw_stream(g_client, AIW_PATH_CHAT_STREAM, NULL, 0, NULL, on_raw_nop, NULL, NULL), AIW_OK);
  ck_assert_int_eq(aiw_raw_call_start(g_client, AIW_PATH_VECTOR_SEARCH, NULL, 0, NULL, q, q, NULL), AIW_OK);
  aiw_completion *c = wait_within(q, hang_bound_ms(20000));
  raw_result(c, q, AIW_OK, 1);
  aiw_completion_free(c);
  ck_assert_int_eq(aiw_raw_stream_start(g_client, AIW_PATH_CHAT_STREAM, NULL, 0, NULL, q, q, NULL), AIW_OK);
  for (int i = 0; i < 5; i++) { /* the empty query's normal answer */
    c = wait_within(q, hang_bound_ms(20000));
    raw_message(c, q);
    aiw_completion_free(c);
  }
  c = wait_within(q, hang_bound_ms(20000));
  raw_result(c, q, AIW_OK, 0);
  aiw_completion_free(c);
  expect_nothing(q, 0);
  aiw_queue_free(q);
  bytes_free(&req);
}
END_TEST

Suite *suite_raw(void) {
  Suite *s = suite_create("raw");
  TCase *tb = server_tcase(s, "blocking", 60, client_setup);
  tcase_add_test(tb, test_raw_get_embedding);
  tcase_add_test(tb, test_raw_vector_search);
  tcase_add_test(tb, test_raw_process_asset);
  tcase_add_test(tb, test_raw_garbage_returned_verbatim);
  tcase_add_test(tb, test_raw_stream_chat);
  tcase_add_test(tb, test_raw_stream_callback_abort);
  tcase_add_test(tb, test_raw_size_limits);
  tcase_add_test(tb, test_raw_method_paths);
  tcase_add_test(tb, test_raw_metadata_deadline_cancel);
  tcase_add_test(tb, test_raw_null_args);
  TCase *tq = server_tcase(s, "queue", 60, client_setup);
  tcase_add_test(tq, test_raw_async_unary);
  tcase_add_test(tq, test_raw_async_stream);
  tcase_add_test(tq, test_raw_async_stream_flow_and_cancel);
  return s;
}
