/* fuzz_decode.c -- libFuzzer target for the response decode path.
 *
 * Untrusted bytes from the network are unpacked by protobuf-c exactly as the
 * call engine does (protobuf_c_message_unpack with the response descriptor of
 * each RPC), then every public getter walks the decoded message, so that a
 * malformed response can neither crash the library nor make a getter read out
 * of bounds. The first input byte picks the response type. */
#include <stdint.h>
#include <string.h>

#include "internal.h"

static size_t sink;

static void walk_result(const aiw_search_result *r) {
  sink += strlen(aiw_search_result_asset_id(r)) + strlen(aiw_search_result_caption(r)) +
          strlen(aiw_search_result_mime_type(r)) + strlen(aiw_search_result_thumbnail_url(r));
  sink += aiw_search_result_score(r) > 0.5f;
  size_t n = aiw_search_result_metadata_count(r);
  for (size_t i = 0; i <= n; i++) { /* one past the end must be NULL */
    const char *k = aiw_search_result_metadata_key(r, i), *v = aiw_search_result_metadata_value(r, i);
    if (i == n && (k || v)) __builtin_trap();
    if (k) sink += strlen(k) + strlen(v);
    if (k) sink += aiw_search_result_metadata_get(r, k) != NULL;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int which = data[0] % AIW_METHOD_COUNT, oom;
  ProtobufCMessage *msg = aiw__decode(aiw__methods[which].response, data + 1, size - 1, &oom);
  if (!msg) return 0;
  switch (which) {
  case AIW_METHOD_PROCESS_ASSET: {
    const aiw_process_status *s = (const aiw_process_status *)msg;
    sink += aiw_process_status_success(s) + strlen(aiw_process_status_error(s)) + aiw_process_status_stage(s);
    sink += aiw_processing_stage_name(aiw_process_status_stage(s)) != NULL;
    break;
  }
  case AIW_METHOD_CHAT_STREAM: {
    const aiw_chat_response *c = (const aiw_chat_response *)msg;
    sink += strlen(aiw_chat_response_chunk(c)) + aiw_chat_response_is_final(c);
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
    break;
  }
  case AIW_METHOD_VECTOR_SEARCH: {
    const aiw_search_response *s = (const aiw_search_response *)msg;
    for (size_t i = 0; i < aiw_search_response_result_count(s); i++) walk_result(aiw_search_response_result(s, i));
    if (aiw_search_response_result(s, aiw_search_response_result_count(s))) __builtin_trap();
    sink += (size_t)aiw_search_response_total_count(s) + strlen(aiw_search_response_error(s));
    break;
  }
  }
  aiw__decoded_free(msg);
  return 0;
}
