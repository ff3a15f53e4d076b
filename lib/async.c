/* async.c -- the asynchronous driver of the call engine: many unary calls
 * share one completion queue, and whoever calls aiw_queue_next takes their
 * results (one event loop instead of a thread per call). */
#include <stdlib.h>

#include <grpc/support/time.h>

#include "internal.h"

struct aiw_queue {
  grpc_completion_queue *cq;
  /* Starts hold it shared, shutdown exclusively: no batch is ever started
   * on a queue that is shutting down (gRPC forbids it). */
  pthread_rwlock_t lock;
  int shut_down;
};

struct aiw_completion {
  aiw_call call; /* the engine's batch tags point into it */
  void *tag;
  aiw_code code;
  aiw_error error;
  ProtobufCMessage *response;
};

aiw_queue *aiw_queue_new(void) {
  aiw_queue *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  if (pthread_rwlock_init(&q->lock, NULL) != 0) {
    free(q);
    return NULL;
  }
  grpc_init();
  q->cq = grpc_completion_queue_create_for_next(NULL);
  return q;
}

void aiw_queue_shutdown(aiw_queue *queue) {
  if (!queue) return;
  pthread_rwlock_wrlock(&queue->lock);
  if (!queue->shut_down) {
    queue->shut_down = 1;
    grpc_completion_queue_shutdown(queue->cq);
  }
  pthread_rwlock_unlock(&queue->lock);
}

aiw_code aiw__async_start(aiw_client *client, int method, const ProtobufCMessage *request,
                          const aiw_call_options *opts, aiw_queue *queue, void *tag, aiw_error *err) {
  if (!queue) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "queue is NULL");
  aiw_completion *c = calloc(1, sizeof *c);
  if (!c) return aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory");
  c->tag = tag;
  pthread_rwlock_rdlock(&queue->lock);
  aiw_code rc = AIW_OK;
  if (queue->shut_down) {
    rc = aiw__fail(err, AIW_CANCELLED, -1, "the queue is shut down");
  } else {
    rc = aiw__call_start(&c->call, client, &aiw__methods[method], request, opts, queue->cq, err);
    /* A unary call that failed to start has no batch outstanding. */
    if (rc != AIW_OK) aiw__call_release(&c->call);
  }
  pthread_rwlock_unlock(&queue->lock);
  if (rc != AIW_OK) {
    free(c);
    return rc;
  }
  return aiw__ok(err);
}

/* Turns the one event of a unary call into its completion. */
static aiw_completion *complete(grpc_event ev) {
  aiw_batch_tag *tag = ev.tag;
  aiw_completion *c = (aiw_completion *)tag->call;
  aiw__call_on_event(&c->call, tag, ev.success);
  c->code = aiw__call_unary_outcome(&c->call, &c->response, &c->error);
  aiw__call_release(&c->call);
  return c;
}

static gpr_timespec deadline_in(int64_t timeout_ms) {
  if (timeout_ms < 0) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  /* gRPC rounds a deadline up to the next millisecond: only an infinite
   * past makes the queue look without waiting. */
  if (timeout_ms == 0) return gpr_inf_past(GPR_CLOCK_MONOTONIC);
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

aiw_code aiw_queue_next(aiw_queue *queue, int64_t timeout_ms, aiw_completion **out) {
  if (out) *out = NULL;
  if (!queue || !out) return AIW_INVALID_ARGUMENT;
  grpc_event ev = grpc_completion_queue_next(queue->cq, deadline_in(timeout_ms), NULL);
  switch (ev.type) {
  case GRPC_OP_COMPLETE:
    *out = complete(ev);
    return AIW_OK;
  case GRPC_QUEUE_SHUTDOWN:
    return AIW_CANCELLED;
  case GRPC_QUEUE_TIMEOUT:
  default:
    return AIW_DEADLINE_EXCEEDED;
  }
}

void aiw_queue_free(aiw_queue *queue) {
  if (!queue) return;
  aiw_queue_shutdown(queue);
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(queue->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type == GRPC_OP_COMPLETE) aiw_completion_free(complete(ev));
  }
  grpc_completion_queue_destroy(queue->cq);
  pthread_rwlock_destroy(&queue->lock);
  free(queue);
  grpc_shutdown();
}

void *aiw_completion_tag(const aiw_completion *c) { return c ? c->tag : NULL; }
aiw_code aiw_completion_code(const aiw_completion *c) { return c ? c->code : AIW_INVALID_ARGUMENT; }
const aiw_error *aiw_completion_error(const aiw_completion *c) { return c ? &c->error : NULL; }
const char *aiw_completion_method(const aiw_completion *c) { return c ? c->call.method->name : ""; }

/* Moves the response out when the completion is of `method`. */
static ProtobufCMessage *take(aiw_completion *c, int method) {
  if (!c || c->call.method != &aiw__methods[method]) return NULL;
  ProtobufCMessage *response = c->response;
  c->response = NULL;
  return response;
}

aiw_embedding_response *aiw_completion_take_embedding_response(aiw_completion *c) {
  return (aiw_embedding_response *)take(c, AIW_METHOD_GET_EMBEDDING);
}
aiw_search_response *aiw_completion_take_search_response(aiw_completion *c) {
  return (aiw_search_response *)take(c, AIW_METHOD_VECTOR_SEARCH);
}
aiw_process_status *aiw_completion_take_process_status(aiw_completion *c) {
  return (aiw_process_status *)take(c, AIW_METHOD_PROCESS_ASSET);
}

void aiw_completion_free(aiw_completion *c) {
  if (!c) return;
  if (c->response) protobuf_c_message_free_unpacked(c->response, NULL);
  free(c);
}
