/* check_rpc_unary.c -- ProcessAsset, GetEmbedding and VectorSearch against the
 * reference service: every field in both directions (via `!echo`), unicode,
 * empty and multi-MiB messages, image bytes with NUL, success=false and
 * status errors. Expected values come from tests/refservice/README.md. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char UNI[] = "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80"; /* héllo 世界 😀 */

static aiw_client *client;

static void client_setup(void) { client = test_client(g_srv.target, 64u << 20); }
static void client_teardown(void) {
  aiw_client_free(client);
  client = NULL;
}

/* ---------------------------------------------------------------- ProcessAsset */

static aiw_asset_request *asset_req(const char *id, const char *path, const char *mime) {
  aiw_asset_request *r = aiw_asset_request_new();
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(aiw_asset_request_set_asset_id(r, id), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_file_path(r, path), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_mime_type(r, mime), AIW_OK);
  return r;
}

START_TEST(test_process_normal) {
  aiw_asset_request *r = asset_req("asset-1", "bucket/object.png", "image/png");
  aiw_process_status *st = NULL;
  aiw_error err;
  aiw_code rc = aiw_process_asset(client, r, NULL, &st, &err);
  ck_assert_msg(rc == AIW_OK, "%s: %s", aiw_code_name(rc), err.message);
  ck_assert_int_eq(err.code, AIW_OK);
  ck_assert_int_eq(err.grpc_status, 0);
  ck_assert_str_eq(err.message, "");
  ck_assert_int_eq(aiw_process_status_success(st), 1);
  ck_assert_str_eq(aiw_process_status_error(st), "");
  ck_assert_int_eq(aiw_process_status_stage(st), AIW_STAGE_COMPLETED);
  ck_assert_float_eq(aiw_process_status_progress(st), 1.0f);
  aiw_process_status_free(st);
  aiw_asset_request_free(r);
}
END_TEST

START_TEST(test_process_echo_all_fields) {
  char path[128];
  snprintf(path, sizeof path, "b\xc3\xbc" "cket/%s", UNI);
  aiw_asset_request *r = asset_req("!echo", path, "image/png");
  ck_assert_int_eq(aiw_asset_request_set_enable_ocr(r, 1), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_enable_caption(r, 0), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_enable_embedding(r, 1), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_enable_summary(r, 1), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_max_chunk_size(r, 512), AIW_OK);
  aiw_process_status *st = NULL;
  aiw_error err;
  ck_assert_int_eq(aiw_process_asset(client, r, NULL, &st, &err), AIW_OK);
  char want[512];
  snprintf(want, sizeof want,
           "asset_id=!echo;file_path=%s;mime_type=image/png;ocr=1;caption=0;embedding=1;summary=1;"
           "max_chunk_size=512;options=1",
           path);
  ck_assert_str_eq(aiw_process_status_error(st), want);
  ck_assert_int_eq(aiw_process_status_success(st), 1);
  ck_assert_int_eq(aiw_process_status_stage(st), AIW_STAGE_PROCESSING);
  ck_assert_float_eq(aiw_process_status_progress(st), 0.5f);
  aiw_process_status_free(st);
  aiw_asset_request_free(r);
}
END_TEST

START_TEST(test_process_echo_no_options) {
  aiw_asset_request *r = asset_req("!echo", "b/o", "text/plain");
  aiw_process_status *st = NULL;
  aiw_error err;
  ck_assert_int_eq(aiw_process_asset(client, r, NULL, &st, &err), AIW_OK);
  ck_assert_str_eq(aiw_process_status_error(st),
                   "asset_id=!echo;file_path=b/o;mime_type=text/plain;ocr=0;caption=0;embedding=0;summary=0;"
                   "max_chunk_size=0;options=0");
  aiw_process_status_free(st);
  /* One option setter is enough for the sub-message to be sent. */
  ck_assert_int_eq(aiw_asset_request_set_enable_ocr(r, 0), AIW_OK);
  ck_assert_int_eq(aiw_process_asset(client, r, NULL, &st, &err), AIW_OK);
  ck_assert_ptr_nonnull(strstr(aiw_process_status_error(st), ";options=1"));
  aiw_process_status_free(st);
  aiw_asset_request_free(r);
}
END_TEST

START_TEST(test_process_service_error) {
  char id[600];
  snprintf(id, sizeof id, "!fail:disk %s full", UNI);
  aiw_asset_request *r = asset_req(id, "b/o", "text/plain");
  aiw_process_status *st = NULL;
  aiw_error err;
  ck_assert_int_eq(aiw_process_asset(client, r, NULL, &st, &err), AIW_SERVICE_ERROR);
  ck_assert_int_eq(err.code, AIW_SERVICE_ERROR);
  ck_assert_int_eq(err.grpc_status, 0);
  ck_assert_str_eq(err.message, id + strlen("!fail:"));
  ck_assert_ptr_nonnull(st); /* the response is still returned and readable */
  ck_assert_int_eq(aiw_process_status_success(st), 0);
  ck_assert_str_eq(aiw_process_status_error(st), id + strlen("!fail:"));
  ck_assert_int_eq(aiw_process_status_stage(st), AIW_STAGE_FAILED);
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
  aiw_process_status *st = (aiw_process_status *)&st;
  aiw_error err;
  ck_assert_int_eq(aiw_process_asset(client, r, NULL, &st, &err), STATUSES[_i].code);
  ck_assert_ptr_null(st);
  ck_assert_int_eq(err.code, STATUSES[_i].code);
  ck_assert_int_eq(err.grpc_status, (int)STATUSES[_i].code);
  char want[256];
  snprintf(want, sizeof want, "why: %s", UNI);
  ck_assert_str_eq(err.message, want);
  aiw_asset_request_free(r);
}
END_TEST

/* ---------------------------------------------------------------- GetEmbedding */

static void check_vector(const float *v, size_t len, uint32_t seed, size_t n) {
  ck_assert_uint_eq(len, n);
  ck_assert_ptr_nonnull(v);
  float *want = malloc(n * sizeof *want);
  ck_assert_ptr_nonnull(want);
  ref_vector(seed, want, n);
  for (size_t i = 0; i < n; i++)
    if (v[i] != want[i]) {
      float got = v[i], exp = want[i];
      free(want);
      ck_abort_msg("element %zu: got %.9g, want %.9g", i, (double)got, (double)exp);
    }
  free(want);
}

static uint32_t seed_of(const void *data, size_t len) {
  uint32_t s = ref_fnv1a32(data, len);
  return s != 0 ? s : 1;
}

static aiw_embedding_response *embed(aiw_embedding_request *r, aiw_code want_rc, aiw_error *err) {
  aiw_embedding_response *resp = NULL;
  aiw_code rc = aiw_get_embedding(client, r, NULL, &resp, err);
  ck_assert_msg(rc == want_rc, "got %s (%s), want %s", aiw_code_name(rc), err->message, aiw_code_name(want_rc));
  return resp;
}

START_TEST(test_embed_text_semantic) {
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_text(r, "hello"), AIW_OK);
  aiw_error err;
  aiw_embedding_response *resp = embed(r, AIW_OK, &err);
  ck_assert_int_eq(aiw_embedding_response_success(resp), 1);
  ck_assert_str_eq(aiw_embedding_response_error(resp), "");
  size_t len = 0;
  const float *v = aiw_embedding_response_semantic_vector(resp, &len);
  ck_assert_uint_eq(seed_of("hello", 5), 0x4f9f2cabu); /* README check values */
  check_vector(v, len, 0x4f9f2cabu, 1024);
  ck_assert_float_eq(v[0], -0.61f);
  ck_assert_float_eq(v[1], 0.0621f);
  len = 99;
  ck_assert_ptr_null(aiw_embedding_response_visual_vector(resp, &len));
  ck_assert_uint_eq(len, 0);
  ck_assert_ptr_eq(aiw_embedding_response_semantic_vector(resp, NULL), v);
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(r);
}
END_TEST

START_TEST(test_embed_text_types) {
  /* type EMBEDDING_UNKNOWN/SEMANTIC/VISUAL/BOTH on unicode text. */
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_text(r, UNI), AIW_OK);
  uint32_t seed = seed_of(UNI, strlen(UNI));
  uint32_t vseed = (seed ^ 0x9e3779b9u) != 0 ? (seed ^ 0x9e3779b9u) : 1;
  for (int t = AIW_EMBEDDING_UNKNOWN; t <= AIW_EMBEDDING_BOTH; t++) {
    ck_assert_int_eq(aiw_embedding_request_set_type(r, (aiw_embedding_type)t), AIW_OK);
    aiw_error err;
    aiw_embedding_response *resp = embed(r, AIW_OK, &err);
    size_t sl = 0, vl = 0;
    const float *sv = aiw_embedding_response_semantic_vector(resp, &sl);
    const float *vv = aiw_embedding_response_visual_vector(resp, &vl);
    int want_sem = (t == AIW_EMBEDDING_UNKNOWN || t == AIW_EMBEDDING_SEMANTIC || t == AIW_EMBEDDING_BOTH);
    int want_vis = (t == AIW_EMBEDDING_VISUAL || t == AIW_EMBEDDING_BOTH);
    if (want_sem)
      check_vector(sv, sl, seed, 1024);
    else
      ck_assert_uint_eq(sl, 0);
    if (want_vis)
      check_vector(vv, vl, vseed, 1152);
    else
      ck_assert_uint_eq(vl, 0);
    aiw_embedding_response_free(resp);
  }
  aiw_embedding_request_free(r);
}
END_TEST

START_TEST(test_embed_empty_text) {
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_text(r, ""), AIW_OK);
  aiw_error err;
  aiw_embedding_response *resp = embed(r, AIW_OK, &err);
  size_t len = 0;
  const float *v = aiw_embedding_response_semantic_vector(resp, &len);
  check_vector(v, len, 0x811c9dc5u, 1024);
  ck_assert_float_eq(v[0], 0.7129f);
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
  size_t sl = 99, vl = 0;
  ck_assert_ptr_null(aiw_embedding_response_semantic_vector(resp, &sl));
  ck_assert_uint_eq(sl, 0);
  const float *vv = aiw_embedding_response_visual_vector(resp, &vl);
  ck_assert_uint_eq(seed_of(img, sizeof img), 0x10f3abd2u);
  check_vector(vv, vl, 0x10f3abd2u ^ 0x9e3779b9u, 1152);
  ck_assert_float_eq(vv[0], 0.7972f);
  aiw_embedding_response_free(resp);

  /* All 256 byte values, twice, with BOTH; set_image after set_text wins. */
  unsigned char all[512];
  for (size_t i = 0; i < sizeof all; i++) all[i] = (unsigned char)i;
  ck_assert_int_eq(aiw_embedding_request_set_text(r, "ignored"), AIW_OK);
  ck_assert_int_eq(aiw_embedding_request_set_image(r, all, sizeof all, "jpeg"), AIW_OK);
  uint32_t seed = seed_of(all, sizeof all);
  memset(all, 0xaa, sizeof all); /* the library copied the bytes */
  ck_assert_int_eq(aiw_embedding_request_set_type(r, AIW_EMBEDDING_BOTH), AIW_OK);
  resp = embed(r, AIW_OK, &err);
  const float *sv = aiw_embedding_response_semantic_vector(resp, &sl);
  check_vector(sv, sl, seed, 1024);
  vv = aiw_embedding_response_visual_vector(resp, &vl);
  check_vector(vv, vl, (seed ^ 0x9e3779b9u) ? (seed ^ 0x9e3779b9u) : 1, 1152);
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
  size_t len = 0;
  const float *v = aiw_embedding_response_semantic_vector(resp, &len);
  check_vector(v, len, 0x4f9f2cabu, 1024);
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(r);
}
END_TEST

START_TEST(test_embed_empty_image) {
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_image(r, NULL, 0, NULL), AIW_OK);
  aiw_error err;
  aiw_embedding_response *resp = embed(r, AIW_OK, &err);
  size_t len = 0;
  const float *v = aiw_embedding_response_visual_vector(resp, &len);
  check_vector(v, len, 0x811c9dc5u ^ 0x9e3779b9u, 1152);
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
  uint32_t seed = seed_of(img, n);
  free(img);
  aiw_error err;
  aiw_embedding_response *resp = embed(r, AIW_OK, &err);
  size_t len = 0;
  const float *v = aiw_embedding_response_visual_vector(resp, &len);
  check_vector(v, len, (seed ^ 0x9e3779b9u) ? (seed ^ 0x9e3779b9u) : 1, 1152);
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(r);
}
END_TEST

START_TEST(test_embed_unsupported_format) {
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_image(r, "x", 1, "bmp"), AIW_OK);
  aiw_error err;
  aiw_embedding_response *resp = embed(r, AIW_SERVICE_ERROR, &err);
  ck_assert_ptr_nonnull(resp);
  ck_assert_int_eq(err.grpc_status, 0);
  ck_assert_str_eq(err.message, "unsupported image format: bmp");
  ck_assert_int_eq(aiw_embedding_response_success(resp), 0);
  ck_assert_str_eq(aiw_embedding_response_error(resp), "unsupported image format: bmp");
  size_t len = 99;
  ck_assert_ptr_null(aiw_embedding_response_semantic_vector(resp, &len));
  ck_assert_uint_eq(len, 0);
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(r);
}
END_TEST

START_TEST(test_embed_fail_and_error) {
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_text(r, "!fail:model offline"), AIW_OK);
  aiw_error err;
  aiw_embedding_response *resp = embed(r, AIW_SERVICE_ERROR, &err);
  ck_assert_str_eq(err.message, "model offline");
  ck_assert_str_eq(aiw_embedding_response_error(resp), "model offline");
  aiw_embedding_response_free(resp);
  ck_assert_int_eq(aiw_embedding_request_set_text(r, "!error:PERMISSION_DENIED:no"), AIW_OK);
  resp = embed(r, AIW_PERMISSION_DENIED, &err);
  ck_assert_ptr_null(resp);
  ck_assert_int_eq(err.grpc_status, 7);
  ck_assert_str_eq(err.message, "no");
  aiw_embedding_request_free(r);
}
END_TEST

/* ---------------------------------------------------------------- VectorSearch */

static aiw_search_response *search(aiw_search_request *r, const aiw_call_options *o, aiw_code want_rc,
                                   aiw_error *err) {
  aiw_search_response *resp = NULL;
  aiw_code rc = aiw_vector_search(client, r, o, &resp, err);
  ck_assert_msg(rc == want_rc, "got %s (%s), want %s", aiw_code_name(rc), err->message, aiw_code_name(want_rc));
  if (rc == AIW_OK || rc == AIW_SERVICE_ERROR)
    ck_assert_ptr_nonnull(resp);
  else
    ck_assert_ptr_null(resp);
  return resp;
}

static void check_ids(const aiw_search_response *resp, int total, const char *const *ids, size_t n) {
  ck_assert_int_eq(aiw_search_response_total_count(resp), total);
  ck_assert_uint_eq(aiw_search_response_result_count(resp), n);
  for (size_t i = 0; i < n; i++)
    ck_assert_str_eq(aiw_search_result_asset_id(aiw_search_response_result(resp, i)), ids[i]);
  ck_assert_ptr_null(aiw_search_response_result(resp, n));
}

START_TEST(test_search_default) {
  aiw_search_request *r = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(r, UNI), AIW_OK);
  aiw_error err;
  aiw_search_response *resp = search(r, NULL, AIW_OK, &err);
  static const char *const ids[] = {"doc-001", "img-002", "doc-003", "img-004", "doc-005",
                                    "img-006", "doc-007", "img-008", "doc-009", "img-010"};
  check_ids(resp, 12, ids, 10);
  ck_assert_int_eq(aiw_search_response_success(resp), 1);
  ck_assert_str_eq(aiw_search_response_error(resp), "");
  /* Every field of a result. */
  const aiw_search_result *x = aiw_search_response_result(resp, 7);
  ck_assert_str_eq(aiw_search_result_asset_id(x), "img-008");
  ck_assert_float_eq(aiw_search_result_score(x), 0.6f);
  ck_assert_str_eq(aiw_search_result_caption(x), "Scanned receipt, caf\xc3\xa9 M\xc3\xbchle");
  ck_assert_str_eq(aiw_search_result_mime_type(x), "image/jpeg");
  ck_assert_str_eq(aiw_search_result_thumbnail_url(x), "https://thumbs.example.com/img-008.jpg");
  ck_assert_uint_eq(aiw_search_result_metadata_count(x), 3);
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "owner"), "carol");
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "year"), "2022");
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "kind"), "receipt");
  ck_assert_ptr_null(aiw_search_result_metadata_get(x, "nope"));
  ck_assert_ptr_null(aiw_search_result_metadata_get(x, NULL));
  int seen = 0;
  for (size_t i = 0; i < 3; i++) {
    const char *k = aiw_search_result_metadata_key(x, i), *v = aiw_search_result_metadata_value(x, i);
    ck_assert_ptr_nonnull(k);
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(aiw_search_result_metadata_get(x, k), v);
    seen |= strcmp(k, "owner") == 0 ? 1 : strcmp(k, "year") == 0 ? 2 : strcmp(k, "kind") == 0 ? 4 : 8;
  }
  ck_assert_int_eq(seen, 7);
  ck_assert_ptr_null(aiw_search_result_metadata_key(x, 3));
  ck_assert_ptr_null(aiw_search_result_metadata_value(x, 3));
  const aiw_search_result *first = aiw_search_response_result(resp, 0);
  ck_assert_float_eq(aiw_search_result_score(first), 0.95f);
  ck_assert_str_eq(aiw_search_result_caption(first), "Quarterly report 2024 Q1");
  ck_assert_str_eq(aiw_search_result_mime_type(first), "application/pdf");
  aiw_search_response_free(resp);
  aiw_search_request_free(r);
}
END_TEST

START_TEST(test_search_visual_threshold_limit_filter) {
  aiw_search_request *r = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(r, "q"), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_type(r, AIW_SEARCH_VISUAL), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_threshold(r, 0.8f), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_limit(r, 2), AIW_OK);
  ck_assert_int_eq(aiw_search_request_add_filter(r, "image/"), AIW_OK);
  aiw_error err;
  aiw_search_response *resp = search(r, NULL, AIW_OK, &err);
  static const char *const ids[] = {"img-002", "img-004"};
  check_ids(resp, 4, ids, 2);
  ck_assert_float_eq(aiw_search_result_score(aiw_search_response_result(resp, 0)), 0.97f);
  ck_assert_float_eq(aiw_search_result_score(aiw_search_response_result(resp, 1)), 0.9f);
  aiw_search_response_free(resp);

  /* clear_filters + a metadata filter; hybrid scores. */
  aiw_search_request_clear_filters(r);
  ck_assert_int_eq(aiw_search_request_add_filter(r, "owner=alice"), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_type(r, AIW_SEARCH_HYBRID), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_threshold(r, 0.0f), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_limit(r, 0), AIW_OK);
  resp = search(r, NULL, AIW_OK, &err);
  static const char *const ids2[] = {"img-006", "doc-001", "doc-003"};
  check_ids(resp, 3, ids2, 3);
  ck_assert_float_eq(aiw_search_result_score(aiw_search_response_result(resp, 0)), 0.625f);
  aiw_search_response_free(resp);

  /* Two filters (AND) and semantic. */
  ck_assert_int_eq(aiw_search_request_add_filter(r, "application/pdf"), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_type(r, AIW_SEARCH_SEMANTIC), AIW_OK);
  resp = search(r, NULL, AIW_OK, &err);
  static const char *const ids3[] = {"doc-001"};
  check_ids(resp, 1, ids3, 1);
  aiw_search_response_free(resp);
  aiw_search_request_free(r);
}
END_TEST

START_TEST(test_search_empty_result) {
  aiw_search_request *r = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(r, "q"), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_threshold(r, 2.0f), AIW_OK);
  aiw_error err;
  aiw_search_response *resp = search(r, NULL, AIW_OK, &err);
  check_ids(resp, 0, NULL, 0);
  ck_assert_int_eq(aiw_search_response_success(resp), 1);
  aiw_search_response_free(resp);
  aiw_search_request_free(r);
}
END_TEST

START_TEST(test_search_echo_and_metadata) {
  /* Every request field and the request metadata, as seen by the server. */
  aiw_search_request *r = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(r, "!echo"), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_type(r, AIW_SEARCH_HYBRID), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_limit(r, 7), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_threshold(r, 0.25f), AIW_OK);
  ck_assert_int_eq(aiw_search_request_add_filter(r, "owner=alice"), AIW_OK);
  ck_assert_int_eq(aiw_search_request_add_filter(r, UNI), AIW_OK);
  char rid[64];
  unique_id(rid, sizeof rid, "echo");
  aiw_call_options *o = test_opts(0, rid);
  aiw_error err;
  ck_assert_int_eq(aiw_call_options_add_metadata(o, "authorization", "Bearer t0k.en", &err), AIW_OK);
  const unsigned char bin[] = {0, 1, 0xfe, 0xff};
  ck_assert_int_eq(aiw_call_options_add_metadata_bin(o, "trace-bin", bin, sizeof bin, &err), AIW_OK);
  aiw_search_response *resp = search(r, o, AIW_OK, &err);
  ck_assert_int_eq(aiw_search_response_total_count(resp), 1);
  const aiw_search_result *x = aiw_search_response_result(resp, 0);
  ck_assert_str_eq(aiw_search_result_asset_id(x), "echo");
  ck_assert_float_eq(aiw_search_result_score(x), 0.25f);
  ck_assert_str_eq(aiw_search_result_caption(x), "!echo");
  ck_assert_str_eq(aiw_search_result_mime_type(x), "SEARCH_HYBRID");
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "query"), "!echo");
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "type"), "SEARCH_HYBRID");
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "limit"), "7");
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "threshold"), "0.25");
  char filters[128];
  snprintf(filters, sizeof filters, "owner=alice|%s", UNI);
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "filters"), filters);
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "md:x-request-id"), rid);
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "md:authorization"), "Bearer t0k.en");
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "md:trace-bin"), "AAH+/w==");
  aiw_search_response_free(resp);

  /* The events log saw the same request id. */
  char outcome[64];
  ck_assert_int_eq(events_wait(&g_srv, rid, outcome, sizeof outcome, 5000), 0);
  ck_assert_str_eq(outcome, "OK");

  /* clear_metadata: the headers are gone. */
  aiw_call_options_clear_metadata(o);
  resp = search(r, o, AIW_OK, &err);
  x = aiw_search_response_result(resp, 0);
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
  aiw_search_request *r = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(r, "!echo"), AIW_OK);
  aiw_search_response *resp = NULL;
  ck_assert_int_eq(aiw_vector_search(c, r, NULL, &resp, &err), AIW_OK);
  const char *ua = aiw_search_result_metadata_get(aiw_search_response_result(resp, 0), "md:user-agent");
  ck_assert_ptr_nonnull(ua);
  ck_assert_msg(strncmp(ua, "aiw-tests/9.9", 13) == 0, "user-agent: %s", ua);
  aiw_search_response_free(resp);
  aiw_search_request_free(r);
  aiw_client_free(c);
}
END_TEST

START_TEST(test_search_service_error) {
  aiw_search_request *r = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(r, "!fail:index not ready"), AIW_OK);
  aiw_error err;
  aiw_search_response *resp = search(r, NULL, AIW_SERVICE_ERROR, &err);
  ck_assert_str_eq(err.message, "index not ready");
  ck_assert_int_eq(err.grpc_status, 0);
  ck_assert_int_eq(aiw_search_response_success(resp), 0);
  ck_assert_str_eq(aiw_search_response_error(resp), "index not ready");
  ck_assert_uint_eq(aiw_search_response_result_count(resp), 0);
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
  aiw_search_request *r = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(r, q), AIW_OK);
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
  aiw_search_request *r = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(r, "!big:6291456"), AIW_OK);
  aiw_error err;
  aiw_search_response *resp = search(r, NULL, AIW_OK, &err);
  const char *cap = aiw_search_result_caption(aiw_search_response_result(resp, 0));
  ck_assert_uint_eq(strlen(cap), 6291456);
  ck_assert_int_eq(cap[0], 'x');
  ck_assert_int_eq(cap[6291455], 'x');
  aiw_search_response_free(resp);

  /* ...and RESOURCE_EXHAUSTED with gRPC's default 4 MiB. */
  aiw_client *small = test_client(g_srv.target, 0);
  resp = (aiw_search_response *)&resp;
  aiw_code rc = aiw_vector_search(small, r, NULL, &resp, &err);
  ck_assert_msg(rc == AIW_RESOURCE_EXHAUSTED, "got %s: %s", aiw_code_name(rc), err.message);
  ck_assert_int_eq(err.grpc_status, AIW_RESOURCE_EXHAUSTED);
  ck_assert_ptr_null(resp);
  ck_assert_uint_gt(strlen(err.message), 0);
  /* The client still works afterwards. */
  ck_assert_int_eq(aiw_search_request_set_query(r, "q"), AIW_OK);
  ck_assert_int_eq(aiw_vector_search(small, r, NULL, &resp, &err), AIW_OK);
  aiw_search_response_free(resp);
  aiw_client_free(small);
  aiw_search_request_free(r);
}
END_TEST

START_TEST(test_search_limit_refused_by_server) {
  /* A small explicit receive limit is honoured too. */
  aiw_client *tiny = test_client(g_srv.target, 1000);
  aiw_search_request *r = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(r, "!big:2000"), AIW_OK);
  aiw_search_response *resp = NULL;
  aiw_error err;
  ck_assert_int_eq(aiw_vector_search(tiny, r, NULL, &resp, &err), AIW_RESOURCE_EXHAUSTED);
  ck_assert_ptr_null(resp);
  ck_assert_int_eq(aiw_search_request_set_query(r, "!big:100"), AIW_OK);
  ck_assert_int_eq(aiw_vector_search(tiny, r, NULL, &resp, &err), AIW_OK);
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
  aiw_process_status *st = NULL;
  ck_assert_int_eq(aiw_process_asset(client, a, NULL, &st, &err), AIW_SERVICE_ERROR);
  ck_assert_ptr_nonnull(st);
  ck_assert_uint_gt(strlen(err.message), 0); /* the library says there was no error text */
  ck_assert_int_eq(aiw_process_status_success(st), 0);
  ck_assert_str_eq(aiw_process_status_error(st), "");
  ck_assert_int_eq(aiw_process_status_stage(st), AIW_STAGE_UNKNOWN);
  ck_assert_float_eq(aiw_process_status_progress(st), 0.0f);
  aiw_process_status_free(st);
  aiw_asset_request_free(a);

  aiw_embedding_request *e = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_text(e, "!empty"), AIW_OK);
  aiw_embedding_response *er = embed(e, AIW_SERVICE_ERROR, &err);
  size_t len = 99;
  ck_assert_ptr_null(aiw_embedding_response_semantic_vector(er, &len));
  ck_assert_uint_eq(len, 0);
  ck_assert_str_eq(aiw_embedding_response_error(er), "");
  aiw_embedding_response_free(er);
  aiw_embedding_request_free(e);

  aiw_search_request *q = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(q, "!empty"), AIW_OK);
  aiw_search_response *sr = search(q, NULL, AIW_SERVICE_ERROR, &err);
  ck_assert_uint_eq(aiw_search_response_result_count(sr), 0);
  ck_assert_int_eq(aiw_search_response_total_count(sr), 0);
  ck_assert_ptr_null(aiw_search_response_result(sr, 0));
  aiw_search_response_free(sr);
  aiw_search_request_free(q);
}
END_TEST

static void check_undecodable(aiw_code rc, const aiw_error *err) {
  ck_assert_msg(rc == AIW_INTERNAL, "got %s: %s", aiw_code_name(rc), err->message);
  ck_assert_int_eq(err->code, AIW_INTERNAL);
  ck_assert_int_eq(err->grpc_status, 0); /* the RPC itself ended OK */
  ck_assert_msg(strcasestr(err->message, "decod") || strcasestr(err->message, "pars") ||
                    strcasestr(err->message, "unpack"),
                "message does not say the response could not be decoded: %s", err->message);
}

START_TEST(test_undecodable_responses) {
  aiw_error err;
  aiw_asset_request *a = asset_req("!garbage", "b/o", "text/plain");
  aiw_process_status *st = (aiw_process_status *)&st;
  check_undecodable(aiw_process_asset(client, a, NULL, &st, &err), &err);
  ck_assert_ptr_null(st);
  aiw_asset_request_free(a);

  aiw_embedding_request *e = aiw_embedding_request_new();
  ck_assert_int_eq(aiw_embedding_request_set_text(e, "!garbage"), AIW_OK);
  aiw_embedding_response *er = (aiw_embedding_response *)&er;
  check_undecodable(aiw_get_embedding(client, e, NULL, &er, &err), &err);
  ck_assert_ptr_null(er);
  aiw_embedding_request_free(e);

  aiw_search_request *q = aiw_search_request_new();
  ck_assert_int_eq(aiw_search_request_set_query(q, "!garbage"), AIW_OK);
  aiw_search_response *sr = (aiw_search_response *)&sr;
  check_undecodable(aiw_vector_search(client, q, NULL, &sr, &err), &err);
  ck_assert_ptr_null(sr);
  /* The client is fine afterwards. */
  ck_assert_int_eq(aiw_search_request_set_query(q, "q"), AIW_OK);
  ck_assert_int_eq(aiw_vector_search(client, q, NULL, &sr, &err), AIW_OK);
  aiw_search_response_free(sr);
  aiw_search_request_free(q);
}
END_TEST

Suite *suite_rpc_unary(void) {
  Suite *s = suite_create("rpc_unary");
  TCase *tp = tcase_create("process");
  tcase_add_unchecked_fixture(tp, srv_setup, srv_teardown);
  tcase_add_checked_fixture(tp, client_setup, client_teardown);
  tcase_set_timeout(tp, 60);
  tcase_add_test(tp, test_process_normal);
  tcase_add_test(tp, test_process_echo_all_fields);
  tcase_add_test(tp, test_process_echo_no_options);
  tcase_add_test(tp, test_process_service_error);
  tcase_add_loop_test(tp, test_process_status_errors, 0, (int)(sizeof STATUSES / sizeof STATUSES[0]));
  suite_add_tcase(s, tp);

  TCase *te = tcase_create("embedding");
  tcase_add_unchecked_fixture(te, srv_setup, srv_teardown);
  tcase_add_checked_fixture(te, client_setup, client_teardown);
  tcase_set_timeout(te, 60);
  tcase_add_test(te, test_embed_text_semantic);
  tcase_add_test(te, test_embed_text_types);
  tcase_add_test(te, test_embed_empty_text);
  tcase_add_test(te, test_embed_image_with_nul);
  tcase_add_test(te, test_embed_text_after_image);
  tcase_add_test(te, test_embed_empty_image);
  tcase_add_test(te, test_embed_big_image);
  tcase_add_test(te, test_embed_unsupported_format);
  tcase_add_test(te, test_embed_fail_and_error);
  suite_add_tcase(s, te);

  TCase *ts = tcase_create("search");
  tcase_add_unchecked_fixture(ts, srv_setup, srv_teardown);
  tcase_add_checked_fixture(ts, client_setup, client_teardown);
  tcase_set_timeout(ts, 60);
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
  suite_add_tcase(s, ts);
  return s;
}
