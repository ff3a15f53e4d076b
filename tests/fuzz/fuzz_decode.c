/* fuzz_decode.c -- libFuzzer target for the call engine's receive path.
 *
 * Untrusted bytes from the network go through the engine's own functions
 * exactly as a received message does: they are put in a gRPC byte buffer
 * (one slice, or two, split where the input says, so that both the in-place
 * and the copying path run), then taken by aiw__call_take_message (typed:
 * decoded by protobuf-c through libaiw's allocator) or by
 * aiw__call_take_bytes (the raw-message interface, which must give back the
 * very bytes). Every public getter then walks a decoded message (through
 * the generated JSON builders), so that a
 * malformed response can neither crash the library nor make a getter read
 * out of bounds. The first input byte selects: bits 0-1 the response type,
 * bit 2 raw, bits 3-7 where to split. */
#include <stdint.h>
#include <string.h>

#include <grpc/grpc.h>

#include "engine.h"
#include "json.gen.h"

static size_t sink;

/* Every getter of the decoded message, through the CLI's JSON builders:
 * examples/aiw/json.gen.c is generated from the schema and reads each field
 * of each response message with its getter (strings with their lengths,
 * repeated fields to the end, maps entry by entry), so a field added to the
 * .proto is walked here too, with nothing written by hand. */
static void walk(int which, const ProtobufCMessage *msg) {
  json_t *j = NULL;
  switch (which) {
  case AIW_METHOD_PROCESS_ASSET: j = aiwj_process_status((const aiw_process_status *)msg); break;
  case AIW_METHOD_CHAT_STREAM: j = aiwj_chat_response((const aiw_chat_response *)msg); break;
  case AIW_METHOD_GET_EMBEDDING: j = aiwj_embedding_response((const aiw_embedding_response *)msg); break;
  case AIW_METHOD_VECTOR_SEARCH: j = aiwj_search_response((const aiw_search_response *)msg); break;
  }
  if (!j) __builtin_trap(); /* only out of memory, which the fuzzer does not cause */
  char *text = json_dumps(j, JSON_COMPACT);
  if (text) sink += strlen(text);
  free(text);
  json_decref(j);
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
