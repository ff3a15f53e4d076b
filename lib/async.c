/* async.c -- the asynchronous driver of the call engine: many calls (unary
 * and streams, typed and raw) share one completion queue, and whoever waits
 * in aiw_queue_wait takes their completions (one event loop instead of a
 * thread per call).
 *
 * Each call is one allocation (aiw_async) holding the engine's call, its
 * RESULT completion and the one MESSAGE completion a stream reuses for
 * every message: a stream reads its next message only when the consumer
 * frees that completion, so one is all it ever needs. */
#include <stdlib.h>
#include <string.h>

#include <grpc/support/time.h>

#include "engine.h"
#include "response_info.h"

struct aiw_queue {
  grpc_completion_queue *cq;
  pthread_mutex_t lock;
  int shut_down; /* refuses new calls */
  /* Calls started and whose RESULT has not come out yet. gRPC's queue is
   * shut down only once this is 0: a paused stream (its consumer holds a
   * message) must still be able to start its next batch on it. */
  size_t active;
  int cq_shut_down;
};

typedef struct aiw_async aiw_async;

struct aiw_completion {
  aiw_async *owner;
  int is_message;
  ProtobufCMessage *response; /* typed: the message or response, until taken */
  grpc_slice bytes;           /* raw: the message or response */
  int has_bytes;
};

struct aiw_async {
  aiw_call call; /* the engine's batch tags point into it */
  aiw_queue *queue;
  void *tag;
  aiw_code code; /* the RESULT's */
  aiw_error error;
  aiw_code lib_rc;        /* the first failure the library itself saw (decode) */
  aiw_response_info info; /* headers (at the first message), the rest at the end */
  aiw_completion result;
  aiw_completion message;
};

static const aiw_error message_error = {AIW_OK, -1, ""};

aiw_queue *aiw_queue_new(void) {
  aiw_queue *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  if (pthread_mutex_init(&q->lock, NULL) != 0) {
    free(q);
    return NULL;
  }
  grpc_init();
  q->cq = grpc_completion_queue_create_for_next(NULL);
  return q;
}

/* Under q->lock: shuts gRPC's queue down once shut down and idle. */
static void maybe_shutdown_cq(aiw_queue *q) {
  if (q->shut_down && q->active == 0 && !q->cq_shut_down) {
    q->cq_shut_down = 1;
    grpc_completion_queue_shutdown(q->cq);
  }
}

void aiw_queue_shutdown(aiw_queue *queue) {
  if (!queue) return;
  pthread_mutex_lock(&queue->lock);
  queue->shut_down = 1;
  maybe_shutdown_cq(queue);
  pthread_mutex_unlock(&queue->lock);
}

/* A call's RESULT is out: it no longer keeps the queue up. */
static void call_ended(aiw_queue *q) {
  pthread_mutex_lock(&q->lock);
  q->active--;
  maybe_shutdown_cq(q);
  pthread_mutex_unlock(&q->lock);
}

aiw_code aiw__async_start(aiw_client *client, const aiw_method *method, int streaming, const aiw_request *request,
                          const aiw_call_options *opts, aiw_queue *queue, void *tag, aiw_error *err) {
  if (!queue) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "queue is NULL");
  aiw_async *a = calloc(1, sizeof *a);
  if (!a) return aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory");
  a->queue = queue;
  a->tag = tag;
  a->result.owner = a->message.owner = a;
  a->message.is_message = 1;
  pthread_mutex_lock(&queue->lock);
  int refused = queue->shut_down;
  if (!refused) queue->active++;
  pthread_mutex_unlock(&queue->lock);
  if (refused) {
    free(a);
    return aiw__fail(err, AIW_CANCELLED, -1, "the queue is shut down");
  }
  aiw_code rc = aiw__call_start(&a->call, client, method, streaming, request, opts, &a->info, queue->cq, err);
  if (rc != AIW_OK) {
    /* Nothing is outstanding when a start fails. */
    aiw__call_report(&a->call, rc);
    aiw__call_release(&a->call);
    call_ended(queue);
    free(a->call.own_path);
    free(a);
    return rc;
  }
  /* From here on another thread may already have taken (and freed) it. */
  return aiw__ok(err);
}

/* The RESULT of a finished call: its outcome, then the call is released
 * (the completion keeps only the response and the response info). */
static aiw_completion *finish(aiw_async *a) {
  aiw_call *c = &a->call;
  if (!aiw__call_keep_end(c) && a->lib_rc == AIW_OK) {
    a->lib_rc = aiw__fail(&a->error, AIW_OUT_OF_MEMORY, -1, "out of memory copying the response metadata");
  }
  if (a->lib_rc != AIW_OK) {
    a->code = a->lib_rc; /* a->error was filled when it happened */
  } else if (c->streaming) {
    a->code = aiw__call_result(c, &a->error);
  } else if (c->method->response) {
    a->code = aiw__call_unary_outcome(c, &a->result.response, &a->error);
  } else {
    a->code = aiw__call_raw_outcome(c, &a->result.bytes, &a->error);
    a->result.has_bytes = a->code == AIW_OK;
  }
  aiw__call_report(c, a->code);
  aiw__call_release(c);
  call_ended(a->queue);
  return &a->result;
}

/* Makes the received message of a stream its MESSAGE completion; NULL when
 * there is none to give (end of stream, decode failure). */
static aiw_completion *message(aiw_async *a) {
  aiw_call *c = &a->call;
  if (c->end_of_stream) return NULL;
  if (a->lib_rc != AIW_OK) { /* cancelled after a failure: drop what comes */
    if (c->recv_buffer) AIW_BYTE_BUFFER_DESTROY(c->recv_buffer);
    c->recv_buffer = NULL;
    return NULL;
  }
  if (!aiw__call_keep_headers(c)) {
    a->lib_rc = aiw__fail(&a->error, AIW_OUT_OF_MEMORY, -1, "out of memory copying the response metadata");
    aiw__call_cancel(c, AIW_CANCEL_DECODE);
    AIW_BYTE_BUFFER_DESTROY(c->recv_buffer);
    c->recv_buffer = NULL;
    return NULL;
  }
  if (c->method->response) {
    a->lib_rc = aiw__call_take_message(c, &a->message.response, &a->error);
    if (a->lib_rc != AIW_OK) return NULL;
  } else {
    int got = aiw__call_take_bytes(c, &a->message.bytes, &a->error);
    if (got < 0) {
      a->lib_rc = got == -2 ? AIW_RESOURCE_EXHAUSTED : AIW_INTERNAL;
      return NULL;
    }
    a->message.has_bytes = 1;
  }
  return &a->message;
}

/* Feeds one event to its call; returns the completion it makes, if any. */
static aiw_completion *on_event(grpc_event ev) {
  aiw_batch_tag *tag = ev.tag;
  aiw_async *a = (aiw_async *)tag->call;
  aiw__call_on_event(&a->call, tag, ev.success);
  if (tag->kind != AIW_BATCH_RECV) return finish(a);
  aiw_completion *m = message(a);
  if (m) return m;
  /* The status, now that the stream ended; after a start `a` may be gone. */
  return aiw__call_continue(&a->call) ? NULL : finish(a);
}

static gpr_timespec deadline_in(int64_t timeout_ms) {
  if (timeout_ms < 0) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  /* gRPC rounds a deadline up to the next millisecond: only an infinite
   * past makes the queue look without waiting. */
  if (timeout_ms == 0) return gpr_inf_past(GPR_CLOCK_MONOTONIC);
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

aiw_queue_result aiw_queue_wait(aiw_queue *queue, int64_t timeout_ms, aiw_completion **out) {
  if (out) *out = NULL;
  if (!queue || !out) return AIW_QUEUE_INVALID;
  gpr_timespec deadline = deadline_in(timeout_ms);
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(queue->cq, deadline, NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) return AIW_QUEUE_SHUTDOWN;
    if (ev.type != GRPC_OP_COMPLETE) return AIW_QUEUE_TIMEOUT;
    AIW_HANDOFF_ACQUIRE(ev.tag);
    /* Events that make no completion (a stream's end before its status)
     * are the library's own: wait on, within the same deadline. */
    if ((*out = on_event(ev))) return AIW_QUEUE_COMPLETION;
  }
}

aiw_code aiw_queue_next(aiw_queue *queue, int64_t timeout_ms, aiw_completion **out) {
  switch (aiw_queue_wait(queue, timeout_ms, out)) {
  case AIW_QUEUE_COMPLETION: return AIW_OK;
  case AIW_QUEUE_SHUTDOWN: return AIW_CANCELLED;
  case AIW_QUEUE_TIMEOUT: return AIW_DEADLINE_EXCEEDED;
  case AIW_QUEUE_INVALID:
  default: return AIW_INVALID_ARGUMENT;
  }
}

void aiw_queue_free(aiw_queue *queue) {
  if (!queue) return;
  aiw_queue_shutdown(queue);
  aiw_completion *c;
  /* Freeing a stream's messages lets it go on to its end. */
  while (aiw_queue_wait(queue, -1, &c) != AIW_QUEUE_SHUTDOWN) aiw_completion_free(c);
  grpc_completion_queue_destroy(queue->cq);
  pthread_mutex_destroy(&queue->lock);
  free(queue);
  grpc_shutdown();
}

void *aiw_completion_tag(const aiw_completion *c) { return c ? c->owner->tag : NULL; }
aiw_code aiw_completion_code(const aiw_completion *c) {
  if (!c) return AIW_INVALID_ARGUMENT;
  return c->is_message ? AIW_OK : c->owner->code;
}
const aiw_error *aiw_completion_error(const aiw_completion *c) {
  if (!c) return NULL;
  return c->is_message ? &message_error : &c->owner->error;
}
const char *aiw_completion_method(const aiw_completion *c) { return c ? c->owner->call.method->name : ""; }
int aiw_completion_is_message(const aiw_completion *c) { return c ? c->is_message : 0; }
int aiw_completion_deadline_expired(const aiw_completion *c) {
  return c && !c->is_message && c->owner->code == AIW_DEADLINE_EXCEEDED && c->owner->call.deadline_expired;
}

const void *aiw_completion_message(const aiw_completion *c, size_t *len) {
  if (len) *len = 0;
  if (!c || !c->has_bytes) return NULL;
  if (len) *len = GRPC_SLICE_LENGTH(c->bytes);
  /* An empty slice may have no storage: give a valid pointer anyway. */
  return GRPC_SLICE_LENGTH(c->bytes) ? (const void *)GRPC_SLICE_START_PTR(c->bytes) : (const void *)"";
}

/* Moves the decoded message out when the completion is of `method`. */
static ProtobufCMessage *take(aiw_completion *c, int method, int is_message) {
  if (!c || c->is_message != is_message || c->owner->call.method != &aiw__methods[method]) return NULL;
  ProtobufCMessage *response = c->response;
  c->response = NULL;
  return response;
}

aiw_embedding_response *aiw_completion_take_embedding_response(aiw_completion *c) {
  return (aiw_embedding_response *)take(c, AIW_METHOD_GET_EMBEDDING, 0);
}
aiw_search_response *aiw_completion_take_search_response(aiw_completion *c) {
  return (aiw_search_response *)take(c, AIW_METHOD_VECTOR_SEARCH, 0);
}
aiw_process_status *aiw_completion_take_process_status(aiw_completion *c) {
  return (aiw_process_status *)take(c, AIW_METHOD_PROCESS_ASSET, 0);
}
aiw_chat_response *aiw_completion_take_chat_response(aiw_completion *c) {
  return (aiw_chat_response *)take(c, AIW_METHOD_CHAT_STREAM, 1);
}

static void clear(aiw_completion *c) {
  if (c->response) aiw__decoded_free(c->response);
  c->response = NULL;
  if (c->has_bytes) AIW_SLICE_UNREF(c->bytes);
  c->has_bytes = 0;
}

void aiw_completion_free(aiw_completion *c) {
  if (!c) return;
  aiw_async *a = c->owner;
  clear(c);
  if (c->is_message) {
    /* The consumer is done with this message: read the next one (or, at
     * the end or after a cancel, the status). Its completion comes out of
     * the queue like any other. (0 -- no event will come -- needs gRPC to
     * refuse even an empty batch: it cannot happen on a live call.) */
    (void)aiw__call_continue(&a->call);
    return;
  }
  if (a->call.own_path) free(a->call.own_path);
  aiw__info_clear(&a->info);
  free(a);
}

/* The response info a completion can show: a MESSAGE completion shows
 * the headers only (the trailers are not there yet). */
const aiw_response_info *aiw_completion_response_info(const aiw_completion *c) { return c ? &c->owner->info : NULL; }

size_t aiw_completion_metadata_count(const aiw_completion *c, int trailing) {
  return aiw_response_info_metadata_count(aiw_completion_response_info(c), trailing);
}

const char *aiw_completion_metadata_key(const aiw_completion *c, int trailing, size_t i) {
  return aiw_response_info_metadata_key(aiw_completion_response_info(c), trailing, i);
}

const void *aiw_completion_metadata_value(const aiw_completion *c, int trailing, size_t i, size_t *len) {
  return aiw_response_info_metadata_value(aiw_completion_response_info(c), trailing, i, len);
}
