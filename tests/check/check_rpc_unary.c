/* check_rpc_unary.c -- ProcessAsset, GetEmbedding and VectorSearch against the
 * reference service: every field in both directions (via `!echo`), unicode,
 * empty and multi-MiB messages, image bytes with NUL, success=false and
 * status errors. Expected values come from tests/refservice/README.md. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The test cases use g_client (64 MiB receive limit). */

/* ---------------------------------------------------------------- ProcessAsset */

/* Runs ProcessAsset on g_client; ck_asserts the code (and err->code). */
static aiw_process_status *process(aiw_asset_request *r, aiw_code want_rc, aiw_error *err) {
  aiw_process_status *st = (aiw_process_status *)&st; /* must be overwritten */
  expect_code("ProcessAsset", aiw_process_asset(g_client, r, NULL, &st, err), err, want_rc);
  if (want_rc == AIW_OK || want_rc == AIW_SERVICE_ERROR)
    ck_assert_ptr_nonnull(st); /* the response is returned (and readable) on SERVICE_ERROR too */
  else
    ck_assert_ptr_null(st);
  return st;
}

START_TEST(test_process_normal) {
  aiw_asset_request *r = asset_req("asset-1", "bucket/object.png", "image/png");
  aiw_error err;
  aiw_process_status *st = process(r, AIW_OK, &err);
  ck_assert_int_eq(err.grpc_status, 0);
  ck_assert_str_eq(err.message, "");
  expect_process_completed(st);
  aiw_process_status_free(st);
  aiw_asset_request_free(r);
}
END_TEST

START_TEST(test_process_echo_all_fields) {
  char path[128];
  snprintf(path, sizeof path, "b\xc3\xbc" "cket/%s", UNI);
  const asset_echo want = {"!echo", path, "image/png", .ocr = 1, .caption = 0, .embedding = 1, .summary = 1,
                           .max_chunk_size = 512, .options = 1};
  aiw_asset_request *r = asset_req_echo(&want); /* every field set */
  aiw_error err;
  aiw_process_status *st = process(r, AIW_OK, &err);
  expect_process_echo(st, &want);
  aiw_process_status_free(st);
  aiw_asset_request_free(r);
}
END_TEST

START_TEST(test_process_echo_no_options) {
  aiw_asset_request *r = asset_req("!echo", "b/o", "text/plain");
  aiw_error err;
  aiw_process_status *st = process(r, AIW_OK, &err);
  asset_echo want = {"!echo", "b/o", "text/plain", .options = 0}; /* every option 0 */
  expect_process_echo(st, &want);
  aiw_process_status_free(st);
  /* One option setter is enough for the sub-message to be sent. */
  ck_assert_int_eq(aiw_asset_request_set_enable_ocr(r, 0), AIW_OK);
  st = process(r, AIW_OK, &err);
  want.options = 1;
  expect_process_echo(st, &want);
  aiw_process_status_free(st);
  aiw_asset_request_free(r);
}
END_TEST

START_TEST(test_process_service_error) {
  char id[600];
  snprintf(id, sizeof id, "!fail:disk %s full", UNI);
  aiw_asset_request *r = asset_req(id, "b/o", "text/plain");
  aiw_error err;
  aiw_process_status *st = process(r, AIW_SERVICE_ERROR, &err); /* the response is still returned */
  ck_assert_int_eq(err.grpc_status, 0);
  ck_assert_str_eq(err.message, id + strlen("!fail:"));
  expect_process_failed(st, id + strlen("!fail:"), AIW_STAGE_FAILED);
  aiw_process_status_free(st);
  aiw_asset_request_free(r);
}
END_TEST

static const struct {
  const char *name;
  aiw_code code;
} STATUSES[] = {{"CANCELLED", AIW_CANCELLED},
                {"UNKNOWN", AIW_UNKNOWN},
                {"INVALID_ARGUMENT", AIW_INVALID_ARGUMENT},
                {"DEADLINE_EXCEEDED", AIW_DEADLINE_EXCEEDED},
                {"NOT_FOUND", AIW_NOT_FOUND},
                {"ALREADY_EXISTS", AIW_ALREADY_EXISTS},
                {"PERMISSION_DENIED", AIW_PERMISSION_DENIED},
                {"RESOURCE_EXHAUSTED", AIW_RESOURCE_EXHAUSTED},
                {"FAILED_PRECONDITION", AIW_FAILED_PRECONDITION},
                {"ABORTED", AIW_ABORTED},
                {"OUT_OF_RANGE", AIW_OUT_OF_RANGE},
                {"UNIMPLEMENTED", AIW_UNIMPLEMENTED},
                {"INTERNAL", AIW_INTERNAL},
                {"UNAVAILABLE", AIW_UNAVAILABLE},
                {"DATA_LOSS", AIW_DATA_LOSS},
                {"UNAUTHENTICATED", AIW_UNAUTHENTICATED}};

START_TEST(test_process_status_errors) {
  /* Every gRPC status from the server maps to the code with its number, with
   * the server's message (containing ':' and unicode). */
  char id[256];
  snprintf(id, sizeof id, "!error:%s:why: %s", STATUSES[_i].name, UNI);
  aiw_asset_request *r = asset_req(id, "b/o", "text/plain");
  aiw_error err;
  ck_assert_ptr_null(process(r, STATUSES[_i].code, &err));
  char want[256];
  snprintf(want, sizeof want, "why: %s", UNI);
  expect_status_error(&err, STATUSES[_i].code, want);
  aiw_asset_request_free(r);
}
END_TEST

/* ---------------------------------------------------------------- GetEmbedding */

/* Runs GetEmbedding on g_client; ck_asserts the code (and err->code). */
static aiw_embedding_response *embed(aiw_embedding_request *r, aiw_code want_rc, aiw_error *err) {
  aiw_embedding_response *resp = (aiw_embedding_response *)&resp; /* must be overwritten */
  expect_code("GetEmbedding", aiw_get_embedding(g_client, r, NULL, &resp, err), err, want_rc);
  if (want_rc == AIW_OK || want_rc == AIW_SERVICE_ERROR)
    ck_assert_ptr_nonnull(resp);
  else
    ck_assert_ptr_null(resp);
  return resp;
}

START_TEST(test_embed_text_semantic) {
  aiw_embedding_request *r = embed_req("hello", AIW_EMBEDDING_UNKNOWN);
  aiw_error err;
  aiw_embedding_response *resp = embed(r, AIW_OK, &err);
  expect_embedding(resp, "hello", 5, 0, AIW_EMBEDDING_UNKNOWN); /* semantic only */
  size_t len = 0;
  const float *v = aiw_embedding_response_semantic_vector(resp, &len);
  ck_assert_ptr_eq(aiw_embedding_response_semantic_vector(resp, NULL), v);
  ck_assert_float_eq(v[0], -0.61f); /* README check values */
  ck_assert_float_eq(v[1], 0.0621f);
  ck_assert_float_eq(v[2], -0.361f);
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(r);
}
END_TEST

START_TEST(test_embed_text_types) {
  /* type EMBEDDING_UNKNOWN/SEMANTIC/VISUAL/BOTH on unicode text. */
  aiw_embedding_request *r = embed_req(UNI, AIW_EMBEDDING_UNKNOWN);
  for (int t = AIW_EMBEDDING_UNKNOWN; t <= AIW_EMBEDDING_BOTH; t++) {
    ck_assert_int_eq(aiw_embedding_request_set_type(r, (aiw_embedding_type)t), AIW_OK);
    aiw_error err;
    aiw_embedding_response *resp = embed(r, AIW_OK, &err);
    expect_embedding(resp, UNI, strlen(UNI), 0, (aiw_embedding_type)t); /* the vectors of the type, no other */
    aiw_embedding_response_free(resp);
  }
  aiw_embedding_request_free(r);
}
END_TEST

START_TEST(test_embed_empty_text) {
  aiw_embedding_request *r = embed_req("", AIW_EMBEDDING_UNKNOWN);
  aiw_error err;
  aiw_embedding_response *resp = embed(r, AIW_OK, &err);
  expect_embedding(resp, "", 0, 0, AIW_EMBEDDING_UNKNOWN);
  const float *v = aiw_embedding_response_semantic_vector(resp, NULL);
  ck_assert_float_eq(v[0], 0.7129f); /* README check values */
  ck_assert_float_eq(v[1], 0.7434f);
  ck_assert_float_eq(v[2], -0.0426f);
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(r);
}
END_TEST

START_TEST(test_embed_image_with_nul) {
  const unsigned char img[] = {'a', 0, 'b'};
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_image(r, img, sizeof img, "png"), AIW_OK);
  aiw_error err;
  aiw_embedding_response *resp = embed(r, AIW_OK, &err); /* UNKNOWN = VISUAL for an image */
  expect_embedding(resp, img, sizeof img, 1, AIW_EMBEDDING_UNKNOWN);
  const float *v = aiw_embedding_response_visual_vector(resp, NULL);
  ck_assert_float_eq(v[0], 0.7972f); /* README check values */
  ck_assert_float_eq(v[1], -0.5341f);
  aiw_embedding_response_free(resp);

  /* All 256 byte values, twice, with BOTH; set_image after set_text wins. */
  unsigned char all[512];
  for (size_t i = 0; i < sizeof all; i++) all[i] = (unsigned char)i;
  ck_assert_int_eq(aiw_embedding_request_set_text(r, "ignored"), AIW_OK);
  ck_assert_int_eq(aiw_embedding_request_set_image(r, all, sizeof all, "jpeg"), AIW_OK);
  unsigned char sent[sizeof all];
  memcpy(sent, all, sizeof all);
  memset(all, 0xaa, sizeof all); /* the library copied the bytes */
  ck_assert_int_eq(aiw_embedding_request_set_type(r, AIW_EMBEDDING_BOTH), AIW_OK);
  resp = embed(r, AIW_OK, &err);
  expect_embedding(resp, sent, sizeof sent, 1, AIW_EMBEDDING_BOTH);
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(r);
}
END_TEST

START_TEST(test_embed_text_after_image) {
  const unsigned char img[] = {1, 2, 3};
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_image(r, img, sizeof img, "png"), AIW_OK);
  ck_assert_int_eq(aiw_embedding_request_set_text(r, "hello"), AIW_OK); /* clears the image */
  aiw_error err;
  aiw_embedding_response *resp = embed(r, AIW_OK, &err);
  expect_embedding(resp, "hello", 5, 0, AIW_EMBEDDING_UNKNOWN);
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(r);
}
END_TEST

START_TEST(test_embed_empty_image) {
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_image(r, NULL, 0, NULL), AIW_OK);
  aiw_error err;
  aiw_embedding_response *resp = embed(r, AIW_OK, &err);
  expect_embedding(resp, "", 0, 1, AIW_EMBEDDING_UNKNOWN); /* visual */
  const float *v = aiw_embedding_response_visual_vector(resp, NULL);
  ck_assert_float_eq(v[0], -0.1368f); /* README check values */
  ck_assert_float_eq(v[1], -0.5011f);
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(r);
}
END_TEST

START_TEST(test_embed_big_image) {
  /* A multi-MiB request (8 MiB of bytes, NULs included). */
  size_t n = 8u << 20;
  unsigned char *img = malloc(n);
  ck_assert_ptr_nonnull(img);
  for (size_t i = 0; i < n; i++) img[i] = (unsigned char)(i * 2654435761u >> 13);
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_image(r, img, n, "webp"), AIW_OK);
  aiw_error err;
  aiw_embedding_response *resp = embed(r, AIW_OK, &err);
  expect_embedding(resp, img, n, 1, AIW_EMBEDDING_UNKNOWN);
  free(img);
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(r);
}
END_TEST

START_TEST(test_embed_unsupported_format) {
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_image(r, "x", 1, "bmp"), AIW_OK);
  aiw_error err;
  aiw_embedding_response *resp = embed(r, AIW_SERVICE_ERROR, &err);
  ck_assert_int_eq(err.grpc_status, 0);
  ck_assert_str_eq(err.message, "unsupported image format: bmp");
  expect_embedding_failed(resp, "unsupported image format: bmp");
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(r);
}
END_TEST

START_TEST(test_embed_fail_and_error) {
  aiw_embedding_request *r = embed_req("!fail:model offline", AIW_EMBEDDING_UNKNOWN);
  aiw_error err;
  aiw_embedding_response *resp = embed(r, AIW_SERVICE_ERROR, &err);
  ck_assert_str_eq(err.message, "model offline");
  expect_embedding_failed(resp, "model offline");
  aiw_embedding_response_free(resp);
  ck_assert_int_eq(aiw_embedding_request_set_text(r, "!error:PERMISSION_DENIED:no"), AIW_OK);
  ck_assert_ptr_null(embed(r, AIW_PERMISSION_DENIED, &err));
  ck_assert_int_eq(err.grpc_status, 7);
  expect_status_error(&err, AIW_PERMISSION_DENIED, "no");
  aiw_embedding_request_free(r);
}
END_TEST

/* ---------------------------------------------------------------- VectorSearch */

/* Runs VectorSearch on client c; ck_asserts the code (and err->code). */
static aiw_search_response *search_on(aiw_client *c, aiw_search_request *r, const aiw_call_options *o,
                                      aiw_code want_rc, aiw_error *err) {
  aiw_search_response *resp = (aiw_search_response *)&resp; /* must be overwritten */
  expect_code("VectorSearch", aiw_vector_search(c, r, o, &resp, err), err, want_rc);
  if (want_rc == AIW_OK || want_rc == AIW_SERVICE_ERROR)
    ck_assert_ptr_nonnull(resp);
  else
    ck_assert_ptr_null(resp);
  return resp;
}

/* search_on(g_client, ...). */
static aiw_search_response *search(aiw_search_request *r, const aiw_call_options *o, aiw_code want_rc,
                                   aiw_error *err) {
  return search_on(g_client, r, o, want_rc, err);
}

START_TEST(test_search_default) {
  aiw_search_request *r = search_req(UNI);
  aiw_error err;
  aiw_search_response *resp = search(r, NULL, AIW_OK, &err);
  /* Ids, order, and every field of every result (img-008: unicode caption). */
  expect_default_search(resp);
  aiw_search_response_free(resp);
  aiw_search_request_free(r);
}
END_TEST

START_TEST(test_search_visual_threshold_limit_filter) {
  aiw_search_request *r = search_req("q");
  search_req_set(r, AIW_SEARCH_VISUAL, 2, 0.8f, "image/", NULL);
  aiw_error err;
  aiw_search_response *resp = search(r, NULL, AIW_OK, &err);
  static const char *const ids[] = {"img-002", "img-004"}; /* visual scores 0.97, 0.9 */
  expect_search_results(resp, AIW_SEARCH_VISUAL, 4, ids, 2);
  aiw_search_response_free(resp);

  /* clear_filters + a metadata filter; hybrid scores. */
  aiw_search_request_clear_filters(r);
  search_req_set(r, AIW_SEARCH_HYBRID, 0, 0.0f, "owner=alice", NULL);
  resp = search(r, NULL, AIW_OK, &err);
  static const char *const ids2[] = {"img-006", "doc-001", "doc-003"}; /* hybrid: img-006 0.625 first */
  expect_search_results(resp, AIW_SEARCH_HYBRID, 3, ids2, 3);
  aiw_search_response_free(resp);

  /* Two filters (AND) and semantic. */
  ck_assert_int_eq(aiw_search_request_add_filter(r, "application/pdf"), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_type(r, AIW_SEARCH_SEMANTIC), AIW_OK);
  resp = search(r, NULL, AIW_OK, &err);
  static const char *const ids3[] = {"doc-001"};
  expect_search_results(resp, AIW_SEARCH_SEMANTIC, 1, ids3, 1);
  aiw_search_response_free(resp);
  aiw_search_request_free(r);
}
END_TEST

START_TEST(test_search_empty_result) {
  aiw_search_request *r = search_req("q");
  ck_assert_int_eq(aiw_search_request_set_threshold(r, 2.0f), AIW_OK);
  aiw_error err;
  aiw_search_response *resp = search(r, NULL, AIW_OK, &err);
  expect_search_results(resp, AIW_SEARCH_UNKNOWN, 0, NULL, 0); /* success, no results */
  aiw_search_response_free(resp);
  aiw_search_request_free(r);
}
END_TEST

START_TEST(test_search_echo_and_metadata) {
  /* Every request field and the request metadata, as seen by the server. */
  aiw_search_request *r = search_req("!echo");
  search_req_set(r, AIW_SEARCH_HYBRID, 7, 0.25f, "owner=alice", UNI, NULL);
  char rid[64];
  unique_id(rid, sizeof rid, "echo");
  aiw_call_options *o = test_opts(0, rid);
  add_echo_metadata(o);
  aiw_error err;
  aiw_search_response *resp = search(r, o, AIW_OK, &err);
  char filters[128];
  snprintf(filters, sizeof filters, "owner=alice|%s", UNI);
  const search_echo want = {.query = "!echo", .type = "SEARCH_HYBRID", .limit = 7, .threshold = "0.25",
                            .score = 0.25f, .filters = filters, .request_id = rid, .echo_metadata = 1};
  expect_search_echo(resp, &want);
  aiw_search_response_free(resp);

  /* The events log saw the same request id. */
  expect_outcome(&g_srv, rid, "OK", 5000);

  /* clear_metadata: the headers are gone. */
  aiw_call_options_clear_metadata(o);
  resp = search(r, o, AIW_OK, &err);
  const aiw_search_result *x = aiw_search_response_result(resp, 0);
  ck_assert_ptr_null(aiw_search_result_metadata_get(x, "md:x-request-id"));
  ck_assert_ptr_null(aiw_search_result_metadata_get(x, "md:trace-bin"));
  aiw_search_response_free(resp);
  aiw_call_options_free(o);
  aiw_search_request_free(r);
}
END_TEST

START_TEST(test_search_user_agent) {
  aiw_client_options *co = aiw_client_options_new();
  ck_assert_int_eq(aiw_client_options_set_user_agent(co, "aiw-tests/9.9"), AIW_OK);
  aiw_client *c = NULL;
  aiw_error err;
  ck_assert_int_eq(aiw_client_new(g_srv.target, co, &c, &err), AIW_OK);
  aiw_client_options_free(co);
  aiw_search_request *r = search_req("!echo");
  aiw_search_response *resp = search_on(c, r, NULL, AIW_OK, &err);
  const char *ua = aiw_search_result_metadata_get(aiw_search_response_result(resp, 0), "md:user-agent");
  ck_assert_ptr_nonnull(ua);
  ck_assert_msg(strncmp(ua, "aiw-tests/9.9", 13) == 0, "user-agent: %s", ua);
  aiw_search_response_free(resp);
  aiw_search_request_free(r);
  aiw_client_free(c);
}
END_TEST

START_TEST(test_search_service_error) {
  aiw_search_request *r = search_req("!fail:index not ready");
  aiw_error err;
  aiw_search_response *resp = search(r, NULL, AIW_SERVICE_ERROR, &err);
  ck_assert_str_eq(err.message, "index not ready");
  ck_assert_int_eq(err.grpc_status, 0);
  expect_search_failed(resp, "index not ready");
  aiw_search_response_free(resp);
  aiw_search_request_free(r);
}
END_TEST

START_TEST(test_search_long_error_truncated) {
  /* A status message longer than aiw_error.message is truncated, NUL-terminated. */
  char q[2100];
  strcpy(q, "!error:INTERNAL:");
  size_t l = strlen(q);
  memset(q + l, 'm', 2000);
  q[l + 2000] = '\0';
  aiw_search_request *r = search_req(q);
  aiw_error err;
  aiw_search_response *resp = search(r, NULL, AIW_INTERNAL, &err);
  ck_assert_uint_eq(strlen(err.message), AIW_ERROR_MESSAGE_SIZE - 1);
  ck_assert_int_eq(err.message[0], 'm');
  aiw_search_response_free(resp);
  aiw_search_request_free(r);
}
END_TEST

START_TEST(test_search_big_response) {
  /* 6 MiB caption: fine with the 64 MiB receive limit... */
  aiw_search_request *r = search_req("!big:6291456");
  aiw_error err;
  aiw_search_response *resp = search(r, NULL, AIW_OK, &err);
  const char *cap = aiw_search_result_caption(aiw_search_response_result(resp, 0));
  ck_assert_uint_eq(strlen(cap), 6291456);
  ck_assert_int_eq(cap[0], 'x');
  ck_assert_int_eq(cap[6291455], 'x');
  aiw_search_response_free(resp);

  /* ...and RESOURCE_EXHAUSTED with gRPC's default 4 MiB. */
  aiw_client *small = test_client(g_srv.target, 0);
  search_on(small, r, NULL, AIW_RESOURCE_EXHAUSTED, &err); /* returns NULL */
  ck_assert_int_eq(err.grpc_status, AIW_RESOURCE_EXHAUSTED);
  ck_assert_uint_gt(strlen(err.message), 0);
  /* The client still works afterwards. */
  expect_client_works(small);
  aiw_client_free(small);
  aiw_search_request_free(r);
}
END_TEST

START_TEST(test_search_limit_refused_by_server) {
  /* A small explicit receive limit is honoured too. */
  aiw_client *tiny = test_client(g_srv.target, 1000);
  aiw_search_request *r = search_req("!big:2000");
  aiw_error err;
  search_on(tiny, r, NULL, AIW_RESOURCE_EXHAUSTED, &err); /* returns NULL */
  ck_assert_int_eq(aiw_search_request_set_query(r, "!big:100"), AIW_OK);
  aiw_search_response *resp = search_on(tiny, r, NULL, AIW_OK, &err);
  aiw_search_response_free(resp);
  aiw_search_request_free(r);
  aiw_client_free(tiny);
}
END_TEST

/* ------------------------------------------- empty and undecodable responses */

START_TEST(test_empty_responses) {
  /* A response of zero bytes decodes to all defaults: success=false. */
  aiw_error err;
  aiw_asset_request *a = asset_req("!empty", "b/o", "text/plain");
  aiw_process_status *st = process(a, AIW_SERVICE_ERROR, &err);
  ck_assert_uint_gt(strlen(err.message), 0); /* the library says there was no error text */
  expect_process_failed(st, "", AIW_STAGE_UNKNOWN);
  aiw_process_status_free(st);
  aiw_asset_request_free(a);

  aiw_embedding_request *e = embed_req("!empty", AIW_EMBEDDING_UNKNOWN);
  aiw_embedding_response *er = embed(e, AIW_SERVICE_ERROR, &err);
  expect_embedding_failed(er, "");
  aiw_embedding_response_free(er);
  aiw_embedding_request_free(e);

  aiw_search_request *q = search_req("!empty");
  aiw_search_response *sr = search(q, NULL, AIW_SERVICE_ERROR, &err);
  expect_search_failed(sr, "");
  aiw_search_response_free(sr);
  aiw_search_request_free(q);
}
END_TEST

START_TEST(test_undecodable_responses) {
  /* The RPC itself ended OK (grpc_status 0); the answer cannot be decoded. */
  aiw_error err;
  aiw_asset_request *a = asset_req("!garbage", "b/o", "text/plain");
  aiw_process_status *st = (aiw_process_status *)&st;
  expect_undecodable(aiw_process_asset(g_client, a, NULL, &st, &err), &err, 0);
  ck_assert_ptr_null(st);
  aiw_asset_request_free(a);

  aiw_embedding_request *e = embed_req("!garbage", AIW_EMBEDDING_UNKNOWN);
  aiw_embedding_response *er = (aiw_embedding_response *)&er;
  expect_undecodable(aiw_get_embedding(g_client, e, NULL, &er, &err), &err, 0);
  ck_assert_ptr_null(er);
  aiw_embedding_request_free(e);

  aiw_search_request *q = search_req("!garbage");
  aiw_search_response *sr = (aiw_search_response *)&sr;
  expect_undecodable(aiw_vector_search(g_client, q, NULL, &sr, &err), &err, 0);
  ck_assert_ptr_null(sr);
  aiw_search_request_free(q);
  /* The client is fine afterwards. */
  expect_client_works(g_client);
}
END_TEST

Suite *suite_rpc_unary(void) {
  Suite *s = suite_create("rpc_unary");
  TCase *tp = server_tcase(s, "process", 60, client_big_setup);
  tcase_add_test(tp, test_process_normal);
  tcase_add_test(tp, test_process_echo_all_fields);
  tcase_add_test(tp, test_process_echo_no_options);
  tcase_add_test(tp, test_process_service_error);
  tcase_add_loop_test(tp, test_process_status_errors, 0, (int)(sizeof STATUSES / sizeof STATUSES[0]));

  TCase *te = server_tcase(s, "embedding", 60, client_big_setup);
  tcase_add_test(te, test_embed_text_semantic);
  tcase_add_test(te, test_embed_text_types);
  tcase_add_test(te, test_embed_empty_text);
  tcase_add_test(te, test_embed_image_with_nul);
  tcase_add_test(te, test_embed_text_after_image);
  tcase_add_test(te, test_embed_empty_image);
  tcase_add_test(te, test_embed_big_image);
  tcase_add_test(te, test_embed_unsupported_format);
  tcase_add_test(te, test_embed_fail_and_error);

  TCase *ts = server_tcase(s, "search", 60, client_big_setup);
  tcase_add_test(ts, test_search_default);
  tcase_add_test(ts, test_search_visual_threshold_limit_filter);
  tcase_add_test(ts, test_search_empty_result);
  tcase_add_test(ts, test_search_echo_and_metadata);
  tcase_add_test(ts, test_search_user_agent);
  tcase_add_test(ts, test_search_service_error);
  tcase_add_test(ts, test_search_long_error_truncated);
  tcase_add_test(ts, test_search_big_response);
  tcase_add_test(ts, test_search_limit_refused_by_server);
  tcase_add_test(ts, test_empty_responses);
  tcase_add_test(ts, test_undecodable_responses);
  return s;
}
