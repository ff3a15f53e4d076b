/* rpc_common.c -- argument checks and enum names shared by the four RPCs. */
#include "internal.h"

aiw_code aiw__check_rpc_args(const void *client, const void *req, const char *what, aiw_error *err) {
  if (aiw__in_callback())
    return aiw__fail(err, AIW_RECURSIVE_API_CALL, -1, "%s called from inside a libaiw callback", what);
  if (!client) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "%s: client is NULL", what);
  if (!req) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "%s: request is NULL", what);
  return AIW_OK;
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int value) {
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
  return v ? v->name : NULL;
}

const char *aiw_processing_stage_name(int stage) { return enum_name(&ai_service__processing_stage__descriptor, stage); }

const char *aiw_embedding_type_name(int type) { return enum_name(&ai_service__embedding_type__descriptor, type); }

const char *aiw_search_type_name(int type) { return enum_name(&ai_service__search_type__descriptor, type); }
