/*
 * aiwgo.h -- the C half of package aiworker (Go bindings of libaiw).
 *
 * Go packs the whole request into one byte arena (NUL-terminated strings and
 * raw bytes) described by small fixed C-layout structs of offsets. A unary
 * call crosses into C once to start (aiwgo_*_start, on the client's
 * aiw_queue); the client's poller goroutine takes the completions in batches
 * (aiwgo_queue_next), each response flattened into a malloc'd block that Go
 * decodes without further C calls and hands back for freeing on the
 * poller's next transition. A stream is one C call with one C-to-Go callback
 * per message. No Go pointer is kept by C after a helper returns.
 *
 * Flattened form (native endian, 4-byte words): u32 total length, u32 offset
 * of the string bytes, then the message's words; a string is two words
 * (absolute offset, length) into the string bytes, a float vector a count
 * followed by the floats.
 */
#ifndef AIWGO_H
#define AIWGO_H

#include <stddef.h>
#include <stdint.h>
#include <aiw.h>

/* A byte range [off, off+len) of the arena; strings have a NUL at off+len. */
typedef struct aiwgo_span {
  uint32_t off;
  uint32_t len;
} aiwgo_span;

/*
 * One entry of the list that follows a request: metadata (a key, b value,
 * n 1 for a -bin key), search filters (a), chat history (a role, b content,
 * n timestamp).
 */
typedef struct aiwgo_item {
  aiwgo_span a;
  aiwgo_span b;
  int64_t n;
} aiwgo_item;

/* Call options; metadata pairs are items[0 .. metadata_count). */
typedef struct aiwgo_call {
  aiw_cancel_token *token; /* NULL: none */
  int64_t timeout_ms;      /* 0: no deadline */
  int32_t wait_for_ready;
  uint32_t metadata_count;
} aiwgo_call;

/* The outcome of a helper that fails before any call starts (and of streams). */
typedef struct aiwgo_result {
  aiw_error err;
} aiwgo_result;

/*
 * One finished unary call, filled by aiwgo_queue_next into Go memory. The
 * block (NULL when there is nothing to carry) is malloc'd: bytes [0, len)
 * are the flattened response (len 0: none), [len, len + msg_len) the error
 * message (not NUL-terminated). Go frees it through aiwgo_queue_next's
 * to_free list (or aiwgo_free). code AIW_OUT_OF_MEMORY with a NULL block:
 * the block itself could not be allocated.
 */
typedef struct aiwgo_event {
  uint64_t tag;
  int32_t code;
  int32_t grpc_status;
  uint8_t *block;
  uint32_t len;
  uint32_t msg_len;
} aiwgo_event;

typedef struct aiwgo_embedding_req {
  aiwgo_call call;
  aiwgo_span text;
  aiwgo_span image_data;
  aiwgo_span image_format;
  int32_t has_text;
  int32_t has_image;
  int32_t type;
} aiwgo_embedding_req;

typedef struct aiwgo_search_req {
  aiwgo_call call;
  aiwgo_span query;
  int32_t type;
  int32_t limit;
  float threshold;
  uint32_t filter_count; /* items[metadata_count ..] */
} aiwgo_search_req;

typedef struct aiwgo_asset_req {
  aiwgo_call call;
  aiwgo_span asset_id;
  aiwgo_span file_path;
  aiwgo_span mime_type;
  int32_t has_options;
  int32_t enable_ocr;
  int32_t enable_caption;
  int32_t enable_embedding;
  int32_t enable_summary;
  int32_t max_chunk_size;
} aiwgo_asset_req;

typedef struct aiwgo_chat_req {
  aiwgo_call call;
  aiwgo_span query;
  uint32_t history_count; /* items[metadata_count ..] */
  int32_t has_options;
  int32_t max_context_docs;
  float similarity_threshold;
  int32_t include_images;
  int32_t stream_response;
} aiwgo_chat_req;

/*
 * The unary start helpers: build the request and the call options (the
 * request's cancel token must outlive the call), start the call on `queue`
 * with `tag`, and free what they built (the start copies it). AIW_OK: exactly
 * one event with `tag` will come out of aiwgo_queue_next. Anything else:
 * nothing started, *err says why.
 */
aiw_code aiwgo_get_embedding_start(aiw_client *client, aiw_queue *queue, uint64_t tag,
                                   const aiwgo_embedding_req *req, const char *arena, const aiwgo_item *items,
                                   aiw_error *err);
aiw_code aiwgo_vector_search_start(aiw_client *client, aiw_queue *queue, uint64_t tag, const aiwgo_search_req *req,
                                   const char *arena, const aiwgo_item *items, aiw_error *err);
aiw_code aiwgo_process_asset_start(aiw_client *client, aiw_queue *queue, uint64_t tag, const aiwgo_asset_req *req,
                                   const char *arena, const aiwgo_item *items, aiw_error *err);

/*
 * aiwgo_queue_next: the poller's one transition per batch. Frees
 * to_free[0..n_free) first (blocks Go has finished with), then waits up to
 * first_timeout_ms (-1: for ever) for a completion on `queue` and takes up
 * to n-1 more that are ready (timeout 0). Each becomes events[i] (response
 * flattened with its error message into one malloc'd block; the completion
 * is freed). Returns how many events it filled; 0 when the time ran out; -1
 * when the queue is shut down and empty.
 */
int64_t aiwgo_queue_next(aiw_queue *queue, int64_t first_timeout_ms, aiwgo_event *events, size_t n, void **to_free,
                         size_t n_free);

/*
 * aiwgo_chat_stream: runs the stream; each chunk is flattened into a C buffer
 * and handed to the exported Go function aiwgoChatChunk(handle, data, len)
 * on this thread. `handle` is a runtime/cgo.Handle value.
 */
aiw_code aiwgo_chat_stream(aiw_client *client, const aiwgo_chat_req *req, const char *arena,
                           const aiwgo_item *items, uintptr_t handle, aiw_error *err);

/* aiwgo_cancel_tokens_new: fills out[0..n) with new tokens; returns how many it made. */
size_t aiwgo_cancel_tokens_new(aiw_cancel_token **out, size_t n);

void aiwgo_free(void *p);

/* aiwgo_free_all: frees p[0..n). */
void aiwgo_free_all(void **p, size_t n);

#endif
