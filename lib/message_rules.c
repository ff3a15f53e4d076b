/* message_rules.c -- what idl/ai_service.proto cannot say about the messages,
 * hand-written in this one place: the fields a call cannot do without, the
 * content oneof's setters, and value ranges beyond the types'.
 *
 * Everything else about the messages is generated (messages.gen.c, by
 * lib/gen/protoc-gen-aiw.py). A public function defined here replaces the
 * generated one of the same name (the generator reads this file): its
 * declaration in aiw.h stays generated, so the signature cannot drift. */
#include <string.h>

#include "internal.h"
#include "messages.h"

/* ---- required fields ------------------------------------------------------ */

/* The fields a request must have set (proto3 has no `required`); checked in
 * this order before anything is sent. A oneof is named by one of its
 * fields: it is set when any of them is. */
static const struct required {
  const ProtobufCMessageDescriptor *message;
  const char *field;
  const char *missing; /* what the error says */
} REQUIRED[] = {
    {&ai_service__asset_request__descriptor, "asset_id", "AssetRequest.asset_id is required"},
    {&ai_service__asset_request__descriptor, "file_path", "AssetRequest.file_path is required"},
    {&ai_service__asset_request__descriptor, "mime_type", "AssetRequest.mime_type is required"},
    {&ai_service__embedding_request__descriptor, "text", "EmbeddingRequest needs content: set text or image"},
    {&ai_service__search_request__descriptor, "query", "SearchRequest.query is required"},
    {&ai_service__chat_request__descriptor, "query", "ChatRequest.query is required"},
};

/* 1 when `f` of `msg` has a value other than its default. */
static int is_set(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f) {
  const char *at = (const char *)msg + f->offset;
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) return *(const uint32_t *)((const char *)msg + f->quantifier_offset) != 0;
  if (f->label == PROTOBUF_C_LABEL_REPEATED) return *(const size_t *)((const char *)msg + f->quantifier_offset) != 0;
  switch (f->type) {
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)at;
    return s && s[0];
  }
  case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)at)->len != 0;
  case PROTOBUF_C_TYPE_MESSAGE: return *(void *const *)at != NULL;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64: return *(const uint64_t *)at != 0;
  case PROTOBUF_C_TYPE_DOUBLE: return *(const double *)at != 0;
  case PROTOBUF_C_TYPE_FLOAT: return *(const float *)at != 0;
  default: return *(const uint32_t *)at != 0; /* 32-bit numbers, bool, enums */
  }
}

aiw_code aiw__check_required(const ProtobufCMessage *req, aiw_error *err) {
  for (size_t i = 0; i < sizeof REQUIRED / sizeof REQUIRED[0]; i++) {
    if (REQUIRED[i].message != req->descriptor) continue;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(req->descriptor, REQUIRED[i].field);
    if (!f || !is_set(req, f)) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "%s", REQUIRED[i].missing);
  }
  return AIW_OK;
}

/* ---- value ranges --------------------------------------------------------- */

/* limit: 0 is the service's default; negative is refused. */
aiw_code aiw_search_request_set_limit(aiw_search_request *req, int32_t limit) {
  AiService__SearchRequest *m = (AiService__SearchRequest *)req;
  if (!m || limit < 0) return AIW_INVALID_ARGUMENT;
  m->limit = limit;
  return AIW_OK;
}

/* ---- EmbeddingRequest's content oneof: text or image ---------------------- */

/* Drops the current content (text or image). */
static void clear_content(AiService__EmbeddingRequest *m) {
  if (m->content_case == AI_SERVICE__EMBEDDING_REQUEST__CONTENT_TEXT) aiw__free_string(m->text);
  if (m->content_case == AI_SERVICE__EMBEDDING_REQUEST__CONTENT_IMAGE) aiw__message_free(&m->image->base);
  m->content_case = AI_SERVICE__EMBEDDING_REQUEST__CONTENT__NOT_SET;
  m->text = NULL;
}

aiw_code aiw_embedding_request_set_text(aiw_embedding_request *req, const char *text) {
  AiService__EmbeddingRequest *m = (AiService__EmbeddingRequest *)req;
  if (!m) return AIW_INVALID_ARGUMENT;
  char *copy = (char *)protobuf_c_empty_string;
  aiw_code rc = aiw__set_string(&copy, text);
  if (rc != AIW_OK) return rc;
  clear_content(m);
  m->content_case = AI_SERVICE__EMBEDDING_REQUEST__CONTENT_TEXT;
  m->text = copy;
  return AIW_OK;
}

aiw_code aiw_embedding_request_set_image(aiw_embedding_request *req, const void *data, size_t len, const char *format) {
  AiService__EmbeddingRequest *m = (AiService__EmbeddingRequest *)req;
  if (!m || (!data && len)) return AIW_INVALID_ARGUMENT;
  AiService__ImageData *image = aiw__message_new(&ai_service__image_data__descriptor);
  if (!image) return AIW_OUT_OF_MEMORY;
  aiw_code rc = aiw__set_string(&image->format, format ? format : "");
  if (rc == AIW_OK) rc = aiw__set_bytes(&image->data, data, len);
  if (rc != AIW_OK) {
    aiw__message_free(&image->base);
    return rc;
  }
  clear_content(m);
  m->content_case = AI_SERVICE__EMBEDDING_REQUEST__CONTENT_IMAGE;
  m->image = image;
  return AIW_OK;
}
