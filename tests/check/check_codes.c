/* check_codes.c -- result codes: names, strings, HTTP mapping; versions. */
#include <string.h>

#include "harness.h"

static const struct {
  int code;
  const char *name;
  int http;
} CODES[] = {
    {AIW_OK, "OK", 200},
    {AIW_CANCELLED, "CANCELLED", 499},
    {AIW_UNKNOWN, "UNKNOWN", 500},
    {AIW_INVALID_ARGUMENT, "INVALID_ARGUMENT", 400},
    {AIW_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", 504},
    {AIW_NOT_FOUND, "NOT_FOUND", 404},
    {AIW_ALREADY_EXISTS, "ALREADY_EXISTS", 409},
    {AIW_PERMISSION_DENIED, "PERMISSION_DENIED", 403},
    {AIW_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED", 429},
    {AIW_FAILED_PRECONDITION, "FAILED_PRECONDITION", 400},
    {AIW_ABORTED, "ABORTED", 409},
    {AIW_OUT_OF_RANGE, "OUT_OF_RANGE", 400},
    {AIW_UNIMPLEMENTED, "UNIMPLEMENTED", 501},
    {AIW_INTERNAL, "INTERNAL", 500},
    {AIW_UNAVAILABLE, "UNAVAILABLE", 503},
    {AIW_DATA_LOSS, "DATA_LOSS", 500},
    {AIW_UNAUTHENTICATED, "UNAUTHENTICATED", 401},
    {AIW_SERVICE_ERROR, "SERVICE_ERROR", 502},
    {AIW_CALLBACK_ABORTED, "CALLBACK_ABORTED", 499},
    {AIW_OUT_OF_MEMORY, "OUT_OF_MEMORY", 500},
    {AIW_RECURSIVE_API_CALL, "RECURSIVE_API_CALL", 500},
};
#define NCODES (sizeof CODES / sizeof CODES[0])

START_TEST(test_code_numbers) {
  /* gRPC's numbers where they correspond; library codes after, append-only. */
  ck_assert_int_eq(NCODES, AIW_CODE_LAST + 1);
  for (size_t i = 0; i < NCODES; i++) ck_assert_int_eq(CODES[i].code, (int)i);
}
END_TEST

START_TEST(test_code_names) {
  ck_assert_str_eq(aiw_code_name(CODES[_i].code), CODES[_i].name);
}
END_TEST

START_TEST(test_http_status) {
  ck_assert_int_eq(aiw_http_status(CODES[_i].code), CODES[_i].http);
}
END_TEST

START_TEST(test_strerror) {
  const char *s = aiw_strerror(CODES[_i].code);
  ck_assert_ptr_nonnull(s);
  ck_assert_uint_gt(strlen(s), 0);
  ck_assert_str_ne(s, aiw_strerror(-1)); /* a known code has its own description */
}
END_TEST

START_TEST(test_unknown_codes) {
  const int bad[] = {-1, AIW_CODE_LAST + 1, 100, 1 << 30, -2147483647 - 1};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_str_eq(aiw_code_name(bad[i]), "UNKNOWN_CODE");
    ck_assert_ptr_nonnull(aiw_strerror(bad[i]));
    ck_assert_uint_gt(strlen(aiw_strerror(bad[i])), 0);
    ck_assert_int_eq(aiw_http_status(bad[i]), 500);
  }
}
END_TEST

START_TEST(test_strerror_examples) {
  ck_assert_str_eq(aiw_strerror(AIW_DEADLINE_EXCEEDED), "deadline exceeded");
}
END_TEST

START_TEST(test_versions) {
  ck_assert_str_eq(aiw_version(), AIW_VERSION_STRING);
  ck_assert_uint_eq(aiw_version_num(), AIW_VERSION_NUM);
  ck_assert_uint_eq(AIW_VERSION_NUM, (AIW_VERSION_MAJOR << 16) | (AIW_VERSION_MINOR << 8) | AIW_VERSION_PATCH);
  const char *g = aiw_grpc_version();
  ck_assert_ptr_nonnull(g);
  ck_assert_uint_gt(strlen(g), 0);
  ck_assert_ptr_nonnull(strchr(g, '.'));
}
END_TEST

START_TEST(test_error_layout) {
  /* The aiw_error layout is frozen (ABI). */
  ck_assert_uint_eq(AIW_ERROR_MESSAGE_SIZE, 512);
  aiw_error e;
  ck_assert_uint_eq(sizeof e.message, 512);
  ck_assert_uint_eq(__builtin_offsetof(aiw_error, code), 0);
  ck_assert_uint_eq(__builtin_offsetof(aiw_error, grpc_status), sizeof(int));
}
END_TEST

START_TEST(test_enum_names) {
  static const char *stages[] = {"STAGE_UNKNOWN",    "STAGE_QUEUED",    "STAGE_DOWNLOADING", "STAGE_PROCESSING",
                                 "STAGE_EMBEDDING", "STAGE_COMPLETED", "STAGE_FAILED"};
  for (int i = 0; i < 7; i++) ck_assert_str_eq(aiw_processing_stage_name(i), stages[i]);
  ck_assert_ptr_null(aiw_processing_stage_name(7));
  ck_assert_ptr_null(aiw_processing_stage_name(-1));
  static const char *etypes[] = {"EMBEDDING_UNKNOWN", "EMBEDDING_SEMANTIC", "EMBEDDING_VISUAL", "EMBEDDING_BOTH"};
  for (int i = 0; i < 4; i++) ck_assert_str_eq(aiw_embedding_type_name(i), etypes[i]);
  ck_assert_ptr_null(aiw_embedding_type_name(4));
  ck_assert_ptr_null(aiw_embedding_type_name(-1));
  static const char *stypes[] = {"SEARCH_UNKNOWN", "SEARCH_SEMANTIC", "SEARCH_VISUAL", "SEARCH_HYBRID"};
  for (int i = 0; i < 4; i++) ck_assert_str_eq(aiw_search_type_name(i), stypes[i]);
  ck_assert_ptr_null(aiw_search_type_name(4));
  ck_assert_ptr_null(aiw_search_type_name(-1));
}
END_TEST

START_TEST(test_global_init_refcount) {
  ck_assert_int_eq(aiw_global_init(), AIW_OK);
  ck_assert_int_eq(aiw_global_init(), AIW_OK);
  aiw_global_cleanup();
  aiw_global_cleanup();
  /* Again after a full shutdown: gRPC can be brought back up. */
  ck_assert_int_eq(aiw_global_init(), AIW_OK);
  aiw_global_cleanup();
}
END_TEST

Suite *suite_codes(void) {
  Suite *s = suite_create("codes");
  TCase *tc = tcase_create("codes");
  tcase_add_test(tc, test_code_numbers);
  tcase_add_loop_test(tc, test_code_names, 0, (int)NCODES);
  tcase_add_loop_test(tc, test_http_status, 0, (int)NCODES);
  tcase_add_loop_test(tc, test_strerror, 0, (int)NCODES);
  tcase_add_test(tc, test_unknown_codes);
  tcase_add_test(tc, test_strerror_examples);
  tcase_add_test(tc, test_error_layout);
  suite_add_tcase(s, tc);
  TCase *tv = tcase_create("versions");
  tcase_add_test(tv, test_versions);
  tcase_add_test(tv, test_enum_names);
  tcase_add_test(tv, test_global_init_refcount);
  suite_add_tcase(s, tv);
  return s;
}
