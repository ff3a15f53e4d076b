/* decode.c -- decoding responses with protobuf-c, keeping string lengths.
 *
 * protobuf-c stores a string as a NUL-terminated char * and forgets its
 * length, so a proto3 string with a NUL byte in it would look cut short.
 * Every decoded message is allocated through this allocator, which puts
 * each block's size in a header before it: protobuf-c allocates exactly
 * length + 1 bytes for a string, so the length comes back from the header
 * (aiw__decoded_strlen). Strings absent from the wire point at protobuf-c's
 * static "" and have length 0. */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef union header {
  size_t size;
  max_align_t align; /* keeps the block after it aligned for anything */
} header;

static void *alloc(void *out_of_memory, size_t size) {
  header *h = size > SIZE_MAX - sizeof(header) ? NULL : malloc(sizeof *h + size);
  if (!h) {
    *(int *)out_of_memory = 1;
    return NULL;
  }
  h->size = size;
  return h + 1;
}

static void release(void *unused, void *p) {
  (void)unused;
  if (p) free((header *)p - 1);
}

static ProtobufCAllocator allocator = {alloc, release, NULL};

ProtobufCMessage *aiw__decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                              int *out_of_memory) {
  *out_of_memory = 0;
  ProtobufCAllocator a = {alloc, release, out_of_memory};
  return protobuf_c_message_unpack(desc, &a, len, data);
}

void aiw__decoded_free(ProtobufCMessage *msg) {
  if (msg) protobuf_c_message_free_unpacked(msg, &allocator);
}

size_t aiw__decoded_strlen(const char *s) {
  if (!s || s == protobuf_c_empty_string) return 0;
  return ((const header *)s - 1)->size - 1;
}

const char *aiw__string_with_len(const char *s, size_t *len) {
  if (len) *len = aiw__decoded_strlen(s);
  return s ? s : "";
}
