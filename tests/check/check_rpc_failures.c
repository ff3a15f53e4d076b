/* check_rpc_failures.c -- an unimplemented method (from a real server),
 * unreachable servers (fail-fast and wait-for-ready), unary deadlines. */
#include <string.h>
#include <unistd.h>

#include "harness.h"

static int no_chunks(const aiw_chat_response *ch, void *ud) {
  (void)ch;
  ++*(int *)ud;
  return 0;
}

/* Runs GetEmbedding (r on c with o), which must fail with status `want`
 * (grpc_status the same number) and no response; returns how long it took. */
static int64_t embedding_fails(aiw_client *c, const aiw_embedding_request *r, const aiw_call_options *o,
                               aiw_code want, aiw_error *err) {
  aiw_embedding_response *resp = (aiw_embedding_response *)&resp; /* must be overwritten */
  int64_t t0 = now_ms();
  aiw_code rc = aiw_get_embedding(c, r, o, &resp, err);
  int64_t took = now_ms() - t0;
  expect_code("GetEmbedding", rc, err, want);
  ck_assert_ptr_null(resp);
  ck_assert_int_eq(err->grpc_status, (int)want);
  return took;
}

/* The same for VectorSearch. */
static int64_t search_fails(aiw_client *c, const aiw_search_request *r, const aiw_call_options *o, aiw_code want,
                            aiw_error *err) {
  aiw_search_response *resp = (aiw_search_response *)&resp; /* must be overwritten */
  int64_t t0 = now_ms();
  aiw_code rc = aiw_vector_search(c, r, o, &resp, err);
  int64_t took = now_ms() - t0;
  expect_code("VectorSearch", rc, err, want);
  ck_assert_ptr_null(resp);
  ck_assert_int_eq(err->grpc_status, (int)want);
  return took;
}

START_TEST(test_unimplemented) {
  /* g_srv_nochat runs without ChatStream registered. */
  aiw_client *c = test_client(g_srv_nochat.target, 0);
  aiw_chat_request *r = chat_req("hello");
  int calls = 0;
  aiw_error err;
  aiw_code rc = aiw_chat_stream(c, r, NULL, no_chunks, &calls, &err);
  expect_code("ChatStream", rc, &err, AIW_UNIMPLEMENTED);
  ck_assert_int_eq(err.grpc_status, 12);
  ck_assert_uint_gt(strlen(err.message), 0);
  ck_assert_int_eq(calls, 0);
  /* The other methods of the same server work. */
  expect_client_works(c);
  aiw_chat_request_free(r);
  aiw_client_free(c);
}
END_TEST

/* A client to a local port with nothing listening on it (bound, then closed). */
static aiw_client *dead_client(void) {
  char target[64];
  int fd;
  unlistened_target(target, sizeof target, &fd);
  close(fd);
  return test_client(target, 0);
}

START_TEST(test_unreachable_fail_fast) {
  aiw_client *c = dead_client();
  aiw_call_options *o = test_opts(30000, NULL);
  aiw_embedding_request *r = embed_req("x", AIW_EMBEDDING_UNKNOWN);
  aiw_error err;
  int64_t took = embedding_fails(c, r, o, AIW_UNAVAILABLE, &err); /* grpc_status 14 */
  ck_assert_uint_gt(strlen(err.message), 0); /* gRPC's debug string */
  ck_assert_msg(took < hang_bound_ms(5000), "fail-fast took %lld ms", (long long)took);
  /* Chat too. */
  aiw_chat_request *q = chat_req("x");
  int calls = 0;
  ck_assert_int_eq(aiw_chat_stream(c, q, o, no_chunks, &calls, &err), AIW_UNAVAILABLE);
  ck_assert_int_eq(calls, 0);
  aiw_chat_request_free(q);
  aiw_embedding_request_free(r);
  aiw_call_options_free(o);
  aiw_client_free(c);
}
END_TEST

START_TEST(test_unreachable_wait_for_ready) {
  aiw_client *c = dead_client();
  aiw_call_options *o = test_opts(700, NULL);
  ck_assert_int_eq(aiw_call_options_set_wait_for_ready(o, 1), AIW_OK);
  aiw_search_request *r = search_req("q");
  aiw_error err;
  int64_t took = search_fails(c, r, o, AIW_DEADLINE_EXCEEDED, &err); /* grpc_status 4 */
  /* It waited for the deadline (not fail-fast), and did not hang. */
  ck_assert_msg(took >= 600, "returned after %lld ms, before the 700 ms deadline", (long long)took);
  ck_assert_msg(took < hang_bound_ms(10000), "took %lld ms", (long long)took);
  aiw_search_request_free(r);
  aiw_call_options_free(o);
  aiw_client_free(c);
}
END_TEST

START_TEST(test_unary_deadline) {
  aiw_client *c = test_client(g_srv.target, 0);
  char rid[64];
  unique_id(rid, sizeof rid, "unary-deadline");
  aiw_call_options *o = test_opts(300, rid);
  aiw_embedding_request *r = embed_req("!slow:20000", AIW_EMBEDDING_UNKNOWN);
  aiw_error err;
  int64_t took = embedding_fails(c, r, o, AIW_DEADLINE_EXCEEDED, &err); /* grpc_status 4 */
  ck_assert_msg(took < hang_bound_ms(10000), "took %lld ms", (long long)took);
  expect_outcome(&g_srv, rid, "CANCELLED", 10000);
  /* A slow call that fits in its deadline succeeds. */
  ck_assert_int_eq(aiw_embedding_request_set_text(r, "!slow:50"), AIW_OK);
  ck_assert_int_eq(aiw_call_options_set_timeout_ms(o, 30000), AIW_OK);
  aiw_embedding_response *resp = NULL;
  ck_assert_int_eq(aiw_get_embedding(c, r, o, &resp, &err), AIW_OK);
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(r);
  aiw_call_options_free(o);
  aiw_client_free(c);
}
END_TEST

START_TEST(test_process_and_search_deadline) {
  aiw_client *c = test_client(g_srv.target, 0);
  aiw_call_options *o = test_opts(200, NULL);
  aiw_asset_request *a = asset_req("!slow:20000", "b/o", "text/plain");
  aiw_process_status *st = NULL;
  aiw_error err;
  ck_assert_int_eq(aiw_process_asset(c, a, o, &st, &err), AIW_DEADLINE_EXCEEDED);
  ck_assert_ptr_null(st);
  aiw_search_request *q = search_req("!slow:20000");
  search_fails(c, q, o, AIW_DEADLINE_EXCEEDED, &err);
  aiw_search_request_free(q);
  aiw_asset_request_free(a);
  aiw_call_options_free(o);
  aiw_client_free(c);
}
END_TEST

START_TEST(test_server_gone_between_calls) {
  /* A server that stops: the next call fails (UNAVAILABLE), no hang. */
  refservice rs;
  ck_assert_int_eq(refservice_start(&rs, NULL), 0);
  aiw_client *c = test_client(rs.target, 0);
  expect_client_works(c);
  ck_assert_int_eq(refservice_stop(&rs), 0); /* clean exit on SIGTERM */
  aiw_call_options *o = test_opts(10000, NULL);
  aiw_search_request *q = search_req("q");
  aiw_search_response *sr = (aiw_search_response *)&sr;
  aiw_error err;
  aiw_code rc = aiw_vector_search(c, q, o, &sr, &err);
  expect_code("VectorSearch", rc, &err, AIW_UNAVAILABLE);
  ck_assert_ptr_null(sr);
  aiw_call_options_free(o);
  aiw_search_request_free(q);
  aiw_client_free(c);
}
END_TEST

Suite *suite_rpc_failures(void) {
  Suite *s = suite_create("rpc_failures");
  TCase *tu = tcase_create("unimplemented");
  tcase_add_unchecked_fixture(tu, srv_nochat_setup, srv_nochat_teardown);
  tcase_set_timeout(tu, 60);
  tcase_add_test(tu, test_unimplemented);
  suite_add_tcase(s, tu);
  TCase *tn = tcase_create("unreachable");
  tcase_set_timeout(tn, 60);
  tcase_add_test(tn, test_unreachable_fail_fast);
  tcase_add_test(tn, test_unreachable_wait_for_ready);
  tcase_add_test(tn, test_server_gone_between_calls);
  suite_add_tcase(s, tn);
  TCase *td = server_tcase(s, "deadlines", 60, NULL);
  tcase_add_test(td, test_unary_deadline);
  tcase_add_test(td, test_process_and_search_deadline);
  return s;
}
