/* check_interop.c -- suite "interop": gRPC's interop test cases
 * (doc/interop-test-descriptions.md in grpc/grpc) adapted to AiWorker and run
 * against the reference service:
 *
 *   empty_unary                  GetEmbedding of empty text; raw calls of a
 *                                zero-byte request and of `!empty` (a
 *                                zero-byte response)
 *   large_unary                  a 271,828-byte request answered by a
 *                                314,159-byte caption (`!big:N`), typed and raw;
 *                                a 271,828-byte text embedded (checks the
 *                                server saw every byte)
 *   server_streaming             `!sizes:31415,9,2653,58979`, blocking and async
 *   custom_metadata              x-grpc-test-echo-initial (text) back as a
 *                                header, x-grpc-test-echo-trailing-bin
 *                                (binary) back as a trailer, read with
 *                                aiw_completion_metadata_*: unary, stream,
 *                                status error
 *   status_code_and_message      `!error:UNKNOWN:test status message`
 *   special_status_message       tabs, CR/LF, BMP and non-BMP characters kept
 *                                byte for byte in aiw_error.message
 *   unimplemented_method         aiw_raw_call on /ai_service.AiWorker/NoSuchMethod
 *   unimplemented_service        /grpc.testing.UnimplementedService/UnimplementedCall
 *   cancel_after_begin           a stream cancelled before any message
 *   cancel_after_first_response  a stream cancelled after its first message
 *   timeout_on_sleeping_server   `!slow:` with a short deadline; the async
 *                                form has aiw_completion_deadline_expired 1
 *   concurrent_large_unary       many threads on one client at once
 *   rpc_soak                     N sequential large_unary calls on one client,
 *                                each within a per-call deadline
 *   channel_soak                 N calls, each on a new client
 *
 * Soak counts are smaller under valgrind (AIW_TEST_SLOW). Worker threads never
 * ck_assert: they record the first problem, checked after join. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ai_service.pb-c.h"
#include "harness.h"

#define LARGE_REQ 271828
#define LARGE_RESP 314159
#define SLOW_DIRECTIVE "!slow:120000"
#define ECHO_INITIAL "x-grpc-test-echo-initial"
#define ECHO_TRAILING "x-grpc-test-echo-trailing-bin"

static const char SPECIAL[] = "\t\ntest with whitespace\r\nand Unicode BMP \xe2\x98\xba and non-BMP \xf0\x9f\x98\x88\t\n";

static int64_t prompt_bound_ms(void) { return hang_bound_ms(5000); }

/* ------------------------------------------------------------------ helpers */

/* s with bytes outside 0x21..0x7e as \xNN, for failure messages. */
static const char *escaped(const char *s, size_t len, char *buf, size_t size) {
  size_t o = 0;
  for (size_t i = 0; i < len && o + 5 < size; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch > 0x20 && ch < 0x7f && ch != '\\')
      buf[o++] = (char)ch;
    else
      o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
  }
  buf[o] = '\0';
  return buf;
}

/* NULL when s[0..len) is n bytes of 'x'; else what is wrong. */
static const char *xs_mismatch(const char *s, size_t len, size_t n, char *buf, size_t size) {
  if (len != n) {
    snprintf(buf, size, "length %zu, want %zu", len, n);
    return buf;
  }
  for (size_t i = 0; i < len; i++)
    if (s[i] != 'x') {
      snprintf(buf, size, "byte %zu is 0x%02x, want 'x'", i, (unsigned char)s[i]);
      return buf;
    }
  return NULL;
}

static aiw_completion *wait_within(aiw_queue *q, int64_t bound_ms) {
  aiw_completion *c = NULL;
  aiw_queue_result r = aiw_queue_wait(q, bound_ms, &c);
  ck_assert_msg(r == AIW_QUEUE_COMPLETION, "aiw_queue_wait: result %d after %lld ms", (int)r, (long long)bound_ms);
  ck_assert_ptr_nonnull(c);
  return c;
}

static void expect_queue_empty(aiw_queue *q) {
  aiw_completion *c = NULL;
  aiw_queue_result r = aiw_queue_wait(q, 0, &c);
  if (c != NULL) aiw_completion_free(c);
  ck_assert_msg(r == AIW_QUEUE_TIMEOUT, "queue not empty: result %d", (int)r);
}

static aiw_queue *new_queue(void) {
  aiw_queue *q = aiw_queue_new();
  ck_assert_ptr_nonnull(q);
  return q;
}

static void chat_start(aiw_client *cl, const char *query, const aiw_call_options *o, aiw_queue *q, void *tag) {
  aiw_chat_request *r = chat_req(query);
  aiw_error err;
  aiw_code rc = aiw_chat_stream_start(cl, r, o, q, tag, &err);
  aiw_chat_request_free(r);
  ck_assert_msg(rc == AIW_OK, "aiw_chat_stream_start(%s): %s: %s", query, aiw_code_name(rc), err.message);
}

static void embed_start(aiw_client *cl, const char *text, const aiw_call_options *o, aiw_queue *q, void *tag) {
  aiw_embedding_request *r = embed_req(text, AIW_EMBEDDING_UNKNOWN);
  aiw_error err;
  aiw_code rc = aiw_get_embedding_start(cl, r, o, q, tag, &err);
  aiw_embedding_request_free(r);
  ck_assert_msg(rc == AIW_OK, "aiw_get_embedding_start(%.40s): %s: %s", text, aiw_code_name(rc), err.message);
}

/* A cancel token and options carrying it (and timeout / request id). */
static aiw_call_options *token_opts(aiw_cancel_token **tok, int64_t timeout_ms, const char *rid) {
  *tok = aiw_cancel_token_new();
  ck_assert_ptr_nonnull(*tok);
  aiw_call_options *o = test_opts(timeout_ms, rid);
  ck_assert_int_eq(aiw_call_options_set_cancel_token(o, *tok), AIW_OK);
  return o;
}

/* Serialized protobuf-c message (caller frees). */
static void *pack_msg(const ProtobufCMessage *m, size_t *len) {
  *len = protobuf_c_message_get_packed_size(m);
  void *b = malloc(*len + 1);
  ck_assert_ptr_nonnull(b);
  ck_assert_uint_eq(protobuf_c_message_pack(m, b), *len);
  return b;
}

static void *raw_embed_msg(const char *text, size_t *len) {
  AiService__EmbeddingRequest r = AI_SERVICE__EMBEDDING_REQUEST__INIT;
  r.content_case = AI_SERVICE__EMBEDDING_REQUEST__CONTENT_TEXT;
  r.text = (char *)text;
  return pack_msg(&r.base, len);
}

/* ------------------------------------------------------------ empty_unary */

START_TEST(test_empty_unary) {
  aiw_client *c = test_client(g_srv.target, 0);
  aiw_error err;
  /* Typed: a request with default fields (text "") is answered normally. */
  aiw_embedding_request *r = embed_req("", AIW_EMBEDDING_UNKNOWN);
  aiw_embedding_response *e = NULL;
  aiw_code rc = aiw_get_embedding(c, r, NULL, &e, &err);
  expect_code("GetEmbedding(\"\")", rc, &err, AIW_OK);
  expect_embedding(e, "", 0, 0, AIW_EMBEDDING_UNKNOWN);
  aiw_embedding_response_free(e);
  aiw_embedding_request_free(r);

  /* Raw: a zero-byte request (every field default) to ProcessAsset gets the
   * normal answer. */
  void *resp = (void *)&resp;
  size_t len = 77;
  rc = aiw_raw_call(c, AIW_PATH_PROCESS_ASSET, NULL, 0, NULL, &resp, &len, &err);
  expect_code("raw ProcessAsset(zero bytes)", rc, &err, AIW_OK);
  ck_assert_ptr_nonnull(resp);
  AiService__ProcessStatus *st = ai_service__process_status__unpack(NULL, len, resp);
  ck_assert_ptr_nonnull(st);
  ck_assert_int_eq(st->success, 1);
  ck_assert_int_eq(st->stage, AI_SERVICE__PROCESSING_STAGE__STAGE_COMPLETED);
  ck_assert_float_eq(st->progress, 1.0f);
  ai_service__process_status__free_unpacked(st, NULL);
  aiw_free(resp);

  /* Raw: a zero-byte request to VectorSearch (query "") is the default search. */
  resp = (void *)&resp;
  rc = aiw_raw_call(c, AIW_PATH_VECTOR_SEARCH, "", 0, NULL, &resp, &len, &err);
  expect_code("raw VectorSearch(zero bytes)", rc, &err, AIW_OK);
  AiService__SearchResponse *sr = ai_service__search_response__unpack(NULL, len, resp);
  ck_assert_ptr_nonnull(sr);
  ck_assert_int_eq(sr->total_count, 12);
  ck_assert_uint_eq(sr->n_results, 10);
  ai_service__search_response__free_unpacked(sr, NULL);
  aiw_free(resp);

  /* Raw: an empty response (`!empty`: zero bytes on the wire) is a non-NULL
   * buffer of length 0, for each unary method. */
  static const char *const paths[] = {AIW_PATH_GET_EMBEDDING, AIW_PATH_VECTOR_SEARCH, AIW_PATH_PROCESS_ASSET};
  for (size_t i = 0; i < 3; i++) {
    size_t mlen;
    void *msg;
    if (i == 0) {
      msg = raw_embed_msg("!empty", &mlen);
    } else if (i == 1) {
      AiService__SearchRequest q = AI_SERVICE__SEARCH_REQUEST__INIT;
      q.query = "!empty";
      msg = pack_msg(&q.base, &mlen);
    } else {
      AiService__AssetRequest a = AI_SERVICE__ASSET_REQUEST__INIT;
      a.asset_id = "!empty";
      msg = pack_msg(&a.base, &mlen);
    }
    resp = NULL;
    len = 77;
    rc = aiw_raw_call(c, paths[i], msg, mlen, NULL, &resp, &len, &err);
    free(msg);
    expect_code(paths[i], rc, &err, AIW_OK);
    ck_assert_msg(resp != NULL, "%s: NULL response for an empty message", paths[i]);
    ck_assert_uint_eq(len, 0);
    aiw_free(resp);
  }
  aiw_client_free(c);
}
END_TEST

/* ------------------------------------------------------------ large_unary */

/* The large_unary request: VectorSearch `!big:314159` carrying a filter of
 * 271,828 bytes (the service ignores filters for `!big`). Shared read-only. */
static aiw_search_request *large_search_req(void) {
  aiw_search_request *r = search_req("!big:" "314159");
  char *filter = malloc(LARGE_REQ + 1);
  ck_assert_ptr_nonnull(filter);
  memset(filter, 'y', LARGE_REQ);
  filter[LARGE_REQ] = '\0';
  ck_assert_int_eq(aiw_search_request_add_filter(r, filter), AIW_OK);
  free(filter);
  return r;
}

/* NULL when resp is the `!big:314159` answer. */
static const char *large_mismatch(aiw_code rc, const aiw_error *err, const aiw_search_response *resp, char *buf,
                                  size_t size) {
  if (rc != AIW_OK) {
    snprintf(buf, size, "rc %s: %.150s", aiw_code_name(rc), err->message);
    return buf;
  }
  if (aiw_search_response_total_count(resp) != 1 || aiw_search_response_result_count(resp) != 1 ||
      !aiw_search_response_success(resp)) {
    snprintf(buf, size, "total %d, %zu results, success %d", aiw_search_response_total_count(resp),
             aiw_search_response_result_count(resp), aiw_search_response_success(resp));
    return buf;
  }
  const aiw_search_result *x = aiw_search_response_result(resp, 0);
  if (strcmp(aiw_search_result_asset_id(x), "big") != 0) {
    snprintf(buf, size, "asset_id %.40s", aiw_search_result_asset_id(x));
    return buf;
  }
  size_t len = 0;
  const char *cap = aiw_search_result_caption_with_len(x, &len);
  return xs_mismatch(cap, len, LARGE_RESP, buf, size);
}

/* One large_unary call on c: NULL when right. */
static const char *large_unary_once(aiw_client *c, const aiw_search_request *r, const aiw_call_options *o,
                                    char *buf, size_t size) {
  aiw_search_response *resp = NULL;
  aiw_error err;
  aiw_code rc = aiw_vector_search(c, r, o, &resp, &err);
  const char *why = large_mismatch(rc, &err, resp, buf, size);
  aiw_search_response_free(resp);
  return why;
}

START_TEST(test_large_unary) {
  aiw_client *c = test_client(g_srv.target, 0);
  char buf[256];
  aiw_search_request *r = large_search_req();
  const char *why = large_unary_once(c, r, NULL, buf, sizeof buf);
  ck_assert_msg(why == NULL, "large_unary: %s", why);
  aiw_search_request_free(r);

  /* The same exchange through the raw interface. */
  AiService__SearchRequest q = AI_SERVICE__SEARCH_REQUEST__INIT;
  q.query = "!big:314159";
  char *filter = malloc(LARGE_REQ + 1);
  ck_assert_ptr_nonnull(filter);
  memset(filter, 'y', LARGE_REQ);
  filter[LARGE_REQ] = '\0';
  q.n_filters = 1;
  q.filters = &filter;
  size_t mlen;
  void *msg = pack_msg(&q.base, &mlen);
  free(filter);
  ck_assert_uint_gt(mlen, LARGE_REQ);
  void *resp = NULL;
  size_t len = 0;
  aiw_error err;
  aiw_code rc = aiw_raw_call(c, AIW_PATH_VECTOR_SEARCH, msg, mlen, NULL, &resp, &len, &err);
  free(msg);
  expect_code("raw large_unary", rc, &err, AIW_OK);
  ck_assert_uint_gt(len, LARGE_RESP);
  AiService__SearchResponse *sr = ai_service__search_response__unpack(NULL, len, resp);
  ck_assert_ptr_nonnull(sr);
  ck_assert_uint_eq(sr->n_results, 1);
  why = xs_mismatch(sr->results[0]->caption, strlen(sr->results[0]->caption), LARGE_RESP, buf, sizeof buf);
  ck_assert_msg(why == NULL, "raw large_unary caption: %s", why);
  ai_service__search_response__free_unpacked(sr, NULL);
  aiw_free(resp);

  /* A large request whose every byte the server must have seen: the
   * embedding of 271,828 bytes of text is that of exactly those bytes. */
  char *text = malloc(LARGE_REQ + 1);
  ck_assert_ptr_nonnull(text);
  for (size_t i = 0; i < LARGE_REQ; i++) text[i] = (char)('a' + (i * 7) % 26);
  text[LARGE_REQ] = '\0';
  aiw_embedding_request *er = embed_req(text, AIW_EMBEDDING_BOTH);
  aiw_embedding_response *e = NULL;
  rc = aiw_get_embedding(c, er, NULL, &e, &err);
  expect_code("GetEmbedding(271828 bytes)", rc, &err, AIW_OK);
  expect_embedding(e, text, LARGE_REQ, 0, AIW_EMBEDDING_BOTH);
  aiw_embedding_response_free(e);
  aiw_embedding_request_free(er);
  free(text);
  aiw_client_free(c);
}
END_TEST

/* ------------------------------------------------------- server_streaming */

static const size_t SIZES[4] = {31415, 9, 2653, 58979};
#define SIZES_DIRECTIVE "!sizes:31415,9,2653,58979"

typedef struct sizes_state {
  int n;
  char why[200];
} sizes_state;

static int on_sized_chunk(const aiw_chat_response *ch, void *ud) {
  sizes_state *s = ud;
  size_t len = 0;
  const char *chunk = aiw_chat_response_chunk_with_len(ch, &len);
  char buf[160];
  const char *why = NULL;
  if (s->n >= 4)
    why = "one message too many";
  else
    why = xs_mismatch(chunk, len, SIZES[s->n], buf, sizeof buf);
  if (why == NULL && (aiw_chat_response_is_final(ch) || aiw_chat_response_source_count(ch) != 0))
    why = "is_final or sources set";
  if (why != NULL && s->why[0] == '\0') snprintf(s->why, sizeof s->why, "message %d: %s", s->n, why);
  s->n++;
  return 0;
}

START_TEST(test_server_streaming) {
  aiw_client *c = test_client(g_srv.target, 0);
  /* Blocking. */
  aiw_chat_request *r = chat_req(SIZES_DIRECTIVE);
  sizes_state s = {0};
  aiw_error err;
  aiw_code rc = aiw_chat_stream(c, r, NULL, on_sized_chunk, &s, &err);
  expect_code("ChatStream(!sizes)", rc, &err, AIW_OK);
  ck_assert_msg(s.why[0] == '\0', "%s", s.why);
  ck_assert_int_eq(s.n, 4);
  aiw_chat_request_free(r);

  /* Asynchronous: four MESSAGEs of those sizes, then RESULT OK. */
  aiw_queue *q = new_queue();
  int tag;
  chat_start(c, SIZES_DIRECTIVE, NULL, q, &tag);
  memset(&s, 0, sizeof s);
  for (;;) {
    aiw_completion *comp = wait_within(q, hang_bound_ms(20000));
    ck_assert_ptr_eq(aiw_completion_tag(comp), &tag);
    if (!aiw_completion_is_message(comp)) {
      expect_code("async ChatStream(!sizes) RESULT", aiw_completion_code(comp), aiw_completion_error(comp), AIW_OK);
      aiw_completion_free(comp);
      break;
    }
    aiw_chat_response *ch = aiw_completion_take_chat_response(comp);
    ck_assert_ptr_nonnull(ch);
    aiw_completion_free(comp);
    on_sized_chunk(ch, &s);
    aiw_chat_response_free(ch);
  }
  ck_assert_msg(s.why[0] == '\0', "%s", s.why);
  ck_assert_int_eq(s.n, 4);
  expect_queue_empty(q);
  aiw_queue_free(q);

  /* A bad size is a bad directive. */
  r = chat_req("!sizes:1,x");
  memset(&s, 0, sizeof s);
  rc = aiw_chat_stream(c, r, NULL, on_sized_chunk, &s, &err);
  expect_code("ChatStream(!sizes:1,x)", rc, &err, AIW_INVALID_ARGUMENT);
  ck_assert_msg(strncmp(err.message, "bad directive:", 14) == 0, "message %s", err.message);
  ck_assert_int_eq(s.n, 0);
  aiw_chat_request_free(r);
  aiw_client_free(c);
}
END_TEST

/* -------------------------------------------------------- custom_metadata */

static const unsigned char TRAILING_VALUE[] = {0xab, 0xab, 0xab, 0x00, 0xff, 0x0a};
#define INITIAL_VALUE "test_initial_metadata_value"

/* How many entries `key` has in c's headers (trailing 0) or trailers (1);
 * the first one's value in *val / *len. */
static int md_find(const aiw_completion *c, int trailing, const char *key, const void **val, size_t *len) {
  int found = 0;
  size_t n = aiw_completion_metadata_count(c, trailing);
  for (size_t i = 0; i < n; i++) {
    const char *k = aiw_completion_metadata_key(c, trailing, i);
    ck_assert_msg(k != NULL, "metadata key %zu of %zu is NULL", i, n);
    size_t l = 0;
    const void *v = aiw_completion_metadata_value(c, trailing, i, &l);
    ck_assert_msg(v != NULL, "metadata value %zu (%s) is NULL", i, k);
    ck_assert_msg(((const char *)v)[l] == '\0', "metadata value %s not NUL-terminated", k);
    if (strcmp(k, key) != 0) continue;
    if (found++ == 0) {
      if (val != NULL) *val = v;
      if (len != NULL) *len = l;
    }
  }
  ck_assert_ptr_null(aiw_completion_metadata_key(c, trailing, n));
  ck_assert_ptr_null(aiw_completion_metadata_value(c, trailing, n, NULL));
  return found;
}

/* ck_asserts that c has the echoed header (when `header`) and, when
 * `trailer`, the echoed trailer -- each where it belongs only. */
static void expect_echoed(const aiw_completion *c, int header, int trailer, const char *what) {
  const void *v = NULL;
  size_t len = 0;
  char b1[128], b2[128];
  int nh = md_find(c, 0, ECHO_INITIAL, &v, &len);
  ck_assert_msg(nh == (header ? 1 : 0), "%s: %d headers %s, want %d", what, nh, ECHO_INITIAL, header);
  if (header)
    ck_assert_msg(len == strlen(INITIAL_VALUE) && memcmp(v, INITIAL_VALUE, len) == 0, "%s: header %s = \"%s\"",
                  what, ECHO_INITIAL, escaped(v, len, b1, sizeof b1));
  ck_assert_msg(md_find(c, 0, ECHO_TRAILING, NULL, NULL) == 0, "%s: %s came as a header", what, ECHO_TRAILING);
  ck_assert_msg(md_find(c, 1, ECHO_INITIAL, NULL, NULL) == 0, "%s: %s came as a trailer", what, ECHO_INITIAL);
  int nt = md_find(c, 1, ECHO_TRAILING, &v, &len);
  ck_assert_msg(nt == (trailer ? 1 : 0), "%s: %d trailers %s, want %d", what, nt, ECHO_TRAILING, trailer);
  if (trailer)
    ck_assert_msg(len == sizeof TRAILING_VALUE && memcmp(v, TRAILING_VALUE, len) == 0,
                  "%s: trailer %s = \"%s\" (%zu bytes), want \"%s\"", what, ECHO_TRAILING, escaped(v, len, b1, sizeof b1),
                  len, escaped((const char *)TRAILING_VALUE, sizeof TRAILING_VALUE, b2, sizeof b2));
}

static aiw_call_options *echo_opts(void) {
  aiw_call_options *o = test_opts(hang_bound_ms(20000), NULL);
  aiw_error err;
  ck_assert_int_eq(aiw_call_options_add_metadata(o, ECHO_INITIAL, INITIAL_VALUE, &err), AIW_OK);
  ck_assert_int_eq(aiw_call_options_add_metadata_bin(o, ECHO_TRAILING, TRAILING_VALUE, sizeof TRAILING_VALUE, &err),
                   AIW_OK);
  return o;
}

START_TEST(test_custom_metadata_unary) {
  aiw_client *c = test_client(g_srv.target, 0);
  aiw_queue *q = new_queue();
  aiw_call_options *o = echo_opts();
  int tag;
  embed_start(c, "hello", o, q, &tag);
  aiw_completion *comp = wait_within(q, hang_bound_ms(20000));
  ck_assert_ptr_eq(aiw_completion_tag(comp), &tag);
  expect_code("GetEmbedding", aiw_completion_code(comp), aiw_completion_error(comp), AIW_OK);
  expect_echoed(comp, 1, 1, "unary RESULT");
  aiw_embedding_response *e = aiw_completion_take_embedding_response(comp);
  expect_embedding(e, "hello", 5, 0, AIW_EMBEDDING_UNKNOWN);
  aiw_embedding_response_free(e);
  aiw_completion_free(comp);

  /* Without the request headers nothing is echoed. */
  embed_start(c, "hello", NULL, q, &tag);
  comp = wait_within(q, hang_bound_ms(20000));
  ck_assert_int_eq(aiw_completion_code(comp), AIW_OK);
  expect_echoed(comp, 0, 0, "unary RESULT without echo headers");
  aiw_completion_free(comp);

  /* Raw unary likewise. */
  size_t mlen;
  void *msg = raw_embed_msg("hello", &mlen);
  aiw_error err;
  ck_assert_int_eq(aiw_raw_call_start(c, AIW_PATH_GET_EMBEDDING, msg, mlen, o, q, &tag, &err), AIW_OK);
  free(msg);
  comp = wait_within(q, hang_bound_ms(20000));
  expect_code("raw GetEmbedding", aiw_completion_code(comp), aiw_completion_error(comp), AIW_OK);
  expect_echoed(comp, 1, 1, "raw unary RESULT");
  aiw_completion_free(comp);

  aiw_call_options_free(o);
  expect_queue_empty(q);
  aiw_queue_free(q);
  aiw_client_free(c);
}
END_TEST

START_TEST(test_custom_metadata_stream) {
  aiw_client *c = test_client(g_srv.target, 0);
  aiw_queue *q = new_queue();
  aiw_call_options *o = echo_opts();
  int tag;
  chat_start(c, "hello", o, q, &tag);
  for (int i = 0;; i++) {
    aiw_completion *comp = wait_within(q, hang_bound_ms(20000));
    ck_assert_ptr_eq(aiw_completion_tag(comp), &tag);
    if (aiw_completion_is_message(comp)) {
      ck_assert_int_lt(i, 5);
      /* Headers from the first MESSAGE on; trailers only in the RESULT. */
      expect_echoed(comp, 1, 0, "stream MESSAGE");
      ck_assert_uint_eq(aiw_completion_metadata_count(comp, 1), 0);
      aiw_completion_free(comp);
      continue;
    }
    ck_assert_int_eq(i, 5);
    expect_code("ChatStream RESULT", aiw_completion_code(comp), aiw_completion_error(comp), AIW_OK);
    expect_echoed(comp, 1, 1, "stream RESULT");
    aiw_completion_free(comp);
    break;
  }
  /* A stream that fails (after two messages) still has both. */
  chat_start(c, "!error-after:2:ABORTED:stop", o, q, &tag);
  for (int i = 0;; i++) {
    aiw_completion *comp = wait_within(q, hang_bound_ms(20000));
    if (aiw_completion_is_message(comp)) {
      expect_echoed(comp, 1, 0, "failing stream MESSAGE");
      aiw_completion_free(comp);
      continue;
    }
    ck_assert_int_eq(i, 2);
    expect_status_error(aiw_completion_error(comp), AIW_ABORTED, "stop");
    expect_echoed(comp, 1, 1, "failing stream RESULT");
    aiw_completion_free(comp);
    break;
  }
  /* A unary status error too: the trailer comes with the status. */
  embed_start(c, "!error:NOT_FOUND:gone", o, q, &tag);
  aiw_completion *comp = wait_within(q, hang_bound_ms(20000));
  expect_status_error(aiw_completion_error(comp), AIW_NOT_FOUND, "gone");
  expect_echoed(comp, 1, 1, "unary status error RESULT");
  aiw_completion_free(comp);

  aiw_call_options_free(o);
  expect_queue_empty(q);
  aiw_queue_free(q);
  aiw_client_free(c);
}
END_TEST

/* ------------------------------------------------ status code and message */

static int count_chunks(const aiw_chat_response *ch, void *ud) {
  (void)ch;
  ++*(int *)ud;
  return 0;
}

/* ck_asserts err is status UNKNOWN (2) with exactly `message`. */
static void expect_status_bytes(const char *what, aiw_code rc, const aiw_error *err, const char *message) {
  char b1[512], b2[512];
  ck_assert_msg(rc == AIW_UNKNOWN && err->code == AIW_UNKNOWN, "%s: rc %s, err->code %s (%s)", what,
                aiw_code_name(rc), aiw_code_name(err->code), escaped(err->message, strlen(err->message), b1, sizeof b1));
  ck_assert_int_eq(err->grpc_status, 2);
  ck_assert_msg(strcmp(err->message, message) == 0, "%s: message \"%s\" (%zu bytes), want \"%s\" (%zu bytes)", what,
                escaped(err->message, strlen(err->message), b1, sizeof b1), strlen(err->message),
                escaped(message, strlen(message), b2, sizeof b2), strlen(message));
}

/* The status `!error:UNKNOWN:<message>` through each kind of call. */
static void status_everywhere(const char *message) {
  char directive[256];
  snprintf(directive, sizeof directive, "!error:UNKNOWN:%s", message);
  aiw_client *c = test_client(g_srv.target, 0);
  aiw_error err;
  /* Blocking unary. */
  aiw_embedding_request *r = embed_req(directive, AIW_EMBEDDING_UNKNOWN);
  aiw_embedding_response *e = (aiw_embedding_response *)&e;
  aiw_code rc = aiw_get_embedding(c, r, NULL, &e, &err);
  expect_status_bytes("GetEmbedding", rc, &err, message);
  ck_assert_ptr_null(e);
  aiw_embedding_request_free(r);
  /* Blocking stream: no message first. */
  aiw_chat_request *cr = chat_req(directive);
  int n = 0;
  rc = aiw_chat_stream(c, cr, NULL, count_chunks, &n, &err);
  expect_status_bytes("ChatStream", rc, &err, message);
  ck_assert_int_eq(n, 0);
  aiw_chat_request_free(cr);
  /* Asynchronous unary and stream. */
  aiw_queue *q = new_queue();
  embed_start(c, directive, NULL, q, NULL);
  aiw_completion *comp = wait_within(q, hang_bound_ms(20000));
  expect_status_bytes("async GetEmbedding", aiw_completion_code(comp), aiw_completion_error(comp), message);
  ck_assert_int_eq(aiw_completion_deadline_expired(comp), 0);
  aiw_completion_free(comp);
  chat_start(c, directive, NULL, q, NULL);
  comp = wait_within(q, hang_bound_ms(20000));
  ck_assert_int_eq(aiw_completion_is_message(comp), 0);
  expect_status_bytes("async ChatStream", aiw_completion_code(comp), aiw_completion_error(comp), message);
  aiw_completion_free(comp);
  aiw_queue_free(q);
  /* Raw. */
  size_t mlen;
  void *msg = raw_embed_msg(directive, &mlen);
  void *resp = (void *)&resp;
  size_t len = 77;
  rc = aiw_raw_call(c, AIW_PATH_GET_EMBEDDING, msg, mlen, NULL, &resp, &len, &err);
  free(msg);
  expect_status_bytes("raw GetEmbedding", rc, &err, message);
  ck_assert_ptr_null(resp);
  ck_assert_uint_eq(len, 0);
  aiw_client_free(c);
}

START_TEST(test_status_code_and_message) { status_everywhere("test status message"); }
END_TEST

START_TEST(test_special_status_message) { status_everywhere(SPECIAL); }
END_TEST

/* ------------------------------------------------ unimplemented method/service */

static void expect_unimplemented(aiw_client *c, const char *path) {
  aiw_error err;
  void *resp = (void *)&resp;
  size_t len = 77;
  aiw_code rc = aiw_raw_call(c, path, NULL, 0, NULL, &resp, &len, &err);
  expect_code(path, rc, &err, AIW_UNIMPLEMENTED);
  ck_assert_int_eq(err.grpc_status, 12);
  ck_assert_ptr_null(resp);
  ck_assert_uint_eq(len, 0);
  /* The asynchronous form and a raw stream on the same path. */
  aiw_queue *q = new_queue();
  int tag;
  ck_assert_int_eq(aiw_raw_call_start(c, path, "\x0a\x01q", 3, NULL, q, &tag, &err), AIW_OK);
  aiw_completion *comp = wait_within(q, hang_bound_ms(20000));
  ck_assert_ptr_eq(aiw_completion_tag(comp), &tag);
  expect_code(path, aiw_completion_code(comp), aiw_completion_error(comp), AIW_UNIMPLEMENTED);
  ck_assert_ptr_null(aiw_completion_message(comp, &len));
  aiw_completion_free(comp);
  ck_assert_int_eq(aiw_raw_stream_start(c, path, NULL, 0, NULL, q, &tag, &err), AIW_OK);
  comp = wait_within(q, hang_bound_ms(20000));
  ck_assert_int_eq(aiw_completion_is_message(comp), 0);
  expect_code(path, aiw_completion_code(comp), aiw_completion_error(comp), AIW_UNIMPLEMENTED);
  aiw_completion_free(comp);
  expect_queue_empty(q);
  aiw_queue_free(q);
  /* The channel is fine afterwards. */
  expect_client_works(c);
}

START_TEST(test_unimplemented_method) {
  aiw_client *c = test_client(g_srv.target, 0);
  expect_unimplemented(c, "/ai_service.AiWorker/NoSuchMethod");
  aiw_client_free(c);
}
END_TEST

START_TEST(test_unimplemented_service) {
  aiw_client *c = test_client(g_srv.target, 0);
  expect_unimplemented(c, "/grpc.testing.UnimplementedService/UnimplementedCall");
  aiw_client_free(c);
}
END_TEST

/* --------------------------------------------------------------- cancels */

START_TEST(test_cancel_after_begin) {
  aiw_client *c = test_client(g_srv.target, 0);
  aiw_cancel_token *tok;
  aiw_call_options *o = token_opts(&tok, 0, NULL);
  aiw_queue *q = new_queue();
  int tag;
  /* Started, then cancelled before anything came: RESULT CANCELLED, no MESSAGE. */
  chat_start(c, SLOW_DIRECTIVE, o, q, &tag);
  int64_t t0 = now_ms();
  aiw_cancel_token_cancel(tok);
  aiw_completion *comp = wait_within(q, prompt_bound_ms());
  expect_within(t0, prompt_bound_ms(), "cancel_after_begin");
  ck_assert_ptr_eq(aiw_completion_tag(comp), &tag);
  ck_assert_int_eq(aiw_completion_is_message(comp), 0);
  expect_code("cancelled stream", aiw_completion_code(comp), aiw_completion_error(comp), AIW_CANCELLED);
  aiw_completion_free(comp);
  /* A fast stream cancelled right after its start never ends OK either. */
  aiw_cancel_token_reset(tok);
  chat_start(c, "!count:3", o, q, &tag);
  aiw_cancel_token_cancel(tok);
  for (;;) {
    comp = wait_within(q, prompt_bound_ms());
    if (aiw_completion_is_message(comp)) {
      aiw_completion_free(comp);
      continue;
    }
    expect_code("cancelled fast stream", aiw_completion_code(comp), aiw_completion_error(comp), AIW_CANCELLED);
    aiw_completion_free(comp);
    break;
  }
  expect_queue_empty(q);
  aiw_queue_free(q);
  /* Blocking: cancelled from another thread while waiting for the first message. */
  aiw_cancel_token_reset(tok);
  interrupter it;
  interrupter_start(&it, tok, NULL, 0);
  aiw_chat_request *r = chat_req(SLOW_DIRECTIVE);
  int n = 0;
  aiw_error err;
  t0 = now_ms();
  aiw_code rc = aiw_chat_stream(c, r, o, count_chunks, &n, &err);
  interrupter_join(&it);
  expect_code("blocking cancel_after_begin", rc, &err, AIW_CANCELLED);
  expect_within(t0, prompt_bound_ms(), "blocking cancel_after_begin");
  ck_assert_int_eq(n, 0);
  aiw_chat_request_free(r);
  aiw_call_options_free(o);
  aiw_cancel_token_free(tok);
  expect_client_works(c);
  aiw_client_free(c);
}
END_TEST

typedef struct first_cancel {
  aiw_cancel_token *tok;
  int n;
} first_cancel;

static int cancel_on_first(const aiw_chat_response *ch, void *ud) {
  (void)ch;
  first_cancel *f = ud;
  if (f->n++ == 0) aiw_cancel_token_cancel(f->tok);
  return 0;
}

START_TEST(test_cancel_after_first_response) {
  aiw_client *c = test_client(g_srv.target, 0);
  char rid[64];
  unique_id(rid, sizeof rid, "cancel-first");
  aiw_cancel_token *tok;
  aiw_call_options *o = token_opts(&tok, 0, rid);
  aiw_queue *q = new_queue();
  int tag;
  /* `!slow:300`: a message every 300 ms. Take the first, cancel while
   * holding it: RESULT CANCELLED, nothing else. */
  chat_start(c, "!slow:300", o, q, &tag);
  aiw_completion *comp = wait_within(q, hang_bound_ms(20000));
  ck_assert_int_eq(aiw_completion_is_message(comp), 1);
  aiw_chat_response *ch = aiw_completion_take_chat_response(comp);
  ck_assert_ptr_nonnull(ch);
  ck_assert_str_eq(aiw_chat_response_chunk(ch), "You asked: !slow:300. ");
  aiw_chat_response_free(ch);
  int64_t t0 = now_ms();
  aiw_cancel_token_cancel(tok);
  aiw_completion_free(comp);
  comp = wait_within(q, prompt_bound_ms());
  expect_within(t0, prompt_bound_ms(), "cancel_after_first_response");
  ck_assert_int_eq(aiw_completion_is_message(comp), 0);
  expect_code("stream cancelled after its first message", aiw_completion_code(comp), aiw_completion_error(comp),
              AIW_CANCELLED);
  aiw_completion_free(comp);
  expect_queue_empty(q);
  aiw_queue_free(q);
  /* The server saw the cancellation. */
  expect_outcome(&g_srv, rid, "CANCELLED", 10000);

  /* Blocking: the callback cancels on the first chunk. */
  aiw_cancel_token_reset(tok);
  first_cancel f = {tok, 0};
  aiw_chat_request *r = chat_req("!slow:300");
  aiw_error err;
  aiw_code rc = aiw_chat_stream(c, r, o, cancel_on_first, &f, &err);
  expect_code("blocking cancel_after_first_response", rc, &err, AIW_CANCELLED);
  ck_assert_int_eq(f.n, 1);
  aiw_chat_request_free(r);
  aiw_call_options_free(o);
  aiw_cancel_token_free(tok);
  aiw_client_free(c);
}
END_TEST

/* ------------------------------------------------ timeout_on_sleeping_server */

START_TEST(test_timeout_on_sleeping_server) {
  aiw_client *c = test_client(g_srv.target, 0);
  aiw_error err;
  /* A 1 ms deadline, as in the interop case: DEADLINE_EXCEEDED at once. */
  aiw_call_options *o = test_opts(1, NULL);
  aiw_chat_request *r = chat_req(SLOW_DIRECTIVE);
  int n = 0;
  int64_t t0 = now_ms();
  aiw_code rc = aiw_chat_stream(c, r, o, count_chunks, &n, &err);
  expect_code("ChatStream, 1 ms", rc, &err, AIW_DEADLINE_EXCEEDED);
  ck_assert_int_eq(err.grpc_status, 4);
  expect_within(t0, prompt_bound_ms(), "ChatStream with a 1 ms deadline");
  ck_assert_int_eq(n, 0);
  aiw_embedding_request *er = embed_req(SLOW_DIRECTIVE, AIW_EMBEDDING_UNKNOWN);
  aiw_embedding_response *e = (aiw_embedding_response *)&e;
  rc = aiw_get_embedding(c, er, o, &e, &err);
  expect_code("GetEmbedding, 1 ms", rc, &err, AIW_DEADLINE_EXCEEDED);
  ck_assert_ptr_null(e);
  aiw_call_options_free(o);

  /* Asynchronous, 300 ms: at the deadline (not before), and the completion
   * says the library's deadline expired. */
  o = test_opts(300, NULL);
  aiw_queue *q = new_queue();
  int tag;
  t0 = now_ms();
  chat_start(c, SLOW_DIRECTIVE, o, q, &tag);
  aiw_completion *comp = wait_within(q, hang_bound_ms(10000));
  int64_t took = now_ms() - t0;
  ck_assert_int_eq(aiw_completion_is_message(comp), 0);
  expect_code("async ChatStream, 300 ms", aiw_completion_code(comp), aiw_completion_error(comp),
              AIW_DEADLINE_EXCEEDED);
  ck_assert_int_eq(aiw_completion_deadline_expired(comp), 1);
  ck_assert_msg(took >= 250, "DEADLINE_EXCEEDED after %lld ms of a 300 ms deadline", (long long)took);
  aiw_completion_free(comp);
  t0 = now_ms();
  embed_start(c, SLOW_DIRECTIVE, o, q, &tag);
  comp = wait_within(q, hang_bound_ms(10000));
  took = now_ms() - t0;
  expect_code("async GetEmbedding, 300 ms", aiw_completion_code(comp), aiw_completion_error(comp),
              AIW_DEADLINE_EXCEEDED);
  ck_assert_int_eq(aiw_completion_deadline_expired(comp), 1);
  ck_assert_msg(took >= 250, "DEADLINE_EXCEEDED after %lld ms of a 300 ms deadline", (long long)took);
  aiw_completion_free(comp);
  /* A server-sent DEADLINE_EXCEEDED is not the library's deadline. */
  embed_start(c, "!error:DEADLINE_EXCEEDED:server says so", o, q, &tag);
  comp = wait_within(q, hang_bound_ms(10000));
  expect_status_error(aiw_completion_error(comp), AIW_DEADLINE_EXCEEDED, "server says so");
  ck_assert_int_eq(aiw_completion_deadline_expired(comp), 0);
  aiw_completion_free(comp);
  expect_queue_empty(q);
  aiw_queue_free(q);
  aiw_call_options_free(o);
  aiw_embedding_request_free(er);
  aiw_chat_request_free(r);
  expect_client_works(c);
  aiw_client_free(c);
}
END_TEST

/* ------------------------------------------------ concurrent_large_unary */

typedef struct large_worker {
  aiw_client *client;
  const aiw_search_request *req;
  const aiw_call_options *opts;
  int calls;
  int ok;
  char why[256];
} large_worker;

static void *large_worker_main(void *arg) {
  large_worker *w = arg;
  for (int i = 0; i < w->calls; i++) {
    char buf[200];
    const char *why = large_unary_once(w->client, w->req, w->opts, buf, sizeof buf);
    if (why != NULL) {
      if (w->why[0] == '\0') snprintf(w->why, sizeof w->why, "call %d: %s", i, why);
    } else {
      w->ok++;
    }
  }
  return NULL;
}

START_TEST(test_concurrent_large_unary) {
  enum { MAX_THREADS = 16 };
  int threads = test_slow() ? 6 : MAX_THREADS;
  int calls = test_slow() ? 2 : 4;
  aiw_client *c = test_client(g_srv.target, 0);
  aiw_search_request *r = large_search_req();
  aiw_call_options *o = test_opts(hang_bound_ms(30000), NULL);
  large_worker w[MAX_THREADS];
  memset(w, 0, sizeof w);
  for (int i = 0; i < threads; i++) {
    w[i].client = c;
    w[i].req = r;
    w[i].opts = o;
    w[i].calls = calls;
  }
  pthread_t th[MAX_THREADS];
  threads_start(th, threads, large_worker_main, w, sizeof w[0]);
  threads_join(th, threads);
  for (int i = 0; i < threads; i++) {
    ck_assert_msg(w[i].why[0] == '\0', "thread %d: %s", i, w[i].why);
    ck_assert_int_eq(w[i].ok, calls);
  }
  aiw_call_options_free(o);
  aiw_search_request_free(r);
  aiw_client_free(c);
}
END_TEST

/* ------------------------------------------------------------------ soaks */

/* rpc_soak: N sequential large_unary calls on one client, each within a
 * per-call deadline (and measured against it), no failure allowed. */
START_TEST(test_rpc_soak) {
  int n = test_slow() ? 20 : 200;
  int64_t per_call = hang_bound_ms(5000);
  aiw_client *c = test_client(g_srv.target, 0);
  aiw_search_request *r = large_search_req();
  aiw_call_options *o = test_opts(per_call, NULL);
  int64_t worst = 0;
  for (int i = 0; i < n; i++) {
    char buf[200];
    int64_t t0 = now_ms();
    const char *why = large_unary_once(c, r, o, buf, sizeof buf);
    int64_t took = now_ms() - t0;
    ck_assert_msg(why == NULL, "rpc_soak iteration %d of %d: %s", i, n, why);
    ck_assert_msg(took <= per_call, "rpc_soak iteration %d took %lld ms (per-call deadline %lld)", i,
                  (long long)took, (long long)per_call);
    if (took > worst) worst = took;
  }
  aiw_call_options_free(o);
  aiw_search_request_free(r);
  aiw_client_free(c);
}
END_TEST

/* channel_soak: N calls, each on a new client (a new channel). Half of them
 * run while this test holds a global reference (the runtime stays up), half
 * without (each client brings gRPC up and takes it down). */
START_TEST(test_channel_soak) {
  int n = test_slow() ? 10 : 60;
  int64_t per_call = hang_bound_ms(5000);
  aiw_search_request *r = large_search_req();
  aiw_call_options *o = test_opts(per_call, NULL);
  for (int i = 0; i < n; i++) {
    int held = i < n / 2;
    if (held && i == 0) ck_assert_int_eq(aiw_global_init(), AIW_OK);
    char buf[200];
    int64_t t0 = now_ms();
    aiw_client *c = test_client(g_srv.target, 0);
    const char *why = large_unary_once(c, r, o, buf, sizeof buf);
    aiw_client_free(c);
    int64_t took = now_ms() - t0;
    ck_assert_msg(why == NULL, "channel_soak iteration %d of %d: %s", i, n, why);
    ck_assert_msg(took <= per_call, "channel_soak iteration %d took %lld ms (per-call deadline %lld)", i,
                  (long long)took, (long long)per_call);
    if (held && i == n / 2 - 1) aiw_global_cleanup();
  }
  aiw_call_options_free(o);
  aiw_search_request_free(r);
}
END_TEST

Suite *suite_interop(void) {
  Suite *s = suite_create("interop");
  TCase *tc = server_tcase(s, "interop", 60, NULL);
  tcase_add_test(tc, test_empty_unary);
  tcase_add_test(tc, test_large_unary);
  tcase_add_test(tc, test_server_streaming);
  tcase_add_test(tc, test_custom_metadata_unary);
  tcase_add_test(tc, test_custom_metadata_stream);
  tcase_add_test(tc, test_status_code_and_message);
  tcase_add_test(tc, test_special_status_message);
  tcase_add_test(tc, test_unimplemented_method);
  tcase_add_test(tc, test_unimplemented_service);
  tcase_add_test(tc, test_cancel_after_begin);
  tcase_add_test(tc, test_cancel_after_first_response);
  tcase_add_test(tc, test_timeout_on_sleeping_server);
  tcase_add_test(tc, test_concurrent_large_unary);
  TCase *ts = server_tcase(s, "interop_soak", 120, NULL);
  tcase_add_test(ts, test_rpc_soak);
  tcase_add_test(ts, test_channel_soak);
  return s;
}
