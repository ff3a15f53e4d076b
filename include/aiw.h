/*
 * aiw.h -- libaiw, the C client of ThinkBank's AI service (ai_service.AiWorker).
 *
 * The one public header of libaiw. It includes only standard C headers; no
 * gRPC or protobuf-c name appears here, so a new gRPC release never changes
 * this ABI.
 *
 * Conventions (they hold for every declaration below unless it says otherwise):
 *  - Handles are opaque. Each has one constructor and one NULL-safe `_free`.
 *  - Inputs are copied: a string or buffer passed in may be freed by the
 *    caller as soon as the function returns.
 *  - Results returned through `**out` are owned by the caller and freed with
 *    the matching `aiw_*_free`. Pointers returned by getters are borrowed from
 *    the object they were read from and live as long as it does.
 *  - Functions that can fail return an `aiw_code`; AIW_OK (0) is success.
 *    Where they take an `aiw_error *err` it may be NULL; when it is not, it is
 *    filled on every return (code AIW_OK and an empty message on success).
 *  - Threads: a client may be used by any number of threads at once. Request,
 *    response and option objects are plain values: one thread at a time each,
 *    but a request or option object may be shared read-only by concurrent calls.
 *  - Calling a libaiw function that starts an RPC from inside a libaiw
 *    callback is refused with AIW_RECURSIVE_API_CALL.
 *
 * ABI policy: libaiw.so.1 only grows. Enum values and the aiw_error layout
 * never change; new functions are added, never altered. See lib/symbols.txt.
 */
#ifndef AIW_H
#define AIW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(AIW_BUILDING_LIBRARY)
#define AIW_API __attribute__((visibility("default")))
#else
#define AIW_API
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

#define AIW_VERSION_MAJOR 1
#define AIW_VERSION_MINOR 2
#define AIW_VERSION_PATCH 0
/* 0xXXYYZZ: major, minor, patch; compare with >= to test for a feature. */
#define AIW_VERSION_NUM 0x010200
#define AIW_VERSION_STRING "1.2.0"

/*
 * aiw_version: the version string of the library actually loaded ("1.1.0"),
 * which may be newer than the AIW_VERSION_STRING this program was built with.
 * Static storage, never freed. Any thread. Cannot fail.
 */
AIW_API const char *aiw_version(void);

/*
 * aiw_version_num: the loaded library's version as 0xXXYYZZ. Any thread.
 */
AIW_API unsigned int aiw_version_num(void);

/*
 * aiw_grpc_version: the version string of the gRPC C core libaiw runs on
 * (for diagnostics). Static storage. Any thread; calls no gRPC function that
 * needs initialisation.
 */
AIW_API const char *aiw_grpc_version(void);

/* ------------------------------------------------------------------------ */
/* Result codes and errors                                                  */
/* ------------------------------------------------------------------------ */

/*
 * aiw_code: the outcome of a call. 0..16 are gRPC's status codes with the
 * same numbers; library codes follow. Append-only: never renumbered.
 */
typedef enum aiw_code {
  AIW_OK = 0,
  AIW_CANCELLED = 1,
  AIW_UNKNOWN = 2,
  AIW_INVALID_ARGUMENT = 3,
  AIW_DEADLINE_EXCEEDED = 4,
  AIW_NOT_FOUND = 5,
  AIW_ALREADY_EXISTS = 6,
  AIW_PERMISSION_DENIED = 7,
  AIW_RESOURCE_EXHAUSTED = 8,
  AIW_FAILED_PRECONDITION = 9,
  AIW_ABORTED = 10,
  AIW_OUT_OF_RANGE = 11,
  AIW_UNIMPLEMENTED = 12,
  AIW_INTERNAL = 13,
  AIW_UNAVAILABLE = 14,
  AIW_DATA_LOSS = 15,
  AIW_UNAUTHENTICATED = 16,
  /* The RPC succeeded but the service answered success=false; the response
   * is still returned and its error text is in aiw_error.message. */
  AIW_SERVICE_ERROR = 17,
  /* A chat callback returned non-zero; the stream was cancelled. */
  AIW_CALLBACK_ABORTED = 18,
  /* Memory allocation failed. */
  AIW_OUT_OF_MEMORY = 19,
  /* An RPC was started from inside a libaiw callback. */
  AIW_RECURSIVE_API_CALL = 20
} aiw_code;

/* The highest code this version of the header knows. */
#define AIW_CODE_LAST AIW_RECURSIVE_API_CALL

/*
 * aiw_code_name: the code's name as in CONTRACT.md ("OK", "CANCELLED", ...,
 * "UNAUTHENTICATED"; then "SERVICE_ERROR", "CALLBACK_ABORTED",
 * "OUT_OF_MEMORY", "RECURSIVE_API_CALL"); "UNKNOWN_CODE" for any other value.
 * Static storage. Any thread.
 */
AIW_API const char *aiw_code_name(int code);

/*
 * aiw_strerror: a short human description of a code ("deadline exceeded").
 * Static storage, never NULL. Any thread.
 */
AIW_API const char *aiw_strerror(int code);

/*
 * aiw_http_status: the HTTP status of a code, as grpc-gateway maps them
 * (CONTRACT.md): OK 200, CANCELLED 499, ..., UNAUTHENTICATED 401.
 * SERVICE_ERROR is 502, CALLBACK_ABORTED 499, OUT_OF_MEMORY and
 * RECURSIVE_API_CALL 500; unknown values 500. Any thread.
 */
AIW_API int aiw_http_status(int code);

#define AIW_ERROR_MESSAGE_SIZE 512

/*
 * aiw_error: filled by the library on every return of a function that takes
 * it. Caller-allocated (on the stack is fine); its layout is frozen.
 *  code         the same value the function returned.
 *  grpc_status  the gRPC status the call ended with (0..16), or -1 when no
 *               RPC status applies (argument errors before any RPC, or
 *               SERVICE_ERROR, whose RPC status was OK: then 0).
 *  message      NUL-terminated, possibly truncated: the server's status
 *               message, gRPC's debug error string for transport failures,
 *               the service's `error` text for SERVICE_ERROR, or the
 *               library's description of an argument error.
 */
typedef struct aiw_error {
  aiw_code code;
  int grpc_status;
  char message[AIW_ERROR_MESSAGE_SIZE];
} aiw_error;

/* ------------------------------------------------------------------------ */
/* Global initialisation                                                    */
/* ------------------------------------------------------------------------ */

/*
 * aiw_global_init / aiw_global_cleanup: optional, reference-counted. Every
 * client holds a reference of its own, so programs need not call these; a
 * program that creates and frees clients repeatedly can hold one reference
 * to keep gRPC's runtime up in between. Thread-safe. gRPC is shut down when
 * the last reference (global or client) is released. aiw_global_init returns
 * AIW_OK or AIW_OUT_OF_MEMORY. Each successful init needs one cleanup.
 */
AIW_API aiw_code aiw_global_init(void);
AIW_API void aiw_global_cleanup(void);

/* ------------------------------------------------------------------------ */
/* Client options and the client                                            */
/* ------------------------------------------------------------------------ */

typedef struct aiw_client_options aiw_client_options;
typedef struct aiw_client aiw_client;

/*
 * aiw_client_options_new: defaults are plaintext, gRPC's default message
 * limits (4 MiB received, unlimited sent). NULL if out of memory.
 * Free with aiw_client_options_free (NULL-safe). One thread at a time.
 */
AIW_API aiw_client_options *aiw_client_options_new(void);
AIW_API void aiw_client_options_free(aiw_client_options *opts);

/*
 * aiw_client_options_set_max_receive_size / _set_max_send_size: the largest
 * message, in bytes, the client accepts / sends; 0 means unlimited. A larger
 * response fails the call with RESOURCE_EXHAUSTED; a larger request is
 * refused before it is sent, with RESOURCE_EXHAUSTED. Values above INT32_MAX
 * are INVALID_ARGUMENT.
 */
AIW_API aiw_code aiw_client_options_set_max_receive_size(aiw_client_options *opts, size_t bytes);
AIW_API aiw_code aiw_client_options_set_max_send_size(aiw_client_options *opts, size_t bytes);

/*
 * aiw_client_options_set_tls: use TLS. All three PEM strings are copied and
 * may be NULL: root_certs_pem NULL means gRPC's default roots; cert_chain_pem
 * and private_key_pem together enable mutual TLS (one without the other is
 * INVALID_ARGUMENT). aiw_client_options_set_server_name overrides the name
 * checked against the server's certificate (copied; NULL clears it; an
 * empty name or one longer than 255 bytes is INVALID_ARGUMENT).
 */
AIW_API aiw_code aiw_client_options_set_tls(aiw_client_options *opts, const char *root_certs_pem,
                                            const char *cert_chain_pem, const char *private_key_pem);
AIW_API aiw_code aiw_client_options_set_server_name(aiw_client_options *opts, const char *name);

/*
 * aiw_client_options_set_user_agent: a prefix for the user agent (copied;
 * NULL clears it).
 */
AIW_API aiw_code aiw_client_options_set_user_agent(aiw_client_options *opts, const char *user_agent);

/*
 * aiw_client_new: a client over one gRPC channel to `target` (copied; any
 * gRPC target: host:port, dns:///host:port, ipv4:a:p,b:p, unix:/path).
 * `opts` is read during the call only and may be NULL for defaults.
 * Connecting is lazy: an unreachable server is reported by the first call.
 * A port that is not a number from 1 to 65535 (host:99999, host:-1, in a
 * plain, dns: or ipv4:/ipv6: target) is INVALID_ARGUMENT here: gRPC would
 * wrap it around to another port.
 * On success *out owns a client, free it with aiw_client_free. On failure
 * *out is NULL and the code is INVALID_ARGUMENT (NULL or empty target, bad
 * options), OUT_OF_MEMORY, or RECURSIVE_API_CALL (called from inside a
 * libaiw callback). Any thread.
 */
AIW_API aiw_code aiw_client_new(const char *target, const aiw_client_options *opts, aiw_client **out, aiw_error *err);

/*
 * aiw_client_target: the target the client was made with ("" for NULL).
 * Borrowed from the client. Any thread.
 */
AIW_API const char *aiw_client_target(const aiw_client *client);

/*
 * aiw_client_close: cancels every call running through the client (they
 * return CANCELLED promptly) and refuses new ones with CANCELLED ("client is
 * closed"). Idempotent, NULL-safe, any thread, also while calls run. The
 * client must still be freed with aiw_client_free.
 */
AIW_API void aiw_client_close(aiw_client *client);

/*
 * aiw_client_free: closes the client's channel and releases it. NULL-safe.
 * No call may be running through the client (close it and let the calls
 * return first); an asynchronous call counts as running until its
 * completion has been taken by aiw_queue_next or freed by aiw_queue_free.
 * This is the caller's duty and is not checked.
 */
AIW_API void aiw_client_free(aiw_client *client);

/* ------------------------------------------------------------------------ */
/* Cancel tokens and per-call options                                       */
/* ------------------------------------------------------------------------ */

typedef struct aiw_cancel_token aiw_cancel_token;
typedef struct aiw_call_options aiw_call_options;

/*
 * aiw_cancel_token_new: a token that cancels the calls it is attached to
 * (through aiw_call_options_set_cancel_token). NULL if out of memory. Free
 * with aiw_cancel_token_free (NULL-safe) once no call uses it.
 *
 * aiw_cancel_token_cancel: any thread, at any time, repeatedly. Calls running
 * with the token return CANCELLED at once; calls started with it later fail
 * with CANCELLED before sending anything. Not async-signal-safe: from a
 * signal handler, hand off to a thread (sigwait) first.
 *
 * aiw_cancel_token_is_cancelled: 1 once cancelled, else 0. Any thread.
 *
 * aiw_cancel_token_reset: makes a token usable again; only when no call is
 * running with it (for pools of tokens).
 */
AIW_API aiw_cancel_token *aiw_cancel_token_new(void);
AIW_API void aiw_cancel_token_cancel(aiw_cancel_token *token);
AIW_API int aiw_cancel_token_is_cancelled(const aiw_cancel_token *token);
AIW_API void aiw_cancel_token_reset(aiw_cancel_token *token);
AIW_API void aiw_cancel_token_free(aiw_cancel_token *token);

/*
 * aiw_call_options_new: options for one or many calls. Default: no deadline,
 * no metadata, fail-fast, no cancel token. NULL if out of memory. Free with
 * aiw_call_options_free (NULL-safe). May be shared read-only by concurrent
 * calls; modify from one thread at a time while no call uses it.
 */
AIW_API aiw_call_options *aiw_call_options_new(void);
AIW_API void aiw_call_options_free(aiw_call_options *opts);

/*
 * aiw_call_options_set_timeout_ms: the deadline of each call, measured from
 * its start; 0 means none. Negative is INVALID_ARGUMENT.
 */
AIW_API aiw_code aiw_call_options_set_timeout_ms(aiw_call_options *opts, int64_t timeout_ms);

/*
 * aiw_call_options_set_wait_for_ready: non-zero waits for the channel to
 * connect (until the deadline) instead of failing fast with UNAVAILABLE.
 */
AIW_API aiw_code aiw_call_options_set_wait_for_ready(aiw_call_options *opts, int wait_for_ready);

/*
 * aiw_call_options_add_metadata: appends one request header (key and value
 * copied). Keys: 1+ chars of [a-z0-9._-] (lower case), not starting with
 * "grpc-" and not a reserved HTTP/2 header (":..", content-type, te,
 * user-agent, host, connection...). Values: printable ASCII (0x20..0x7e),
 * unless the key ends in "-bin", in which case use _add_metadata_bin.
 * Anything else is INVALID_ARGUMENT, and `err` (may be NULL) says why.
 */
AIW_API aiw_code aiw_call_options_add_metadata(aiw_call_options *opts, const char *key, const char *value,
                                               aiw_error *err);

/*
 * aiw_call_options_add_metadata_bin: appends a binary header; the key must
 * end in "-bin"; value is `len` arbitrary bytes (copied; NULL allowed when len
 * is 0).
 */
AIW_API aiw_code aiw_call_options_add_metadata_bin(aiw_call_options *opts, const char *key, const void *value,
                                                   size_t len, aiw_error *err);

/* aiw_call_options_clear_metadata: removes all request metadata. */
AIW_API void aiw_call_options_clear_metadata(aiw_call_options *opts);

/*
 * aiw_call_options_set_cancel_token: attaches a token (borrowed: it must
 * outlive every call made with these options); NULL detaches.
 */
AIW_API aiw_code aiw_call_options_set_cancel_token(aiw_call_options *opts, aiw_cancel_token *token);

/* ------------------------------------------------------------------------ */
/* Enums and messages of the contract                                       */
/* ------------------------------------------------------------------------ */

/*
 * Between a BEGIN GENERATED and an END GENERATED line, this header is
 * written by lib/gen/protoc-gen-aiw.py from idl/ai_service.proto whenever
 * that changes (make): a field's functions follow from the .proto, named
 * by the rule in docs/CONVENTIONS.md. What the schema cannot say (required
 * fields, the content oneof's setters) is declared by hand around them.
 */

/* BEGIN GENERATED types -- lib/gen/protoc-gen-aiw.py from idl/ai_service.proto: edit those, not this */
/* Enums of the contract: AIW_<VALUE> is the proto's value, number for number. */
typedef enum aiw_processing_stage {
  AIW_STAGE_UNKNOWN = 0,
  AIW_STAGE_QUEUED = 1,
  AIW_STAGE_DOWNLOADING = 2,
  AIW_STAGE_PROCESSING = 3,
  AIW_STAGE_EMBEDDING = 4,
  AIW_STAGE_COMPLETED = 5,
  AIW_STAGE_FAILED = 6
} aiw_processing_stage;

typedef enum aiw_embedding_type {
  AIW_EMBEDDING_UNKNOWN = 0,
  AIW_EMBEDDING_SEMANTIC = 1, /* text, 1024 dims */
  AIW_EMBEDDING_VISUAL = 2,   /* image, 1152 dims */
  AIW_EMBEDDING_BOTH = 3
} aiw_embedding_type;

typedef enum aiw_search_type {
  AIW_SEARCH_UNKNOWN = 0,
  AIW_SEARCH_SEMANTIC = 1,
  AIW_SEARCH_VISUAL = 2,
  AIW_SEARCH_HYBRID = 3
} aiw_search_type;

/*
 * aiw_processing_stage_name / aiw_embedding_type_name /
 * aiw_search_type_name: the proto enum value name ("STAGE_FAILED",
 * "EMBEDDING_BOTH", "SEARCH_HYBRID"); NULL for a value the contract does not
 * define. Static strings; any thread.
 */
AIW_API const char *aiw_processing_stage_name(int stage);
AIW_API const char *aiw_embedding_type_name(int type);
AIW_API const char *aiw_search_type_name(int type);

/*
 * The messages of the contract, opaque: a request is built with its setters
 * and sent by its RPC; a response, and the messages in it, are read with
 * their getters.
 */
typedef struct aiw_asset_request aiw_asset_request;
typedef struct aiw_process_status aiw_process_status;
typedef struct aiw_chat_request aiw_chat_request;
typedef struct aiw_chat_response aiw_chat_response;
typedef struct aiw_embedding_request aiw_embedding_request;
typedef struct aiw_embedding_response aiw_embedding_response;
typedef struct aiw_search_request aiw_search_request;
typedef struct aiw_search_result aiw_search_result;
typedef struct aiw_search_response aiw_search_response;
/* END GENERATED types */

/*
 * Setters below return AIW_OK, AIW_INVALID_ARGUMENT (NULL object, NULL
 * string, a string that is not valid UTF-8 -- proto3 strings must be --, an
 * enum value outside the contract) or AIW_OUT_OF_MEMORY. On failure the
 * object is unchanged. Strings are NUL-terminated and copied.
 */

/* ------------------------------------------------------------------------ */
/* Messages inside responses (search results: VectorSearch, ChatStream)     */
/* ------------------------------------------------------------------------ */

/* BEGIN GENERATED messages -- lib/gen/protoc-gen-aiw.py from idl/ai_service.proto: edit those, not this */
/*
 * SearchResult (ai_service.SearchResult), borrowed from the response it came
 * from. Its getters read one field each; what they return is borrowed from
 * the result and lives as long as it does. For a NULL result: "" for
 * strings, 0 for numbers and enums, NULL for pointers. Each string getter
 * has a _with_len form (the string's length, NULs included).
 * A map: _count, the i-th entry's _key and _value in wire order (NULL when
 * out of range), and _get(key), the value for key (the last one if repeated)
 * or NULL.
 * Any thread that may read the result.
 */
AIW_API const char *aiw_search_result_asset_id(const aiw_search_result *result);
AIW_API float aiw_search_result_score(const aiw_search_result *result);
AIW_API const char *aiw_search_result_caption(const aiw_search_result *result);
AIW_API const char *aiw_search_result_mime_type(const aiw_search_result *result);
AIW_API const char *aiw_search_result_thumbnail_url(const aiw_search_result *result);
AIW_API size_t aiw_search_result_metadata_count(const aiw_search_result *result);
AIW_API const char *aiw_search_result_metadata_key(const aiw_search_result *result, size_t i);
AIW_API const char *aiw_search_result_metadata_value(const aiw_search_result *result, size_t i);
AIW_API const char *aiw_search_result_metadata_get(const aiw_search_result *result, const char *key);
/* END GENERATED messages */

/* ------------------------------------------------------------------------ */
/* ProcessAsset                                                             */
/* ------------------------------------------------------------------------ */

/* BEGIN GENERATED ProcessAsset -- lib/gen/protoc-gen-aiw.py from idl/ai_service.proto: edit those, not this */
/*
 * AssetRequest (ai_service.AssetRequest), the request of ProcessAsset:
 * aiw_asset_request_new makes an empty one (NULL if out of memory); free it
 * with aiw_asset_request_free (NULL-safe). Setters as above. One thread at a
 * time; a request may be shared read-only by concurrent calls.
 * The fields of options (ProcessingOptions) are set on the request itself;
 * options is sent once one of them was set.
 *   file_path: object path, bucket/object
 */
AIW_API aiw_asset_request *aiw_asset_request_new(void);
AIW_API void aiw_asset_request_free(aiw_asset_request *req);
AIW_API aiw_code aiw_asset_request_set_asset_id(aiw_asset_request *req, const char *asset_id);
AIW_API aiw_code aiw_asset_request_set_file_path(aiw_asset_request *req, const char *file_path);
AIW_API aiw_code aiw_asset_request_set_mime_type(aiw_asset_request *req, const char *mime_type);
AIW_API aiw_code aiw_asset_request_set_enable_ocr(aiw_asset_request *req, int enable_ocr);
AIW_API aiw_code aiw_asset_request_set_enable_caption(aiw_asset_request *req, int enable_caption);
AIW_API aiw_code aiw_asset_request_set_enable_embedding(aiw_asset_request *req, int enable_embedding);
AIW_API aiw_code aiw_asset_request_set_enable_summary(aiw_asset_request *req, int enable_summary);
AIW_API aiw_code aiw_asset_request_set_max_chunk_size(aiw_asset_request *req, int32_t max_chunk_size);

/*
 * ProcessStatus (ai_service.ProcessStatus), the response of ProcessAsset.
 * Its getters read one field each; what they return is borrowed from the
 * status and lives as long as it does. For a NULL status: "" for strings, 0
 * for numbers and enums, NULL for pointers. Each string getter has a
 * _with_len form (the string's length, NULs included).
 * aiw_process_status_free frees it (NULL-safe).
 * Any thread that may read the status.
 *   progress: 0..1
 */
AIW_API int aiw_process_status_success(const aiw_process_status *status);
AIW_API const char *aiw_process_status_error(const aiw_process_status *status);
AIW_API aiw_processing_stage aiw_process_status_stage(const aiw_process_status *status);
AIW_API float aiw_process_status_progress(const aiw_process_status *status);
AIW_API void aiw_process_status_free(aiw_process_status *status);
/* END GENERATED ProcessAsset */

/*
 * aiw_process_asset: the ProcessAsset RPC, blocking. asset_id, file_path
 * and mime_type are required: an empty one fails the call with
 * INVALID_ARGUMENT before anything is sent. `opts` may be NULL. On AIW_OK
 * and AIW_SERVICE_ERROR, *out owns the response (free with
 * aiw_process_status_free); on any other code *out is NULL. Any thread.
 */
AIW_API aiw_code aiw_process_asset(aiw_client *client, const aiw_asset_request *req, const aiw_call_options *opts,
                                   aiw_process_status **out, aiw_error *err);

/* ------------------------------------------------------------------------ */
/* GetEmbedding                                                             */
/* ------------------------------------------------------------------------ */

/* BEGIN GENERATED GetEmbedding -- lib/gen/protoc-gen-aiw.py from idl/ai_service.proto: edit those, not this */
/*
 * EmbeddingRequest (ai_service.EmbeddingRequest), the request of
 * GetEmbedding: aiw_embedding_request_new makes an empty one (NULL if out of
 * memory); free it with aiw_embedding_request_free (NULL-safe). Setters as
 * above (an enum value outside the contract is INVALID_ARGUMENT too). One
 * thread at a time; a request may be shared read-only by concurrent calls.
 * The oneof content (text, image) has hand-written setters (below).
 *   image.format: png, jpg, ...
 */
AIW_API aiw_embedding_request *aiw_embedding_request_new(void);
AIW_API void aiw_embedding_request_free(aiw_embedding_request *req);
AIW_API aiw_code aiw_embedding_request_set_type(aiw_embedding_request *req, aiw_embedding_type type);

/*
 * EmbeddingResponse (ai_service.EmbeddingResponse), the response of
 * GetEmbedding. Its getters read one field each; what they return is
 * borrowed from the response and lives as long as it does. For a NULL
 * response: "" for strings, 0 for numbers and enums, NULL for pointers. Each
 * string getter has a _with_len form (the string's length, NULs included).
 * A repeated number is read in one call: a pointer to *len values (NULL with
 * *len 0 when empty; len may be NULL).
 * aiw_embedding_response_free frees it (NULL-safe).
 * Any thread that may read the response.
 */
AIW_API const float *aiw_embedding_response_semantic_vector(const aiw_embedding_response *response, size_t *len);
AIW_API const float *aiw_embedding_response_visual_vector(const aiw_embedding_response *response, size_t *len);
AIW_API int aiw_embedding_response_success(const aiw_embedding_response *response);
AIW_API const char *aiw_embedding_response_error(const aiw_embedding_response *response);
AIW_API void aiw_embedding_response_free(aiw_embedding_response *response);
/* END GENERATED GetEmbedding */

/*
 * EmbeddingRequest's content oneof is text or image: setting one clears the
 * other; a request with neither fails the call with INVALID_ARGUMENT.
 * set_image copies `len` bytes of `data` (any bytes, NUL included; NULL only
 * when len is 0) and the format string (may be NULL for "").
 */
AIW_API aiw_code aiw_embedding_request_set_text(aiw_embedding_request *req, const char *text);
AIW_API aiw_code aiw_embedding_request_set_image(aiw_embedding_request *req, const void *data, size_t len,
                                                 const char *format);

/*
 * aiw_get_embedding: the GetEmbedding RPC, blocking. Ownership and codes as
 * aiw_process_asset; free the response with aiw_embedding_response_free.
 */
AIW_API aiw_code aiw_get_embedding(aiw_client *client, const aiw_embedding_request *req, const aiw_call_options *opts,
                                   aiw_embedding_response **out, aiw_error *err);

/* ------------------------------------------------------------------------ */
/* VectorSearch                                                             */
/* ------------------------------------------------------------------------ */

/* BEGIN GENERATED VectorSearch -- lib/gen/protoc-gen-aiw.py from idl/ai_service.proto: edit those, not this */
/*
 * SearchRequest (ai_service.SearchRequest), the request of VectorSearch:
 * aiw_search_request_new makes an empty one (NULL if out of memory); free it
 * with aiw_search_request_free (NULL-safe). Setters as above (a NaN float
 * and an enum value outside the contract are INVALID_ARGUMENT too). One
 * thread at a time; a request may be shared read-only by concurrent calls.
 * aiw_search_request_add_filter appends to filters;
 * aiw_search_request_clear_filters empties it.
 */
AIW_API aiw_search_request *aiw_search_request_new(void);
AIW_API void aiw_search_request_free(aiw_search_request *req);
AIW_API aiw_code aiw_search_request_set_query(aiw_search_request *req, const char *query);
AIW_API aiw_code aiw_search_request_set_type(aiw_search_request *req, aiw_search_type type);
AIW_API aiw_code aiw_search_request_set_limit(aiw_search_request *req, int32_t limit);
AIW_API aiw_code aiw_search_request_set_threshold(aiw_search_request *req, float threshold);
AIW_API aiw_code aiw_search_request_add_filter(aiw_search_request *req, const char *filter);
AIW_API void aiw_search_request_clear_filters(aiw_search_request *req);

/*
 * SearchResponse (ai_service.SearchResponse), the response of VectorSearch.
 * Its getters read one field each; what they return is borrowed from the
 * response and lives as long as it does. For a NULL response: "" for
 * strings, 0 for numbers and enums, NULL for pointers. Each string getter
 * has a _with_len form (the string's length, NULs included).
 * A repeated field: _count, and the i-th element (0 <= i < count; NULL when
 * out of range).
 * aiw_search_response_free frees it (NULL-safe).
 * Any thread that may read the response.
 */
AIW_API size_t aiw_search_response_result_count(const aiw_search_response *response);
AIW_API const aiw_search_result *aiw_search_response_result(const aiw_search_response *response, size_t i);
AIW_API int32_t aiw_search_response_total_count(const aiw_search_response *response);
AIW_API int aiw_search_response_success(const aiw_search_response *response);
AIW_API const char *aiw_search_response_error(const aiw_search_response *response);
AIW_API void aiw_search_response_free(aiw_search_response *response);
/* END GENERATED VectorSearch */

/*
 * aiw_vector_search: the VectorSearch RPC, blocking. query is required
 * (empty fails the call with INVALID_ARGUMENT); aiw_search_request_set_limit
 * refuses a negative limit (0: the service's default). Ownership and codes
 * as aiw_process_asset; free the response with aiw_search_response_free.
 */
AIW_API aiw_code aiw_vector_search(aiw_client *client, const aiw_search_request *req, const aiw_call_options *opts,
                                   aiw_search_response **out, aiw_error *err);

/* ------------------------------------------------------------------------ */
/* ChatStream                                                               */
/* ------------------------------------------------------------------------ */

/* BEGIN GENERATED ChatStream -- lib/gen/protoc-gen-aiw.py from idl/ai_service.proto: edit those, not this */
/*
 * ChatRequest (ai_service.ChatRequest), the request of ChatStream:
 * aiw_chat_request_new makes an empty one (NULL if out of memory); free it
 * with aiw_chat_request_free (NULL-safe). Setters as above (a NaN float is
 * INVALID_ARGUMENT too). One thread at a time; a request may be shared
 * read-only by concurrent calls.
 * aiw_chat_request_add_history appends a ChatMessage (role, content,
 * timestamp); aiw_chat_request_clear_history empties history.
 * The fields of options (ChatOptions) are set on the request itself; options
 * is sent once one of them was set.
 *   history.role: "user" or "assistant"
 *   history.timestamp: Unix seconds
 */
AIW_API aiw_chat_request *aiw_chat_request_new(void);
AIW_API void aiw_chat_request_free(aiw_chat_request *req);
AIW_API aiw_code aiw_chat_request_set_query(aiw_chat_request *req, const char *query);
AIW_API aiw_code aiw_chat_request_add_history(aiw_chat_request *req, const char *role, const char *content,
                                              int64_t timestamp);
AIW_API void aiw_chat_request_clear_history(aiw_chat_request *req);
AIW_API aiw_code aiw_chat_request_set_max_context_docs(aiw_chat_request *req, int32_t max_context_docs);
AIW_API aiw_code aiw_chat_request_set_similarity_threshold(aiw_chat_request *req, float similarity_threshold);
AIW_API aiw_code aiw_chat_request_set_include_images(aiw_chat_request *req, int include_images);
AIW_API aiw_code aiw_chat_request_set_stream_response(aiw_chat_request *req, int stream_response);

/*
 * ChatResponse (ai_service.ChatResponse), the response of ChatStream. Its
 * getters read one field each; what they return is borrowed from the
 * response and lives as long as it does. For a NULL response: "" for
 * strings, 0 for numbers and enums, NULL for pointers. Each string getter
 * has a _with_len form (the string's length, NULs included).
 * A repeated field: _count, and the i-th element (0 <= i < count; NULL when
 * out of range).
 * aiw_chat_response_free frees it (NULL-safe).
 * Any thread that may read the response.
 *   sources: on the final chunk
 */
AIW_API const char *aiw_chat_response_chunk(const aiw_chat_response *response);
AIW_API int aiw_chat_response_is_final(const aiw_chat_response *response);
AIW_API size_t aiw_chat_response_source_count(const aiw_chat_response *response);
AIW_API const aiw_search_result *aiw_chat_response_source(const aiw_chat_response *response, size_t i);
/* END GENERATED ChatStream */

/*
 * aiw_chat_chunk_fn: called once per ChatResponse, in order, on the thread
 * that called aiw_chat_stream, inside that call. `chunk` is borrowed and
 * valid only during the callback. Return 0 to go on; any other value cancels
 * the stream at once and aiw_chat_stream returns AIW_CALLBACK_ABORTED.
 * Starting an RPC from inside the callback is refused (RECURSIVE_API_CALL).
 */
typedef int (*aiw_chat_chunk_fn)(const aiw_chat_response *chunk, void *userdata);

/*
 * aiw_chat_stream: the ChatStream RPC, blocking until the stream ends.
 * query is required (empty fails the call with INVALID_ARGUMENT). Returns
 * AIW_OK after the last message; the gRPC code if the stream failed
 * (chunks received before the failure were delivered first);
 * AIW_CALLBACK_ABORTED if the callback stopped it; AIW_CANCELLED if a cancel
 * token fired or the client was closed. `userdata` is passed through
 * untouched. Any thread.
 */
AIW_API aiw_code aiw_chat_stream(aiw_client *client, const aiw_chat_request *req, const aiw_call_options *opts,
                                 aiw_chat_chunk_fn on_chunk, void *userdata, aiw_error *err);

/* ------------------------------------------------------------------------ */
/* Asynchronous unary calls                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Beside the blocking calls, as curl's multi interface stands beside easy:
 * any number of unary calls, of any clients, run on one aiw_queue, and the
 * program takes their results with aiw_queue_next from a thread of its own
 * (one event loop for all calls instead of a thread per call). Nothing runs
 * on a library thread; there are no callbacks. As with curl's multi
 * interface, the calls make progress while a thread waits in
 * aiw_queue_next: gRPC C core does its network work in the threads that
 * wait on its queues, so keep one there while calls are in flight.
 */
typedef struct aiw_queue aiw_queue;
typedef struct aiw_completion aiw_completion;

/*
 * aiw_queue_new: a queue for asynchronous calls. It holds a gRPC runtime
 * reference of its own. NULL if out of memory. Free with aiw_queue_free.
 */
AIW_API aiw_queue *aiw_queue_new(void);

/*
 * aiw_queue_shutdown: refuses new calls on the queue (their start returns
 * CANCELLED); calls in flight still complete. Once all their completions
 * have been taken, aiw_queue_next returns AIW_CANCELLED. Idempotent,
 * NULL-safe, any thread.
 */
AIW_API void aiw_queue_shutdown(aiw_queue *queue);

/*
 * aiw_queue_free: shuts the queue down, waits for the calls still in flight
 * (cancel them first -- tokens or aiw_client_close -- or this waits for
 * their deadlines), frees every completion not taken, and releases the
 * queue. NULL-safe. No thread may be inside aiw_queue_next on it.
 */
AIW_API void aiw_queue_free(aiw_queue *queue);

/*
 * aiw_get_embedding_start / aiw_vector_search_start / aiw_process_asset_start:
 * start the RPC on `queue` and return at once. Arguments are checked as by
 * the blocking call; a closed client or a shut-down queue is CANCELLED; `req` and `opts` are copied (free them whenever you
 * like), except the cancel token in `opts`, which must outlive the call.
 * On AIW_OK exactly one completion carrying `tag` (opaque to the library)
 * will come out of aiw_queue_next; on any other code nothing was started and
 * none will. The client and the cancel token stay in use until that
 * completion is taken (aiw_queue_next) or freed by aiw_queue_free: free the
 * queue before the client. Any thread.
 */
AIW_API aiw_code aiw_get_embedding_start(aiw_client *client, const aiw_embedding_request *req,
                                         const aiw_call_options *opts, aiw_queue *queue, void *tag, aiw_error *err);
AIW_API aiw_code aiw_vector_search_start(aiw_client *client, const aiw_search_request *req,
                                         const aiw_call_options *opts, aiw_queue *queue, void *tag, aiw_error *err);
AIW_API aiw_code aiw_process_asset_start(aiw_client *client, const aiw_asset_request *req, const aiw_call_options *opts,
                                         aiw_queue *queue, void *tag, aiw_error *err);

/*
 * aiw_queue_next: waits up to `timeout_ms` (-1: for ever; 0: just looks) for
 * a finished call. Returns AIW_OK with *out owning its completion (free with
 * aiw_completion_free); AIW_DEADLINE_EXCEEDED when the time ran out;
 * AIW_CANCELLED when the queue is shut down and has nothing left;
 * AIW_INVALID_ARGUMENT for NULL arguments. *out is NULL unless AIW_OK. Any
 * number of threads may wait on one queue.
 */
AIW_API aiw_code aiw_queue_next(aiw_queue *queue, int64_t timeout_ms, aiw_completion **out);

/*
 * Completion getters. aiw_completion_tag: the start call's tag.
 * aiw_completion_code: what the blocking call would have returned (AIW_OK,
 * AIW_SERVICE_ERROR, a gRPC code, ...); aiw_completion_error: its details,
 * borrowed from the completion. aiw_completion_method: which RPC it was, as
 * its gRPC method name ("GetEmbedding", "VectorSearch", "ProcessAsset").
 * For a NULL completion: NULL, AIW_INVALID_ARGUMENT, NULL and "".
 */
AIW_API void *aiw_completion_tag(const aiw_completion *completion);
AIW_API aiw_code aiw_completion_code(const aiw_completion *completion);
AIW_API const aiw_error *aiw_completion_error(const aiw_completion *completion);
AIW_API const char *aiw_completion_method(const aiw_completion *completion);

/*
 * aiw_completion_take_*: moves the response out of the completion (present
 * on AIW_OK and AIW_SERVICE_ERROR, as for the blocking calls); the caller
 * owns it and frees it with its own _free. NULL when there is none, when it
 * was taken already, or when the completion is of another RPC.
 */
AIW_API aiw_embedding_response *aiw_completion_take_embedding_response(aiw_completion *completion);
AIW_API aiw_search_response *aiw_completion_take_search_response(aiw_completion *completion);
AIW_API aiw_process_status *aiw_completion_take_process_status(aiw_completion *completion);

/* aiw_completion_free: releases a completion (and a response not taken). NULL-safe. */
AIW_API void aiw_completion_free(aiw_completion *completion);

/* ------------------------------------------------------------------------ */
/* Asynchronous streams, raw messages (since 1.1)                           */
/* ------------------------------------------------------------------------ */

/*
 * This section is the newer part of the API and may still grow before 2.0
 * (functions are only ever added; nothing here changes shape within 1.x).
 *
 * A stream started with aiw_chat_stream_start or aiw_raw_stream_start on a
 * queue produces, in order: one MESSAGE completion per message the server
 * sent, then one RESULT completion with the stream's status (the same code
 * the blocking call would have returned). A unary call produces one RESULT
 * completion only.
 *
 * Flow control stays with the consumer: a stream reads its next message
 * only once the completion of the previous message has been freed
 * (aiw_completion_free). Until then nothing more is read, so a slow
 * consumer pushes back on the server through HTTP/2 and memory stays
 * bounded. A message completion must therefore be freed before the stream
 * can end, and before aiw_queue_free (which would otherwise wait for it).
 *
 * To cancel one stream (or call) from any thread at any time, give it a
 * cancel token of its own (aiw_call_options_set_cancel_token); closing the
 * client cancels all of them. A stream cancelled before its consumer freed
 * the completion of its last message ends with CANCELLED (or
 * CALLBACK_ABORTED), never AIW_OK, even if the server had already finished.
 */

/* aiw_queue_result: what aiw_queue_wait found. Not an RPC outcome. */
typedef enum aiw_queue_result {
  AIW_QUEUE_COMPLETION = 0, /* *out owns a completion */
  AIW_QUEUE_TIMEOUT = 1,    /* the time ran out; nothing is lost, wait again */
  AIW_QUEUE_SHUTDOWN = 2,   /* the queue is shut down and every completion was taken */
  AIW_QUEUE_INVALID = 3     /* NULL queue or out */
} aiw_queue_result;

/*
 * aiw_queue_wait: as aiw_queue_next, but says what happened with its own
 * result instead of borrowing RPC codes: waits up to `timeout_ms` (-1: for
 * ever; 0: just looks) and returns AIW_QUEUE_COMPLETION with *out owning a
 * completion (free with aiw_completion_free), or AIW_QUEUE_TIMEOUT,
 * AIW_QUEUE_SHUTDOWN, AIW_QUEUE_INVALID with *out NULL (when out is not
 * NULL). Any number of threads may wait on one queue.
 */
AIW_API aiw_queue_result aiw_queue_wait(aiw_queue *queue, int64_t timeout_ms, aiw_completion **out);

/*
 * aiw_completion_is_message: 1 for a MESSAGE completion of a stream (more
 * completions of that call follow), 0 for a RESULT completion (the call's
 * last) and for NULL. A MESSAGE completion's code is AIW_OK.
 */
AIW_API int aiw_completion_is_message(const aiw_completion *completion);

/*
 * aiw_completion_deadline_expired: 1 when the call ended with
 * DEADLINE_EXCEEDED because the deadline the library gave it (the call
 * options' timeout) had passed -- as opposed to a DEADLINE_EXCEEDED that
 * the server sent on its own before then. 0 otherwise and for NULL.
 */
AIW_API int aiw_completion_deadline_expired(const aiw_completion *completion);

/*
 * aiw_chat_stream_start: starts the ChatStream RPC on `queue` and returns at
 * once. Arguments, copying and the client's and token's lifetimes as for
 * aiw_get_embedding_start. On AIW_OK, one MESSAGE completion per
 * ChatResponse (take it with aiw_completion_take_chat_response) and then
 * one RESULT completion come out of the queue, all carrying `tag`. On any
 * other code nothing was started. Any thread.
 */
AIW_API aiw_code aiw_chat_stream_start(aiw_client *client, const aiw_chat_request *req, const aiw_call_options *opts,
                                       aiw_queue *queue, void *tag, aiw_error *err);

/*
 * aiw_completion_take_chat_response: moves the ChatResponse out of a
 * MESSAGE completion of aiw_chat_stream_start; the caller owns it (free with
 * aiw_chat_response_free) and may keep it after freeing the completion.
 * NULL when there is none (taken already, another kind of completion).
 */
AIW_API aiw_chat_response *aiw_completion_take_chat_response(aiw_completion *completion);

/* aiw_chat_response_free: frees a ChatResponse taken from a completion. NULL-safe.
 * (Responses passed to an aiw_chat_chunk_fn are borrowed: never free those.) */
AIW_API void aiw_chat_response_free(aiw_chat_response *chunk);

/*
 * The raw-message interface: the same engine, deadlines, metadata, cancel
 * tokens, queues and error model as the typed calls, for a caller that
 * brings its own protobuf codec (upb, nanopb, Go's protobuf). Requests and
 * responses are serialized messages; the library neither encodes nor
 * decodes them, so there is no SERVICE_ERROR here (the caller reads
 * `success` itself) and a response the caller cannot decode is the
 * caller's to report.
 *
 * `method` is the gRPC path (copied), e.g. AIW_PATH_GET_EMBEDDING; any
 * method of any service on the channel works ("/grpc.health.v1.Health/
 * Check"). It must start with '/'; otherwise INVALID_ARGUMENT. `request` is
 * `request_len` bytes (copied; NULL only when the length is 0). A request
 * larger than the client's max send size is RESOURCE_EXHAUSTED; a response
 * larger than its max receive size fails the call with RESOURCE_EXHAUSTED.
 */
#define AIW_PATH_PROCESS_ASSET "/ai_service.AiWorker/ProcessAsset"
#define AIW_PATH_CHAT_STREAM "/ai_service.AiWorker/ChatStream"
#define AIW_PATH_GET_EMBEDDING "/ai_service.AiWorker/GetEmbedding"
#define AIW_PATH_VECTOR_SEARCH "/ai_service.AiWorker/VectorSearch"

/*
 * aiw_raw_call: a unary call, blocking. On AIW_OK *response owns a
 * malloc'd copy of the response's `*response_len` bytes (free with
 * aiw_free; never NULL on AIW_OK, even for an empty message); on any other
 * code *response is NULL and *response_len 0. Any thread.
 */
AIW_API aiw_code aiw_raw_call(aiw_client *client, const char *method, const void *request, size_t request_len,
                              const aiw_call_options *opts, void **response, size_t *response_len, aiw_error *err);

/*
 * aiw_raw_message_fn: called once per message of a raw stream, in order, on
 * the thread that called aiw_raw_stream, inside that call. `data` (`len`
 * bytes) is borrowed for the duration of the callback. Return 0 to go on;
 * non-zero cancels the stream and aiw_raw_stream returns
 * AIW_CALLBACK_ABORTED.
 */
typedef int (*aiw_raw_message_fn)(const void *data, size_t len, void *userdata);

/*
 * aiw_raw_stream: a server-streaming call, blocking until it ends; codes as
 * aiw_chat_stream. Any thread.
 */
AIW_API aiw_code aiw_raw_stream(aiw_client *client, const char *method, const void *request, size_t request_len,
                                const aiw_call_options *opts, aiw_raw_message_fn on_message, void *userdata,
                                aiw_error *err);

/*
 * aiw_raw_call_start / aiw_raw_stream_start: the asynchronous forms, on
 * `queue`, with completions as aiw_get_embedding_start /
 * aiw_chat_stream_start. Read the bytes with aiw_completion_message.
 */
AIW_API aiw_code aiw_raw_call_start(aiw_client *client, const char *method, const void *request, size_t request_len,
                                    const aiw_call_options *opts, aiw_queue *queue, void *tag, aiw_error *err);
AIW_API aiw_code aiw_raw_stream_start(aiw_client *client, const char *method, const void *request, size_t request_len,
                                      const aiw_call_options *opts, aiw_queue *queue, void *tag, aiw_error *err);

/*
 * aiw_completion_message: the serialized message a raw completion carries:
 * a MESSAGE completion's message, or a unary RESULT completion's response
 * on AIW_OK. Borrowed from the completion (valid until it is freed);
 * *len (may be NULL) gets its length. NULL with *len 0 when there is none
 * (a typed completion, a failed call); a non-NULL pointer with *len 0 for
 * an empty message.
 */
AIW_API const void *aiw_completion_message(const aiw_completion *completion, size_t *len);

/*
 * Response metadata of an asynchronous call: the headers (trailing 0) the
 * server sent before its first message -- readable from a stream's first
 * MESSAGE completion on, and from the RESULT -- and the trailers
 * (trailing 1), in the RESULT only. aiw_completion_metadata_count: how many
 * (0 for NULL, or before they came). _key: the i-th key, NUL-terminated,
 * lower case; _value: its value, *len (may be NULL) bytes followed by a NUL
 * (a -bin value is the decoded bytes). NULL when i is out of range. Both
 * borrowed from the completion. gRPC's own headers (content-type,
 * grpc-status, ...) are not included.
 */
AIW_API size_t aiw_completion_metadata_count(const aiw_completion *completion, int trailing);
AIW_API const char *aiw_completion_metadata_key(const aiw_completion *completion, int trailing, size_t i);
AIW_API const void *aiw_completion_metadata_value(const aiw_completion *completion, int trailing, size_t i,
                                                  size_t *len);

/* aiw_free: frees memory the library handed over with "free with aiw_free". NULL-safe. */
AIW_API void aiw_free(void *p);

/*
 * String getters with lengths. A proto3 string may contain NUL bytes; the
 * getters above return C strings, which end at the first one. Each
 * `aiw_X_field_with_len` returns the same pointer as `aiw_X_field`
 * (borrowed the same way; "" for a NULL object, NULL where that getter
 * returns NULL) and stores in *len (may be NULL) the string's whole length
 * in bytes, NULs included; the bytes are followed by a NUL. Any thread that
 * may read the object.
 */
AIW_API const char *aiw_chat_response_chunk_with_len(const aiw_chat_response *chunk, size_t *len);
AIW_API const char *aiw_process_status_error_with_len(const aiw_process_status *status, size_t *len);
AIW_API const char *aiw_embedding_response_error_with_len(const aiw_embedding_response *resp, size_t *len);
AIW_API const char *aiw_search_response_error_with_len(const aiw_search_response *resp, size_t *len);
AIW_API const char *aiw_search_result_asset_id_with_len(const aiw_search_result *result, size_t *len);
AIW_API const char *aiw_search_result_caption_with_len(const aiw_search_result *result, size_t *len);
AIW_API const char *aiw_search_result_mime_type_with_len(const aiw_search_result *result, size_t *len);
AIW_API const char *aiw_search_result_thumbnail_url_with_len(const aiw_search_result *result, size_t *len);
AIW_API const char *aiw_search_result_metadata_key_with_len(const aiw_search_result *result, size_t i, size_t *len);
AIW_API const char *aiw_search_result_metadata_value_with_len(const aiw_search_result *result, size_t i, size_t *len);

/* ------------------------------------------------------------------------ */
/* The production channel (since 1.2)                                       */
/* ------------------------------------------------------------------------ */

/*
 * Everything here is gRPC core's own mechanism, exposed: its resolver and
 * load-balancing policies, its retries and client-side health checking
 * (driven by the service config), its keepalive, reconnect backoff, idle
 * timeout and compression. The library adds no balancer and no retry loop.
 * Client options are copied and read by aiw_client_new only; one thread at
 * a time may set them.
 */

/*
 * aiw_client_options_set_service_config: the default service config, as
 * gRPC defines it (JSON: loadBalancingConfig, methodConfig with
 * retryPolicy, timeout, waitForReady, maxRequestMessageBytes...,
 * healthCheckConfig). Copied; NULL clears it. aiw_client_new validates it
 * with gRPC's own parser and refuses a bad one with INVALID_ARGUMENT and
 * gRPC's reason in the error message. A service config the resolver
 * returns (dns TXT records) is not used: this one applies.
 *
 * aiw_client_options_set_lb_policy: the load-balancing policy by name
 * ("pick_first", gRPC's default, or "round_robin"); copied, NULL clears.
 * A loadBalancingConfig in the service config takes precedence. Any
 * other name is INVALID_ARGUMENT at aiw_client_new: gRPC takes by name
 * only policies that need no configuration; give others (with their
 * configuration) in the service config's loadBalancingConfig.
 *
 * aiw_client_options_set_retry_policy: a typed shorthand for the common
 * case: every method retries UNAVAILABLE up to `max_attempts` attempts in
 * all (2..5; gRPC caps it at 5), with exponential backoff from
 * `initial_backoff_ms` up to `max_backoff_ms` (multiplier 2, gRPC's
 * jitter). 0 attempts clears it. It cannot be combined with
 * set_service_config (aiw_client_new says INVALID_ARGUMENT): put the
 * retryPolicy in that JSON instead. Out-of-range values are
 * INVALID_ARGUMENT here.
 */
AIW_API aiw_code aiw_client_options_set_service_config(aiw_client_options *opts, const char *json);
AIW_API aiw_code aiw_client_options_set_lb_policy(aiw_client_options *opts, const char *policy);
AIW_API aiw_code aiw_client_options_set_retry_policy(aiw_client_options *opts, int max_attempts,
                                                     int64_t initial_backoff_ms, int64_t max_backoff_ms);

/*
 * aiw_client_options_set_keepalive: HTTP/2 pings every `time_ms` of
 * transport inactivity; no acknowledgement within `timeout_ms` closes the
 * connection (its calls fail with UNAVAILABLE, retried if the retry policy
 * says so) and the channel reconnects. permit_without_calls non-zero also
 * pings while no call is running. time_ms 0 switches keepalive off (the
 * default, as gRPC's). time_ms below 1000 or timeout_ms below 1 (when
 * time_ms is set) is INVALID_ARGUMENT.
 *
 * A server enforces a minimum ping interval. gRPC servers (Python's
 * grpcio and C core, with no options set) accept at most one ping per
 * 5 minutes while they send nothing, and none without a call; past two
 * strikes they close the connection with GOAWAY ENHANCE_YOUR_CALM
 * ("too_many_pings"), and gRPC core then doubles its keepalive time. So
 * against a server that sets no options use time_ms >= 300000 and no
 * permit_without_calls; shorter times need the server to allow them
 * (grpc.http2.min_recv_ping_interval_without_data_ms,
 * grpc.keepalive_permit_without_calls). README "Keepalive" says more.
 */
AIW_API aiw_code aiw_client_options_set_keepalive(aiw_client_options *opts, int64_t time_ms, int64_t timeout_ms,
                                                  int permit_without_calls);

/*
 * aiw_client_options_set_reconnect_backoff: after a failed connection
 * attempt gRPC waits `initial_ms`, then longer (x1.6 per attempt, with
 * jitter) up to `max_ms`; `min_connect_timeout_ms` is the least time one
 * attempt may take. 0 keeps gRPC's value for each (1 s, 20 s, 120 s).
 * Negative values, or initial_ms > max_ms when both are set, are
 * INVALID_ARGUMENT.
 *
 * aiw_client_options_set_idle_timeout_ms: a channel with no call for this
 * long closes its connections and goes IDLE (reconnecting on the next
 * call). 0 keeps gRPC's default (30 minutes). Negative is INVALID_ARGUMENT.
 */
AIW_API aiw_code aiw_client_options_set_reconnect_backoff(aiw_client_options *opts, int64_t initial_ms,
                                                          int64_t min_connect_timeout_ms, int64_t max_ms);
AIW_API aiw_code aiw_client_options_set_idle_timeout_ms(aiw_client_options *opts, int64_t idle_ms);

/*
 * aiw_client_options_set_compression: the compression of every request
 * message: "gzip", "deflate" or "identity" (none, the default); NULL
 * resets to the default. Other names are INVALID_ARGUMENT. Responses that
 * the server compresses (gzip or deflate) are always accepted.
 * aiw_call_options_set_compression overrides it per call.
 *
 * Not together with retries: gRPC 1.51 resends a compressed request it
 * retries corrupted (the server fails it with INTERNAL). So aiw_client_new
 * refuses compression with a retry policy (the typed one, or a
 * retryPolicy / hedgingPolicy in the service config) with
 * INVALID_ARGUMENT, and so does a call that asks for compression on such a
 * client.
 *
 * aiw_client_options_set_authority: the :authority (virtual host) sent
 * with every call instead of the target's host (copied; NULL clears).
 */
AIW_API aiw_code aiw_client_options_set_compression(aiw_client_options *opts, const char *algorithm);
AIW_API aiw_code aiw_client_options_set_authority(aiw_client_options *opts, const char *authority);

/*
 * Call credentials: a bearer token sent with every call as the header
 * `authorization: Bearer <token>`.
 *
 * aiw_client_options_set_bearer_token: a static token (copied; printable
 * ASCII; NULL clears).
 *
 * aiw_token_fn: called before each call, on the thread that starts it
 * (aiw_get_embedding, aiw_chat_stream_start, ...), for tokens that expire.
 * `method` is the call's gRPC path. It writes the token into `buf`
 * (`size` bytes) as snprintf does and returns its length without the NUL;
 * if that is >= size it is called once more with a buffer large enough.
 * A negative return fails the call with UNAUTHENTICATED before anything
 * is sent; 0 sends no authorization header. The token must be printable
 * ASCII (else the call fails with UNAUTHENTICATED). It may run on several
 * threads at once and must not call into libaiw for the same client.
 *
 * aiw_client_options_set_token_callback: sets it (NULL clears); it
 * replaces a static token and vice versa. `userdata` is passed through and
 * must outlive the client.
 *
 * Credentials are refused over plaintext: aiw_client_new returns
 * INVALID_ARGUMENT for a token without set_tls, unless
 * aiw_client_options_allow_insecure_credentials(opts, 1) says the caller
 * knows (a loopback service, a trusted network), as grpc-go requires.
 */
typedef long (*aiw_token_fn)(const char *method, char *buf, size_t size, void *userdata);
AIW_API aiw_code aiw_client_options_set_bearer_token(aiw_client_options *opts, const char *token);
AIW_API aiw_code aiw_client_options_set_token_callback(aiw_client_options *opts, aiw_token_fn fn, void *userdata);
AIW_API aiw_code aiw_client_options_allow_insecure_credentials(aiw_client_options *opts, int allow);

/* Connectivity of the client's channel; the values are gRPC's. */
typedef enum aiw_connectivity_state {
  AIW_STATE_IDLE = 0,
  AIW_STATE_CONNECTING = 1,
  AIW_STATE_READY = 2,
  AIW_STATE_TRANSIENT_FAILURE = 3,
  AIW_STATE_SHUTDOWN = 4
} aiw_connectivity_state;

/*
 * aiw_client_get_state: the channel's state now; try_to_connect non-zero
 * also starts connecting an IDLE channel. SHUTDOWN for NULL and once the
 * client is closed. Any thread.
 *
 * aiw_client_wait_for_state_change: waits until the state is no longer
 * `last` (returns 1) or `timeout_ms` passed (-1: no limit; returns 0).
 * Returns 1 at once if the state already differs, and within 200 ms of
 * aiw_client_close (the state is then SHUTDOWN; a wait for a change from
 * SHUTDOWN on a closed client returns 0 at once: it never changes). Any thread, not inside a
 * libaiw callback (0 there).
 *
 * aiw_connectivity_state_name: "IDLE", "CONNECTING", "READY",
 * "TRANSIENT_FAILURE", "SHUTDOWN"; "UNKNOWN" for other values. Static.
 */
AIW_API aiw_connectivity_state aiw_client_get_state(aiw_client *client, int try_to_connect);
AIW_API int aiw_client_wait_for_state_change(aiw_client *client, aiw_connectivity_state last, int64_t timeout_ms);
AIW_API const char *aiw_connectivity_state_name(aiw_connectivity_state state);

/* The serving status of grpc.health.v1; the values are the protocol's. */
typedef enum aiw_health_status {
  AIW_HEALTH_UNKNOWN = 0,
  AIW_HEALTH_SERVING = 1,
  AIW_HEALTH_NOT_SERVING = 2,
  AIW_HEALTH_SERVICE_UNKNOWN = 3
} aiw_health_status;

/*
 * aiw_health_check: calls grpc.health.v1.Health/Check for `service` (""
 * asks about the server as a whole; NULL is ""), blocking, with the
 * deadline, metadata, token... of `opts` (may be NULL). On AIW_OK *status
 * is the server's answer; a server that does not know the service
 * (NOT_FOUND, as gRPC's health servers say) is AIW_OK with
 * AIW_HEALTH_SERVICE_UNKNOWN. A server without a health service fails with
 * UNIMPLEMENTED; other failures as for any call. *status is
 * AIW_HEALTH_UNKNOWN unless AIW_OK. Any thread.
 *
 * aiw_health_status_name: "UNKNOWN", "SERVING", "NOT_SERVING",
 * "SERVICE_UNKNOWN". Static.
 */
AIW_API aiw_code aiw_health_check(aiw_client *client, const char *service, const aiw_call_options *opts,
                                  aiw_health_status *status, aiw_error *err);
AIW_API const char *aiw_health_status_name(aiw_health_status status);

/*
 * Response information: what the server sent besides its messages -- its
 * headers (initial metadata), trailers, the peer's address, and the
 * decoded google.rpc.Status of a `grpc-status-details-bin` trailer.
 *
 * A blocking call fills the aiw_response_info attached to its call options
 * (aiw_call_options_set_response_info): emptied when the call starts, the
 * headers as they come (readable inside a stream's callback from the first
 * message on), the rest when the call returns. One info per running call:
 * options that carry one must not be shared by concurrent calls. An
 * asynchronous call keeps its own instead, read from its completions with
 * aiw_completion_response_info (headers from a stream's first MESSAGE
 * completion, everything from the RESULT); the options' info is not used.
 *
 * aiw_response_info_new: NULL if out of memory; free with
 * aiw_response_info_free (NULL-safe) once no call uses it.
 * aiw_call_options_set_response_info: borrowed, as a cancel token; NULL
 * detaches.
 * aiw_completion_response_info: borrowed from the completion (NULL for
 * NULL).
 */
typedef struct aiw_response_info aiw_response_info;
AIW_API aiw_response_info *aiw_response_info_new(void);
AIW_API void aiw_response_info_free(aiw_response_info *info);
AIW_API aiw_code aiw_call_options_set_response_info(aiw_call_options *opts, aiw_response_info *info);
AIW_API const aiw_response_info *aiw_completion_response_info(const aiw_completion *completion);

/*
 * Metadata getters (trailing 0: headers, 1: trailers): the count (0 for
 * NULL or before they came), the i-th key (lower case, NUL-terminated) and
 * value (*len bytes, may be NULL, followed by a NUL; a -bin value is the
 * decoded bytes); NULL when i is out of range. aiw_response_info_get: the
 * value of the first entry named `key`, or NULL. All borrowed from the
 * info, valid until it is freed or its next call starts. gRPC's own
 * headers (content-type, grpc-status, grpc-message) are not included;
 * grpc-status-details-bin is (and decoded below).
 */
AIW_API size_t aiw_response_info_metadata_count(const aiw_response_info *info, int trailing);
AIW_API const char *aiw_response_info_metadata_key(const aiw_response_info *info, int trailing, size_t i);
AIW_API const void *aiw_response_info_metadata_value(const aiw_response_info *info, int trailing, size_t i,
                                                     size_t *len);
AIW_API const void *aiw_response_info_get(const aiw_response_info *info, int trailing, const char *key, size_t *len);

/*
 * aiw_response_info_peer: the address of the server that answered, as
 * gRPC names it ("ipv4:127.0.0.1:50051", "ipv6:[::1]:50051",
 * "unix:/path"); "" when unknown (NULL info, the call never reached a
 * server). Borrowed.
 */
AIW_API const char *aiw_response_info_peer(const aiw_response_info *info);

/*
 * Status details. aiw_response_info_has_status_details: 1 when the server
 * sent a `grpc-status-details-bin` trailer that decodes as a
 * google.rpc.Status (0 otherwise, also for one that does not decode).
 * Then aiw_response_info_status_code / _status_message are its code (a
 * gRPC code number) and message, and each detail (a google.protobuf.Any)
 * has a type URL ("type.googleapis.com/google.rpc.ErrorInfo") and value
 * bytes (*len, may be NULL; the serialized message, followed by a NUL).
 * Out of range: NULL. Borrowed from the info.
 */
AIW_API int aiw_response_info_has_status_details(const aiw_response_info *info);
AIW_API int aiw_response_info_status_code(const aiw_response_info *info);
AIW_API const char *aiw_response_info_status_message(const aiw_response_info *info);
AIW_API size_t aiw_response_info_detail_count(const aiw_response_info *info);
AIW_API const char *aiw_response_info_detail_type_url(const aiw_response_info *info, size_t i);
AIW_API const void *aiw_response_info_detail_value(const aiw_response_info *info, size_t i, size_t *len);

/*
 * Per-call options of the production channel.
 *
 * aiw_call_options_set_compression: the compression of this call's request
 * ("gzip", "deflate", "identity"), overriding the client's; NULL goes back
 * to the client's. Other names are INVALID_ARGUMENT.
 *
 * aiw_call_options_set_max_receive_size: the largest response message this
 * call accepts, in bytes, below the client's limit; a larger one fails the
 * call with RESOURCE_EXHAUSTED (and cancels it). 0 (default): the
 * client's. Values above INT32_MAX are INVALID_ARGUMENT.
 */
AIW_API aiw_code aiw_call_options_set_compression(aiw_call_options *opts, const char *algorithm);
AIW_API aiw_code aiw_call_options_set_max_receive_size(aiw_call_options *opts, size_t bytes);

/* ------------------------------------------------------------------------ */
/* Observability (since 1.2)                                                */
/* ------------------------------------------------------------------------ */

/*
 * aiw_call_stats: what a stats hook is told about one call. Fields may be
 * appended in later versions (never removed or moved): read struct_size
 * before a field added after 1.2. Times are CLOCK_MONOTONIC nanoseconds.
 * Bytes count serialized messages (after decompression), not framing.
 * Everything is borrowed for the duration of the hook.
 */
typedef struct aiw_call_stats {
  size_t struct_size; /* sizeof(aiw_call_stats) of the library */
  const char *method; /* the gRPC path, "/ai_service.AiWorker/ChatStream" */
  int first_message;  /* 1: a stream's first message just arrived (the call goes on); 0: the call ended */
  aiw_code code;      /* when it ended: the call's result (AIW_OK, a gRPC code, ...); AIW_OK otherwise */
  int64_t start_ns;   /* when the call started */
  int64_t end_ns;     /* when it ended, or when the first message arrived */
  uint64_t bytes_sent, messages_sent;
  uint64_t bytes_received, messages_received;
} aiw_call_stats;

/*
 * aiw_stats_fn: called once per finished call of the client (every RPC,
 * blocking or asynchronous, typed or raw, also calls that failed before
 * anything was sent -- but not those refused for bad arguments), and for a
 * stream also once when its first message arrives. It runs inline on the
 * thread that finishes the call: the caller of a blocking call, or the
 * thread in aiw_queue_wait that takes the completion -- so it must be
 * quick (count, enqueue; never block or wait on a call), must not call
 * into libaiw for the same call, and may run on several threads at once.
 *
 * aiw_client_options_set_stats_hook: sets it (NULL clears); `userdata` is
 * passed through and must outlive the client.
 */
typedef void (*aiw_stats_fn)(const aiw_call_stats *stats, void *userdata);
AIW_API aiw_code aiw_client_options_set_stats_hook(aiw_client_options *opts, aiw_stats_fn fn, void *userdata);

#ifdef __cplusplus
}
#endif

#endif /* AIW_H */
