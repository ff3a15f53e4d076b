/* blocking.c -- drives the call engine for the blocking API: one completion
 * queue per call, waited on by the calling thread, so callbacks run on the
 * caller's thread and nothing is shared between calls but the channel. */
#include <grpc/support/time.h>

#include "internal.h"

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

/* Waits for one event of `c` and feeds it to the engine; returns its tag. */
static aiw_batch_tag *wait_event(aiw_call *c) {
  grpc_event ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
  if (ev.type != GRPC_OP_COMPLETE) return NULL; /* cannot happen: the queue is ours and not shut down */
  aiw_batch_tag *tag = ev.tag;
  aiw__call_on_event(c, tag, ev.success);
  return tag;
}

aiw_code aiw__blocking_unary(aiw_client *client, int method, const ProtobufCMessage *request,
                             const aiw_call_options *opts, ProtobufCMessage **out, aiw_error *err) {
  *out = NULL;
  grpc_completion_queue *cq = queue_new();
  aiw_call c;
  aiw_code rc = aiw__call_start(&c, client, &aiw__methods[method], request, opts, cq, err);
  while (!aiw__call_done(&c)) wait_event(&c);
  if (rc == AIW_OK) rc = aiw__call_unary_outcome(&c, out, err);
  aiw__call_release(&c);
  queue_destroy(cq);
  return rc;
}

aiw_code aiw__blocking_stream(aiw_client *client, int method, const ProtobufCMessage *request,
                              const aiw_call_options *opts, aiw__message_fn fn, void *userdata, aiw_error *err) {
  grpc_completion_queue *cq = queue_new();
  aiw_call c;
  aiw_code rc = aiw__call_start(&c, client, &aiw__methods[method], request, opts, cq, err);
  /* rc holds the first failure the library itself saw (start, decode);
   * otherwise the status decides. */
  while (!aiw__call_done(&c)) {
    aiw_batch_tag *tag = wait_event(&c);
    if (!tag || tag->kind != AIW_BATCH_RECV || c.end_of_stream || rc != AIW_OK) continue;
    ProtobufCMessage *msg;
    rc = aiw__call_take_message(&c, &msg, err);
    if (rc != AIW_OK) continue; /* cancelled: drain to the status */
    aiw__enter_callback();
    int stop = fn(msg, userdata);
    aiw__leave_callback();
    protobuf_c_message_free_unpacked(msg, NULL);
    if (stop)
      aiw__call_cancel(&c, AIW_CANCEL_CALLBACK);
    else if (atomic_load(&c.cancel_reason) == AIW_CANCEL_NONE)
      rc = aiw__call_recv_next(&c, err);
  }
  if (rc == AIW_OK) rc = aiw__call_result(&c, err);
  aiw__call_release(&c);
  queue_destroy(cq);
  return rc;
}
