/*
 * internal.h -- what the modules of libaiw share. Never installed.
 *
 * This is the only header (with the generated ai_service.pb-c.h) that names
 * gRPC or protobuf-c types. Every function here is hidden by
 * -fvisibility=hidden and the version script; the aiw__ prefix marks it
 * internal.
 */
#ifndef AIW_INTERNAL_H
#define AIW_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include "aiw.h"
#include "ai_service.pb-c.h"
#include "health.pb-c.h"
#include "rpc_status.pb-c.h"

/* ---- allocation failure injection (torture.c) ---------------------------- */

#ifdef AIW_TORTURE
/* The torture build (make test-torture) routes every allocation of
 * libaiw's own code through these, so that a test can make the Nth one
 * fail (aiw_torture_fail_at in torture.c). Never in a shipped library. */
void *aiw__torture_malloc(size_t n);
void *aiw__torture_calloc(size_t n, size_t size);
void *aiw__torture_realloc(void *p, size_t n);
char *aiw__torture_strdup(const char *s);
#define malloc(n) aiw__torture_malloc(n)
#define calloc(n, size) aiw__torture_calloc(n, size)
#define realloc(p, n) aiw__torture_realloc(p, n)
#define strdup(s) aiw__torture_strdup(s)
#endif

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

/* ---- errors (error.c) ---------------------------------------------------- */

/* Fills `err` (may be NULL) and returns `code`. grpc_status -1: none. */
aiw_code aiw__fail(aiw_error *err, aiw_code code, int grpc_status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Fills `err` (may be NULL) with success and returns AIW_OK. */
aiw_code aiw__ok(aiw_error *err);

/* ---- strings (strings.c) ------------------------------------------------- */

/* 1 when `s` (NUL-terminated) is valid UTF-8 as proto3 requires. */
int aiw__utf8_valid(const char *s, size_t len);
/* Replaces *slot (a protobuf-c string, possibly protobuf_c_empty_string) with
 * a copy of `value`; validates UTF-8. */
aiw_code aiw__set_string(char **slot, const char *value);
/* Frees a protobuf-c string slot set by aiw__set_string. */
void aiw__free_string(char *s);
/* Appends a copy of `value` to a growable string array. */
aiw_code aiw__append_string(char ***array, size_t *n, const char *value);

/* ---- decoded responses (decode.c) ----------------------------------------- */

/* Decodes `len` bytes as `desc`; free with aiw__decoded_free (NULL-safe).
 * NULL when they are not a valid message, or when memory ran out: then
 * *out_of_memory is set to 1 (else 0). */
ProtobufCMessage *aiw__decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                              int *out_of_memory);
void aiw__decoded_free(ProtobufCMessage *msg);
/* The length in bytes (NULs included) of a string of a decoded message. */
size_t aiw__decoded_strlen(const char *s);
/* A decoded string for a `_with_len` getter: "" for NULL, *len (may be
 * NULL) its length (search_result.c). */
const char *aiw__string_with_len(const char *s, size_t *len);

/* ---- callbacks (runtime.c) ------------------------------------------------ */

/* Non-zero while this thread is inside a libaiw callback. */
int aiw__in_callback(void);
void aiw__enter_callback(void);
void aiw__leave_callback(void);

/* ---- options ------------------------------------------------------------ */

struct aiw_client_options {
  size_t max_receive_size; /* 0: gRPC's default (4 MiB) -- see has_max_receive */
  int has_max_receive;
  size_t max_send_size; /* 0: unlimited */
  int use_tls;
  char *root_certs_pem;
  char *cert_chain_pem;
  char *private_key_pem;
  char *server_name;
  char *user_agent;
  /* since 1.2: the production channel */
  char *service_config;   /* JSON, or NULL */
  char *lb_policy;        /* or NULL */
  int retry_max_attempts; /* 0: no typed retry policy */
  int64_t retry_initial_backoff_ms, retry_max_backoff_ms;
  int64_t keepalive_time_ms; /* 0: off */
  int64_t keepalive_timeout_ms;
  int keepalive_permit_without_calls;
  int64_t backoff_initial_ms, backoff_min_connect_ms, backoff_max_ms; /* 0: gRPC's */
  int64_t idle_timeout_ms;                                            /* 0: gRPC's */
  int compression;                                                    /* a grpc_compression_algorithm */
  char *authority;
  char *bearer_token;
  aiw_token_fn token_fn;
  void *token_userdata;
  int allow_insecure_credentials;
  aiw_stats_fn stats_fn;
  void *stats_userdata;
};

typedef struct aiw_metadata_entry {
  char *key;
  char *value;
  size_t key_len;
  size_t value_len;
} aiw_metadata_entry;

struct aiw_call_options {
  int64_t timeout_ms; /* 0: none */
  int wait_for_ready;
  aiw_metadata_entry *metadata;
  size_t n_metadata;
  size_t cap_metadata;
  aiw_cancel_token *token; /* borrowed */
  /* since 1.2 */
  int compression;         /* a grpc_compression_algorithm + 1; 0: the client's */
  size_t max_receive_size; /* 0: the client's */
  aiw_response_info *info; /* borrowed; blocking calls fill it */
};

/* Parses a compression name ("identity", "deflate", "gzip") into a
 * grpc_compression_algorithm; -1 for anything else (client_options.c). */
int aiw__compression_parse(const char *name);
/* The name gRPC sends for an algorithm. */
const char *aiw__compression_name(int algorithm);
/* 1 when every byte of `token` is printable ASCII (a header value). */
int aiw__token_printable(const char *token, size_t len);

/* ---- the call engine (call.c) -------------------------------------------- */

/* One RPC method. The four of AiWorker are static (aiw__methods); a raw
 * call has one of its own inside its aiw_call. */
typedef struct aiw_method {
  const char *path;                           /* "/ai_service.AiWorker/GetEmbedding" */
  const char *name;                           /* "GetEmbedding"; a raw call of another service: its path */
  const ProtobufCMessageDescriptor *response; /* NULL: raw, never decoded */
  int server_streaming;
  int index; /* into the client's registered-call handles; -1: not registered */
  /* Where the response reports success=false in-band; 0 when it cannot. */
  size_t success_offset, error_offset;
} aiw_method;

enum {
  AIW_METHOD_PROCESS_ASSET,
  AIW_METHOD_CHAT_STREAM,
  AIW_METHOD_GET_EMBEDDING,
  AIW_METHOD_VECTOR_SEARCH,
  AIW_METHOD_COUNT
};
extern const aiw_method aiw__methods[AIW_METHOD_COUNT];

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

/* What a call sends: a protobuf-c message to pack, or raw bytes (copied). */
typedef struct aiw_request {
  const ProtobufCMessage *message; /* NULL: raw bytes below */
  const void *bytes;
  size_t len;
} aiw_request;

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

/* ---- response metadata (metadata.c) --------------------------------------- */

/* A copy of a grpc_metadata_array that outlives the call: one allocation,
 * keys and values NUL-terminated (values may hold NULs: -bin). */
typedef struct aiw_md_entry {
  const char *key;
  const char *value;
  size_t key_len, value_len;
} aiw_md_entry;

typedef struct aiw_md_copy {
  size_t n;
  aiw_md_entry *entries; /* NULL when n is 0; the one block to free */
} aiw_md_copy;

/* Copies `md` into *out (empty on no metadata). 0 when out of memory. */
int aiw__md_copy(aiw_md_copy *out, const grpc_metadata_array *md);
void aiw__md_free(aiw_md_copy *md);

/* ---- response information (response_info.c) ------------------------------ */

struct aiw_response_info {
  int have_headers;
  aiw_md_copy headers, trailers;
  char *peer;                /* malloc'd; NULL reads as "" */
  ProtobufCMessage *details; /* the decoded AiwRpc__Status, or NULL */
};

/* Empties an info for its next call (keeps the struct). */
void aiw__info_clear(aiw_response_info *info);
/* Copies the call's headers into its info, once (no info: nothing). 0 when
 * out of memory. */
int aiw__call_keep_headers(aiw_call *c);
/* At the end of the call, before aiw__call_release: headers (if not yet),
 * trailers, peer and status details into its info. 0 when out of memory. */
int aiw__call_keep_end(aiw_call *c);

/* ---- the asynchronous driver (async.c) ----------------------------------- */

/* Starts an RPC on `queue` whose completions carry `tag`. */
aiw_code aiw__async_start(aiw_client *client, const aiw_method *method, int streaming, const aiw_request *request,
                          const aiw_call_options *opts, aiw_queue *queue, void *tag, aiw_error *err);

/* ---- the blocking driver (blocking.c) ------------------------------------ */

/* Per-message callback of a blocking streaming call: non-zero stops.
 * Typed calls get `msg`; raw calls get `bytes`/`len` (msg NULL). */
typedef int (*aiw__message_fn)(const ProtobufCMessage *msg, const void *bytes, size_t len, void *userdata);

/*
 * aiw__blocking_unary: one unary RPC on a completion queue of its own.
 * Typed (method->response set): *out owns the decoded response on AIW_OK
 * and AIW_SERVICE_ERROR (free with aiw__decoded_free).
 * Raw: *raw_out owns the bytes on AIW_OK (unref). Else both are left empty.
 */
aiw_code aiw__blocking_unary(aiw_client *client, const aiw_method *method, const aiw_request *request,
                             const aiw_call_options *opts, ProtobufCMessage **out, grpc_slice *raw_out, aiw_error *err);

/* aiw__blocking_stream: one server-streaming RPC, `fn` per message. */
aiw_code aiw__blocking_stream(aiw_client *client, const aiw_method *method, const aiw_request *request,
                              const aiw_call_options *opts, aiw__message_fn fn, void *userdata, aiw_error *err);

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

/* Common checks of the RPC entry points (blocking and asynchronous). */
aiw_code aiw__check_rpc_args(const void *client, const void *req, const char *what, aiw_error *err);

/* ---- service config (service_config.cc, gRPC's own parser) ------------- */

/* 1 when gRPC accepts `json` as a service config; else 0 and `reason`
 * (cap bytes, NUL-terminated) says why. */
int aiw__service_config_check(const char *json, char *reason, size_t cap);

#endif /* AIW_INTERNAL_H */
