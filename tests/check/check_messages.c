/* check_messages.c -- building requests: every setter, copies, invalid UTF-8,
 * enum ranges, required fields refused before any RPC. No server needed: the
 * calls that must fail do so before sending (target 127.0.0.1:1). */
#include <string.h>

#include "harness.h"

/* Strings that are not valid UTF-8 (proto3 strings must be). */
static const char *const BAD_UTF8[] = {
    "\xff",                 /* never valid */
    "abc\xc3",              /* truncated sequence */
    "\xc0\xaf",             /* overlong '/' */
    "\xed\xa0\x80",         /* UTF-16 surrogate */
    "\xf4\x90\x80\x80",     /* above U+10FFFF */
    "ok\x80ok",             /* lone continuation byte */
};
#define NBAD (int)(sizeof BAD_UTF8 / sizeof BAD_UTF8[0])

/* A valid UTF-8 string: UNI (expect.h). */
#define GOOD_UTF8 UNI

/* ck_asserts that setter(obj, v) accepts every value of its enum, lo..hi,
 * and refuses lo - 1 and hi + 1. */
#define CK_ENUM_RANGE(setter, obj, enum_type, lo, hi)                        \
  do {                                                                       \
    for (int v_ = (lo); v_ <= (hi); v_++)                                    \
      ck_assert_int_eq(setter((obj), (enum_type)v_), AIW_OK);                \
    ck_assert_int_eq(setter((obj), (enum_type)((hi) + 1)), AIW_INVALID_ARGUMENT); \
    ck_assert_int_eq(setter((obj), (enum_type)((lo)-1)), AIW_INVALID_ARGUMENT);   \
  } while (0)

START_TEST(test_asset_request_setters) {
  aiw_asset_request *r = aiw_asset_request_new();
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(aiw_asset_request_set_asset_id(r, "id"), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_file_path(r, "bucket/object"), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_mime_type(r, "image/png"), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_asset_id(r, GOOD_UTF8), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_enable_ocr(r, 1), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_enable_caption(r, 0), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_enable_embedding(r, 7), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_enable_summary(r, 1), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_max_chunk_size(r, 0), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_max_chunk_size(r, 4096), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_asset_id(r, NULL), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_asset_request_set_file_path(r, NULL), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_asset_request_set_mime_type(r, NULL), AIW_INVALID_ARGUMENT);
  aiw_asset_request_free(r);
  aiw_asset_request_free(NULL);
}
END_TEST

START_TEST(test_bad_utf8_rejected) {
  const char *bad = BAD_UTF8[_i];
  aiw_asset_request *a = aiw_asset_request_new();
  ck_assert_int_eq(aiw_asset_request_set_asset_id(a, bad), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_asset_request_set_file_path(a, bad), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_asset_request_set_mime_type(a, bad), AIW_INVALID_ARGUMENT);
  aiw_asset_request_free(a);
  aiw_embedding_request *e = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_text(e, bad), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_embedding_request_set_image(e, "x", 1, bad), AIW_INVALID_ARGUMENT);
  aiw_embedding_request_free(e);
  aiw_search_request *s = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(s, bad), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_search_request_add_filter(s, bad), AIW_INVALID_ARGUMENT);
  aiw_search_request_free(s);
  aiw_chat_request *c = aiw_chat_request_new();
  ck_assert_int_eq(aiw_chat_request_set_query(c, bad), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_chat_request_add_history(c, bad, "content", 1), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_chat_request_add_history(c, "user", bad, 1), AIW_INVALID_ARGUMENT);
  aiw_chat_request_free(c);
}
END_TEST

START_TEST(test_failed_setter_leaves_object_unchanged) {
  /* A rejected query must not replace the good one: the echo would show it,
   * but without a server we check that the request is still sendable, i.e.
   * it does not fail with INVALID_ARGUMENT for a missing query. */
  aiw_client *cl = test_client("127.0.0.1:1", 0);
  aiw_search_request *s = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(s, "good"), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_query(s, "\xff"), AIW_INVALID_ARGUMENT);
  aiw_search_response *resp = NULL;
  aiw_error err;
  expect_code("VectorSearch to an unreachable target", aiw_vector_search(cl, s, NULL, &resp, &err), &err,
              AIW_UNAVAILABLE);
  ck_assert_ptr_null(resp);
  aiw_search_request_free(s);
  aiw_client_free(cl);
}
END_TEST

START_TEST(test_embedding_request) {
  aiw_embedding_request *e = aiw_embedding_request_new();
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(aiw_embedding_request_set_text(e, ""), AIW_OK);
  ck_assert_int_eq(aiw_embedding_request_set_text(e, GOOD_UTF8), AIW_OK);
  const unsigned char img[] = {0x89, 'P', 'N', 'G', 0, 0, 0xff, 0};
  ck_assert_int_eq(aiw_embedding_request_set_image(e, img, sizeof img, "png"), AIW_OK);
  ck_assert_int_eq(aiw_embedding_request_set_image(e, img, sizeof img, NULL), AIW_OK);
  ck_assert_int_eq(aiw_embedding_request_set_image(e, NULL, 0, "png"), AIW_OK);
  ck_assert_int_eq(aiw_embedding_request_set_image(e, NULL, 1, "png"), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_embedding_request_set_text(e, NULL), AIW_INVALID_ARGUMENT);
  CK_ENUM_RANGE(aiw_embedding_request_set_type, e, aiw_embedding_type, AIW_EMBEDDING_UNKNOWN, AIW_EMBEDDING_BOTH);
  aiw_embedding_request_free(e);
  aiw_embedding_request_free(NULL);
}
END_TEST

START_TEST(test_search_request) {
  aiw_search_request *s = aiw_search_request_new();
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(aiw_search_request_set_query(s, GOOD_UTF8), AIW_OK);
  CK_ENUM_RANGE(aiw_search_request_set_type, s, aiw_search_type, AIW_SEARCH_UNKNOWN, AIW_SEARCH_HYBRID);
  ck_assert_int_eq(aiw_search_request_set_limit(s, 0), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_limit(s, 5), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_limit(s, -1), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_search_request_set_threshold(s, 0.5f), AIW_OK);
  ck_assert_int_eq(aiw_search_request_add_filter(s, "owner=alice"), AIW_OK);
  ck_assert_int_eq(aiw_search_request_add_filter(s, ""), AIW_OK);
  ck_assert_int_eq(aiw_search_request_add_filter(s, NULL), AIW_INVALID_ARGUMENT);
  aiw_search_request_clear_filters(s);
  aiw_search_request_clear_filters(s);
  aiw_search_request_free(s);
  aiw_search_request_free(NULL);
}
END_TEST

START_TEST(test_chat_request) {
  aiw_chat_request *c = aiw_chat_request_new();
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(aiw_chat_request_set_query(c, GOOD_UTF8), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_add_history(c, "user", "hi", 1700000000), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_add_history(c, "assistant", "", -5), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_add_history(c, NULL, "x", 0), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_chat_request_add_history(c, "user", NULL, 0), AIW_INVALID_ARGUMENT);
  aiw_chat_request_clear_history(c);
  ck_assert_int_eq(aiw_chat_request_set_max_context_docs(c, 3), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_set_similarity_threshold(c, 0.25f), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_set_include_images(c, 1), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_set_stream_response(c, 1), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_set_query(c, NULL), AIW_INVALID_ARGUMENT);
  aiw_chat_request_free(c);
  aiw_chat_request_free(NULL);
}
END_TEST

static int never_called(const aiw_chat_response *chunk, void *ud) {
  (void)chunk;
  (void)ud;
  ck_abort_msg("callback called for a request refused before sending");
  return 0;
}

START_TEST(test_required_fields) {
  /* Missing required fields: INVALID_ARGUMENT before any RPC (grpc_status -1),
   * even though the target is unreachable. */
  aiw_client *cl = test_client("127.0.0.1:1", 0);
  aiw_error err;

  aiw_asset_request *a = aiw_asset_request_new();
  aiw_process_status *ps = (aiw_process_status *)&ps;
  ck_assert_int_eq(aiw_process_asset(cl, a, NULL, &ps, &err), AIW_INVALID_ARGUMENT);
  ck_assert_ptr_null(ps);
  expect_local_error(&err, AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_asset_request_set_asset_id(a, "id"), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_file_path(a, "b/o"), AIW_OK);
  ck_assert_int_eq(aiw_process_asset(cl, a, NULL, &ps, &err), AIW_INVALID_ARGUMENT); /* no mime_type */
  ck_assert_int_eq(aiw_asset_request_set_mime_type(a, "text/plain"), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_file_path(a, ""), AIW_OK);
  ck_assert_int_eq(aiw_process_asset(cl, a, NULL, &ps, &err), AIW_INVALID_ARGUMENT); /* empty file_path */
  aiw_asset_request_free(a);

  aiw_embedding_request *e = aiw_embedding_request_new();
  aiw_embedding_response *er = (aiw_embedding_response *)&er;
  ck_assert_int_eq(aiw_get_embedding(cl, e, NULL, &er, &err), AIW_INVALID_ARGUMENT);
  ck_assert_ptr_null(er);
  expect_local_error(&err, AIW_INVALID_ARGUMENT);
  aiw_embedding_request_free(e);

  aiw_search_request *s = aiw_search_request_new();
  aiw_search_response *sr = (aiw_search_response *)&sr;
  ck_assert_int_eq(aiw_vector_search(cl, s, NULL, &sr, &err), AIW_INVALID_ARGUMENT);
  ck_assert_ptr_null(sr);
  ck_assert_int_eq(aiw_search_request_set_query(s, ""), AIW_OK);
  ck_assert_int_eq(aiw_vector_search(cl, s, NULL, &sr, &err), AIW_INVALID_ARGUMENT);
  aiw_search_request_free(s);

  aiw_chat_request *c = aiw_chat_request_new();
  ck_assert_int_eq(aiw_chat_stream(cl, c, NULL, never_called, NULL, &err), AIW_INVALID_ARGUMENT);
  expect_local_error(&err, AIW_INVALID_ARGUMENT);
  aiw_chat_request_free(c);
  aiw_client_free(cl);
}
END_TEST

START_TEST(test_oversized_request_refused) {
  /* A request over the client's max send size: RESOURCE_EXHAUSTED before it
   * is sent (the target is unreachable, so reaching the wire would give
   * UNAVAILABLE instead). */
  aiw_client *cl = send_limited_client("127.0.0.1:1", 1024);
  char text[4096];
  memset(text, 'a', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  aiw_embedding_request *e = embed_req(text, AIW_EMBEDDING_UNKNOWN);
  aiw_embedding_response *er = (aiw_embedding_response *)&er; /* must be overwritten */
  aiw_error err;
  expect_code("GetEmbedding over the send limit", aiw_get_embedding(cl, e, NULL, &er, &err), &err,
              AIW_RESOURCE_EXHAUSTED);
  ck_assert_ptr_null(er);
  aiw_embedding_request_free(e);
  aiw_client_free(cl);
}
END_TEST

START_TEST(test_error_struct_on_success_is_cleared) {
  aiw_call_options *o = aiw_call_options_new();
  aiw_error err;
  memset(&err, 'x', sizeof err);
  ck_assert_int_eq(aiw_call_options_add_metadata(o, "k", "v", &err), AIW_OK);
  ck_assert_int_eq(err.code, AIW_OK);
  ck_assert_str_eq(err.message, "");
  aiw_call_options_free(o);
}
END_TEST

Suite *suite_messages(void) {
  Suite *s = suite_create("messages");
  TCase *tc = tcase_create("build");
  tcase_add_test(tc, test_asset_request_setters);
  tcase_add_loop_test(tc, test_bad_utf8_rejected, 0, NBAD);
  tcase_add_test(tc, test_failed_setter_leaves_object_unchanged);
  tcase_add_test(tc, test_embedding_request);
  tcase_add_test(tc, test_search_request);
  tcase_add_test(tc, test_chat_request);
  tcase_add_test(tc, test_required_fields);
  tcase_add_test(tc, test_oversized_request_refused);
  tcase_add_test(tc, test_error_struct_on_success_is_cleared);
  tcase_set_timeout(tc, 30);
  suite_add_tcase(s, tc);
  return s;
}
