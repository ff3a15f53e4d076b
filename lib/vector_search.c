/* vector_search.c -- the VectorSearch RPC: SearchRequest in, SearchResponse out. */
#include <stdlib.h>

#include "internal.h"

struct aiw_search_request {
  AiService__SearchRequest msg;
};

aiw_search_request *aiw_search_request_new(void) {
  aiw_search_request *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  ai_service__search_request__init(&r->msg);
  return r;
}

void aiw_search_request_clear_filters(aiw_search_request *r) {
  if (!r) return;
  for (size_t i = 0; i < r->msg.n_filters; i++) free(r->msg.filters[i]);
  free(r->msg.filters);
  r->msg.filters = NULL;
  r->msg.n_filters = 0;
}

void aiw_search_request_free(aiw_search_request *r) {
  if (!r) return;
  aiw__free_string(r->msg.query);
  aiw_search_request_clear_filters(r);
  free(r);
}

aiw_code aiw_search_request_set_query(aiw_search_request *r, const char *query) {
  return r ? aiw__set_string(&r->msg.query, query) : AIW_INVALID_ARGUMENT;
}

aiw_code aiw_search_request_set_type(aiw_search_request *r, aiw_search_type type) {
  if (!r || (int)type < AIW_SEARCH_UNKNOWN || (int)type > AIW_SEARCH_HYBRID) return AIW_INVALID_ARGUMENT;
  r->msg.type = (AiService__SearchType)type;
  return AIW_OK;
}

aiw_code aiw_search_request_set_limit(aiw_search_request *r, int32_t limit) {
  if (!r || limit < 0) return AIW_INVALID_ARGUMENT;
  r->msg.limit = limit;
  return AIW_OK;
}

aiw_code aiw_search_request_set_threshold(aiw_search_request *r, float threshold) {
  if (!r || threshold != threshold) return AIW_INVALID_ARGUMENT; /* NaN */
  r->msg.threshold = threshold;
  return AIW_OK;
}

aiw_code aiw_search_request_add_filter(aiw_search_request *r, const char *filter) {
  return r ? aiw__append_string(&r->msg.filters, &r->msg.n_filters, filter) : AIW_INVALID_ARGUMENT;
}

static aiw_code check_request(const aiw_search_request *req, aiw_error *err) {
  if (!req->msg.query[0]) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "SearchRequest.query is required");
  return AIW_OK;
}

aiw_code aiw_vector_search(aiw_client *client, const aiw_search_request *req, const aiw_call_options *opts,
                           aiw_search_response **out, aiw_error *err) {
  if (out) *out = NULL;
  aiw_code rc = aiw__check_rpc_args(client, req, "aiw_vector_search", err);
  if (rc == AIW_OK && !out) rc = aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_vector_search: out is NULL");
  if (rc == AIW_OK) rc = check_request(req, err);
  if (rc != AIW_OK) return rc;
  ProtobufCMessage *msg;
  rc = aiw__blocking_unary(client, &aiw__methods[AIW_METHOD_VECTOR_SEARCH], &(aiw_request){&req->msg.base, NULL, 0},
                           opts, &msg, NULL, err);
  *out = (aiw_search_response *)msg;
  return rc;
}

aiw_code aiw_vector_search_start(aiw_client *client, const aiw_search_request *req, const aiw_call_options *opts,
                                 aiw_queue *queue, void *tag, aiw_error *err) {
  aiw_code rc = aiw__check_rpc_args(client, req, "aiw_vector_search_start", err);
  if (rc == AIW_OK) rc = check_request(req, err);
  if (rc != AIW_OK) return rc;
  return aiw__async_start(client, &aiw__methods[AIW_METHOD_VECTOR_SEARCH], 0, &(aiw_request){&req->msg.base, NULL, 0},
                          opts, queue, tag, err);
}

#define RESP(r) ((const AiService__SearchResponse *)(r))

size_t aiw_search_response_result_count(const aiw_search_response *r) { return r ? RESP(r)->n_results : 0; }
const aiw_search_result *aiw_search_response_result(const aiw_search_response *r, size_t i) {
  if (!r || i >= RESP(r)->n_results) return NULL;
  return (const aiw_search_result *)RESP(r)->results[i];
}
int32_t aiw_search_response_total_count(const aiw_search_response *r) { return r ? RESP(r)->total_count : 0; }
int aiw_search_response_success(const aiw_search_response *r) { return r ? RESP(r)->success : 0; }
const char *aiw_search_response_error(const aiw_search_response *r) {
  return r && RESP(r)->error ? RESP(r)->error : "";
}
const char *aiw_search_response_error_with_len(const aiw_search_response *r, size_t *len) {
  return aiw__string_with_len(r ? RESP(r)->error : NULL, len);
}
void aiw_search_response_free(aiw_search_response *r) {
  if (r) aiw__decoded_free((ProtobufCMessage *)r);
}
