/*
 * aiwgo.h -- the C half of package aiworker (Go bindings of libaiw).
 *
 * Each Go call crosses into C once: Go packs the whole request into one byte
 * arena (NUL-terminated strings and raw bytes) described by small fixed
 * C-layout structs of offsets, and passes a Go buffer for the answer. The
 * helpers below build the aiw request and call options, make the call, and
 * flatten the response into that buffer (or a malloc'd block when it does
 * not fit). No Go pointer is kept by C after a helper returns.
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

/* The outcome of a unary helper. */
typedef struct aiwgo_result {
  aiw_error err;
  uint8_t *overflow; /* malloc'd answer when it did not fit: free with aiwgo_free */
  uint32_t len;      /* bytes of the flattened answer (0 when none) */
} aiwgo_result;

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

aiw_code aiwgo_get_embedding(aiw_client *client, const aiwgo_embedding_req *req, const char *arena,
                             const aiwgo_item *items, uint8_t *buf, size_t cap, aiwgo_result *res);
aiw_code aiwgo_vector_search(aiw_client *client, const aiwgo_search_req *req, const char *arena,
                             const aiwgo_item *items, uint8_t *buf, size_t cap, aiwgo_result *res);
aiw_code aiwgo_process_asset(aiw_client *client, const aiwgo_asset_req *req, const char *arena,
                             const aiwgo_item *items, uint8_t *buf, size_t cap, aiwgo_result *res);

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

#endif
