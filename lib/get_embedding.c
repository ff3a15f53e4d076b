/* get_embedding.c -- the GetEmbedding RPC: text or image in, vectors out. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct aiw_embedding_request {
  AiService__EmbeddingRequest msg;
  AiService__ImageData image; /* msg.image points here in the image case */
};

aiw_embedding_request *aiw_embedding_request_new(void) {
  aiw_embedding_request *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  ai_service__embedding_request__init(&r->msg);
  ai_service__image_data__init(&r->image);
  return r;
}

/* Drops the current content (text or image). */
static void clear_content(aiw_embedding_request *r) {
  if (r->msg.content_case == AI_SERVICE__EMBEDDING_REQUEST__CONTENT_TEXT) aiw__free_string(r->msg.text);
  free(r->image.data.data);
  aiw__free_string(r->image.format);
  ai_service__image_data__init(&r->image);
  r->msg.content_case = AI_SERVICE__EMBEDDING_REQUEST__CONTENT__NOT_SET;
  r->msg.text = NULL;
}

void aiw_embedding_request_free(aiw_embedding_request *r) {
  if (!r) return;
  clear_content(r);
  free(r);
}

aiw_code aiw_embedding_request_set_text(aiw_embedding_request *r, const char *text) {
  if (!r) return AIW_INVALID_ARGUMENT;
  char *copy = (char *)protobuf_c_empty_string;
  aiw_code rc = aiw__set_string(&copy, text);
  if (rc != AIW_OK) return rc;
  clear_content(r);
  r->msg.content_case = AI_SERVICE__EMBEDDING_REQUEST__CONTENT_TEXT;
  r->msg.text = copy;
  return AIW_OK;
}

aiw_code aiw_embedding_request_set_image(aiw_embedding_request *r, const void *data, size_t len, const char *format) {
  if (!r || (!data && len)) return AIW_INVALID_ARGUMENT;
  char *fmt = (char *)protobuf_c_empty_string;
  aiw_code rc = aiw__set_string(&fmt, format ? format : "");
  if (rc != AIW_OK) return rc;
  uint8_t *copy = NULL;
  if (len) {
    copy = malloc(len);
    if (!copy) {
      aiw__free_string(fmt);
      return AIW_OUT_OF_MEMORY;
    }
    memcpy(copy, data, len);
  }
  clear_content(r);
  r->image.data.data = copy;
  r->image.data.len = len;
  r->image.format = fmt;
  r->msg.content_case = AI_SERVICE__EMBEDDING_REQUEST__CONTENT_IMAGE;
  r->msg.image = &r->image;
  return AIW_OK;
}

aiw_code aiw_embedding_request_set_type(aiw_embedding_request *r, aiw_embedding_type type) {
  if (!r || (int)type < AIW_EMBEDDING_UNKNOWN || (int)type > AIW_EMBEDDING_BOTH) return AIW_INVALID_ARGUMENT;
  r->msg.type = (AiService__EmbeddingType)type;
  return AIW_OK;
}

static aiw_code check_request(const aiw_embedding_request *req, aiw_error *err) {
  if (req->msg.content_case == AI_SERVICE__EMBEDDING_REQUEST__CONTENT__NOT_SET)
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "EmbeddingRequest needs content: set text or image");
  return AIW_OK;
}

aiw_code aiw_get_embedding(aiw_client *client, const aiw_embedding_request *req, const aiw_call_options *opts,
                           aiw_embedding_response **out, aiw_error *err) {
  if (out) *out = NULL;
  aiw_code rc = aiw__check_rpc_args(client, req, "aiw_get_embedding", err);
  if (rc == AIW_OK && !out) rc = aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_get_embedding: out is NULL");
  if (rc == AIW_OK) rc = check_request(req, err);
  if (rc != AIW_OK) return rc;
  ProtobufCMessage *msg;
  rc = aiw__blocking_unary(client, &aiw__methods[AIW_METHOD_GET_EMBEDDING], &(aiw_request){&req->msg.base, NULL, 0},
                           opts, &msg, NULL, err);
  *out = (aiw_embedding_response *)msg;
  return rc;
}

aiw_code aiw_get_embedding_start(aiw_client *client, const aiw_embedding_request *req, const aiw_call_options *opts,
                                 aiw_queue *queue, void *tag, aiw_error *err) {
  aiw_code rc = aiw__check_rpc_args(client, req, "aiw_get_embedding_start", err);
  if (rc == AIW_OK) rc = check_request(req, err);
  if (rc != AIW_OK) return rc;
  return aiw__async_start(client, &aiw__methods[AIW_METHOD_GET_EMBEDDING], 0, &(aiw_request){&req->msg.base, NULL, 0},
                          opts, queue, tag, err);
}

#define RESP(r) ((const AiService__EmbeddingResponse *)(r))

const float *aiw_embedding_response_semantic_vector(const aiw_embedding_response *r, size_t *len) {
  size_t n = r ? RESP(r)->n_semantic_vector : 0;
  if (len) *len = n;
  return n ? RESP(r)->semantic_vector : NULL;
}

const float *aiw_embedding_response_visual_vector(const aiw_embedding_response *r, size_t *len) {
  size_t n = r ? RESP(r)->n_visual_vector : 0;
  if (len) *len = n;
  return n ? RESP(r)->visual_vector : NULL;
}

int aiw_embedding_response_success(const aiw_embedding_response *r) { return r ? RESP(r)->success : 0; }
const char *aiw_embedding_response_error(const aiw_embedding_response *r) {
  return r && RESP(r)->error ? RESP(r)->error : "";
}
const char *aiw_embedding_response_error_with_len(const aiw_embedding_response *r, size_t *len) {
  return aiw__string_with_len(r ? RESP(r)->error : NULL, len);
}
void aiw_embedding_response_free(aiw_embedding_response *r) {
  if (r) aiw__decoded_free((ProtobufCMessage *)r);
}
