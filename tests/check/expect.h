/* expect.h -- what the reference service answers, as shared checks for the
 * Check suites: request builders, the expected embeddings, the search corpus,
 * the `!echo` answers, service-error responses and error structs. Expected
 * values come from tests/refservice/README.md.
 *
 * Two kinds of checks: expect_* ck_assert (the test's own thread only), and
 * *_mismatch return NULL when the answer is right or else what is wrong,
 * written into a caller's buffer -- they never ck_assert, so worker threads
 * use them (and expect_* are built on them where both exist). */
#ifndef AIW_TEST_EXPECT_H
#define AIW_TEST_EXPECT_H

#include <stddef.h>
#include <stdint.h>

#include <check.h>

#include "aiw.h"

/* "héllo 世界 😀": a UTF-8 string of 1-, 2-, 3- and 4-byte sequences. */
extern const char UNI[];

/* ------------------------------------------------------------ requests */

/* A ProcessAsset request with asset_id, file_path and mime_type set (ck_asserts). */
aiw_asset_request *asset_req(const char *id, const char *path, const char *mime);
/* A GetEmbedding request with `text` and `type` set (ck_asserts). */
aiw_embedding_request *embed_req(const char *text, aiw_embedding_type type);
/* A VectorSearch request with `query` set (ck_asserts). */
aiw_search_request *search_req(const char *query);
/* A ChatStream request with `query` set (ck_asserts). */
aiw_chat_request *chat_req(const char *query);
/* Sets r's type, limit and threshold and adds the filters that follow, a
 * NULL-terminated list (ck_asserts). */
void search_req_set(aiw_search_request *r, aiw_search_type type, int limit, float threshold, ...)
    __attribute__((sentinel));

/* The request metadata every `!echo` test sends besides x-request-id:
 * "authorization: Bearer t0k.en" and "trace-bin" = bytes 00 01 fe ff
 * (ck_asserts). expect_search_echo checks they came back. */
void add_echo_metadata(aiw_call_options *o);

/* ------------------------------------------------------ error structs */

/* ck_asserts that expr (a call refusing its arguments) is INVALID_ARGUMENT. */
#define CK_INVAL(expr) ck_assert_int_eq((expr), AIW_INVALID_ARGUMENT)

/* ck_asserts rc == want (naming both codes and err->message) and
 * err->code == rc. `what` names the call in the message. */
void expect_code(const char *what, aiw_code rc, const aiw_error *err, aiw_code want);
/* ck_asserts an error refused by the library before any RPC: err->code ==
 * code, grpc_status -1, a non-empty message. */
void expect_local_error(const aiw_error *err, aiw_code code);
/* ck_asserts a status error from the server: err->code == code, grpc_status
 * == the code's number, message == `message`. */
void expect_status_error(const aiw_error *err, aiw_code code, const char *message);
/* 1 when `message` says a response could not be decoded ("decod", "pars",
 * "unpack", any case). */
int says_undecodable(const char *message);
/* ck_asserts the error of a call whose (OK) response could not be decoded:
 * rc INTERNAL, err->code INTERNAL, grpc_status `grpc_status` (0 for unary
 * calls: the RPC itself ended OK), says_undecodable(err->message). */
void expect_undecodable(aiw_code rc, const aiw_error *err, int grpc_status);

/* --------------------------------------------------------- embeddings */

/* The expected vectors are ref_vector's (harness.h): the service's own
 * formula, tests/refservice/embedding.py. */
/* NULL when v[0..len) is the reference vector of content data[0..dlen) (the
 * visual one when `visual`, else the semantic one); else what differs
 * (length, or the first differing element), or what failed. */
const char *vector_mismatch(const float *v, size_t len, const void *data, size_t dlen, int visual, char *buf,
                            size_t size);
/* NULL when `e` is the service's answer for content data[0..dlen) (an image
 * when `image`, else text) and `type`: success, no error text, the semantic
 * and/or visual vectors the type asks for (UNKNOWN: semantic for text, visual
 * for an image), and no other vector. */
const char *embedding_mismatch(const aiw_embedding_response *e, const void *data, size_t dlen, int image,
                               aiw_embedding_type type, char *buf, size_t size);
/* ck_asserts embedding_mismatch(...) == NULL. */
void expect_embedding(const aiw_embedding_response *e, const void *data, size_t dlen, int image,
                      aiw_embedding_type type);
/* ck_asserts that e (NULL included) has no vectors: both getters give NULL
 * and set the length to 0. */
void expect_no_vectors(const aiw_embedding_response *e);
/* ck_asserts the `!fail:` (or unsupported image) answer: success 0, error
 * text `error`, no vectors. */
void expect_embedding_failed(const aiw_embedding_response *e, const char *error);

/* ---------------------------------------------------------- the corpus */

/* ck_asserts every field of a search result against the corpus entry
 * `asset_id`: score in the column of `type` (UNKNOWN = semantic), caption,
 * mime type, thumbnail URL, and its metadata (exactly owner, year, kind, by
 * get and by index; unknown and NULL keys and index 3 give NULL). */
void expect_corpus_result(const aiw_search_result *x, const char *asset_id, aiw_search_type type);
/* ck_asserts a successful search answer of the corpus: success, no error
 * text, total_count `total`, exactly the n results `ids` in order (result n
 * is NULL), each one checked by expect_corpus_result. */
void expect_search_results(const aiw_search_response *resp, aiw_search_type type, int total, const char *const *ids,
                           size_t n);
/* expect_search_results for a search with every option left at its default:
 * total 12, doc-001 ... img-010. */
void expect_default_search(const aiw_search_response *resp);
/* ck_asserts the `!fail:` answer: success 0, error text `error`, no results,
 * total_count 0. */
void expect_search_failed(const aiw_search_response *resp, const char *error);
/* ck_asserts that client `c` works: a default VectorSearch answers the corpus
 * (expect_default_search). */
void expect_client_works(aiw_client *c);

/* ---------------------------------------------------- `!echo` answers */

/* What a VectorSearch `!echo` should reflect; NULL fields (and limit < 0)
 * are not checked. */
typedef struct search_echo {
  const char *query;      /* caption and metadata "query" */
  const char *type;       /* mime_type and metadata "type", e.g. "SEARCH_HYBRID" */
  int limit;              /* metadata "limit"; < 0: not checked */
  const char *threshold;  /* metadata "threshold" (Python repr) */
  float score;            /* the result's score (= threshold), checked with `threshold` */
  const char *filters;    /* metadata "filters" (joined by '|') */
  const char *request_id; /* metadata "md:x-request-id" */
  int echo_metadata;      /* 1: the add_echo_metadata headers came back */
} search_echo;
/* NULL when `resp` is the `!echo` answer described by `want`: success, one
 * result (total_count 1) with asset_id "echo", and the fields of `want`. */
const char *search_echo_mismatch(const aiw_search_response *resp, const search_echo *want, char *buf, size_t size);
/* ck_asserts search_echo_mismatch(...) == NULL. */
void expect_search_echo(const aiw_search_response *resp, const search_echo *want);

/* The request fields a ProcessAsset `!echo` reflects in its error text. */
typedef struct asset_echo {
  const char *asset_id, *file_path, *mime_type;
  int ocr, caption, embedding, summary; /* the option flags (0/1) */
  int max_chunk_size;
  int options; /* 1 when the options sub-message was sent */
} asset_echo;
/* NULL when `st` is the `!echo` answer for `want`: success, stage
 * PROCESSING, progress 0.5 and the error text
 * "asset_id=..;file_path=..;...;max_chunk_size=<n>;options=<0|1>". */
const char *process_echo_mismatch(const aiw_process_status *st, const asset_echo *want, char *buf, size_t size);
/* ck_asserts process_echo_mismatch(...) == NULL. */
void expect_process_echo(const aiw_process_status *st, const asset_echo *want);
/* The request whose `!echo` answer `fields` describes: asset_id, file_path,
 * mime_type, and, when fields->options, the five option setters. */
aiw_asset_request *asset_req_echo(const asset_echo *fields);

/* ------------------------------------------------------ process status */

/* ck_asserts the normal ProcessAsset answer: success, no error text, stage
 * COMPLETED, progress 1.0. */
void expect_process_completed(const aiw_process_status *st);
/* ck_asserts a success=false answer: success 0, error text `error`, stage
 * `stage` (FAILED for `!fail:`, UNKNOWN for an empty message), progress 0. */
void expect_process_failed(const aiw_process_status *st, const char *error, aiw_processing_stage stage);

/* ---------------------------------------------------------------- chat */

/* Writes the service's whole answer to chat query `query` into buf. */
void chat_answer(char *buf, size_t size, const char *query);

#endif
