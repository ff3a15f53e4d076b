/* call.c -- the call engine: build the request, start the batches, decode
 * the responses, work out the result, release everything. It never waits:
 * whoever owns the completion queue feeds it events (blocking.c gives each
 * call a queue of its own). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "engine.h"
#include "call_options.h"
#include "client_options.h"
#include "response_info.h"

aiw_code aiw__method_for_path(aiw_method *m, const char *path, int streaming, aiw_error *err) {
  if (!path || path[0] != '/' || !path[1])
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "method must be a gRPC path such as \"%s\", not \"%s\"",
                     "/ai_service.AiWorker/GetEmbedding", path ? path : "(null)");
  if (!aiw__utf8_valid(path, strlen(path)))
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "method path is not valid UTF-8");
  for (int i = 0; i < AIW_METHOD_COUNT; i++) {
    if (strcmp(path, aiw__methods[i].path) == 0) {
      *m = aiw__methods[i];
      m->response = NULL; /* raw: never decoded, no in-band success check */
      m->success_offset = m->error_offset = 0;
      m->server_streaming = streaming;
      return AIW_OK;
    }
  }
  *m = (aiw_method){path, path, NULL, streaming, -1, 0, 0};
  return AIW_OK;
}

static int64_t monotonic_ns(void) {
  gpr_timespec t = gpr_now(GPR_CLOCK_MONOTONIC);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Calls the client's stats hook about `c`. */
static void report(aiw_call *c, int first_message, aiw_code code) {
  void *userdata;
  aiw_stats_fn fn = aiw__client_stats_hook(c->client, &userdata);
  if (!fn) return;
  aiw_call_stats st = {sizeof st,         c->method->path,     first_message, code,
                       c->start_ns,       monotonic_ns(),      c->bytes_sent, c->messages_sent,
                       c->bytes_received, c->messages_received};
  fn(&st, userdata);
}

void aiw__call_report(aiw_call *c, aiw_code code) {
  if (c->reported || !c->counted) return;
  c->reported = 1;
  report(c, 0, code);
}

/* One more message received (its size): counted, and a stream's first one reported. */
static void count_received(aiw_call *c, size_t len) {
  c->bytes_received += len;
  if (++c->messages_received == 1 && c->streaming) report(c, 1, AIW_OK);
}

static grpc_byte_buffer *pack_request(const aiw_request *request, size_t size) {
  grpc_slice slice;
  if (request->message) {
    slice = grpc_slice_malloc(size);
    protobuf_c_message_pack(request->message, GRPC_SLICE_START_PTR(slice));
  } else {
    slice = grpc_slice_from_copied_buffer(request->bytes, size);
  }
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  return bb;
}

static gpr_timespec deadline_of(const aiw_call_options *opts) {
  if (!opts || opts->timeout_ms == 0) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(opts->timeout_ms, GPR_TIMESPAN));
}

/* gRPC's per-call compression request: its compression filter reads it
 * from the initial metadata (and removes it before sending). */
#define ENCODING_REQUEST_KEY "grpc-internal-encoding-request"

static aiw_code build_metadata(aiw_call *c, const aiw_call_options *opts, aiw_error *err) {
  char *authorization = NULL;
  aiw_code rc = aiw__client_authorization(c->client, c->method->path, &authorization, err);
  if (rc != AIW_OK) return rc;
  size_t n = (opts ? opts->n_metadata : 0) + (authorization != NULL) + (opts && opts->compression);
  if (n == 0) return AIW_OK;
  c->send_md = calloc(n, sizeof *c->send_md);
  if (!c->send_md) {
    free(authorization);
    return aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory");
  }
  /* Copied: an asynchronous call outlives the options it was started with. */
  size_t k = 0;
  for (size_t i = 0; opts && i < opts->n_metadata; i++, k++) {
    c->send_md[k].key = grpc_slice_from_copied_buffer(opts->metadata[i].key, opts->metadata[i].key_len);
    c->send_md[k].value = grpc_slice_from_copied_buffer(opts->metadata[i].value, opts->metadata[i].value_len);
  }
  if (authorization) {
    c->send_md[k].key = grpc_slice_from_static_string("authorization");
    c->send_md[k++].value = grpc_slice_from_copied_string(authorization);
    free(authorization);
  }
  if (opts && opts->compression) {
    c->send_md[k].key = grpc_slice_from_static_string(ENCODING_REQUEST_KEY);
    c->send_md[k++].value = grpc_slice_from_static_string(aiw__compression_name(opts->compression - 1));
  }
  c->n_send_md = k;
  return AIW_OK;
}

/* Starts one batch; on failure cancels the call (whatever was started
 * still completes) and says so. `pending` is set before the start: on a
 * shared queue another thread may complete (and free) the call as soon as
 * its batch is started, so nothing may touch `c` afterwards. */
static aiw_code start_batch(aiw_call *c, const grpc_op *ops, size_t n, aiw_batch_tag *tag, int *pending,
                            aiw_error *err) {
  grpc_call *call = c->call; /* read before the hand-over, like everything else */
  *pending = 1;
  AIW_HANDOFF_RELEASE(tag);
  grpc_call_error e = grpc_call_start_batch(call, ops, n, tag, NULL);
  if (e == GRPC_CALL_OK) return AIW_OK;
  *pending = 0;
  grpc_call_cancel(c->call, NULL);
  return aiw__fail(err, AIW_INTERNAL, -1, "grpc_call_start_batch failed (grpc_call_error %d)", (int)e);
}

static void status_op(aiw_call *c, grpc_op *op) {
  op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  op->data.recv_status_on_client.trailing_metadata = &c->recv_trailing_md;
  op->data.recv_status_on_client.status = &c->status;
  op->data.recv_status_on_client.status_details = &c->status_details;
  op->data.recv_status_on_client.error_string = &c->error_string;
}

static aiw_code start_batches(aiw_call *c, const aiw_call_options *opts, aiw_error *err) {
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = c->n_send_md;
  ops[0].data.send_initial_metadata.metadata = c->send_md;
  if (opts && opts->wait_for_ready)
    ops[0].flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY | GRPC_INITIAL_METADATA_WAIT_FOR_READY_EXPLICITLY_SET;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = c->send_buffer;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->recv_initial_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &c->recv_buffer;
  status_op(c, &ops[5]);
  if (!c->streaming) {
    /* Unary: everything in one batch, one completion. */
    c->status_started = 1;
    return start_batch(c, ops, 6, &c->unary_tag, &c->recv_pending, err);
  }
  /* Streaming: send + first receive; the status once the stream ended. */
  return start_batch(c, ops, 5, &c->recv_tag, &c->recv_pending, err);
}

aiw_code aiw__call_start(aiw_call *c, aiw_client *client, const aiw_method *method, int streaming,
                         const aiw_request *request, const aiw_call_options *opts, aiw_response_info *info,
                         grpc_completion_queue *cq, aiw_error *err) {
  memset(c, 0, sizeof *c);
  c->client = client;
  c->info = info;
  c->method = method;
  if (!method->response) { /* raw: its method lives in the call */
    c->own_method = *method;
    c->method = &c->own_method;
    if (method->index < 0) { /* an unregistered path: copied, it outlives the start */
      if (!(c->own_path = strdup(method->path))) return aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory");
      c->own_method.path = c->own_method.name = c->own_path;
    }
  }
  c->streaming = streaming;
  c->cq = cq;
  void *stats_userdata;
  if (aiw__client_stats_hook(client, &stats_userdata)) c->start_ns = monotonic_ns(); /* only for the hook */
  c->unary_tag = (aiw_batch_tag){AIW_BATCH_UNARY, c};
  c->recv_tag = (aiw_batch_tag){AIW_BATCH_RECV, c};
  c->status_tag = (aiw_batch_tag){AIW_BATCH_STATUS, c};
  c->client_link.call = c;
  c->token_link.call = c;
  c->client_link.cancel = c->token_link.cancel = aiw__call_cancel;
  grpc_metadata_array_init(&c->recv_initial_md);
  grpc_metadata_array_init(&c->recv_trailing_md);
  c->status_details = grpc_empty_slice();

  /* Options the client refuses are bad arguments: no call, no report. */
  if (opts && opts->compression) {
    aiw_code rc = aiw__client_check_compression(client, opts->compression - 1, err);
    if (rc != AIW_OK) return rc;
  }
  c->counted = 1; /* from here on a call, reported to the stats hook */
  size_t size = request->message ? protobuf_c_message_get_packed_size(request->message) : request->len;
  size_t max_send = aiw__client_max_send(client);
  if (max_send && size > max_send)
    return aiw__fail(err, AIW_RESOURCE_EXHAUSTED, -1,
                     "request of %zu bytes is larger than the client's max send size (%zu bytes)", size, max_send);
  aiw_code rc = build_metadata(c, opts, err);
  if (rc != AIW_OK) return rc;
  c->max_receive = opts ? opts->max_receive_size : 0;
  c->send_buffer = pack_request(request, size);

  c->deadline = deadline_of(opts);
  grpc_channel *channel = aiw__client_channel(client);
  if (c->method->index >= 0) {
    c->call =
        grpc_channel_create_registered_call(channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                            aiw__client_registered_method(client, c->method->index), c->deadline, NULL);
  } else {
    grpc_slice path = grpc_slice_from_static_string(c->method->path);
    c->call = grpc_channel_create_call(channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, path, NULL, c->deadline, NULL);
  }
  if (!c->call) return aiw__fail(err, AIW_INTERNAL, -1, "grpc_channel_create_call failed");
  /* Registered before any batch starts, so a cancel cannot be missed. */
  /* Refused before anything is sent: no RPC status applies (-1). */
  if (!aiw__call_set_add(aiw__client_calls(client), &c->client_link))
    return aiw__fail(err, AIW_CANCELLED, -1, "client is closed");
  c->registered = 1;
  if (opts && opts->token) {
    if (!aiw__call_set_add(aiw__token_calls(opts->token), &c->token_link))
      return aiw__fail(err, AIW_CANCELLED, -1, "cancelled by its cancel token before it started");
    c->token = opts->token;
  }
  /* Counted before the hand-over (after it `c` may be another thread's). */
  c->bytes_sent = size;
  c->messages_sent = 1;
  rc = start_batches(c, opts, err);
  if (rc != AIW_OK) c->bytes_sent = c->messages_sent = 0;
  return rc;
}

/* gRPC keeps deadlines in whole milliseconds of its own clock, rounded
 * down: its timer may fire up to a millisecond before the gpr_timespec the
 * call was given. A DEADLINE_EXCEEDED this close to our deadline is ours. */
#define DEADLINE_ROUNDING_MS 2

static void note_status(aiw_call *c) {
  c->finished = 1;
  gpr_timespec now =
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(DEADLINE_ROUNDING_MS, GPR_TIMESPAN));
  if (c->status == GRPC_STATUS_DEADLINE_EXCEEDED && gpr_time_cmp(now, c->deadline) >= 0) c->deadline_expired = 1;
}

void aiw__call_on_event(aiw_call *c, aiw_batch_tag *tag, int success) {
  switch (tag->kind) {
  case AIW_BATCH_UNARY:
    c->recv_pending = 0;
    note_status(c);
    break;
  case AIW_BATCH_RECV:
    c->recv_pending = 0;
    if (!success || !c->recv_buffer) {
      c->end_of_stream = 1;
      c->natural_end = atomic_load(&c->cancel_reason) == AIW_CANCEL_NONE;
    }
    break;
  case AIW_BATCH_STATUS: note_status(c); break;
  }
}

int aiw__call_done(const aiw_call *c) { return c->finished && !c->recv_pending; }

int aiw__call_continue(aiw_call *c) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  int pending = 0;
  if (!c->end_of_stream && atomic_load(&c->cancel_reason) == AIW_CANCEL_NONE) {
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_buffer;
    if (start_batch(c, &op, 1, &c->recv_tag, &c->recv_pending, NULL) == AIW_OK) return 1;
    c->end_of_stream = 1; /* cancelled by start_batch: go on to the status */
  }
  if (c->status_started) return 1;
  c->status_started = 1;
  status_op(c, &op);
  if (start_batch(c, &op, 1, &c->status_tag, &pending, NULL) == AIW_OK) return 1;
  /* No status will come from gRPC: say INTERNAL, and let an empty batch
   * (it completes at once) deliver the end like any other. */
  c->status = GRPC_STATUS_INTERNAL;
  grpc_slice_unref(c->status_details);
  c->status_details = grpc_slice_from_static_string("grpc_call_start_batch (status) failed");
  grpc_call *call = c->call;
  AIW_HANDOFF_RELEASE(&c->status_tag);
  if (grpc_call_start_batch(call, NULL, 0, &c->status_tag, NULL) == GRPC_CALL_OK) return 1;
  c->finished = 1;
  return 0;
}

void aiw__call_cancel(aiw_call *c, aiw_cancel_reason reason) {
  int none = AIW_CANCEL_NONE;
  /* The first reason wins -- except the callback's: a callback that said
   * stop decides the call's result (CALLBACK_ABORTED), even when a token or
   * a close had asked for a cancel a moment before. */
  if (reason == AIW_CANCEL_CALLBACK)
    atomic_store(&c->cancel_reason, (int)reason);
  else
    atomic_compare_exchange_strong(&c->cancel_reason, &none, (int)reason);
  if (c->call) grpc_call_cancel(c->call, NULL);
}

/* A received message over the call's own limit: dropped, the call
 * cancelled, RESOURCE_EXHAUSTED (as gRPC says for the channel's limit). */
static int too_large(aiw_call *c, grpc_byte_buffer *bb, aiw_error *err) {
  size_t len = grpc_byte_buffer_length(bb);
  if (!c->max_receive || len <= c->max_receive) return 0;
  AIW_BYTE_BUFFER_DESTROY(bb);
  aiw__call_cancel(c, AIW_CANCEL_DECODE);
  aiw__fail(err, AIW_RESOURCE_EXHAUSTED, -1,
            "received message larger than the call's max receive size (%zu vs. %zu bytes)", len, c->max_receive);
  return 1;
}

aiw_code aiw__call_take_message(aiw_call *c, ProtobufCMessage **out, aiw_error *err) {
  *out = NULL;
  grpc_byte_buffer *bb = c->recv_buffer;
  c->recv_buffer = NULL;
  if (!bb) return aiw__ok(err);
  count_received(c, grpc_byte_buffer_length(bb));
  if (too_large(c, bb, err)) return AIW_RESOURCE_EXHAUSTED;

  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, bb)) {
    AIW_BYTE_BUFFER_DESTROY(bb);
    aiw__call_cancel(c, AIW_CANCEL_DECODE);
    return aiw__fail(err, AIW_INTERNAL, c->finished ? (int)c->status : -1,
                     "could not read the %s response (decompression failed)", c->method->response->name);
  }
  /* A single-slice message is unpacked in place; otherwise one copy. */
  ProtobufCMessage *msg;
  size_t len;
  int oom;
  grpc_slice *first = NULL;
  if (reader.buffer_out->data.raw.slice_buffer.count == 1 && grpc_byte_buffer_reader_peek(&reader, &first)) {
    len = GRPC_SLICE_LENGTH(*first);
    msg = aiw__decode(c->method->response, GRPC_SLICE_START_PTR(*first), len, &oom);
  } else {
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    len = GRPC_SLICE_LENGTH(all);
    msg = aiw__decode(c->method->response, GRPC_SLICE_START_PTR(all), len, &oom);
    grpc_slice_unref(all);
  }
  grpc_byte_buffer_reader_destroy(&reader);
  AIW_BYTE_BUFFER_DESTROY(bb);
  if (!msg && oom) {
    aiw__call_cancel(c, AIW_CANCEL_DECODE);
    return aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory decoding the %s response", c->method->response->name);
  }
  if (!msg) {
    aiw__call_cancel(c, AIW_CANCEL_DECODE);
    return aiw__fail(err, AIW_INTERNAL, c->finished ? (int)c->status : -1,
                     "could not decode the response: %zu bytes that are not a valid %s message", len,
                     c->method->response->name);
  }
  *out = msg;
  return aiw__ok(err);
}

int aiw__call_take_bytes(aiw_call *c, grpc_slice *out, aiw_error *err) {
  grpc_byte_buffer *bb = c->recv_buffer;
  c->recv_buffer = NULL;
  if (!bb) return 0;
  count_received(c, grpc_byte_buffer_length(bb));
  if (too_large(c, bb, err)) return -2;
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, bb)) {
    AIW_BYTE_BUFFER_DESTROY(bb);
    aiw__call_cancel(c, AIW_CANCEL_DECODE);
    aiw__fail(err, AIW_INTERNAL, c->finished ? (int)c->status : -1,
              "could not read the %s response (decompression failed)", c->method->name);
    return -1;
  }
  /* A single slice is shared (a reference, no copy); otherwise one copy. */
  grpc_slice *first = NULL;
  if (reader.buffer_out->data.raw.slice_buffer.count == 1 && grpc_byte_buffer_reader_peek(&reader, &first))
    *out = grpc_slice_ref(*first);
  else
    *out = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  AIW_BYTE_BUFFER_DESTROY(bb);
  return 1;
}

aiw_code aiw__call_result(aiw_call *c, aiw_error *err) {
  int reason = atomic_load(&c->cancel_reason);
  if (reason == AIW_CANCEL_CALLBACK)
    return aiw__fail(err, AIW_CALLBACK_ABORTED, AIW_CANCELLED,
                     "the callback returned non-zero; the stream was cancelled");
  /* A stream cancelled before its consumer saw its end did not deliver
   * everything, whatever the server had sent: never OK. */
  int cancelled = reason != AIW_CANCEL_NONE && (c->status != GRPC_STATUS_OK || (c->streaming && !c->natural_end));
  if (cancelled && reason == AIW_CANCEL_TOKEN)
    return aiw__fail(err, AIW_CANCELLED, c->status, "cancelled by its cancel token");
  if (cancelled && reason == AIW_CANCEL_CLIENT_CLOSED)
    return aiw__fail(err, AIW_CANCELLED, c->status, "client is closed");
  if (c->status == GRPC_STATUS_OK) return aiw__ok(err);
  aiw_code code = (int)c->status > 0 && (int)c->status <= (int)AIW_UNAUTHENTICATED ? (aiw_code)c->status : AIW_UNKNOWN;
  size_t n = GRPC_SLICE_LENGTH(c->status_details);
  if (n > 0)
    return aiw__fail(err, code, c->status, "%.*s", (int)(n < AIW_ERROR_MESSAGE_SIZE ? n : AIW_ERROR_MESSAGE_SIZE),
                     (const char *)GRPC_SLICE_START_PTR(c->status_details));
  if (c->error_string) return aiw__fail(err, code, c->status, "%s", c->error_string);
  return aiw__fail(err, code, c->status, "%s", aiw_strerror(code));
}

void aiw__call_release(aiw_call *c) {
  if (c->token) aiw__call_set_remove(aiw__token_calls(c->token), &c->token_link);
  if (c->registered) aiw__call_set_remove(aiw__client_calls(c->client), &c->client_link);
  c->token = NULL;
  c->registered = 0;
  grpc_metadata_array_destroy(&c->recv_initial_md);
  grpc_metadata_array_destroy(&c->recv_trailing_md);
  if (c->send_buffer) grpc_byte_buffer_destroy(c->send_buffer);
  if (c->recv_buffer) AIW_BYTE_BUFFER_DESTROY(c->recv_buffer);
  c->send_buffer = c->recv_buffer = NULL;
  grpc_slice_unref(c->status_details);
  if (c->error_string) gpr_free((void *)c->error_string);
  c->error_string = NULL;
  for (size_t i = 0; i < c->n_send_md; i++) {
    grpc_slice_unref(c->send_md[i].key);
    grpc_slice_unref(c->send_md[i].value);
  }
  free(c->send_md);
  c->send_md = NULL;
  c->n_send_md = 0;
  if (c->call) grpc_call_unref(c->call);
  c->call = NULL;
}

aiw_code aiw__call_raw_outcome(aiw_call *c, grpc_slice *out, aiw_error *err) {
  *out = grpc_empty_slice();
  aiw_code rc = aiw__call_result(c, err);
  if (rc != AIW_OK) return rc;
  int got = aiw__call_take_bytes(c, out, err);
  if (got < 0) return got == -2 ? AIW_RESOURCE_EXHAUSTED : AIW_INTERNAL;
  if (got == 0) return aiw__fail(err, AIW_INTERNAL, 0, "the service ended the call with OK but sent no response");
  return aiw__ok(err);
}

aiw_code aiw__call_unary_outcome(aiw_call *c, ProtobufCMessage **out, aiw_error *err) {
  *out = NULL;
  aiw_code rc = aiw__call_result(c, err);
  if (rc == AIW_OK) rc = aiw__call_take_message(c, out, err);
  if (rc == AIW_OK && !*out)
    rc =
        aiw__fail(err, AIW_INTERNAL, 0, "the service ended the call with OK but sent no %s", c->method->response->name);
  if (rc == AIW_OK) rc = aiw__service_result(c->method, *out, err);
  return rc;
}

aiw_code aiw__service_result(const aiw_method *method, const ProtobufCMessage *response, aiw_error *err) {
  if (!method->success_offset) return aiw__ok(err);
  const char *base = (const char *)response;
  protobuf_c_boolean success = *(const protobuf_c_boolean *)(base + method->success_offset);
  const char *error = *(char *const *)(base + method->error_offset);
  if (success) return aiw__ok(err);
  return aiw__fail(err, AIW_SERVICE_ERROR, 0, "%s",
                   error && error[0] ? error : "the service answered success=false with no error text");
}
