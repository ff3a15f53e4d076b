/* expect.c -- see expect.h. */
#include "expect.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

const char UNI[] = "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80"; /* héllo 世界 😀 */

/* ---------------------------------------------------------------- requests */

aiw_asset_request *asset_req(const char *id, const char *path, const char *mime) {
  aiw_asset_request *r = aiw_asset_request_new();
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(aiw_asset_request_set_asset_id(r, id), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_file_path(r, path), AIW_OK);
  ck_assert_int_eq(aiw_asset_request_set_mime_type(r, mime), AIW_OK);
  return r;
}

aiw_embedding_request *embed_req(const char *text, aiw_embedding_type type) {
  aiw_embedding_request *r = aiw_embedding_request_new();
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(aiw_embedding_request_set_text(r, text), AIW_OK);
  ck_assert_int_eq(aiw_embedding_request_set_type(r, type), AIW_OK);
  return r;
}

aiw_search_request *search_req(const char *query) {
  aiw_search_request *r = aiw_search_request_new();
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(aiw_search_request_set_query(r, query), AIW_OK);
  return r;
}

aiw_chat_request *chat_req(const char *query) {
  aiw_chat_request *r = aiw_chat_request_new();
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(aiw_chat_request_set_query(r, query), AIW_OK);
  return r;
}

void search_req_set(aiw_search_request *r, aiw_search_type type, int limit, float threshold, ...) {
  ck_assert_int_eq(aiw_search_request_set_type(r, type), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_limit(r, limit), AIW_OK);
  ck_assert_int_eq(aiw_search_request_set_threshold(r, threshold), AIW_OK);
  va_list ap;
  va_start(ap, threshold);
  for (const char *f = va_arg(ap, const char *); f != NULL; f = va_arg(ap, const char *))
    ck_assert_int_eq(aiw_search_request_add_filter(r, f), AIW_OK);
  va_end(ap);
}

void add_echo_metadata(aiw_call_options *o) {
  aiw_error err;
  ck_assert_int_eq(aiw_call_options_add_metadata(o, "authorization", "Bearer t0k.en", &err), AIW_OK);
  const unsigned char bin[] = {0, 1, 0xfe, 0xff};
  ck_assert_int_eq(aiw_call_options_add_metadata_bin(o, "trace-bin", bin, sizeof bin, &err), AIW_OK);
}

/* ----------------------------------------------------------- error structs */

void expect_code(const char *what, aiw_code rc, const aiw_error *err, aiw_code want) {
  ck_assert_msg(rc == want, "%s: got %s (%s), want %s", what, aiw_code_name(rc), err->message, aiw_code_name(want));
  ck_assert_int_eq(err->code, rc);
}

void expect_local_error(const aiw_error *err, aiw_code code) {
  ck_assert_int_eq(err->code, code);
  ck_assert_int_eq(err->grpc_status, -1);
  ck_assert_uint_gt(strlen(err->message), 0);
}

void expect_status_error(const aiw_error *err, aiw_code code, const char *message) {
  ck_assert_int_eq(err->code, code);
  ck_assert_int_eq(err->grpc_status, (int)code);
  ck_assert_str_eq(err->message, message);
}

int says_undecodable(const char *message) {
  return strcasestr(message, "decod") != NULL || strcasestr(message, "pars") != NULL ||
         strcasestr(message, "unpack") != NULL;
}

void expect_undecodable(aiw_code rc, const aiw_error *err, int grpc_status) {
  expect_code("undecodable response", rc, err, AIW_INTERNAL);
  ck_assert_int_eq(err->grpc_status, grpc_status);
  ck_assert_msg(says_undecodable(err->message), "message does not say the response could not be decoded: %s",
                err->message);
}

/* -------------------------------------------------------------- embeddings */

const char *vector_mismatch(const float *v, size_t len, const void *data, size_t dlen, int visual, char *buf,
                            size_t size) {
  float *want;
  size_t n;
  const char *why = ref_vector(data, dlen, visual, &want, &n);
  if (why != NULL) return why;
  if (len != n || v == NULL) {
    snprintf(buf, size, "%zu elements at %p, want %zu", len, (const void *)v, n);
    why = buf;
  }
  for (size_t i = 0; i < n && why == NULL; i++)
    if (v[i] != want[i]) {
      snprintf(buf, size, "element %zu: got %.9g, want %.9g (content of %zu bytes)", i, (double)v[i],
               (double)want[i], dlen);
      why = buf;
    }
  free(want);
  return why;
}

/* One vector of an embedding answer: the reference vector of the content
 * when `want`, else absent (NULL, length 0). */
static const char *one_vector_mismatch(const char *name, const float *v, size_t len, int want, const void *data,
                                       size_t dlen, int visual, char *buf, size_t size) {
  if (!want) {
    if (v == NULL && len == 0) return NULL;
    snprintf(buf, size, "%s vector present (%zu elements), want none", name, len);
    return buf;
  }
  char why[200];
  const char *w = vector_mismatch(v, len, data, dlen, visual, why, sizeof why);
  if (w == NULL) return NULL;
  snprintf(buf, size, "%s vector: %s", name, w);
  return buf;
}

const char *embedding_mismatch(const aiw_embedding_response *e, const void *data, size_t dlen, int image,
                               aiw_embedding_type type, char *buf, size_t size) {
  if (e == NULL) return "no response";
  if (aiw_embedding_response_success(e) != 1 || strcmp(aiw_embedding_response_error(e), "") != 0) {
    snprintf(buf, size, "success %d, error \"%.200s\"", aiw_embedding_response_success(e),
             aiw_embedding_response_error(e));
    return buf;
  }
  if (type == AIW_EMBEDDING_UNKNOWN) type = image ? AIW_EMBEDDING_VISUAL : AIW_EMBEDDING_SEMANTIC;
  int sem = type == AIW_EMBEDDING_SEMANTIC || type == AIW_EMBEDDING_BOTH;
  int vis = type == AIW_EMBEDDING_VISUAL || type == AIW_EMBEDDING_BOTH;
  size_t sl = 99, vl = 99;
  const float *sv = aiw_embedding_response_semantic_vector(e, &sl);
  const float *vv = aiw_embedding_response_visual_vector(e, &vl);
  const char *why = one_vector_mismatch("semantic", sv, sl, sem, data, dlen, 0, buf, size);
  if (why == NULL) why = one_vector_mismatch("visual", vv, vl, vis, data, dlen, 1, buf, size);
  return why;
}

void expect_embedding(const aiw_embedding_response *e, const void *data, size_t dlen, int image,
                      aiw_embedding_type type) {
  char buf[300];
  const char *why = embedding_mismatch(e, data, dlen, image, type, buf, sizeof buf);
  ck_assert_msg(why == NULL, "embedding of %s (%zu bytes) type %d: %s", image ? "image" : "text", dlen, (int)type,
                why);
}

void expect_no_vectors(const aiw_embedding_response *e) {
  size_t n = 99;
  ck_assert_ptr_null(aiw_embedding_response_semantic_vector(e, &n));
  ck_assert_uint_eq(n, 0);
  n = 99;
  ck_assert_ptr_null(aiw_embedding_response_visual_vector(e, &n));
  ck_assert_uint_eq(n, 0);
}

void expect_embedding_failed(const aiw_embedding_response *e, const char *error) {
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(aiw_embedding_response_success(e), 0);
  ck_assert_str_eq(aiw_embedding_response_error(e), error);
  expect_no_vectors(e);
}

/* --------------------------------------------------------------- the corpus */

/* tests/refservice/README.md; a score < 0 = not returned by that search type. */
static const struct corpus_doc {
  const char *id, *caption, *mime;
  float semantic, visual, hybrid;
  const char *owner, *year, *kind;
} CORPUS[] = {
    {"doc-001", "Quarterly report 2024 Q1", "application/pdf", 0.95f, -1, 0.5f, "alice", "2024", "report"},
    {"img-002", "Sunset over the harbour", "image/jpeg", 0.9f, 0.97f, 0.875f, "bob", "2023", "photo"},
    {"doc-003", "Meeting notes: product launch", "text/plain", 0.875f, -1, 0.375f, "alice", "2024", "notes"},
    {"img-004", "Team photo at the offsite", "image/png", 0.8f, 0.9f, 0.75f, "carol", "2024", "photo"},
    {"doc-005", "Invoice #4411 from Acme", "application/pdf", 0.75f, -1, 0.25f, "bob", "2022", "invoice"},
    {"img-006", "Whiteboard sketch of the architecture", "image/png", 0.7f, 0.85f, 0.625f, "alice", "2024",
     "diagram"},
    {"doc-007", "Contract draft v3", "application/msword", 0.625f, -1, 0.125f, "dave", "2023", "contract"},
    {"img-008", "Scanned receipt, caf\xc3\xa9 M\xc3\xbchle", "image/jpeg", 0.6f, 0.8f, 0.6875f, "carol", "2022",
     "receipt"},
    {"doc-009", "Travel itinerary: Z\xc3\xbcrich", "text/markdown", 0.5f, -1, 0.0625f, "dave", "2024", "travel"},
    {"img-010", "Product mockup", "image/webp", 0.45f, 0.75f, 0.5625f, "bob", "2024", "design"},
    {"doc-011", "Research paper on embeddings", "application/pdf", 0.375f, -1, 0.03125f, "erin", "2021", "paper"},
    {"img-012", "Cat on the keyboard", "image/gif", 0.25f, 0.7f, 0.4375f, "erin", "2023", "photo"},
};

void expect_corpus_result(const aiw_search_result *x, const char *asset_id, aiw_search_type type) {
  const struct corpus_doc *d = NULL;
  for (size_t i = 0; i < sizeof CORPUS / sizeof CORPUS[0]; i++)
    if (strcmp(CORPUS[i].id, asset_id) == 0) d = &CORPUS[i];
  ck_assert_msg(d != NULL, "%s is not in the corpus", asset_id);
  ck_assert_ptr_nonnull(x);
  ck_assert_str_eq(aiw_search_result_asset_id(x), d->id);
  float score = type == AIW_SEARCH_VISUAL ? d->visual : type == AIW_SEARCH_HYBRID ? d->hybrid : d->semantic;
  ck_assert_msg(score >= 0, "%s is not returned by search type %d", asset_id, (int)type);
  ck_assert_float_eq(aiw_search_result_score(x), score);
  ck_assert_str_eq(aiw_search_result_caption(x), d->caption);
  ck_assert_str_eq(aiw_search_result_mime_type(x), d->mime);
  char url[128];
  snprintf(url, sizeof url, "https://thumbs.example.com/%s.jpg", d->id);
  ck_assert_str_eq(aiw_search_result_thumbnail_url(x), url);
  ck_assert_uint_eq(aiw_search_result_metadata_count(x), 3);
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "owner"), d->owner);
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "year"), d->year);
  ck_assert_str_eq(aiw_search_result_metadata_get(x, "kind"), d->kind);
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
}

void expect_search_results(const aiw_search_response *resp, aiw_search_type type, int total, const char *const *ids,
                           size_t n) {
  ck_assert_ptr_nonnull(resp);
  ck_assert_int_eq(aiw_search_response_success(resp), 1);
  ck_assert_str_eq(aiw_search_response_error(resp), "");
  ck_assert_int_eq(aiw_search_response_total_count(resp), total);
  ck_assert_uint_eq(aiw_search_response_result_count(resp), n);
  for (size_t i = 0; i < n; i++) expect_corpus_result(aiw_search_response_result(resp, i), ids[i], type);
  ck_assert_ptr_null(aiw_search_response_result(resp, n));
}

void expect_default_search(const aiw_search_response *resp) {
  static const char *const ids[] = {"doc-001", "img-002", "doc-003", "img-004", "doc-005",
                                    "img-006", "doc-007", "img-008", "doc-009", "img-010"};
  expect_search_results(resp, AIW_SEARCH_UNKNOWN, 12, ids, 10);
}

void expect_search_failed(const aiw_search_response *resp, const char *error) {
  ck_assert_ptr_nonnull(resp);
  ck_assert_int_eq(aiw_search_response_success(resp), 0);
  ck_assert_str_eq(aiw_search_response_error(resp), error);
  ck_assert_uint_eq(aiw_search_response_result_count(resp), 0);
  ck_assert_int_eq(aiw_search_response_total_count(resp), 0);
  ck_assert_ptr_null(aiw_search_response_result(resp, 0));
}

void expect_client_works(aiw_client *c) {
  aiw_search_request *q = search_req("q");
  aiw_search_response *resp = NULL;
  aiw_error err;
  expect_code("VectorSearch", aiw_vector_search(c, q, NULL, &resp, &err), &err, AIW_OK);
  expect_default_search(resp);
  aiw_search_response_free(resp);
  aiw_search_request_free(q);
}

/* ------------------------------------------------------------ `!echo` answers */

/* Compares metadata `key` of x with want (skipped when want is NULL). */
static const char *meta_mismatch(const aiw_search_result *x, const char *key, const char *want, char *buf,
                                 size_t size) {
  if (want == NULL) return NULL;
  const char *got = aiw_search_result_metadata_get(x, key);
  if (got != NULL && strcmp(got, want) == 0) return NULL;
  snprintf(buf, size, "metadata %s: got %s%.100s%s, want \"%.100s\"", key, got ? "\"" : "", got ? got : "(none)",
           got ? "\"" : "", want);
  return buf;
}

const char *search_echo_mismatch(const aiw_search_response *resp, const search_echo *want, char *buf, size_t size) {
  if (resp == NULL) return "no response";
  const aiw_search_result *x = aiw_search_response_result(resp, 0);
  if (aiw_search_response_success(resp) != 1 || aiw_search_response_total_count(resp) != 1 ||
      aiw_search_response_result_count(resp) != 1 || strcmp(aiw_search_result_asset_id(x), "echo") != 0) {
    snprintf(buf, size, "not an echo answer: success %d, total %d, %zu results, first \"%.60s\"",
             aiw_search_response_success(resp), aiw_search_response_total_count(resp),
             aiw_search_response_result_count(resp), aiw_search_result_asset_id(x));
    return buf;
  }
  if (want->query != NULL && strcmp(aiw_search_result_caption(x), want->query) != 0) {
    snprintf(buf, size, "caption \"%.100s\", want the query \"%.100s\"", aiw_search_result_caption(x), want->query);
    return buf;
  }
  if (want->type != NULL && strcmp(aiw_search_result_mime_type(x), want->type) != 0) {
    snprintf(buf, size, "mime_type \"%.100s\", want the type \"%.100s\"", aiw_search_result_mime_type(x), want->type);
    return buf;
  }
  if (want->threshold != NULL && aiw_search_result_score(x) != want->score) {
    snprintf(buf, size, "score %.9g, want the threshold %.9g", (double)aiw_search_result_score(x),
             (double)want->score);
    return buf;
  }
  char lim[32];
  snprintf(lim, sizeof lim, "%d", want->limit);
  const char *why = meta_mismatch(x, "query", want->query, buf, size);
  if (why == NULL) why = meta_mismatch(x, "type", want->type, buf, size);
  if (why == NULL) why = meta_mismatch(x, "limit", want->limit >= 0 ? lim : NULL, buf, size);
  if (why == NULL) why = meta_mismatch(x, "threshold", want->threshold, buf, size);
  if (why == NULL) why = meta_mismatch(x, "filters", want->filters, buf, size);
  if (why == NULL) why = meta_mismatch(x, "md:x-request-id", want->request_id, buf, size);
  if (why == NULL && want->echo_metadata) {
    why = meta_mismatch(x, "md:authorization", "Bearer t0k.en", buf, size);
    if (why == NULL) why = meta_mismatch(x, "md:trace-bin", "AAH+/w==", buf, size);
  }
  return why;
}

void expect_search_echo(const aiw_search_response *resp, const search_echo *want) {
  char buf[300];
  const char *why = search_echo_mismatch(resp, want, buf, sizeof buf);
  ck_assert_msg(why == NULL, "VectorSearch !echo: %s", why);
}

const char *process_echo_mismatch(const aiw_process_status *st, const asset_echo *want, char *buf, size_t size) {
  if (st == NULL) return "no response";
  char text[1024];
  snprintf(text, sizeof text,
           "asset_id=%s;file_path=%s;mime_type=%s;ocr=%d;caption=%d;embedding=%d;summary=%d;max_chunk_size=%d;"
           "options=%d",
           want->asset_id, want->file_path, want->mime_type, want->ocr, want->caption, want->embedding, want->summary,
           want->max_chunk_size, want->options);
  if (strcmp(aiw_process_status_error(st), text) != 0) {
    snprintf(buf, size, "echo \"%.200s\", want \"%.200s\"", aiw_process_status_error(st), text);
    return buf;
  }
  if (aiw_process_status_success(st) != 1 || aiw_process_status_stage(st) != AIW_STAGE_PROCESSING ||
      aiw_process_status_progress(st) != 0.5f) {
    snprintf(buf, size, "success %d, stage %d, progress %g; want 1, PROCESSING, 0.5", aiw_process_status_success(st),
             (int)aiw_process_status_stage(st), (double)aiw_process_status_progress(st));
    return buf;
  }
  return NULL;
}

void expect_process_echo(const aiw_process_status *st, const asset_echo *want) {
  char buf[600];
  const char *why = process_echo_mismatch(st, want, buf, sizeof buf);
  ck_assert_msg(why == NULL, "ProcessAsset !echo: %s", why);
}

aiw_asset_request *asset_req_echo(const asset_echo *fields) {
  aiw_asset_request *r = asset_req(fields->asset_id, fields->file_path, fields->mime_type);
  if (fields->options) {
    ck_assert_int_eq(aiw_asset_request_set_enable_ocr(r, fields->ocr), AIW_OK);
    ck_assert_int_eq(aiw_asset_request_set_enable_caption(r, fields->caption), AIW_OK);
    ck_assert_int_eq(aiw_asset_request_set_enable_embedding(r, fields->embedding), AIW_OK);
    ck_assert_int_eq(aiw_asset_request_set_enable_summary(r, fields->summary), AIW_OK);
    ck_assert_int_eq(aiw_asset_request_set_max_chunk_size(r, fields->max_chunk_size), AIW_OK);
  }
  return r;
}

/* ----------------------------------------------------------- process status */

void expect_process_completed(const aiw_process_status *st) {
  ck_assert_ptr_nonnull(st);
  ck_assert_int_eq(aiw_process_status_success(st), 1);
  ck_assert_str_eq(aiw_process_status_error(st), "");
  ck_assert_int_eq(aiw_process_status_stage(st), AIW_STAGE_COMPLETED);
  ck_assert_float_eq(aiw_process_status_progress(st), 1.0f);
}

void expect_process_failed(const aiw_process_status *st, const char *error, aiw_processing_stage stage) {
  ck_assert_ptr_nonnull(st);
  ck_assert_int_eq(aiw_process_status_success(st), 0);
  ck_assert_str_eq(aiw_process_status_error(st), error);
  ck_assert_int_eq(aiw_process_status_stage(st), stage);
  ck_assert_float_eq(aiw_process_status_progress(st), 0.0f);
}

/* --------------------------------------------------------------------- chat */

void chat_answer(char *buf, size_t size, const char *query) {
  snprintf(buf, size,
           "You asked: %s. This is the reference AI service; its answers are deterministic, streamed in five "
           "chunks, with sources on the last one.",
           query);
}
