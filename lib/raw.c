/* raw.c -- the raw-message interface: serialized requests in, serialized
 * responses out, for callers with a protobuf codec of their own. The same
 * engine and drivers as the typed calls; only packing and decoding are
 * skipped. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* Checks shared by the four entry points; fills the call's method. */
static aiw_code check(aiw_client *client, const char *method, const void *request, size_t request_len, int streaming,
                      aiw_method *m, const char *what, aiw_error *err) {
  if (aiw__in_callback())
    return aiw__fail(err, AIW_RECURSIVE_API_CALL, -1, "%s called from inside a libaiw callback", what);
  if (!client) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "%s: client is NULL", what);
  if (!request && request_len) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "%s: request is NULL", what);
  return aiw__method_for_path(m, method, streaming, err);
}

aiw_code aiw_raw_call(aiw_client *client, const char *method, const void *request, size_t request_len,
                      const aiw_call_options *opts, void **response, size_t *response_len, aiw_error *err) {
  if (response) *response = NULL;
  if (response_len) *response_len = 0;
  aiw_method m;
  aiw_code rc = check(client, method, request, request_len, 0, &m, "aiw_raw_call", err);
  if (rc == AIW_OK && (!response || !response_len))
    rc = aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_raw_call: response or response_len is NULL");
  if (rc != AIW_OK) return rc;
  grpc_slice bytes;
  rc = aiw__blocking_unary(client, &m, &(aiw_request){NULL, request, request_len}, opts, NULL, &bytes, err);
  if (rc != AIW_OK) return rc;
  size_t n = GRPC_SLICE_LENGTH(bytes);
  void *copy = malloc(n ? n : 1);
  if (copy) memcpy(copy, GRPC_SLICE_START_PTR(bytes), n);
  AIW_SLICE_UNREF(bytes);
  if (!copy) return aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory");
  *response = copy;
  *response_len = n;
  return AIW_OK;
}

typedef struct raw_adapter {
  aiw_raw_message_fn fn;
  void *userdata;
} raw_adapter;

static int deliver_raw(const ProtobufCMessage *msg, const void *bytes, size_t len, void *userdata) {
  (void)msg;
  raw_adapter *a = userdata;
  return a->fn(bytes, len, a->userdata);
}

aiw_code aiw_raw_stream(aiw_client *client, const char *method, const void *request, size_t request_len,
                        const aiw_call_options *opts, aiw_raw_message_fn on_message, void *userdata, aiw_error *err) {
  aiw_method m;
  aiw_code rc = check(client, method, request, request_len, 1, &m, "aiw_raw_stream", err);
  if (rc == AIW_OK && !on_message) rc = aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_raw_stream: on_message is NULL");
  if (rc != AIW_OK) return rc;
  raw_adapter a = {on_message, userdata};
  return aiw__blocking_stream(client, &m, &(aiw_request){NULL, request, request_len}, opts, deliver_raw, &a, err);
}

aiw_code aiw_raw_call_start(aiw_client *client, const char *method, const void *request, size_t request_len,
                            const aiw_call_options *opts, aiw_queue *queue, void *tag, aiw_error *err) {
  aiw_method m;
  aiw_code rc = check(client, method, request, request_len, 0, &m, "aiw_raw_call_start", err);
  if (rc != AIW_OK) return rc;
  return aiw__async_start(client, &m, 0, &(aiw_request){NULL, request, request_len}, opts, queue, tag, err);
}

aiw_code aiw_raw_stream_start(aiw_client *client, const char *method, const void *request, size_t request_len,
                              const aiw_call_options *opts, aiw_queue *queue, void *tag, aiw_error *err) {
  aiw_method m;
  aiw_code rc = check(client, method, request, request_len, 1, &m, "aiw_raw_stream_start", err);
  if (rc != AIW_OK) return rc;
  return aiw__async_start(client, &m, 1, &(aiw_request){NULL, request, request_len}, opts, queue, tag, err);
}

void aiw_free(void *p) { free(p); }
