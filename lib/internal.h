/*
 * internal.h -- what the modules of libaiw share, without gRPC. Never
 * installed.
 *
 * Message code (requests, responses, options, errors, strings) sees only
 * this and protobuf-c's generated headers. The call engine's files include
 * engine.h as well, the only header that names gRPC's types. Every
 * function here is hidden by -fvisibility=hidden and the version script;
 * the aiw__ prefix marks it internal.
 */
#ifndef AIW_INTERNAL_H
#define AIW_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "aiw.h"
#include "ai_service.pb-c.h"
#include "health.pb-c.h"
#include "rpc_status.pb-c.h"

/* gRPC's slice, named (never used) by the raw form of aiw__blocking_unary. */
struct grpc_slice;

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
 * NULL) its length (decode.c). */
const char *aiw__string_with_len(const char *s, size_t *len);

/* ---- callbacks (runtime.c) ------------------------------------------------ */

/* Non-zero while this thread is inside a libaiw callback. */
int aiw__in_callback(void);
void aiw__enter_callback(void);
void aiw__leave_callback(void);

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

/* What a call sends: a protobuf-c message to pack, or raw bytes (copied). */
typedef struct aiw_request {
  const ProtobufCMessage *message; /* NULL: raw bytes below */
  const void *bytes;
  size_t len;
} aiw_request;

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
                             const aiw_call_options *opts, ProtobufCMessage **out, struct grpc_slice *raw_out,
                             aiw_error *err);

/* aiw__blocking_stream: one server-streaming RPC, `fn` per message. */
aiw_code aiw__blocking_stream(aiw_client *client, const aiw_method *method, const aiw_request *request,
                              const aiw_call_options *opts, aiw__message_fn fn, void *userdata, aiw_error *err);

/* Common checks of the RPC entry points (blocking and asynchronous). */
aiw_code aiw__check_rpc_args(const void *client, const void *req, const char *what, aiw_error *err);

#endif /* AIW_INTERNAL_H */
