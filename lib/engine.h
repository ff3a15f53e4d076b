/*
 * engine.h -- the call engine: the one header that includes gRPC. Never
 * installed.
 *
 * Only the engine's files include it: call.c (the engine), blocking.c and
 * async.c (its drivers), client.c, call_set.c and cancel_token.c (what
 * cancels calls), metadata.c and response_info.c (what a call received),
 * raw.c, runtime.c and version.c (gRPC's runtime). Calls go one way:
 * drivers -> call.c -> client.c -> call_set.c; call_set.c cancels a member
 * through the function its link carries, never by calling call.c.
 */
#ifndef AIW_ENGINE_H
#define AIW_ENGINE_H

#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include "internal.h"

/* ---- ThreadSanitizer and gRPC's completion queue ------------------------- */

/* gRPC core is not instrumented: TSan cannot see that a completion queue
 * hands a call over from the thread that started a batch to the thread that
 * takes its event. These annotations say so, at the two ends of every hand
 * over: release on the batch's tag (its address) right before
 * grpc_call_start_batch -- after the last access to the call -- and acquire
 * on it when grpc_completion_queue_next returns the tag. They cost
 * nothing outside a TSan build (make test-c-tsan). */
#if defined(__SANITIZE_THREAD__)
#define AIW_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AIW_TSAN 1
#endif
#endif
#ifdef AIW_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define AIW_HANDOFF_RELEASE(tag) __tsan_release((void *)(tag))
#define AIW_HANDOFF_ACQUIRE(tag) __tsan_acquire((void *)(tag))
/* A received message may be a sub-slice of a transport buffer that other
 * calls' messages share, freed by whichever unref is last -- an atomic
 * refcount TSan does not see. Release and acquire on the refcount before
 * each unref orders every reader before the free, as shared_ptr's own
 * annotations do. */
#define AIW_SLICE_UNREF(s)                                                                                             \
  do {                                                                                                                 \
    grpc_slice aiw_s_ = (s);                                                                                           \
    if (aiw_s_.refcount) {                                                                                             \
      __tsan_release((void *)aiw_s_.refcount);                                                                         \
      __tsan_acquire((void *)aiw_s_.refcount);                                                                         \
    }                                                                                                                  \
    grpc_slice_unref(aiw_s_);                                                                                          \
  } while (0)
/* The same for every slice of a received byte buffer, before it is destroyed. */
#define AIW_BYTE_BUFFER_DESTROY(bb)                                                                                    \
  do {                                                                                                                 \
    grpc_byte_buffer *aiw_bb_ = (bb);                                                                                  \
    for (size_t aiw_i_ = 0; aiw_i_ < aiw_bb_->data.raw.slice_buffer.count; aiw_i_++) {                                 \
      void *aiw_r_ = (void *)aiw_bb_->data.raw.slice_buffer.slices[aiw_i_].refcount;                                   \
      if (aiw_r_) {                                                                                                    \
        __tsan_release(aiw_r_);                                                                                        \
        __tsan_acquire(aiw_r_);                                                                                        \
      }                                                                                                                \
    }                                                                                                                  \
    grpc_byte_buffer_destroy(aiw_bb_);                                                                                 \
  } while (0)
#else
#define AIW_HANDOFF_RELEASE(tag) ((void)0)
#define AIW_HANDOFF_ACQUIRE(tag) ((void)0)
#define AIW_SLICE_UNREF(s) grpc_slice_unref(s)
#define AIW_BYTE_BUFFER_DESTROY(bb) grpc_byte_buffer_destroy(bb)
#endif

/* ---- cancelling calls together (call_set.c) ------------------------------ */

/* Why the library cancelled a call itself (it then reports its own message). */
typedef enum aiw_cancel_reason {
  AIW_CANCEL_NONE = 0,
  AIW_CANCEL_TOKEN,
  AIW_CANCEL_CLIENT_CLOSED,
  AIW_CANCEL_CALLBACK,
  AIW_CANCEL_DECODE
} aiw_cancel_reason;

/* A set of running calls cancelled together (a client's, a token's): an
 * intrusive list under a mutex; once cancelled it refuses new members. */
typedef struct aiw_call_link {
  struct aiw_call *call;
  /* How the set cancels its member (aiw__call_cancel): the set does not
   * call into the engine by name. */
  void (*cancel)(struct aiw_call *call, aiw_cancel_reason reason);
  struct aiw_call_link *prev, *next;
} aiw_call_link;

typedef struct aiw_call_set {
  pthread_mutex_t lock;
  int cancelled;
  aiw_call_link *head;
} aiw_call_set;

int aiw__call_set_init(aiw_call_set *set); /* 0 on failure */
void aiw__call_set_destroy(aiw_call_set *set);
/* Adds a call; returns 0 (and adds nothing) once the set is cancelled. */
int aiw__call_set_add(aiw_call_set *set, aiw_call_link *link);
void aiw__call_set_remove(aiw_call_set *set, aiw_call_link *link);
/* Marks the set cancelled and cancels every member for `reason`. */
void aiw__call_set_cancel(aiw_call_set *set, aiw_cancel_reason reason);
int aiw__call_set_cancelled(aiw_call_set *set);
void aiw__call_set_reset(aiw_call_set *set);

/* Tags: the address of one of these inside the call identifies the batch. */
typedef enum aiw_batch_kind { AIW_BATCH_UNARY, AIW_BATCH_RECV, AIW_BATCH_STATUS } aiw_batch_kind;
typedef struct aiw_batch_tag {
  aiw_batch_kind kind;
  struct aiw_call *call;
} aiw_batch_tag;

/*
 * One RPC in flight. The engine builds the request, starts the batches,
 * decodes responses and releases everything in aiw__call_release; it does
 * not care which completion queue delivers its events (the blocking API
 * gives each call a queue of its own; the asynchronous one shares one).
 *
 * A unary call is one batch (send, receive, status). A stream is a first
 * batch (send + first receive), then one receive per message, each started
 * by its consumer through aiw__call_continue once the previous message was
 * consumed; the status batch is started only after the end of the stream
 * (or a cancel), so at most one batch of a call is ever outstanding.
 */
typedef struct aiw_call {
  aiw_client *client;
  const aiw_method *method;
  grpc_call *call;
  grpc_completion_queue *cq;
  aiw_cancel_token *token;
  int streaming; /* server streaming: receive until the end, then status */

  grpc_metadata *send_md;
  size_t n_send_md;
  grpc_byte_buffer *send_buffer;
  grpc_byte_buffer *recv_buffer;
  grpc_metadata_array recv_initial_md;
  grpc_metadata_array recv_trailing_md;
  grpc_status_code status;
  grpc_slice status_details;
  const char *error_string;
  gpr_timespec deadline; /* monotonic; infinite when the options set none */

  aiw_response_info *info; /* where its headers, trailers... go; NULL: nowhere */
  size_t max_receive;      /* per call; 0: the channel's limit only */
  /* For the client's stats hook (aiw__call_report). */
  int64_t start_ns;
  uint64_t bytes_sent, messages_sent, bytes_received, messages_received;
  int counted; /* past the argument checks: the stats hook hears of it */
  int reported;

  aiw_batch_tag unary_tag, recv_tag, status_tag;
  int recv_pending;     /* a RECV batch is outstanding */
  int status_started;   /* the STATUS (or UNARY) batch was started */
  int finished;         /* its completion came: the status is known */
  int end_of_stream;    /* a receive found no more messages */
  int natural_end;      /* ... and no cancel had been asked for before */
  int deadline_expired; /* DEADLINE_EXCEEDED at or after our own deadline */
  int registered;       /* in the client's set */

  /* Set under the client's / token's lock when the library cancels. */
  _Atomic int cancel_reason; /* an aiw_cancel_reason */

  /* Membership of the client's set (every call) and the token's. */
  aiw_call_link client_link, token_link;

  /* A raw call's own method when `method` points here; an unregistered
   * path is copied into own_path (freed by the driver, with free()). */
  aiw_method own_method;
  char *own_path;
} aiw_call;

/*
 * aiw__method_for_path: fills `m` for a raw call of `path` (borrowed: the
 * call's start copies what it keeps): a registered method when the path is
 * one of AiWorker's, else an unregistered one. INVALID_ARGUMENT for a NULL
 * or malformed path.
 */
aiw_code aiw__method_for_path(aiw_method *m, const char *path, int streaming, aiw_error *err);

/*
 * aiw__call_start: validates the client state and options, packs the
 * request, creates the grpc_call on `cq`, registers it with the client and
 * the token and starts its first batch. `method` is copied into the call
 * when it is a raw one (response NULL). `info` (may be NULL) is where the
 * driver keeps the call's response information. On failure nothing is
 * outstanding: aiw__call_release is still needed.
 */
aiw_code aiw__call_start(aiw_call *c, aiw_client *client, const aiw_method *method, int streaming,
                         const aiw_request *request, const aiw_call_options *opts, aiw_response_info *info,
                         grpc_completion_queue *cq, aiw_error *err);

/* aiw__call_on_event: feeds one completion (tag, success) to the call. */
void aiw__call_on_event(aiw_call *c, aiw_batch_tag *tag, int success);

/* 1 when nothing is outstanding and the status is known. */
int aiw__call_done(const aiw_call *c);

/*
 * aiw__call_continue: after a stream's receive completed and its message
 * (if any) was consumed: starts the next receive, or the status batch when
 * the stream ended or a cancel was asked for (a failure to start the
 * status is reported as an INTERNAL status). Returns 1 when an event of the
 * call will come -- and then `c` must not be touched any more: on a shared
 * queue another thread may take that event and free the call -- or 0 when
 * the call is finished already (no event will come).
 */
int aiw__call_continue(aiw_call *c);

/* Takes the received message (NULL at end of stream) and decodes it;
 * on a decode failure returns AIW_INTERNAL (RESOURCE_EXHAUSTED over the
 * call's max receive size) and cancels the call. */
aiw_code aiw__call_take_message(aiw_call *c, ProtobufCMessage **out, aiw_error *err);

/* Takes the received message as bytes, without decoding: 1 and *out (a
 * slice the caller unrefs) when there was one; 0 at end of stream; on a
 * decompression failure -1, on a message over the call's max receive size
 * -2, with `err` filled and the call cancelled. */
int aiw__call_take_bytes(aiw_call *c, grpc_slice *out, aiw_error *err);

/* Cancels the call for `reason` (the first reason wins, but a callback's
 * stop overrides any). Thread-safe. */
void aiw__call_cancel(aiw_call *c, aiw_cancel_reason reason);

/* The call's outcome from its status (after aiw__call_done): a stream
 * cancelled before its consumer saw its natural end reports the cancel. */
aiw_code aiw__call_result(aiw_call *c, aiw_error *err);

/* The outcome of a finished typed unary call: the status, then the decoded
 * response (*out, owned by the caller on AIW_OK and AIW_SERVICE_ERROR),
 * then its in-band success flag. */
aiw_code aiw__call_unary_outcome(aiw_call *c, ProtobufCMessage **out, aiw_error *err);

/* The outcome of a finished raw unary call: the status, then the response
 * bytes (*out, unref'd by the caller, on AIW_OK only). */
aiw_code aiw__call_raw_outcome(aiw_call *c, grpc_slice *out, aiw_error *err);

/* Tells the client's stats hook (if any) that the call ended with `code`
 * (once; later reports are ignored). Drivers call it with the result they
 * hand out, before aiw__call_release. */
void aiw__call_report(aiw_call *c, aiw_code code);

/* Unregisters and releases everything the call holds. Always runs once.
 * A raw call's own_path stays (the completion still names its method):
 * its driver frees it last. */
void aiw__call_release(aiw_call *c);

/* The in-band outcome of a decoded response: AIW_SERVICE_ERROR with the
 * service's text when it says success=false, else AIW_OK. */
aiw_code aiw__service_result(const aiw_method *method, const ProtobufCMessage *response, aiw_error *err);

/* ---- what the engine needs of clients and tokens (client.c, cancel_token.c) */

grpc_channel *aiw__client_channel(aiw_client *client);
void *aiw__client_registered_method(aiw_client *client, int method);
size_t aiw__client_max_send(const aiw_client *client);
/* The authorization header value for a call of `method` ("Bearer ..."):
 * AIW_OK with *value a malloc'd string (NULL: send none), or
 * UNAUTHENTICATED when the token callback failed. */
aiw_code aiw__client_authorization(aiw_client *client, const char *method, char **value, aiw_error *err);
/* INVALID_ARGUMENT when a call may not compress with `algorithm` (a
 * grpc_compression_algorithm) on this client (gRPC 1.51 and retries). */
aiw_code aiw__client_check_compression(const aiw_client *client, int algorithm, aiw_error *err);
/* The client's stats hook, or NULL (and its userdata). */
aiw_stats_fn aiw__client_stats_hook(const aiw_client *client, void **userdata);
aiw_call_set *aiw__client_calls(aiw_client *client);
aiw_call_set *aiw__token_calls(aiw_cancel_token *token);

/* ---- service config (service_config.cc, gRPC's own parser) ------------- */

/* 1 when gRPC accepts `json` as a service config; else 0 and `reason`
 * (cap bytes, NUL-terminated) says why. */
int aiw__service_config_check(const char *json, char *reason, size_t cap);

#endif /* AIW_ENGINE_H */
