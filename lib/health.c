/* health.c -- grpc.health.v1.Health/Check, gRPC's standard health protocol,
 * as a blocking call of the engine (an unregistered typed method). */
#include "internal.h"

static const aiw_method health_check = {"/grpc.health.v1.Health/Check",
                                        "grpc.health.v1.Health/Check",
                                        &grpc__health__v1__health_check_response__descriptor,
                                        0,
                                        -1,
                                        0,
                                        0};

aiw_code aiw_health_check(aiw_client *client, const char *service, const aiw_call_options *opts,
                          aiw_health_status *status, aiw_error *err) {
  if (status) *status = AIW_HEALTH_UNKNOWN;
  if (!client) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_health_check: client is NULL");
  if (!status) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_health_check: status is NULL");
  if (aiw__in_callback())
    return aiw__fail(err, AIW_RECURSIVE_API_CALL, -1, "aiw_health_check called from inside a libaiw callback");
  if (!service) service = "";
  if (!aiw__utf8_valid(service, strlen(service)))
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_health_check: service name is not valid UTF-8");
  Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  req.service = (char *)service;
  aiw_request request = {&req.base, NULL, 0};
  ProtobufCMessage *out = NULL;
  aiw_code rc = aiw__blocking_unary(client, &health_check, &request, opts, &out, NULL, err);
  if (rc == AIW_NOT_FOUND) { /* gRPC's health servers: "unknown service" */
    *status = AIW_HEALTH_SERVICE_UNKNOWN;
    return aiw__ok(err);
  }
  if (rc != AIW_OK) return rc;
  Grpc__Health__V1__HealthCheckResponse *resp = (Grpc__Health__V1__HealthCheckResponse *)out;
  int s = (int)resp->status;
  *status = s >= 0 && s <= 3 ? (aiw_health_status)s : AIW_HEALTH_UNKNOWN;
  aiw__decoded_free(out);
  return aiw__ok(err);
}

const char *aiw_health_status_name(aiw_health_status status) {
  switch (status) {
  case AIW_HEALTH_UNKNOWN: return "UNKNOWN";
  case AIW_HEALTH_SERVING: return "SERVING";
  case AIW_HEALTH_NOT_SERVING: return "NOT_SERVING";
  case AIW_HEALTH_SERVICE_UNKNOWN: return "SERVICE_UNKNOWN";
  }
  return "UNKNOWN";
}
