/* check_rpc_chat.c -- ChatStream against the reference service: chunks,
 * sources, every field via `!echo`, many and big chunks, errors mid-stream,
 * callback abort, deadline mid-stream, cancel token and client close from
 * another thread mid-stream, RECURSIVE_API_CALL from inside the callback. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The test cases use g_client (64 MiB receive limit). */

/* What a stream delivered. */
typedef struct collected {
  size_t n;              /* chunks delivered */
  char *text;            /* concatenation */
  size_t text_len;
  int finals;            /* chunks with is_final */
  int final_index;       /* index of the (last) final chunk */
  size_t nsources;       /* sources on the final chunk */
  char src_ids[8][32];
  char src_meta_rid[128];   /* final source's md:x-request-id */
  char src_meta_opts[8];    /* final source's "options" metadata */
  char src_meta_hist[8];
  int sources_before_final; /* a non-final chunk carried sources */
  size_t first_len;         /* length of the first chunk */
  int abort_after;          /* return non-zero after this many chunks (0 = never) */
  interrupter *first_chunk; /* signalled after the first chunk, if set */
  aiw_client *recurse;      /* if set: try RPCs from inside the callback */
  aiw_code recursive_rc[2];
  void *userdata_check;
} collected;

static int collect(const aiw_chat_response *ch, void *ud) {
  collected *c = ud;
  ck_assert_ptr_eq(c->userdata_check, c); /* userdata passed through */
  const char *s = aiw_chat_response_chunk(ch);
  size_t l = strlen(s);
  if (c->n == 0) c->first_len = l;
  c->text = realloc(c->text, c->text_len + l + 1);
  ck_assert_ptr_nonnull(c->text);
  memcpy(c->text + c->text_len, s, l + 1);
  c->text_len += l;
  if (aiw_chat_response_is_final(ch)) {
    c->finals++;
    c->final_index = (int)c->n;
    c->nsources = aiw_chat_response_source_count(ch);
    for (size_t i = 0; i < c->nsources && i < 8; i++)
      snprintf(c->src_ids[i], sizeof c->src_ids[i], "%s", aiw_search_result_asset_id(aiw_chat_response_source(ch, i)));
    ck_assert_ptr_null(aiw_chat_response_source(ch, c->nsources));
    if (c->nsources > 0) {
      const aiw_search_result *r = aiw_chat_response_source(ch, 0);
      const char *v = aiw_search_result_metadata_get(r, "md:x-request-id");
      snprintf(c->src_meta_rid, sizeof c->src_meta_rid, "%s", v ? v : "");
      v = aiw_search_result_metadata_get(r, "options");
      snprintf(c->src_meta_opts, sizeof c->src_meta_opts, "%s", v ? v : "");
      v = aiw_search_result_metadata_get(r, "history");
      snprintf(c->src_meta_hist, sizeof c->src_meta_hist, "%s", v ? v : "");
    }
  } else if (aiw_chat_response_source_count(ch) != 0) {
    c->sources_before_final = 1;
  }
  c->n++;
  if (c->recurse != NULL && c->n == 1) {
    aiw_search_request *q = search_req("q");
    aiw_search_response *resp = (aiw_search_response *)&resp;
    aiw_error err;
    c->recursive_rc[0] = aiw_vector_search(c->recurse, q, NULL, &resp, &err);
    ck_assert_ptr_null(resp);
    ck_assert_int_eq(err.code, AIW_RECURSIVE_API_CALL);
    aiw_search_request_free(q);
    aiw_chat_request *cq = chat_req("q");
    c->recursive_rc[1] = aiw_chat_stream(c->recurse, cq, NULL, collect, c, &err);
    aiw_chat_request_free(cq);
  }
  if (c->n == 1 && c->first_chunk != NULL) interrupter_signal(c->first_chunk);
  return (c->abort_after > 0 && c->n >= (size_t)c->abort_after) ? 1 : 0;
}

static void collected_init(collected *c) {
  memset(c, 0, sizeof *c);
  c->final_index = -1;
  c->userdata_check = c;
}

static void collected_reset(collected *c) {
  free(c->text);
  collected_init(c);
}

/* Streams rq on cl into c; ck_asserts the code (and err->code). */
static void run_chat(aiw_client *cl, aiw_chat_request *rq, const aiw_call_options *o, collected *c, aiw_error *err,
                     aiw_code want) {
  expect_code("ChatStream", aiw_chat_stream(cl, rq, o, collect, c, err), err, want);
}

/* Streams a request of `query` (no options) on g_client into c (initialised
 * here); ck_asserts the code (and err->code). */
static void chat_query(const char *query, collected *c, aiw_error *err, aiw_code want) {
  aiw_chat_request *r = chat_req(query);
  collected_init(c);
  run_chat(g_client, r, NULL, c, err, want);
  aiw_chat_request_free(r);
}

START_TEST(test_chat_normal) {
  collected c;
  aiw_error err;
  chat_query(UNI, &c, &err, AIW_OK);
  ck_assert_int_eq(err.grpc_status, 0);
  ck_assert_uint_eq(c.n, 5);
  char want[512];
  chat_answer(want, sizeof want, UNI);
  ck_assert_str_eq(c.text, want);
  ck_assert_int_eq(c.finals, 1);
  ck_assert_int_eq(c.final_index, 4);
  ck_assert_int_eq(c.sources_before_final, 0);
  ck_assert_uint_eq(c.nsources, 3);
  ck_assert_str_eq(c.src_ids[0], "doc-001");
  ck_assert_str_eq(c.src_ids[1], "doc-003");
  ck_assert_str_eq(c.src_ids[2], "doc-005");
  free(c.text);
}
END_TEST

/* Checks the sources of the final chunk: two, the second one (img-002) field
 * by field. */
static int check_source(const aiw_chat_response *ch, void *ud) {
  (void)ud;
  if (!aiw_chat_response_is_final(ch)) return 0;
  ck_assert_uint_eq(aiw_chat_response_source_count(ch), 2);
  expect_corpus_result(aiw_chat_response_source(ch, 1), "img-002", AIW_SEARCH_SEMANTIC);
  return 0;
}

START_TEST(test_chat_options_change_sources) {
  aiw_chat_request *r = chat_req("sources please");
  ck_assert_int_eq(aiw_chat_request_set_include_images(r, 1), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_set_max_context_docs(r, 2), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_set_similarity_threshold(r, 0.8f), AIW_OK);
  aiw_error err;
  ck_assert_int_eq(aiw_chat_stream(g_client, r, NULL, check_source, NULL, &err), AIW_OK);
  aiw_chat_request_free(r);
}
END_TEST

START_TEST(test_chat_echo_all_fields) {
  aiw_chat_request *r = chat_req("!echo");
  ck_assert_int_eq(aiw_chat_request_add_history(r, "user", UNI, 1700000000), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_add_history(r, "assistant", "", -42), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_add_history(r, "user", "big ts", INT64_MAX), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_set_max_context_docs(r, 7), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_set_similarity_threshold(r, 0.375f), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_set_include_images(r, 1), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_set_stream_response(r, 1), AIW_OK);
  char rid[64];
  unique_id(rid, sizeof rid, "chat-echo");
  aiw_call_options *o = test_opts(0, rid);
  collected c;
  collected_init(&c);
  aiw_error err;
  run_chat(g_client, r, o, &c, &err, AIW_OK);
  ck_assert_uint_eq(c.n, 4);
  char want[512];
  snprintf(want, sizeof want,
           "user|%s|1700000000\nassistant||-42\nuser|big ts|9223372036854775807\n"
           "options:max_context_docs=7,similarity_threshold=0.375,include_images=1,stream_response=1",
           UNI);
  ck_assert_str_eq(c.text, want);
  ck_assert_int_eq(c.final_index, 3);
  ck_assert_uint_eq(c.nsources, 1);
  ck_assert_str_eq(c.src_ids[0], "echo");
  ck_assert_str_eq(c.src_meta_rid, rid);
  ck_assert_str_eq(c.src_meta_opts, "1");
  ck_assert_str_eq(c.src_meta_hist, "3");

  /* clear_history; the same request again. */
  aiw_chat_request_clear_history(r);
  collected_reset(&c);
  run_chat(g_client, r, o, &c, &err, AIW_OK);
  ck_assert_uint_eq(c.n, 1);
  ck_assert_str_eq(c.src_meta_hist, "0");
  free(c.text);
  aiw_call_options_free(o);
  aiw_chat_request_free(r);
}
END_TEST

START_TEST(test_chat_echo_no_options) {
  collected c;
  aiw_error err;
  chat_query("!echo", &c, &err, AIW_OK);
  ck_assert_uint_eq(c.n, 1);
  ck_assert_str_eq(c.text, "options:max_context_docs=0,similarity_threshold=0.0,include_images=0,stream_response=0");
  ck_assert_str_eq(c.src_meta_opts, "0");
  ck_assert_str_eq(c.src_meta_rid, "");
  free(c.text);
}
END_TEST

START_TEST(test_chat_many_chunks) {
  collected c;
  aiw_error err;
  chat_query("!many:2000", &c, &err, AIW_OK);
  ck_assert_uint_eq(c.n, 2001);
  ck_assert_int_eq(c.finals, 1);
  ck_assert_int_eq(c.final_index, 2000);
  ck_assert_uint_eq(c.nsources, 3);
  /* In order: "chunk-0 chunk-1 ... chunk-1999 ". */
  char *p = c.text;
  for (int i = 0; i < 2000; i++) {
    char want[32];
    int l = snprintf(want, sizeof want, "chunk-%d ", i);
    ck_assert_msg(strncmp(p, want, (size_t)l) == 0, "chunk %d out of order", i);
    p += l;
  }
  ck_assert_str_eq(p, "");
  free(c.text);
}
END_TEST

START_TEST(test_chat_error_mid_stream) {
  char q[128];
  snprintf(q, sizeof q, "!error-after:3:ABORTED:boom %s", UNI);
  collected c;
  aiw_error err;
  chat_query(q, &c, &err, AIW_ABORTED);
  ck_assert_int_eq(err.grpc_status, 10);
  char want[64];
  snprintf(want, sizeof want, "boom %s", UNI);
  expect_status_error(&err, AIW_ABORTED, want);
  ck_assert_uint_eq(c.n, 3); /* the chunks before the error were delivered */
  ck_assert_str_eq(c.text, "chunk-0 chunk-1 chunk-2 ");
  ck_assert_int_eq(c.finals, 0);
  free(c.text);
}
END_TEST

START_TEST(test_chat_error_at_start) {
  collected c;
  aiw_error err;
  chat_query("!error:UNAUTHENTICATED:who are you", &c, &err, AIW_UNAUTHENTICATED);
  expect_status_error(&err, AIW_UNAUTHENTICATED, "who are you");
  ck_assert_uint_eq(c.n, 0);
  free(c.text);
}
END_TEST

START_TEST(test_chat_big_chunk) {
  aiw_chat_request *r = chat_req("!big:5242880");
  collected c;
  collected_init(&c);
  aiw_error err;
  run_chat(g_client, r, NULL, &c, &err, AIW_OK);
  ck_assert_uint_eq(c.n, 2);
  ck_assert_uint_eq(c.first_len, 5242880);
  ck_assert_uint_eq(c.text_len, 5242880);
  ck_assert_int_eq(c.final_index, 1);

  /* Over gRPC's default 4 MiB receive limit: RESOURCE_EXHAUSTED. */
  aiw_client *small = test_client(g_srv.target, 0);
  collected_reset(&c);
  run_chat(small, r, NULL, &c, &err, AIW_RESOURCE_EXHAUSTED);
  ck_assert_uint_eq(c.n, 0);
  free(c.text);
  aiw_client_free(small);
  aiw_chat_request_free(r);
}
END_TEST

START_TEST(test_chat_callback_abort) {
  char rid[64];
  unique_id(rid, sizeof rid, "abort");
  aiw_call_options *o = test_opts(0, rid);
  aiw_chat_request *r = chat_req("!slow:300"); /* 5 chunks, 300 ms apart */
  collected c;
  collected_init(&c);
  c.abort_after = 2;
  aiw_error err;
  run_chat(g_client, r, o, &c, &err, AIW_CALLBACK_ABORTED);
  ck_assert_uint_eq(c.n, 2); /* not called again after returning non-zero */
  expect_outcome(&g_srv, rid, "CANCELLED", 10000); /* the server saw the cancellation */
  free(c.text);
  aiw_call_options_free(o);
  aiw_chat_request_free(r);
}
END_TEST

START_TEST(test_chat_deadline_mid_stream) {
  int slow = test_slow() ? 1000 : 300;
  char q[32];
  snprintf(q, sizeof q, "!slow:%d", slow);
  aiw_chat_request *r = chat_req(q);
  char rid[64];
  unique_id(rid, sizeof rid, "deadline");
  aiw_call_options *o = test_opts(slow * 7 / 2, rid); /* chunks at 1x, 2x, 3x; deadline at 3.5x */
  collected c;
  collected_init(&c);
  aiw_error err;
  int64_t t0 = now_ms();
  run_chat(g_client, r, o, &c, &err, AIW_DEADLINE_EXCEEDED);
  expect_within(t0, hang_bound_ms(10000), "a stream past its deadline");
  ck_assert_int_eq(err.grpc_status, 4);
  ck_assert_msg(c.n >= 1 && c.n < 5, "%zu chunks before the deadline", c.n);
  ck_assert_int_eq(c.finals, 0);
  expect_outcome(&g_srv, rid, "CANCELLED", 10000);
  free(c.text);
  aiw_call_options_free(o);
  aiw_chat_request_free(r);
}
END_TEST

/* Streams `!slow:1500` (would take 7.5 s) on cl into c with options o while
 * an interrupter cancels `token` / closes `close` once the first chunk
 * arrived; ck_asserts CANCELLED, one chunk, and a prompt return. */
static void chat_interrupted(aiw_client *cl, const aiw_call_options *o, aiw_cancel_token *token, aiw_client *close,
                             collected *c) {
  aiw_chat_request *r = chat_req("!slow:1500");
  interrupter it;
  interrupter_start(&it, token, close, 1);
  c->first_chunk = &it;
  aiw_error err;
  aiw_code rc = aiw_chat_stream(cl, r, o, collect, c, &err);
  int64_t returned = now_ms();
  interrupter_join(&it);
  c->first_chunk = NULL;
  expect_code("interrupted ChatStream", rc, &err, AIW_CANCELLED);
  ck_assert_uint_eq(c->n, 1);
  /* "At once": well before the next chunk would have come. */
  ck_assert_int_lt(returned - it.fired_at, hang_bound_ms(1000));
  aiw_chat_request_free(r);
}

START_TEST(test_chat_cancel_token_other_thread) {
  aiw_cancel_token *tok = aiw_cancel_token_new();
  char rid[64];
  unique_id(rid, sizeof rid, "cancel");
  aiw_call_options *o = test_opts(0, rid);
  ck_assert_int_eq(aiw_call_options_set_cancel_token(o, tok), AIW_OK);
  collected c;
  collected_init(&c);
  chat_interrupted(g_client, o, tok, NULL, &c);
  ck_assert_int_eq(aiw_cancel_token_is_cancelled(tok), 1);
  expect_outcome(&g_srv, rid, "CANCELLED", 10000);

  /* A later call with the fired token fails at once; after reset it works. */
  collected_reset(&c);
  aiw_chat_request *r2 = chat_req("again");
  aiw_error err;
  run_chat(g_client, r2, o, &c, &err, AIW_CANCELLED);
  ck_assert_uint_eq(c.n, 0);
  aiw_cancel_token_reset(tok);
  run_chat(g_client, r2, o, &c, &err, AIW_OK);
  ck_assert_uint_eq(c.n, 5);
  free(c.text);
  aiw_chat_request_free(r2);
  aiw_call_options_free(o);
  aiw_cancel_token_free(tok);
}
END_TEST

START_TEST(test_chat_client_close_mid_stream) {
  aiw_client *cl = test_client(g_srv.target, 0);
  collected c;
  collected_init(&c);
  chat_interrupted(cl, NULL, NULL, cl, &c);
  /* New calls are refused. */
  collected_reset(&c);
  aiw_chat_request *r = chat_req("!slow:1500");
  aiw_error err;
  run_chat(cl, r, NULL, &c, &err, AIW_CANCELLED);
  ck_assert_uint_eq(c.n, 0);
  ck_assert_msg(strstr(err.message, "closed") != NULL, "message: %s", err.message);
  free(c.text);
  aiw_chat_request_free(r);
  aiw_client_free(cl);
}
END_TEST

START_TEST(test_chat_recursive_call) {
  aiw_chat_request *r = chat_req("recursion");
  collected c;
  collected_init(&c);
  c.recurse = g_client;
  aiw_error err;
  run_chat(g_client, r, NULL, &c, &err, AIW_OK);
  ck_assert_int_eq(c.recursive_rc[0], AIW_RECURSIVE_API_CALL);
  ck_assert_int_eq(c.recursive_rc[1], AIW_RECURSIVE_API_CALL);
  ck_assert_uint_eq(c.n, 5); /* the refused inner calls delivered nothing */
  /* Another client is refused too: the rule is per thread, not per client. */
  aiw_client *other = test_client(g_srv.target, 0);
  collected_reset(&c);
  c.recurse = other;
  run_chat(g_client, r, NULL, &c, &err, AIW_OK);
  ck_assert_int_eq(c.recursive_rc[0], AIW_RECURSIVE_API_CALL);
  /* After the stream, calls from this thread work again. */
  expect_client_works(other);
  aiw_client_free(other);
  free(c.text);
  aiw_chat_request_free(r);
}
END_TEST

START_TEST(test_chat_empty_message) {
  collected c;
  aiw_error err;
  chat_query("!empty", &c, &err, AIW_OK);
  ck_assert_uint_eq(c.n, 1); /* a zero-byte message is still a message */
  ck_assert_str_eq(c.text, "");
  ck_assert_int_eq(c.finals, 0);
  free(c.text);
}
END_TEST

START_TEST(test_chat_undecodable_message) {
  collected c;
  aiw_error err;
  chat_query("!garbage", &c, &err, AIW_INTERNAL);
  ck_assert_msg(says_undecodable(err.message), "message: %s", err.message);
  ck_assert_uint_eq(c.n, 1); /* the good chunk before it was delivered */
  ck_assert_str_eq(c.text, "before garbage ");
  free(c.text);
}
END_TEST

Suite *suite_rpc_chat(void) {
  Suite *s = suite_create("rpc_chat");
  TCase *tc = server_tcase(s, "chat", 60, client_big_setup);
  tcase_add_test(tc, test_chat_normal);
  tcase_add_test(tc, test_chat_options_change_sources);
  tcase_add_test(tc, test_chat_echo_all_fields);
  tcase_add_test(tc, test_chat_echo_no_options);
  tcase_add_test(tc, test_chat_many_chunks);
  tcase_add_test(tc, test_chat_error_mid_stream);
  tcase_add_test(tc, test_chat_error_at_start);
  tcase_add_test(tc, test_chat_big_chunk);
  tcase_add_test(tc, test_chat_empty_message);
  tcase_add_test(tc, test_chat_undecodable_message);
  TCase *tx = server_tcase(s, "chat_interrupts", 60, client_big_setup);
  tcase_add_test(tx, test_chat_callback_abort);
  tcase_add_test(tx, test_chat_deadline_mid_stream);
  tcase_add_test(tx, test_chat_cancel_token_other_thread);
  tcase_add_test(tx, test_chat_client_close_mid_stream);
  tcase_add_test(tx, test_chat_recursive_call);
  return s;
}
