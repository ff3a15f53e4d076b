/* blocking.c -- drives the call engine for the blocking API: one completion
 * queue per call, waited on by the calling thread, so callbacks run on the
 * caller's thread and nothing is shared between calls but the channel. */
#include <stdlib.h>

#include <grpc/support/time.h>

#include "engine.h"
#include "call_options.h"
#include "response_info.h"

static grpc_completion_queue *queue_new(void) { return grpc_completion_queue_create_for_next(NULL); }

/* Shut down, drain (a queue destroyed with an event in it aborts), destroy. */
static void queue_destroy(grpc_completion_queue *cq) {
  grpc_completion_queue_shutdown(cq);
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
  }
  grpc_completion_queue_destroy(cq);
}

/* The caller's response info, emptied for this call (NULL: none). */
static aiw_response_info *info_of(const aiw_call_options *opts) {
  if (!opts || !opts->info) return NULL;
  aiw__info_clear(opts->info);
  return opts->info;
}

/* Waits for one event of `c` and feeds it to the engine; returns its tag. */
static aiw_batch_tag *wait_event(aiw_call *c) {
  grpc_event ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
  if (ev.type != GRPC_OP_COMPLETE) return NULL; /* cannot happen: the queue is ours and not shut down */
  AIW_HANDOFF_ACQUIRE(ev.tag);
  aiw_batch_tag *tag = ev.tag;
  aiw__call_on_event(c, tag, ev.success);
  return tag;
}

aiw_code aiw__blocking_unary(aiw_client *client, const aiw_method *method, const aiw_request *request,
                             const aiw_call_options *opts, ProtobufCMessage **out, grpc_slice *raw_out,
                             aiw_error *err) {
  if (out) *out = NULL;
  if (raw_out) *raw_out = grpc_empty_slice();
  grpc_completion_queue *cq = queue_new();
  aiw_call c;
  aiw_response_info *info = info_of(opts);
  aiw_code rc = aiw__call_start(&c, client, method, 0, request, opts, info, cq, err);
  if (rc == AIW_OK) {
    while (!aiw__call_done(&c)) wait_event(&c);
    int kept = aiw__call_keep_end(&c);
    rc = method->response ? aiw__call_unary_outcome(&c, out, err) : aiw__call_raw_outcome(&c, raw_out, err);
    if (!kept && (rc == AIW_OK || rc == AIW_SERVICE_ERROR)) {
      if (out && *out) aiw__decoded_free(*out), *out = NULL;
      if (raw_out) grpc_slice_unref(*raw_out), *raw_out = grpc_empty_slice();
      rc = aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory copying the response metadata");
    }
  }
  aiw__call_report(&c, rc);
  aiw__call_release(&c);
  free(c.own_path);
  queue_destroy(cq);
  return rc;
}

/* Hands the received message of `c` to `fn`; returns the library's own
 * failure (decode), or AIW_OK. Cancels the call when `fn` stops it. */
static aiw_code deliver(aiw_call *c, aiw__message_fn fn, void *userdata, aiw_error *err) {
  int stop;
  if (!aiw__call_keep_headers(c)) {
    aiw__call_cancel(c, AIW_CANCEL_DECODE);
    return aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory copying the response metadata");
  }
  if (c->method->response) {
    ProtobufCMessage *msg;
    aiw_code rc = aiw__call_take_message(c, &msg, err);
    if (rc != AIW_OK) return rc;
    aiw__enter_callback();
    stop = fn(msg, NULL, 0, userdata);
    aiw__leave_callback();
    aiw__decoded_free(msg);
  } else {
    grpc_slice bytes;
    int got = aiw__call_take_bytes(c, &bytes, err);
    if (got < 0) return got == -2 ? AIW_RESOURCE_EXHAUSTED : AIW_INTERNAL;
    aiw__enter_callback();
    stop = fn(NULL, GRPC_SLICE_START_PTR(bytes), GRPC_SLICE_LENGTH(bytes), userdata);
    aiw__leave_callback();
    AIW_SLICE_UNREF(bytes);
  }
  if (stop) aiw__call_cancel(c, AIW_CANCEL_CALLBACK);
  return AIW_OK;
}

aiw_code aiw__blocking_stream(aiw_client *client, const aiw_method *method, const aiw_request *request,
                              const aiw_call_options *opts, aiw__message_fn fn, void *userdata, aiw_error *err) {
  grpc_completion_queue *cq = queue_new();
  aiw_call c;
  aiw_code rc = aiw__call_start(&c, client, method, 1, request, opts, info_of(opts), cq, err);
  if (rc == AIW_OK) {
    /* lib_rc: the first failure the library itself saw (decode); otherwise
     * the status decides. */
    aiw_code lib_rc = AIW_OK;
    while (!aiw__call_done(&c)) {
      aiw_batch_tag *tag = wait_event(&c);
      if (!tag || tag->kind != AIW_BATCH_RECV) continue;
      if (!c.end_of_stream && lib_rc == AIW_OK) lib_rc = deliver(&c, fn, userdata, err);
      aiw__call_continue(&c); /* next receive, or the status */
    }
    if (!aiw__call_keep_end(&c) && lib_rc == AIW_OK)
      lib_rc = aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory copying the response metadata");
    rc = lib_rc != AIW_OK ? lib_rc : aiw__call_result(&c, err);
  }
  aiw__call_report(&c, rc);
  aiw__call_release(&c);
  free(c.own_path);
  queue_destroy(cq);
  return rc;
}
