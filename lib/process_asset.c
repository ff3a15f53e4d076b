/* process_asset.c -- the ProcessAsset RPC: AssetRequest in, ProcessStatus out. */
#include <stdlib.h>

#include "internal.h"

struct aiw_asset_request {
  AiService__AssetRequest msg;
  AiService__ProcessingOptions options; /* msg.options points here once set */
};

aiw_asset_request *aiw_asset_request_new(void) {
  aiw_asset_request *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  ai_service__asset_request__init(&r->msg);
  ai_service__processing_options__init(&r->options);
  return r;
}

void aiw_asset_request_free(aiw_asset_request *r) {
  if (!r) return;
  aiw__free_string(r->msg.asset_id);
  aiw__free_string(r->msg.file_path);
  aiw__free_string(r->msg.mime_type);
  free(r);
}

aiw_code aiw_asset_request_set_asset_id(aiw_asset_request *r, const char *v) {
  return r ? aiw__set_string(&r->msg.asset_id, v) : AIW_INVALID_ARGUMENT;
}
aiw_code aiw_asset_request_set_file_path(aiw_asset_request *r, const char *v) {
  return r ? aiw__set_string(&r->msg.file_path, v) : AIW_INVALID_ARGUMENT;
}
aiw_code aiw_asset_request_set_mime_type(aiw_asset_request *r, const char *v) {
  return r ? aiw__set_string(&r->msg.mime_type, v) : AIW_INVALID_ARGUMENT;
}

#define OPTION_SETTER(name, field, type, expr)                                                                         \
  aiw_code aiw_asset_request_set_##name(aiw_asset_request *r, type v) {                                                \
    if (!r) return AIW_INVALID_ARGUMENT;                                                                               \
    r->options.field = (expr);                                                                                         \
    r->msg.options = &r->options;                                                                                      \
    return AIW_OK;                                                                                                     \
  }
OPTION_SETTER(enable_ocr, enable_ocr, int, v != 0)
OPTION_SETTER(enable_caption, enable_caption, int, v != 0)
OPTION_SETTER(enable_embedding, enable_embedding, int, v != 0)
OPTION_SETTER(enable_summary, enable_summary, int, v != 0)
OPTION_SETTER(max_chunk_size, max_chunk_size, int32_t, v)

/* The fields the service cannot do without. */
static aiw_code check_request(const aiw_asset_request *req, aiw_error *err) {
  if (!req->msg.asset_id[0]) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "AssetRequest.asset_id is required");
  if (!req->msg.file_path[0]) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "AssetRequest.file_path is required");
  if (!req->msg.mime_type[0]) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "AssetRequest.mime_type is required");
  return AIW_OK;
}

aiw_code aiw_process_asset(aiw_client *client, const aiw_asset_request *req, const aiw_call_options *opts,
                           aiw_process_status **out, aiw_error *err) {
  if (out) *out = NULL;
  aiw_code rc = aiw__check_rpc_args(client, req, "aiw_process_asset", err);
  if (rc == AIW_OK && !out) rc = aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_process_asset: out is NULL");
  if (rc == AIW_OK) rc = check_request(req, err);
  if (rc != AIW_OK) return rc;
  ProtobufCMessage *msg;
  rc = aiw__blocking_unary(client, &aiw__methods[AIW_METHOD_PROCESS_ASSET], &(aiw_request){&req->msg.base, NULL, 0},
                           opts, &msg, NULL, err);
  *out = (aiw_process_status *)msg;
  return rc;
}

aiw_code aiw_process_asset_start(aiw_client *client, const aiw_asset_request *req, const aiw_call_options *opts,
                                 aiw_queue *queue, void *tag, aiw_error *err) {
  aiw_code rc = aiw__check_rpc_args(client, req, "aiw_process_asset_start", err);
  if (rc == AIW_OK) rc = check_request(req, err);
  if (rc != AIW_OK) return rc;
  return aiw__async_start(client, &aiw__methods[AIW_METHOD_PROCESS_ASSET], 0, &(aiw_request){&req->msg.base, NULL, 0},
                          opts, queue, tag, err);
}

#define STATUS(s) ((const AiService__ProcessStatus *)(s))
int aiw_process_status_success(const aiw_process_status *s) { return s ? STATUS(s)->success : 0; }
const char *aiw_process_status_error(const aiw_process_status *s) {
  return s && STATUS(s)->error ? STATUS(s)->error : "";
}
const char *aiw_process_status_error_with_len(const aiw_process_status *s, size_t *len) {
  return aiw__string_with_len(s ? STATUS(s)->error : NULL, len);
}
aiw_processing_stage aiw_process_status_stage(const aiw_process_status *s) {
  return s ? (aiw_processing_stage)STATUS(s)->stage : AIW_STAGE_UNKNOWN;
}
float aiw_process_status_progress(const aiw_process_status *s) { return s ? STATUS(s)->progress : 0.0f; }
void aiw_process_status_free(aiw_process_status *s) {
  if (s) aiw__decoded_free((ProtobufCMessage *)s);
}
