/* rpc_common.c -- what the RPC entry points share: argument checks, the
 * unary calls' two forms, and enum names. */
#include "internal.h"
#include "messages.h"

aiw_code aiw__check_rpc_args(const void *client, const void *req, const char *what, aiw_error *err) {
  if (aiw__in_callback())
    return aiw__fail(err, AIW_RECURSIVE_API_CALL, -1, "%s called from inside a libaiw callback", what);
  if (!client) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "%s: client is NULL", what);
  if (!req) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "%s: request is NULL", what);
  return AIW_OK;
}

aiw_code aiw__unary(aiw_client *client, int method, const void *req, const aiw_call_options *opts,
                    ProtobufCMessage **out, const char *what, aiw_error *err) {
  if (out) *out = NULL;
  aiw_code rc = aiw__check_rpc_args(client, req, what, err);
  if (rc == AIW_OK && !out) rc = aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "%s: out is NULL", what);
  if (rc == AIW_OK) rc = aiw__check_required(req, err);
  if (rc != AIW_OK) return rc;
  return aiw__blocking_unary(client, &aiw__methods[method], &(aiw_request){req, NULL, 0}, opts, out, NULL, err);
}

aiw_code aiw__unary_start(aiw_client *client, int method, const void *req, const aiw_call_options *opts,
                          aiw_queue *queue, void *tag, const char *what, aiw_error *err) {
  aiw_code rc = aiw__check_rpc_args(client, req, what, err);
  if (rc == AIW_OK) rc = aiw__check_required(req, err);
  if (rc != AIW_OK) return rc;
  return aiw__async_start(client, &aiw__methods[method], 0, &(aiw_request){req, NULL, 0}, opts, queue, tag, err);
}

const char *aiw__enum_name(const ProtobufCEnumDescriptor *desc, int value) {
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
  return v ? v->name : NULL;
}

int aiw__enum_valid(const ProtobufCEnumDescriptor *desc, int value) {
  return protobuf_c_enum_descriptor_get_value(desc, value) != NULL;
}
