/* chat_stream.c -- the ChatStream RPC: ChatRequest in, a callback per
 * ChatResponse on the caller's thread. The messages' functions are
 * generated (messages.gen.c). */
#include "internal.h"
#include "messages.h"

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
  rc = aiw__check_required((const ProtobufCMessage *)req, err);
  if (rc != AIW_OK) return rc;
  chunk_adapter a = {on_chunk, userdata};
  return aiw__blocking_stream(client, &aiw__methods[AIW_METHOD_CHAT_STREAM],
                              &(aiw_request){(const ProtobufCMessage *)req, NULL, 0}, opts, deliver_chunk, &a, err);
}

aiw_code aiw_chat_stream_start(aiw_client *client, const aiw_chat_request *req, const aiw_call_options *opts,
                               aiw_queue *queue, void *tag, aiw_error *err) {
  aiw_code rc = aiw__check_rpc_args(client, req, "aiw_chat_stream_start", err);
  if (rc == AIW_OK) rc = aiw__check_required((const ProtobufCMessage *)req, err);
  if (rc != AIW_OK) return rc;
  return aiw__async_start(client, &aiw__methods[AIW_METHOD_CHAT_STREAM], 1,
                          &(aiw_request){(const ProtobufCMessage *)req, NULL, 0}, opts, queue, tag, err);
}
