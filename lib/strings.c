/* strings.c -- UTF-8 validation and what request messages own: strings,
 * byte strings and the messages themselves (messages.h). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "messages.h"

/* Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, at most
 * U+10FFFF. */
int aiw__utf8_valid(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < len) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return 0;
    }
    if (len - i <= n) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k <= n; k++)
      if ((s[i + k] & 0xC0) != 0x80) return 0;
    i += n + 1;
  }
  return 1;
}

void aiw__free_string(char *s) {
  if (s && s != protobuf_c_empty_string) free(s);
}

static aiw_code copy_valid(const char *value, char **out) {
  if (!value) return AIW_INVALID_ARGUMENT;
  size_t len = strlen(value);
  if (!aiw__utf8_valid(value, len)) return AIW_INVALID_ARGUMENT;
  char *copy = malloc(len + 1);
  if (!copy) return AIW_OUT_OF_MEMORY;
  memcpy(copy, value, len + 1);
  *out = copy;
  return AIW_OK;
}

aiw_code aiw__set_string(char **slot, const char *value) {
  char *copy;
  aiw_code rc = copy_valid(value, &copy);
  if (rc != AIW_OK) return rc;
  aiw__free_string(*slot);
  *slot = copy;
  return AIW_OK;
}

aiw_code aiw__append_string(char ***array, size_t *n, const char *value) {
  char *copy;
  aiw_code rc = copy_valid(value, &copy);
  if (rc != AIW_OK) return rc;
  char **grown = realloc(*array, (*n + 1) * sizeof *grown);
  if (!grown) {
    free(copy);
    return AIW_OUT_OF_MEMORY;
  }
  grown[*n] = copy;
  *array = grown;
  (*n)++;
  return AIW_OK;
}

aiw_code aiw__set_bytes(ProtobufCBinaryData *slot, const void *data, size_t len) {
  if (!data && len) return AIW_INVALID_ARGUMENT;
  uint8_t *copy = NULL;
  if (len) {
    copy = malloc(len);
    if (!copy) return AIW_OUT_OF_MEMORY;
    memcpy(copy, data, len);
  }
  free(slot->data);
  slot->data = copy;
  slot->len = len;
  return AIW_OK;
}

void *aiw__message_new(const ProtobufCMessageDescriptor *desc) {
  ProtobufCMessage *m = malloc(desc->sizeof_message);
  if (m) protobuf_c_message_init(desc, m);
  return m;
}

/* Everything in a request is malloc'd (or protobuf-c's static defaults,
 * which it skips): protobuf-c's own free, with the system allocator. */
void aiw__message_free(ProtobufCMessage *msg) {
  if (msg) protobuf_c_message_free_unpacked(msg, NULL);
}
