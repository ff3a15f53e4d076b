/* check_options.c -- client options, call options (timeouts, metadata key and
 * value validation), cancel tokens, client construction. No network. */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"

START_TEST(test_client_options_sizes) {
  aiw_client_options *o = aiw_client_options_new();
  ck_assert_ptr_nonnull(o);
  ck_assert_int_eq(aiw_client_options_set_max_receive_size(o, 0), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_max_receive_size(o, 64u << 20), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_max_receive_size(o, INT32_MAX), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_max_send_size(o, 0), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_max_send_size(o, 1024), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_max_send_size(o, INT32_MAX), AIW_OK);
#if SIZE_MAX > INT32_MAX
  ck_assert_int_eq(aiw_client_options_set_max_receive_size(o, (size_t)INT32_MAX + 1), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_max_send_size(o, (size_t)INT32_MAX + 1), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_max_send_size(o, SIZE_MAX), AIW_INVALID_ARGUMENT);
#endif
  aiw_client_options_free(o);
}
END_TEST

START_TEST(test_client_options_tls) {
  aiw_client_options *o = aiw_client_options_new();
  ck_assert_ptr_nonnull(o);
  ck_assert_int_eq(aiw_client_options_set_tls(o, NULL, NULL, NULL), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_tls(o, "-----BEGIN CERTIFICATE-----\n", NULL, NULL), AIW_OK);
  /* mTLS needs both the chain and the key. */
  ck_assert_int_eq(aiw_client_options_set_tls(o, NULL, "chain", NULL), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_tls(o, NULL, NULL, "key"), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_tls(o, NULL, "chain", "key"), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_server_name(o, "example.com"), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_server_name(o, NULL), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_user_agent(o, "tests/1.0"), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_user_agent(o, NULL), AIW_OK);
  aiw_client_options_free(o);
}
END_TEST

START_TEST(test_client_new_and_target) {
  aiw_client *c = NULL;
  aiw_error err;
  const char *targets[] = {"127.0.0.1:1", "dns:///localhost:50051", "ipv4:127.0.0.1:1,127.0.0.1:2",
                           "unix:/tmp/aiw-no-such.sock"};
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
    char t[64];
    strcpy(t, targets[i]);
    ck_assert_int_eq(aiw_client_new(t, NULL, &c, &err), AIW_OK);
    ck_assert_int_eq(err.code, AIW_OK);
    ck_assert_str_eq(err.message, "");
    memset(t, 'z', strlen(t)); /* the target was copied */
    ck_assert_str_eq(aiw_client_target(c), targets[i]);
    aiw_client_close(c);
    aiw_client_close(c); /* idempotent */
    aiw_client_free(c);
  }
}
END_TEST

START_TEST(test_client_new_bad) {
  aiw_client *c = (aiw_client *)&c;
  aiw_error err;
  ck_assert_int_eq(aiw_client_new("", NULL, &c, &err), AIW_INVALID_ARGUMENT);
  ck_assert_ptr_null(c);
  expect_local_error(&err, AIW_INVALID_ARGUMENT);
  c = (aiw_client *)&c;
  ck_assert_int_eq(aiw_client_new(NULL, NULL, &c, &err), AIW_INVALID_ARGUMENT);
  ck_assert_ptr_null(c);
  ck_assert_int_eq(aiw_client_new("127.0.0.1:1", NULL, NULL, &err), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_new("127.0.0.1:1", NULL, NULL, NULL), AIW_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_closed_client_refuses_calls) {
  aiw_client *c = test_client("127.0.0.1:1", 0);
  aiw_client_close(c);
  aiw_search_request *rq = search_req("q");
  aiw_search_response *resp = (aiw_search_response *)&resp;
  aiw_error err;
  ck_assert_int_eq(aiw_vector_search(c, rq, NULL, &resp, &err), AIW_CANCELLED);
  ck_assert_ptr_null(resp);
  expect_local_error(&err, AIW_CANCELLED); /* grpc_status -1: refused before anything was sent */
  ck_assert_msg(strstr(err.message, "closed") != NULL, "message: %s", err.message);
  aiw_search_request_free(rq);
  aiw_client_free(c);
}
END_TEST

START_TEST(test_timeouts) {
  aiw_call_options *o = aiw_call_options_new();
  ck_assert_ptr_nonnull(o);
  ck_assert_int_eq(aiw_call_options_set_timeout_ms(o, 0), AIW_OK);
  ck_assert_int_eq(aiw_call_options_set_timeout_ms(o, 1), AIW_OK);
  ck_assert_int_eq(aiw_call_options_set_timeout_ms(o, INT64_MAX), AIW_OK);
  ck_assert_int_eq(aiw_call_options_set_timeout_ms(o, -1), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_call_options_set_timeout_ms(o, INT64_MIN), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_call_options_set_wait_for_ready(o, 1), AIW_OK);
  ck_assert_int_eq(aiw_call_options_set_wait_for_ready(o, 0), AIW_OK);
  aiw_call_options_free(o);
}
END_TEST

static const char *const GOOD_KEYS[] = {"x-request-id", "authorization", "a", "0", "a.b_c-d", "x-trace-bin-not",
                                        "abcdefghijklmnopqrstuvwxyz0123456789-_."};
static const char *const BAD_KEYS[] = {"",           "X-Request-Id", "grpc-timeout", "grpc-foo",  ":path",
                                       ":authority", "content-type", "te",           "user-agent", "host",
                                       "connection", "a b",          "a/b",          "é",          "key\n",
                                       "a:b"};

START_TEST(test_metadata_good_keys) {
  aiw_call_options *o = aiw_call_options_new();
  aiw_error err;
  ck_assert_int_eq(aiw_call_options_add_metadata(o, GOOD_KEYS[_i], "v", &err), AIW_OK);
  ck_assert_int_eq(err.code, AIW_OK);
  aiw_call_options_free(o);
}
END_TEST

START_TEST(test_metadata_bad_keys) {
  aiw_call_options *o = aiw_call_options_new();
  aiw_error err;
  ck_assert_int_eq(aiw_call_options_add_metadata(o, BAD_KEYS[_i], "v", &err), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(err.code, AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(err.grpc_status, -1);
  ck_assert_msg(strlen(err.message) > 0, "no message for key '%s'", BAD_KEYS[_i]);
  ck_assert_int_eq(aiw_call_options_add_metadata(o, BAD_KEYS[_i], "v", NULL), AIW_INVALID_ARGUMENT);
  aiw_call_options_free(o);
}
END_TEST

START_TEST(test_metadata_values) {
  aiw_call_options *o = aiw_call_options_new();
  aiw_error err;
  char printable[96];
  for (int i = 0; i < 95; i++) printable[i] = (char)(0x20 + i);
  printable[95] = '\0';
  ck_assert_int_eq(aiw_call_options_add_metadata(o, "k", printable, &err), AIW_OK);
  ck_assert_int_eq(aiw_call_options_add_metadata(o, "k", "", &err), AIW_OK);
  ck_assert_int_eq(aiw_call_options_add_metadata(o, "k", "Bearer abc.def", &err), AIW_OK);
  const char *bad[] = {"a\nb", "a\rb", "tab\there", "\x7f", "caf\xc3\xa9", "\x01"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_int_eq(aiw_call_options_add_metadata(o, "k", bad[i], &err), AIW_INVALID_ARGUMENT);
    ck_assert_int_eq(err.code, AIW_INVALID_ARGUMENT);
    ck_assert_uint_gt(strlen(err.message), 0);
  }
  ck_assert_int_eq(aiw_call_options_add_metadata(o, "k", NULL, &err), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_call_options_add_metadata(o, NULL, "v", &err), AIW_INVALID_ARGUMENT);
  /* A -bin key needs the binary form. */
  ck_assert_int_eq(aiw_call_options_add_metadata(o, "trace-bin", "abc", &err), AIW_INVALID_ARGUMENT);
  ck_assert_uint_gt(strlen(err.message), 0);
  aiw_call_options_clear_metadata(o);
  aiw_call_options_free(o);
}
END_TEST

START_TEST(test_metadata_bin) {
  aiw_call_options *o = aiw_call_options_new();
  aiw_error err;
  const unsigned char bytes[] = {0, 1, 2, 0xff, '\n', 0};
  ck_assert_int_eq(aiw_call_options_add_metadata_bin(o, "trace-bin", bytes, sizeof bytes, &err), AIW_OK);
  ck_assert_int_eq(aiw_call_options_add_metadata_bin(o, "trace-bin", NULL, 0, &err), AIW_OK);
  ck_assert_int_eq(aiw_call_options_add_metadata_bin(o, "trace-bin", NULL, 3, &err), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_call_options_add_metadata_bin(o, "trace", bytes, 2, &err), AIW_INVALID_ARGUMENT);
  ck_assert_uint_gt(strlen(err.message), 0);
  ck_assert_int_eq(aiw_call_options_add_metadata_bin(o, "Trace-bin", bytes, 2, &err), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_call_options_add_metadata_bin(o, "grpc-x-bin", bytes, 2, &err), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_call_options_add_metadata_bin(o, NULL, bytes, 2, &err), AIW_INVALID_ARGUMENT);
  aiw_call_options_free(o);
}
END_TEST

START_TEST(test_cancel_token) {
  aiw_cancel_token *t = aiw_cancel_token_new();
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(aiw_cancel_token_is_cancelled(t), 0);
  aiw_cancel_token_cancel(t);
  ck_assert_int_eq(aiw_cancel_token_is_cancelled(t), 1);
  aiw_cancel_token_cancel(t); /* repeatedly */
  ck_assert_int_eq(aiw_cancel_token_is_cancelled(t), 1);
  aiw_cancel_token_reset(t);
  ck_assert_int_eq(aiw_cancel_token_is_cancelled(t), 0);
  aiw_call_options *o = aiw_call_options_new();
  ck_assert_int_eq(aiw_call_options_set_cancel_token(o, t), AIW_OK);
  ck_assert_int_eq(aiw_call_options_set_cancel_token(o, NULL), AIW_OK);
  aiw_call_options_free(o);
  aiw_cancel_token_free(t);
}
END_TEST

START_TEST(test_cancelled_token_refuses_call) {
  /* A call started with a fired token fails with CANCELLED before sending
   * anything: no server is needed (the target is unreachable). */
  aiw_client *c = test_client("127.0.0.1:1", 0);
  aiw_cancel_token *t = aiw_cancel_token_new();
  aiw_cancel_token_cancel(t);
  aiw_call_options *o = aiw_call_options_new();
  ck_assert_int_eq(aiw_call_options_set_cancel_token(o, t), AIW_OK);
  aiw_embedding_request *rq = embed_req("x", AIW_EMBEDDING_UNKNOWN);
  aiw_embedding_response *resp = (aiw_embedding_response *)&resp; /* must be overwritten */
  aiw_error err;
  expect_code("GetEmbedding with a fired token", aiw_get_embedding(c, rq, o, &resp, &err), &err, AIW_CANCELLED);
  ck_assert_ptr_null(resp);
  aiw_embedding_request_free(rq);
  aiw_call_options_free(o);
  aiw_cancel_token_free(t);
  aiw_client_free(c);
}
END_TEST

Suite *suite_options(void) {
  Suite *s = suite_create("options");
  TCase *tc = tcase_create("client_options");
  tcase_add_test(tc, test_client_options_sizes);
  tcase_add_test(tc, test_client_options_tls);
  tcase_add_test(tc, test_client_new_and_target);
  tcase_add_test(tc, test_client_new_bad);
  tcase_add_test(tc, test_closed_client_refuses_calls);
  suite_add_tcase(s, tc);
  TCase *tm = tcase_create("call_options");
  tcase_add_test(tm, test_timeouts);
  tcase_add_loop_test(tm, test_metadata_good_keys, 0, (int)(sizeof GOOD_KEYS / sizeof GOOD_KEYS[0]));
  tcase_add_loop_test(tm, test_metadata_bad_keys, 0, (int)(sizeof BAD_KEYS / sizeof BAD_KEYS[0]));
  tcase_add_test(tm, test_metadata_values);
  tcase_add_test(tm, test_metadata_bin);
  tcase_add_test(tm, test_cancel_token);
  tcase_add_test(tm, test_cancelled_token_refuses_call);
  suite_add_tcase(s, tm);
  return s;
}
