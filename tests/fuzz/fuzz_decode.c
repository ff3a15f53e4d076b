/* fuzz_decode.c -- libFuzzer target for the call engine's receive path.
 *
 * Untrusted bytes from the network go through the engine's own functions
 * exactly as a received message does: they are put in a gRPC byte buffer
 * (one slice, or two, split where the input says, so that both the in-place
 * and the copying path run), then taken by aiw__call_take_message (typed:
 * decoded by protobuf-c through libaiw's allocator) or by
 * aiw__call_take_bytes (the raw-message interface, which must give back the
 * very bytes). Every public getter then walks a decoded message, so that a
 * malformed response can neither crash the library nor make a getter read
 * out of bounds. The first input byte selects: bits 0-1 the response type,
 * bit 2 raw, bits 3-7 where to split. */
#include <stdint.h>
#include <string.h>

#include <grpc/grpc.h>

#include "engine.h"

static size_t sink;

static void walk_string(const char *(*with_len)(const aiw_search_result *, size_t *), const aiw_search_result *r,
                        const char *plain) {
  size_t n;
  const char *s = with_len(r, &n);
  if (s != plain || strlen(s) > n || s[n] != '\0') __builtin_trap();
  sink += n;
}

static void walk_result(const aiw_search_result *r) {
  sink += strlen(aiw_search_result_asset_id(r)) + strlen(aiw_search_result_caption(r)) +
          strlen(aiw_search_result_mime_type(r)) + strlen(aiw_search_result_thumbnail_url(r));
  walk_string(aiw_search_result_asset_id_with_len, r, aiw_search_result_asset_id(r));
  walk_string(aiw_search_result_caption_with_len, r, aiw_search_result_caption(r));
  walk_string(aiw_search_result_mime_type_with_len, r, aiw_search_result_mime_type(r));
  walk_string(aiw_search_result_thumbnail_url_with_len, r, aiw_search_result_thumbnail_url(r));
  sink += aiw_search_result_score(r) > 0.5f;
  size_t n = aiw_search_result_metadata_count(r);
  for (size_t i = 0; i <= n; i++) { /* one past the end must be NULL */
    const char *k = aiw_search_result_metadata_key(r, i), *v = aiw_search_result_metadata_value(r, i);
    size_t kn, vn;
    if (aiw_search_result_metadata_key_with_len(r, i, &kn) != k) __builtin_trap();
    if (aiw_search_result_metadata_value_with_len(r, i, &vn) != v) __builtin_trap();
    if (i == n && (k || v || kn || vn)) __builtin_trap();
    if (k) sink += strlen(k) + strlen(v) + kn + vn;
    if (k) sink += aiw_search_result_metadata_get(r, k) != NULL;
  }
}

static void walk(int which, const ProtobufCMessage *msg) {
  size_t n;
  switch (which) {
  case AIW_METHOD_PROCESS_ASSET: {
    const aiw_process_status *s = (const aiw_process_status *)msg;
    sink += aiw_process_status_success(s) + strlen(aiw_process_status_error(s)) + aiw_process_status_stage(s);
    sink += aiw_processing_stage_name(aiw_process_status_stage(s)) != NULL;
    if (aiw_process_status_error_with_len(s, &n) != aiw_process_status_error(s)) __builtin_trap();
    break;
  }
  case AIW_METHOD_CHAT_STREAM: {
    const aiw_chat_response *c = (const aiw_chat_response *)msg;
    sink += strlen(aiw_chat_response_chunk(c)) + aiw_chat_response_is_final(c);
    if (aiw_chat_response_chunk_with_len(c, &n) != aiw_chat_response_chunk(c)) __builtin_trap();
    for (size_t i = 0; i < aiw_chat_response_source_count(c); i++) walk_result(aiw_chat_response_source(c, i));
    if (aiw_chat_response_source(c, aiw_chat_response_source_count(c))) __builtin_trap();
    break;
  }
  case AIW_METHOD_GET_EMBEDDING: {
    const aiw_embedding_response *e = (const aiw_embedding_response *)msg;
    size_t n1, n2;
    const float *v1 = aiw_embedding_response_semantic_vector(e, &n1);
    const float *v2 = aiw_embedding_response_visual_vector(e, &n2);
    for (size_t i = 0; i < n1; i++) sink += v1[i] > 0;
    for (size_t i = 0; i < n2; i++) sink += v2[i] > 0;
    sink += strlen(aiw_embedding_response_error(e));
    if (aiw_embedding_response_error_with_len(e, &n) != aiw_embedding_response_error(e)) __builtin_trap();
    break;
  }
  case AIW_METHOD_VECTOR_SEARCH: {
    const aiw_search_response *s = (const aiw_search_response *)msg;
    for (size_t i = 0; i < aiw_search_response_result_count(s); i++) walk_result(aiw_search_response_result(s, i));
    if (aiw_search_response_result(s, aiw_search_response_result_count(s))) __builtin_trap();
    sink += (size_t)aiw_search_response_total_count(s) + strlen(aiw_search_response_error(s));
    if (aiw_search_response_error_with_len(s, &n) != aiw_search_response_error(s)) __builtin_trap();
    break;
  }
  }
}

/* The message as gRPC hands it over: one slice, or two split at `at`. */
static grpc_byte_buffer *received(const uint8_t *data, size_t size, size_t at) {
  grpc_slice slices[2];
  size_t n = 0;
  if (at > 0 && at < size) {
    slices[n++] = grpc_slice_from_copied_buffer((const char *)data, at);
    slices[n++] = grpc_slice_from_copied_buffer((const char *)data + at, size - at);
  } else {
    slices[n++] = grpc_slice_from_copied_buffer((const char *)data, size);
  }
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(slices, n);
  for (size_t i = 0; i < n; i++) grpc_slice_unref(slices[i]);
  return bb;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int initialised;
  if (!initialised) {
    grpc_init(); /* once, for the life of the fuzzer */
    initialised = 1;
  }
  if (size < 1) return 0;
  int which = data[0] & 3, raw = (data[0] >> 2) & 1;
  size_t at = data[0] >> 3;
  data++;
  size--;
  aiw_call c;
  memset(&c, 0, sizeof c);
  c.method = &aiw__methods[which];
  c.recv_buffer = received(data, size, at);
  aiw_error err;
  if (raw) {
    grpc_slice bytes;
    if (aiw__call_take_bytes(&c, &bytes, &err) != 1) __builtin_trap();
    if (GRPC_SLICE_LENGTH(bytes) != size || (size && memcmp(GRPC_SLICE_START_PTR(bytes), data, size) != 0))
      __builtin_trap(); /* the raw interface gives back the very bytes */
    grpc_slice_unref(bytes);
  } else {
    ProtobufCMessage *msg;
    aiw_code rc = aiw__call_take_message(&c, &msg, &err);
    if ((rc == AIW_OK) != (msg != NULL) || (rc != AIW_OK && rc != AIW_INTERNAL && rc != AIW_OUT_OF_MEMORY))
      __builtin_trap();
    if (msg) walk(which, msg);
    aiw__decoded_free(msg);
  }
  if (c.recv_buffer) __builtin_trap(); /* taken */
  return 0;
}
