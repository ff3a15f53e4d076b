/*
 * json_out.c -- the proto3 canonical JSON writers of the CLI.
 *
 * libaiw hides its protobuf-c messages behind getters, so each message is
 * walked field by field, in proto field order, by a builder generated from
 * the schema (json.gen.c); the writers here apply the proto3 JSON rules:
 * lowerCamelCase names (the builders pass them), default values (0, false,
 * "", empty lists and maps, enum value 0) omitted, enums by name, 64-bit
 * integers as strings, bytes in base64, map entries sorted by key as
 * protobuf-go does. jansson builds the tree and does every bit of string
 * escaping; this file never writes a JSON character itself.
 */
#include "json_out.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text_out.h"

json_t *aiwj_float(float f) {
  json_t *value;
  if (isnan(f)) {
    value = json_string("NaN");
  } else if (isinf(f)) {
    value = json_string(f > 0 ? "Infinity" : "-Infinity");
  } else {
    /* The double nearest to the shortest decimal is printed by jansson with
     * %.9g (aiwj_print), which gives the same digits back. */
    char buf[40];
    format_float(buf, sizeof buf, f);
    value = json_real(strtod(buf, NULL));
  }
  return value;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_sequence_length(const unsigned char *s) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return (s[1] & 0xc0) == 0x80 ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80) return 0;
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80) return 0;
    return 4;
  }
  return 0;
}

/*
 * The `len` bytes at `s` as valid UTF-8: *out is `s` itself when they are
 * (*copy NULL), else a malloc'd copy (*copy, free it) with each byte that
 * does not start a valid sequence replaced by U+FFFD (3 bytes: at most 3x
 * the input). 0, or -1 if out of memory.
 */
static int utf8_clean(const char *s, size_t len, const char **out, size_t *out_len, char **copy) {
  const unsigned char *in = (const unsigned char *)s;
  size_t i = 0, n = 0;
  *copy = NULL;
  /* utf8_sequence_length reads up to 3 bytes past s[i]; the getters' strings
   * are NUL-terminated, and a NUL ends any multi-byte sequence early. */
  while (i < len && (n = utf8_sequence_length(in + i)) != 0 && n <= len - i) i += n;
  if (i == len) {
    *out = s;
    *out_len = len;
    return 0;
  }
  char *clean = malloc(3 * len + 1);
  if (clean == NULL) return -1;
  size_t o = 0;
  for (i = 0; i < len;) {
    n = utf8_sequence_length(in + i);
    if (n == 0 || n > len - i) {
      memcpy(clean + o, "\xef\xbf\xbd", 3);
      o += 3;
      i += 1;
    } else {
      memcpy(clean + o, in + i, n);
      o += n;
      i += n;
    }
  }
  clean[o] = '\0';
  *out = clean;
  *out_len = o;
  *copy = clean;
  return 0;
}

json_t *aiwj_string(const char *s, size_t len) {
  if (s == NULL) {
    s = "";
    len = 0;
  }
  const char *text;
  size_t text_len;
  char *copy;
  if (utf8_clean(s, len, &text, &text_len, &copy) != 0) return NULL;
  /* Valid UTF-8 now, so jansson's own check could only fail for want of
   * memory; a NUL is kept and printed as \u0000. */
  json_t *value = json_stringn_nocheck(text, text_len);
  free(copy);
  return value;
}

aiwj_object aiwj_object_start(void) { return (aiwj_object){json_object()}; }

void aiwj_put(aiwj_object *obj, const char *name, json_t *value) {
  if (obj->json == NULL) {
    json_decref(value);
    return;
  }
  if (value == NULL || json_object_set_new(obj->json, name, value) != 0) {
    json_decref(obj->json);
    obj->json = NULL;
  }
}

void aiwj_put_string(aiwj_object *obj, const char *name, const char *s, size_t len) {
  if (s != NULL && len > 0) aiwj_put(obj, name, aiwj_string(s, len));
}

void aiwj_put_float(aiwj_object *obj, const char *name, float f) {
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  if (bits != 0) /* +0.0 is the default; -0.0 is not (as protobuf-go) */
    aiwj_put(obj, name, aiwj_float(f));
}

void aiwj_put_int32(aiwj_object *obj, const char *name, int32_t i) {
  if (i != 0) aiwj_put(obj, name, json_integer(i));
}

void aiwj_put_uint32(aiwj_object *obj, const char *name, uint32_t i) {
  if (i != 0) aiwj_put(obj, name, json_integer(i));
}

/* 64-bit integers are strings in proto3 JSON (a double cannot hold them). */
static json_t *int64_json(int64_t i) {
  char buf[24];
  snprintf(buf, sizeof buf, "%" PRId64, i);
  return json_string(buf);
}

static json_t *uint64_json(uint64_t i) {
  char buf[24];
  snprintf(buf, sizeof buf, "%" PRIu64, i);
  return json_string(buf);
}

void aiwj_put_int64(aiwj_object *obj, const char *name, int64_t i) {
  if (i != 0) aiwj_put(obj, name, int64_json(i));
}

void aiwj_put_uint64(aiwj_object *obj, const char *name, uint64_t i) {
  if (i != 0) aiwj_put(obj, name, uint64_json(i));
}

void aiwj_put_bool(aiwj_object *obj, const char *name, int b) {
  if (b) aiwj_put(obj, name, json_true());
}

void aiwj_put_bytes(aiwj_object *obj, const char *name, const void *data, size_t len) {
  static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (data == NULL || len == 0 || obj->json == NULL) return;
  if (len > (SIZE_MAX - 1) / 4 * 3 - 3) {
    aiwj_put(obj, name, NULL);
    return;
  }
  const unsigned char *in = data;
  char *text = malloc((len + 2) / 3 * 4 + 1);
  if (text == NULL) {
    aiwj_put(obj, name, NULL);
    return;
  }
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
    text[o++] = digits[v >> 18 & 63];
    text[o++] = digits[v >> 12 & 63];
    text[o++] = i + 1 < len ? digits[v >> 6 & 63] : '=';
    text[o++] = i + 2 < len ? digits[v & 63] : '=';
  }
  text[o] = '\0';
  aiwj_put(obj, name, json_stringn_nocheck(text, o));
  free(text);
}

void aiwj_put_enum(aiwj_object *obj, const char *name, int value, const char *(*name_of)(int)) {
  if (value == 0) return;
  /* An enum value this build does not know is printed as its number, as
   * protobuf-go does. */
  const char *text = name_of(value);
  aiwj_put(obj, name, text != NULL ? json_string(text) : json_integer(value));
}

void aiwj_put_array(aiwj_object *obj, const char *name, size_t n, json_t *(*item)(const void *, size_t),
                    const void *owner) {
  if (n == 0 || obj->json == NULL) return;
  json_t *array = json_array();
  for (size_t i = 0; i < n && array != NULL; i++) {
    json_t *value = item(owner, i);
    if (value != NULL && json_array_append_new(array, value) != 0) value = NULL; /* json_array_append_new released it */
    if (value == NULL) {
      json_decref(array);
      array = NULL;
    }
  }
  aiwj_put(obj, name, array);
}

/* Repeated numbers: the i-th of an array of `type`, as JSON. */
#define NUMBERS(suffix, type, to_json)                                                                                 \
  static json_t *suffix##_at(const void *v, size_t i) { return to_json(((const type *)v)[i]); }                        \
  void aiwj_put_##suffix##s(aiwj_object *obj, const char *name, const type *v, size_t n) {                             \
    aiwj_put_array(obj, name, v != NULL ? n : 0, suffix##_at, v);                                                      \
  }
NUMBERS(float, float, aiwj_float)
NUMBERS(int32, int32_t, json_integer)
NUMBERS(uint32, uint32_t, json_integer)
NUMBERS(int64, int64_t, int64_json)
NUMBERS(uint64, uint64_t, uint64_json)
#undef NUMBERS

/* aiwj_put_strings's items: the string getter and its owner. */
struct string_list {
  aiwj_string_at string_at;
  const void *owner;
};

static json_t *string_list_at(const void *list, size_t i) {
  const struct string_list *l = list;
  size_t len = 0;
  const char *s = l->string_at(l->owner, i, &len);
  return aiwj_string(s, len);
}

void aiwj_put_strings(aiwj_object *obj, const char *name, size_t n, aiwj_string_at string_at, const void *owner) {
  struct string_list list = {string_at, owner};
  aiwj_put_array(obj, name, n, string_list_at, &list);
}

/* A map key, as it is printed (valid UTF-8), and where it came from. */
struct key_sort {
  const char *key; /* the getter's bytes, or `copy` */
  size_t len;
  char *copy; /* malloc'd when the key needed U+FFFD replacements */
  size_t index;
};

/* Byte order, as protobuf-go sorts map keys (shorter first on a tie of the
 * common part); equal keys keep their wire order. */
static int compare_keys(const void *a, const void *b) {
  const struct key_sort *x = a, *y = b;
  int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
  if (c != 0) return c;
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * The map, keys sorted (stable: a repeated key keeps its last value, as a
 * proto map does); left out if empty. Keys get the same treatment as
 * values: their whole length (NULs included), invalid UTF-8 replaced by
 * U+FFFD -- the keys are sorted as printed.
 */
void aiwj_put_string_map(aiwj_object *obj, const char *name, size_t n, aiwj_string_at key_at, aiwj_string_at value_at,
                         const void *owner) {
  if (n == 0 || obj->json == NULL) return;
  struct key_sort *order = calloc(n, sizeof *order);
  aiwj_object map = aiwj_object_start();
  if (order == NULL) {
    json_decref(map.json);
    map.json = NULL;
  }
  size_t cleaned = 0;
  for (; map.json != NULL && cleaned < n; cleaned++) {
    size_t len = 0;
    const char *key = key_at(owner, cleaned, &len);
    order[cleaned].index = cleaned;
    if (utf8_clean(key, len, &order[cleaned].key, &order[cleaned].len, &order[cleaned].copy) != 0) {
      json_decref(map.json);
      map.json = NULL;
    }
  }
  if (map.json != NULL) {
    qsort(order, n, sizeof *order, compare_keys);
    for (size_t i = 0; i < n && map.json != NULL; i++) {
      size_t len = 0;
      const char *value = value_at(owner, order[i].index, &len);
      json_t *json = aiwj_string(value, len);
      /* The key is valid UTF-8 (cleaned above); a NUL in it is kept. */
      if (json != NULL && json_object_setn_new_nocheck(map.json, order[i].key, order[i].len, json) != 0)
        json = NULL; /* released by jansson */
      if (json == NULL) {
        json_decref(map.json);
        map.json = NULL;
      }
    }
  }
  for (size_t i = 0; order != NULL && i < cleaned; i++) free(order[i].copy);
  free(order);
  aiwj_put(obj, name, map.json);
}

int aiwj_print(FILE *out, json_t *value) {
  if (value == NULL) return AIWJ_BUILD_FAILED;
  /* Compact, insertion (= proto field) order, UTF-8 output; reals with 9
   * significant digits, which reproduces aiwj_float's shortest digits. */
  char *text = json_dumps(value, JSON_COMPACT | JSON_REAL_PRECISION(9));
  json_decref(value);
  if (text == NULL) return AIWJ_ENCODE_FAILED;
  int rc = 0;
  if (fputs(text, out) == EOF || fputc('\n', out) == EOF || fflush(out) == EOF) rc = AIWJ_WRITE_FAILED;
  free(text);
  return rc;
}
