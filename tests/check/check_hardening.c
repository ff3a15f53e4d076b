/* check_hardening.c -- the defects found under bad input (issue 10), each
 * with the test that failed before its fix: TLS server names gRPC aborts
 * on, target ports gRPC wraps around, strings with NUL bytes in responses
 * (the _with_len getters), error messages cut in the middle of a UTF-8
 * character. */
#include <string.h>

#include "harness.h"

/* gRPC core aborted the process on the first call with these. */
START_TEST(test_server_name_refused) {
  aiw_client_options *o = aiw_client_options_new();
  ck_assert_ptr_nonnull(o);
  char longname[300];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  ck_assert_int_eq(aiw_client_options_set_server_name(o, ""), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(aiw_client_options_set_server_name(o, longname), AIW_INVALID_ARGUMENT);
  longname[255] = '\0'; /* 255 bytes: a DNS name's limit, accepted */
  ck_assert_int_eq(aiw_client_options_set_server_name(o, longname), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_server_name(o, "ai.example"), AIW_OK);
  ck_assert_int_eq(aiw_client_options_set_server_name(o, NULL), AIW_OK);
  aiw_client_options_free(o);
}
END_TEST

/* gRPC wrapped these around to another port. */
START_TEST(test_target_ports) {
  static const char *const bad[] = {"127.0.0.1:99999", "127.0.0.1:-1", ":-1", "127.0.0.1:65536", "localhost:0",
                                    "dns:///localhost:70000", "ipv4:127.0.0.1:1,127.0.0.1:65536", "[::1]:0",
                                    "127.0.0.1:5x"};
  static const char *const good[] = {"127.0.0.1:50051", "localhost", "dns:///localhost:1", "[::1]:65535",
                                     "ipv4:127.0.0.1:1,127.0.0.1:2", "unix:/tmp/aiw.sock", "::1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    aiw_client *c = (aiw_client *)&c;
    aiw_error err;
    ck_assert_msg(aiw_client_new(bad[i], NULL, &c, &err) == AIW_INVALID_ARGUMENT, "target %s accepted", bad[i]);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.message, "port") != NULL, "message for %s: %s", bad[i], err.message);
  }
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    aiw_client *c;
    aiw_error err;
    ck_assert_msg(aiw_client_new(good[i], NULL, &c, &err) == AIW_OK, "target %s refused: %s", good[i], err.message);
    aiw_client_free(c);
  }
}
END_TEST

static void expect_bytes(const char *what, const char *got, size_t len, const char *want, size_t want_len) {
  ck_assert_msg(len == want_len && memcmp(got, want, len) == 0, "%s: %zu bytes, want %zu", what, len, want_len);
  ck_assert_msg(got[len] == '\0', "%s: not NUL-terminated after its bytes", what);
}

#define BYTES(s) s, sizeof s - 1

/* The reference service's !nul answers (tests/refservice/README.md). */
START_TEST(test_nul_in_response_strings) {
  aiw_error err;
  size_t n;
  aiw_search_request *sr = aiw_search_request_new();
  aiw_search_request_set_query(sr, "!nul");
  aiw_search_response *resp;
  ck_assert_int_eq(aiw_vector_search(g_client, sr, NULL, &resp, &err), AIW_SERVICE_ERROR);
  const char *e = aiw_search_response_error_with_len(resp, &n);
  expect_bytes("SearchResponse.error", e, n, BYTES("error\0after NUL"));
  ck_assert_str_eq(aiw_search_response_error(resp), "error"); /* the C string stops there */
  const aiw_search_result *r = aiw_search_response_result(resp, 0);
  ck_assert_ptr_nonnull(r);
  {
    const char *got_ = aiw_search_result_asset_id_with_len(r, &n);
    expect_bytes("asset_id", got_, n, BYTES("nul\0id"));
  }
  {
    const char *got_ = aiw_search_result_caption_with_len(r, &n);
    expect_bytes("caption", got_, n, BYTES("cap\0tion"));
  }
  {
    const char *got_ = aiw_search_result_mime_type_with_len(r, &n);
    expect_bytes("mime_type", got_, n, BYTES("text/plain"));
  }
  {
    const char *got_ = aiw_search_result_thumbnail_url_with_len(r, &n);
    expect_bytes("thumbnail_url", got_, n, BYTES(""));
  }
  {
    const char *got_ = aiw_search_result_metadata_key_with_len(r, 0, &n);
    expect_bytes("metadata key", got_, n, BYTES("k\0ey"));
  }
  {
    const char *got_ = aiw_search_result_metadata_value_with_len(r, 0, &n);
    expect_bytes("metadata value", got_, n, BYTES("v\0alue"));
  }
  ck_assert_ptr_null(aiw_search_result_metadata_key_with_len(r, 1, &n));
  ck_assert_uint_eq(n, 0);
  aiw_search_response_free(resp);
  aiw_search_request_free(sr);

  aiw_embedding_request *er = aiw_embedding_request_new();
  aiw_embedding_request_set_text(er, "!nul");
  aiw_embedding_response *eresp;
  ck_assert_int_eq(aiw_get_embedding(g_client, er, NULL, &eresp, &err), AIW_SERVICE_ERROR);
  {
    const char *got_ = aiw_embedding_response_error_with_len(eresp, &n);
    expect_bytes("EmbeddingResponse.error", got_, n, BYTES("error\0after NUL"));
  }
  aiw_embedding_response_free(eresp);
  aiw_embedding_request_free(er);

  aiw_asset_request *ar = aiw_asset_request_new();
  aiw_asset_request_set_asset_id(ar, "!nul");
  aiw_asset_request_set_file_path(ar, "b/o");
  aiw_asset_request_set_mime_type(ar, "text/plain");
  aiw_process_status *ps;
  ck_assert_int_eq(aiw_process_asset(g_client, ar, NULL, &ps, &err), AIW_SERVICE_ERROR);
  {
    const char *got_ = aiw_process_status_error_with_len(ps, &n);
    expect_bytes("ProcessStatus.error", got_, n, BYTES("error\0after NUL"));
  }
  aiw_process_status_free(ps);
  aiw_asset_request_free(ar);

  /* Chat chunks, through the asynchronous stream. */
  aiw_queue *q = aiw_queue_new();
  aiw_chat_request *cr = aiw_chat_request_new();
  aiw_chat_request_set_query(cr, "!nul");
  ck_assert_int_eq(aiw_chat_stream_start(g_client, cr, NULL, q, NULL, &err), AIW_OK);
  static const struct {
    const char *s;
    size_t n;
  } want[] = {{BYTES("before\0after ")}, {BYTES("second\0chunk")}};
  size_t got = 0;
  for (;;) {
    aiw_completion *c;
    ck_assert_int_eq(aiw_queue_wait(q, 10000, &c), AIW_QUEUE_COMPLETION);
    if (!aiw_completion_is_message(c)) {
      ck_assert_int_eq(aiw_completion_code(c), AIW_OK);
      aiw_completion_free(c);
      break;
    }
    aiw_chat_response *m = aiw_completion_take_chat_response(c);
    aiw_completion_free(c);
    ck_assert_uint_lt(got, 2);
    {
    const char *got_ = aiw_chat_response_chunk_with_len(m, &n);
    expect_bytes("chunk", got_, n, want[got].s, want[got].n);
  }
    aiw_chat_response_free(m);
    got++;
  }
  ck_assert_uint_eq(got, 2);
  aiw_chat_request_free(cr);
  aiw_queue_free(q);

  /* NULL objects: "" and 0, as the plain getters. */
  ck_assert_str_eq(aiw_chat_response_chunk_with_len(NULL, &n), "");
  ck_assert_uint_eq(n, 0);
  ck_assert_str_eq(aiw_search_result_caption_with_len(NULL, NULL), "");
}
END_TEST

/* 1 when s is valid UTF-8. */
static int utf8_ok(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    size_t n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
    if (!n) return 0;
    for (size_t i = 1; i < n; i++)
      if ((p[i] & 0xC0) != 0x80) return 0;
    p += n;
  }
  return 1;
}

/* A server message longer than aiw_error's 512 bytes, of 2-, 3- and 4-byte
 * characters: the message is cut at a character boundary, never in one. */
START_TEST(test_error_message_cut_at_character) {
  static const char *const chars[] = {"\xc3\xa9", "\xe2\x98\xba", "\xf0\x9f\x98\x88"};
  for (int k = 0; k < 3; k++) {
    for (int shift = 0; shift < 4; shift++) { /* moves where the 512th byte falls */
      char text[1200] = "!error:UNKNOWN:";
      for (int i = 0; i < shift; i++) strcat(text, "a");
      while (strlen(text) + 4 < 1100) strcat(text, chars[k]);
      aiw_embedding_request *r = aiw_embedding_request_new();
      ck_assert_int_eq(aiw_embedding_request_set_text(r, text), AIW_OK);
      aiw_embedding_response *resp;
      aiw_error err;
      ck_assert_int_eq(aiw_get_embedding(g_client, r, NULL, &resp, &err), AIW_UNKNOWN);
      ck_assert_msg(strlen(err.message) >= AIW_ERROR_MESSAGE_SIZE - 5, "message not filled: %zu bytes",
                    strlen(err.message));
      ck_assert_msg(utf8_ok(err.message), "char %d shift %d: the message ends in half a character", k, shift);
      aiw_embedding_request_free(r);
    }
  }
}
END_TEST

/* Found in review: an asynchronous raw call of an unregistered method whose
 * start failed leaked its copy of the path (LeakSanitizer, test-c-asan). */
START_TEST(test_raw_start_failure_frees_path) {
  aiw_client *c = send_limited_client(g_srv.target, 16);
  aiw_queue *q = aiw_queue_new();
  static const char big[64] = {0};
  aiw_error err;
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(aiw_raw_call_start(c, "/some.Other/Method", big, sizeof big, NULL, q, NULL, &err),
                     AIW_RESOURCE_EXHAUSTED);
    ck_assert_int_eq(aiw_raw_stream_start(c, "/some.Other/Stream", big, sizeof big, NULL, q, NULL, &err),
                     AIW_RESOURCE_EXHAUSTED);
  }
  aiw_completion *comp;
  ck_assert_int_eq(aiw_queue_wait(q, 0, &comp), AIW_QUEUE_TIMEOUT); /* nothing was started */
  aiw_queue_free(q);
  aiw_client_free(c);
}
END_TEST

Suite *suite_hardening(void) {
  Suite *s = suite_create("hardening");
  TCase *t = tcase_create("arguments");
  tcase_add_test(t, test_server_name_refused);
  tcase_add_test(t, test_target_ports);
  suite_add_tcase(s, t);
  TCase *r = server_tcase(s, "responses", 60, client_setup);
  tcase_add_test(r, test_nul_in_response_strings);
  tcase_add_test(r, test_error_message_cut_at_character);
  tcase_add_test(r, test_raw_start_failure_frees_path);
  return s;
}
