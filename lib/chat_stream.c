/* chat_stream.c -- the ChatStream RPC: ChatRequest in, a callback per
 * ChatResponse on the caller's thread. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

struct aiw_chat_request {
  AiService__ChatRequest msg;
  AiService__ChatOptions options; /* msg.options points here once set */
};

aiw_chat_request *aiw_chat_request_new(void) {
  aiw_chat_request *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  ai_service__chat_request__init(&r->msg);
  ai_service__chat_options__init(&r->options);
  return r;
}

static void free_message(AiService__ChatMessage *m) {
  aiw__free_string(m->role);
  aiw__free_string(m->content);
  free(m);
}

void aiw_chat_request_clear_history(aiw_chat_request *r) {
  if (!r) return;
  for (size_t i = 0; i < r->msg.n_history; i++) free_message(r->msg.history[i]);
  free(r->msg.history);
  r->msg.history = NULL;
  r->msg.n_history = 0;
}

void aiw_chat_request_free(aiw_chat_request *r) {
  if (!r) return;
  aiw__free_string(r->msg.query);
  aiw_chat_request_clear_history(r);
  free(r);
}

aiw_code aiw_chat_request_set_query(aiw_chat_request *r, const char *query) {
  return r ? aiw__set_string(&r->msg.query, query) : AIW_INVALID_ARGUMENT;
}

aiw_code aiw_chat_request_add_history(aiw_chat_request *r, const char *role, const char *content, int64_t timestamp) {
  if (!r) return AIW_INVALID_ARGUMENT;
  AiService__ChatMessage *m = malloc(sizeof *m);
  if (!m) return AIW_OUT_OF_MEMORY;
  ai_service__chat_message__init(m);
  aiw_code rc = aiw__set_string(&m->role, role);
  if (rc == AIW_OK) rc = aiw__set_string(&m->content, content);
  AiService__ChatMessage **grown = NULL;
  if (rc == AIW_OK) {
    grown = realloc(r->msg.history, (r->msg.n_history + 1) * sizeof *grown);
    if (!grown) rc = AIW_OUT_OF_MEMORY;
  }
  if (rc != AIW_OK) {
    free_message(m);
    return rc;
  }
  m->timestamp = timestamp;
  grown[r->msg.n_history++] = m;
  r->msg.history = grown;
  return AIW_OK;
}

aiw_code aiw_chat_request_set_max_context_docs(aiw_chat_request *r, int32_t n) {
  if (!r) return AIW_INVALID_ARGUMENT;
  r->options.max_context_docs = n;
  r->msg.options = &r->options;
  return AIW_OK;
}

aiw_code aiw_chat_request_set_similarity_threshold(aiw_chat_request *r, float threshold) {
  if (!r || isnan(threshold)) return AIW_INVALID_ARGUMENT;
  r->options.similarity_threshold = threshold;
  r->msg.options = &r->options;
  return AIW_OK;
}

aiw_code aiw_chat_request_set_include_images(aiw_chat_request *r, int include_images) {
  if (!r) return AIW_INVALID_ARGUMENT;
  r->options.include_images = include_images != 0;
  r->msg.options = &r->options;
  return AIW_OK;
}

aiw_code aiw_chat_request_set_stream_response(aiw_chat_request *r, int stream_response) {
  if (!r) return AIW_INVALID_ARGUMENT;
  r->options.stream_response = stream_response != 0;
  r->msg.options = &r->options;
  return AIW_OK;
}

typedef struct chunk_adapter {
  aiw_chat_chunk_fn fn;
  void *userdata;
} chunk_adapter;

static int deliver_chunk(const ProtobufCMessage *msg, const void *bytes, size_t len, void *userdata) {
  (void)bytes;
  (void)len;
  chunk_adapter *a = userdata;
  return a->fn((const aiw_chat_response *)msg, a->userdata);
}

aiw_code aiw_chat_stream(aiw_client *client, const aiw_chat_request *req, const aiw_call_options *opts,
                         aiw_chat_chunk_fn on_chunk, void *userdata, aiw_error *err) {
  aiw_code rc = aiw__check_rpc_args(client, req, "aiw_chat_stream", err);
  if (rc != AIW_OK) return rc;
  if (!on_chunk) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_chat_stream: on_chunk is NULL");
  if (!req->msg.query[0]) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "ChatRequest.query is required");
  chunk_adapter a = {on_chunk, userdata};
  return aiw__blocking_stream(client, &aiw__methods[AIW_METHOD_CHAT_STREAM], &(aiw_request){&req->msg.base, NULL, 0},
                              opts, deliver_chunk, &a, err);
}

aiw_code aiw_chat_stream_start(aiw_client *client, const aiw_chat_request *req, const aiw_call_options *opts,
                               aiw_queue *queue, void *tag, aiw_error *err) {
  aiw_code rc = aiw__check_rpc_args(client, req, "aiw_chat_stream_start", err);
  if (rc != AIW_OK) return rc;
  if (!req->msg.query[0]) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "ChatRequest.query is required");
  return aiw__async_start(client, &aiw__methods[AIW_METHOD_CHAT_STREAM], 1, &(aiw_request){&req->msg.base, NULL, 0},
                          opts, queue, tag, err);
}

void aiw_chat_response_free(aiw_chat_response *chunk) {
  if (chunk) aiw__decoded_free((ProtobufCMessage *)chunk);
}

#define CHUNK(c) ((const AiService__ChatResponse *)(c))

const char *aiw_chat_response_chunk(const aiw_chat_response *c) { return c && CHUNK(c)->chunk ? CHUNK(c)->chunk : ""; }
const char *aiw_chat_response_chunk_with_len(const aiw_chat_response *c, size_t *len) {
  return aiw__string_with_len(c ? CHUNK(c)->chunk : NULL, len);
}
int aiw_chat_response_is_final(const aiw_chat_response *c) { return c ? CHUNK(c)->is_final : 0; }
size_t aiw_chat_response_source_count(const aiw_chat_response *c) { return c ? CHUNK(c)->n_sources : 0; }
const aiw_search_result *aiw_chat_response_source(const aiw_chat_response *c, size_t i) {
  if (!c || i >= CHUNK(c)->n_sources) return NULL;
  return (const aiw_search_result *)CHUNK(c)->sources[i];
}
