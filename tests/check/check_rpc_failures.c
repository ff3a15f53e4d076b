/* check_rpc_failures.c -- an unimplemented method (from a real server),
 * unreachable servers (fail-fast and wait-for-ready), unary deadlines. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static int no_chunks(const aiw_chat_response *ch, void *ud) {
  (void)ch;
  ++*(int *)ud;
  return 0;
}

START_TEST(test_unimplemented) {
  /* g_srv_nochat runs without ChatStream registered. */
  aiw_client *c = test_client(g_srv_nochat.target, 0);
  aiw_chat_request *r = aiw_chat_request_new();
  ck_assert_int_eq(aiw_chat_request_set_query(r, "hello"), AIW_OK);
  int calls = 0;
  aiw_error err;
  aiw_code rc = aiw_chat_stream(c, r, NULL, no_chunks, &calls, &err);
  ck_assert_msg(rc == AIW_UNIMPLEMENTED, "got %s: %s", aiw_code_name(rc), err.message);
  ck_assert_int_eq(err.code, AIW_UNIMPLEMENTED);
  ck_assert_int_eq(err.grpc_status, 12);
  ck_assert_uint_gt(strlen(err.message), 0);
  ck_assert_int_eq(calls, 0);
  /* The other methods of the same server work. */
  aiw_search_request *q = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(q, "q"), AIW_OK);
  aiw_search_response *resp = NULL;
  ck_assert_int_eq(aiw_vector_search(c, q, NULL, &resp, &err), AIW_OK);
  ck_assert_int_eq(aiw_search_response_total_count(resp), 12);
  aiw_search_response_free(resp);
  aiw_search_request_free(q);
  aiw_chat_request_free(r);
  aiw_client_free(c);
}
END_TEST

/* A local port with nothing listening on it (bound, then closed). */
static int dead_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t l = sizeof a;
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
  close(fd);
  return ntohs(a.sin_port);
}

START_TEST(test_unreachable_fail_fast) {
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", dead_port());
  aiw_client *c = test_client(target, 0);
  aiw_call_options *o = test_opts(30000, NULL);
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_text(r, "x"), AIW_OK);
  aiw_embedding_response *resp = (aiw_embedding_response *)&resp;
  aiw_error err;
  int64_t t0 = now_ms();
  aiw_code rc = aiw_get_embedding(c, r, o, &resp, &err);
  int64_t took = now_ms() - t0;
  ck_assert_msg(rc == AIW_UNAVAILABLE, "got %s: %s", aiw_code_name(rc), err.message);
  ck_assert_ptr_null(resp);
  ck_assert_int_eq(err.grpc_status, 14);
  ck_assert_uint_gt(strlen(err.message), 0); /* gRPC's debug string */
  ck_assert_msg(took < hang_bound_ms(5000), "fail-fast took %lld ms", (long long)took);
  /* Chat too. */
  aiw_chat_request *q = aiw_chat_request_new();
  ck_assert_int_eq(aiw_chat_request_set_query(q, "x"), AIW_OK);
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
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", dead_port());
  aiw_client *c = test_client(target, 0);
  aiw_call_options *o = test_opts(700, NULL);
  ck_assert_int_eq(aiw_call_options_set_wait_for_ready(o, 1), AIW_OK);
  aiw_search_request *r = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(r, "q"), AIW_OK);
  aiw_search_response *resp = (aiw_search_response *)&resp;
  aiw_error err;
  int64_t t0 = now_ms();
  aiw_code rc = aiw_vector_search(c, r, o, &resp, &err);
  int64_t took = now_ms() - t0;
  ck_assert_msg(rc == AIW_DEADLINE_EXCEEDED, "got %s: %s", aiw_code_name(rc), err.message);
  ck_assert_ptr_null(resp);
  ck_assert_int_eq(err.grpc_status, 4);
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
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_text(r, "!slow:20000"), AIW_OK);
  aiw_embedding_response *resp = (aiw_embedding_response *)&resp;
  aiw_error err;
  int64_t t0 = now_ms();
  aiw_code rc = aiw_get_embedding(c, r, o, &resp, &err);
  int64_t took = now_ms() - t0;
  ck_assert_msg(rc == AIW_DEADLINE_EXCEEDED, "got %s: %s", aiw_code_name(rc), err.message);
  ck_assert_ptr_null(resp);
  ck_assert_int_eq(err.grpc_status, 4);
  ck_assert_msg(took < hang_bound_ms(10000), "took %lld ms", (long long)took);
  char outcome[64];
  ck_assert_int_eq(events_wait(&g_srv, rid, outcome, sizeof outcome, 10000), 0);
  ck_assert_str_eq(outcome, "CANCELLED");
  /* A slow call that fits in its deadline succeeds. */
  ck_assert_int_eq(aiw_embedding_request_set_text(r, "!slow:50"), AIW_OK);
  ck_assert_int_eq(aiw_call_options_set_timeout_ms(o, 30000), AIW_OK);
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
  aiw_asset_request *a = aiw_asset_request_new();
  aiw_asset_request_set_asset_id(a, "!slow:20000");
  aiw_asset_request_set_file_path(a, "b/o");
  aiw_asset_request_set_mime_type(a, "text/plain");
  aiw_process_status *st = NULL;
  aiw_error err;
  ck_assert_int_eq(aiw_process_asset(c, a, o, &st, &err), AIW_DEADLINE_EXCEEDED);
  ck_assert_ptr_null(st);
  aiw_search_request *q = aiw_search_request_new();
  aiw_search_request_set_query(q, "!slow:20000");
  aiw_search_response *sr = NULL;
  ck_assert_int_eq(aiw_vector_search(c, q, o, &sr, &err), AIW_DEADLINE_EXCEEDED);
  ck_assert_ptr_null(sr);
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
  aiw_search_request *q = aiw_search_request_new();
  aiw_search_request_set_query(q, "q");
  aiw_search_response *sr = NULL;
  aiw_error err;
  ck_assert_int_eq(aiw_vector_search(c, q, NULL, &sr, &err), AIW_OK);
  aiw_search_response_free(sr);
  ck_assert_int_eq(refservice_stop(&rs), 0); /* clean exit on SIGTERM */
  aiw_call_options *o = test_opts(10000, NULL);
  sr = NULL;
  aiw_code rc = aiw_vector_search(c, q, o, &sr, &err);
  ck_assert_msg(rc == AIW_UNAVAILABLE, "got %s: %s", aiw_code_name(rc), err.message);
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
  TCase *td = tcase_create("deadlines");
  tcase_add_unchecked_fixture(td, srv_setup, srv_teardown);
  tcase_set_timeout(td, 60);
  tcase_add_test(td, test_unary_deadline);
  tcase_add_test(td, test_process_and_search_deadline);
  suite_add_tcase(s, td);
  return s;
}
