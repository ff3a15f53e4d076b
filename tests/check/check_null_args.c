/* check_null_args.c -- every public function given NULL or invalid arguments:
 * a clear code, never a crash. */
#include <string.h>

#include "harness.h"

START_TEST(test_null_frees) {
  aiw_client_options_free(NULL);
  aiw_client_free(NULL);
  aiw_client_close(NULL);
  aiw_cancel_token_free(NULL);
  aiw_call_options_free(NULL);
  aiw_asset_request_free(NULL);
  aiw_process_status_free(NULL);
  aiw_embedding_request_free(NULL);
  aiw_embedding_response_free(NULL);
  aiw_search_request_free(NULL);
  aiw_search_response_free(NULL);
  aiw_chat_request_free(NULL);
}
END_TEST

START_TEST(test_null_option_setters) {
  aiw_error err;
  CK_INVAL(aiw_client_options_set_max_receive_size(NULL, 1));
  CK_INVAL(aiw_client_options_set_max_send_size(NULL, 1));
  CK_INVAL(aiw_client_options_set_tls(NULL, NULL, NULL, NULL));
  CK_INVAL(aiw_client_options_set_server_name(NULL, "x"));
  CK_INVAL(aiw_client_options_set_user_agent(NULL, "x"));
  ck_assert_str_eq(aiw_client_target(NULL), ""); /* aiw.h: "" for NULL, never NULL */
  aiw_cancel_token_cancel(NULL);
  ck_assert_int_eq(aiw_cancel_token_is_cancelled(NULL), 0);
  aiw_cancel_token_reset(NULL);
  CK_INVAL(aiw_call_options_set_timeout_ms(NULL, 1));
  CK_INVAL(aiw_call_options_set_wait_for_ready(NULL, 1));
  CK_INVAL(aiw_call_options_add_metadata(NULL, "k", "v", &err));
  ck_assert_int_eq(err.code, AIW_INVALID_ARGUMENT);
  CK_INVAL(aiw_call_options_add_metadata(NULL, "k", "v", NULL));
  CK_INVAL(aiw_call_options_add_metadata_bin(NULL, "k-bin", "v", 1, &err));
  aiw_call_options_clear_metadata(NULL);
  CK_INVAL(aiw_call_options_set_cancel_token(NULL, NULL));
  /* since 1.2 */
  CK_INVAL(aiw_client_options_set_service_config(NULL, "{}"));
  CK_INVAL(aiw_client_options_set_lb_policy(NULL, "round_robin"));
  CK_INVAL(aiw_client_options_set_retry_policy(NULL, 3, 10, 100));
  CK_INVAL(aiw_client_options_set_keepalive(NULL, 1000, 1000, 0));
  CK_INVAL(aiw_client_options_set_reconnect_backoff(NULL, 1, 1, 1));
  CK_INVAL(aiw_client_options_set_idle_timeout_ms(NULL, 1));
  CK_INVAL(aiw_client_options_set_compression(NULL, "gzip"));
  CK_INVAL(aiw_client_options_set_authority(NULL, "a"));
  CK_INVAL(aiw_client_options_set_bearer_token(NULL, "t"));
  CK_INVAL(aiw_client_options_set_token_callback(NULL, NULL, NULL));
  CK_INVAL(aiw_client_options_allow_insecure_credentials(NULL, 1));
  CK_INVAL(aiw_client_options_set_stats_hook(NULL, NULL, NULL));
  CK_INVAL(aiw_call_options_set_compression(NULL, "gzip"));
  CK_INVAL(aiw_call_options_set_max_receive_size(NULL, 1));
  CK_INVAL(aiw_call_options_set_response_info(NULL, NULL));
  ck_assert_str_eq(aiw_response_info_peer(NULL), "");
  ck_assert_str_eq(aiw_response_info_status_message(NULL), "");
  ck_assert_int_eq(aiw_response_info_status_code(NULL), 0);
  ck_assert_uint_eq(aiw_response_info_detail_count(NULL), 0);
  ck_assert_ptr_null(aiw_response_info_detail_type_url(NULL, 0));
  ck_assert_ptr_null(aiw_response_info_detail_value(NULL, 0, NULL));
  ck_assert_ptr_null(aiw_response_info_metadata_key(NULL, 1, 0));
  ck_assert_ptr_null(aiw_response_info_metadata_value(NULL, 0, 0, NULL));
}
END_TEST

START_TEST(test_null_request_setters) {
  CK_INVAL(aiw_asset_request_set_asset_id(NULL, "x"));
  CK_INVAL(aiw_asset_request_set_file_path(NULL, "x"));
  CK_INVAL(aiw_asset_request_set_mime_type(NULL, "x"));
  CK_INVAL(aiw_asset_request_set_enable_ocr(NULL, 1));
  CK_INVAL(aiw_asset_request_set_enable_caption(NULL, 1));
  CK_INVAL(aiw_asset_request_set_enable_embedding(NULL, 1));
  CK_INVAL(aiw_asset_request_set_enable_summary(NULL, 1));
  CK_INVAL(aiw_asset_request_set_max_chunk_size(NULL, 1));
  CK_INVAL(aiw_embedding_request_set_text(NULL, "x"));
  CK_INVAL(aiw_embedding_request_set_image(NULL, "x", 1, "png"));
  CK_INVAL(aiw_embedding_request_set_type(NULL, AIW_EMBEDDING_BOTH));
  CK_INVAL(aiw_search_request_set_query(NULL, "x"));
  CK_INVAL(aiw_search_request_set_type(NULL, AIW_SEARCH_VISUAL));
  CK_INVAL(aiw_search_request_set_limit(NULL, 1));
  CK_INVAL(aiw_search_request_set_threshold(NULL, 0.5f));
  CK_INVAL(aiw_search_request_add_filter(NULL, "x"));
  aiw_search_request_clear_filters(NULL);
  CK_INVAL(aiw_chat_request_set_query(NULL, "x"));
  CK_INVAL(aiw_chat_request_add_history(NULL, "user", "x", 1));
  aiw_chat_request_clear_history(NULL);
  CK_INVAL(aiw_chat_request_set_max_context_docs(NULL, 1));
  CK_INVAL(aiw_chat_request_set_similarity_threshold(NULL, 0.5f));
  CK_INVAL(aiw_chat_request_set_include_images(NULL, 1));
  CK_INVAL(aiw_chat_request_set_stream_response(NULL, 1));
}
END_TEST

START_TEST(test_null_getters) {
  ck_assert_int_eq(aiw_process_status_success(NULL), 0);
  ck_assert_str_eq(aiw_process_status_error(NULL), "");
  ck_assert_int_eq(aiw_process_status_stage(NULL), 0);
  ck_assert_float_eq(aiw_process_status_progress(NULL), 0.0f);
  expect_no_vectors(NULL);
  ck_assert_ptr_null(aiw_embedding_response_semantic_vector(NULL, NULL));
  ck_assert_int_eq(aiw_embedding_response_success(NULL), 0);
  ck_assert_str_eq(aiw_embedding_response_error(NULL), "");
  ck_assert_uint_eq(aiw_search_response_result_count(NULL), 0);
  ck_assert_ptr_null(aiw_search_response_result(NULL, 0));
  ck_assert_int_eq(aiw_search_response_total_count(NULL), 0);
  ck_assert_int_eq(aiw_search_response_success(NULL), 0);
  ck_assert_str_eq(aiw_search_response_error(NULL), "");
  ck_assert_str_eq(aiw_search_result_asset_id(NULL), "");
  ck_assert_float_eq(aiw_search_result_score(NULL), 0.0f);
  ck_assert_str_eq(aiw_search_result_caption(NULL), "");
  ck_assert_str_eq(aiw_search_result_mime_type(NULL), "");
  ck_assert_str_eq(aiw_search_result_thumbnail_url(NULL), "");
  ck_assert_uint_eq(aiw_search_result_metadata_count(NULL), 0);
  ck_assert_ptr_null(aiw_search_result_metadata_key(NULL, 0));
  ck_assert_ptr_null(aiw_search_result_metadata_value(NULL, 0));
  ck_assert_ptr_null(aiw_search_result_metadata_get(NULL, "k"));
  ck_assert_ptr_null(aiw_search_result_metadata_get(NULL, NULL));
  ck_assert_str_eq(aiw_chat_response_chunk(NULL), "");
  ck_assert_int_eq(aiw_chat_response_is_final(NULL), 0);
  ck_assert_uint_eq(aiw_chat_response_source_count(NULL), 0);
  ck_assert_ptr_null(aiw_chat_response_source(NULL, 0));
}
END_TEST

static int cb_ok(const aiw_chat_response *chunk, void *ud) {
  (void)chunk;
  (void)ud;
  return 0;
}

START_TEST(test_null_rpc_args) {
  aiw_client *c = test_client("127.0.0.1:1", 0);
  aiw_error err;
  aiw_asset_request *a = asset_req("a", "b/o", "text/plain");
  aiw_process_status *ps = (aiw_process_status *)&ps;
  CK_INVAL(aiw_process_asset(NULL, a, NULL, &ps, &err));
  ck_assert_ptr_null(ps);
  expect_local_error(&err, AIW_INVALID_ARGUMENT);
  CK_INVAL(aiw_process_asset(c, NULL, NULL, &ps, &err));
  CK_INVAL(aiw_process_asset(c, a, NULL, NULL, &err));
  CK_INVAL(aiw_process_asset(c, a, NULL, NULL, NULL));

  aiw_embedding_request *e = embed_req("x", AIW_EMBEDDING_UNKNOWN);
  aiw_embedding_response *er = (aiw_embedding_response *)&er;
  CK_INVAL(aiw_get_embedding(NULL, e, NULL, &er, &err));
  ck_assert_ptr_null(er);
  CK_INVAL(aiw_get_embedding(c, NULL, NULL, &er, &err));
  CK_INVAL(aiw_get_embedding(c, e, NULL, NULL, &err));

  aiw_search_request *s = search_req("q");
  aiw_search_response *sr = (aiw_search_response *)&sr;
  CK_INVAL(aiw_vector_search(NULL, s, NULL, &sr, &err));
  ck_assert_ptr_null(sr);
  CK_INVAL(aiw_vector_search(c, NULL, NULL, &sr, &err));
  CK_INVAL(aiw_vector_search(c, s, NULL, NULL, &err));

  aiw_chat_request *q = chat_req("q");
  CK_INVAL(aiw_chat_stream(NULL, q, NULL, cb_ok, NULL, &err));
  CK_INVAL(aiw_chat_stream(c, NULL, NULL, cb_ok, NULL, &err));
  CK_INVAL(aiw_chat_stream(c, q, NULL, NULL, NULL, &err));
  expect_local_error(&err, AIW_INVALID_ARGUMENT);

  aiw_asset_request_free(a);
  aiw_embedding_request_free(e);
  aiw_search_request_free(s);
  aiw_chat_request_free(q);
  aiw_client_free(c);
}
END_TEST

Suite *suite_null_args(void) {
  Suite *s = suite_create("null_args");
  TCase *tc = tcase_create("null_args");
  tcase_add_test(tc, test_null_frees);
  tcase_add_test(tc, test_null_option_setters);
  tcase_add_test(tc, test_null_request_setters);
  tcase_add_test(tc, test_null_getters);
  tcase_add_test(tc, test_null_rpc_args);
  suite_add_tcase(s, tc);
  return s;
}
