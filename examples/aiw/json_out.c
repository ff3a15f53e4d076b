/*
 * json_out.c -- proto3 canonical JSON for the AiWorker responses.
 *
 * libaiw hides its protobuf-c messages behind getters, so each message is
 * walked field by field here, in proto field order, with the proto3 JSON
 * rules: lowerCamelCase names, default values (0, false, "", empty lists and
 * maps, enum value 0) omitted, enums by name, map entries sorted by key as
 * protobuf-go does. jansson builds the tree and does every bit of string
 * escaping; this file never writes a JSON character itself.
 */
#include "json_out.h"

#include <errno.h>
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

/*
 * An object under construction, in field order. A put_* that runs out of
 * memory marks it failed: json is then NULL and later ones do nothing.
 */
struct object {
  json_t *json; /* NULL once failed */
};

static struct object object_start(void) { return (struct object){json_object()}; }

/* Sets obj[name] = value, taking the reference (NULL: out of memory). */
static void put(struct object *obj, const char *name, json_t *value) {
  if (obj->json == NULL) {
    json_decref(value);
    return;
  }
  if (value == NULL || json_object_set_new(obj->json, name, value) != 0) {
    json_decref(obj->json);
    obj->json = NULL;
  }
}

/* obj[name] = the string `s` of `len` bytes (NULs included), unless empty. */
static void put_string(struct object *obj, const char *name, const char *s, size_t len) {
  if (s != NULL && len > 0) put(obj, name, aiwj_string(s, len));
}

static void put_float(struct object *obj, const char *name, float f) {
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  if (bits != 0) /* +0.0 is the default; -0.0 is not (as protobuf-go) */
    put(obj, name, aiwj_float(f));
}

static void put_int(struct object *obj, const char *name, int32_t i) {
  if (i != 0) put(obj, name, json_integer(i));
}

static void put_bool(struct object *obj, const char *name, int b) {
  if (b) put(obj, name, json_true());
}

/* obj[name] = [item(owner, 0), ..., item(owner, n - 1)], left out if n is 0. */
static void put_array(struct object *obj, const char *name, size_t n, json_t *(*item)(const void *, size_t),
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
  put(obj, name, array);
}

static json_t *float_at(const void *floats, size_t i) { return aiwj_float(((const float *)floats)[i]); }

static json_t *search_result_at(const void *resp, size_t i) {
  return aiwj_search_result(aiw_search_response_result(resp, i));
}

static json_t *chat_source_at(const void *chunk, size_t i) {
  return aiwj_search_result(aiw_chat_response_source(chunk, i));
}

/* A metadata key, as it is printed (valid UTF-8), and where it came from. */
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
 * obj[name] = the result's metadata map, keys sorted (stable: a repeated
 * key keeps its last value, as a proto map does); left out if empty. Keys
 * get the same treatment as values: their whole length (NULs included),
 * invalid UTF-8 replaced by U+FFFD -- the keys are sorted as printed.
 */
static void put_metadata(struct object *obj, const char *name, const aiw_search_result *result) {
  size_t n = aiw_search_result_metadata_count(result);
  if (n == 0 || obj->json == NULL) return;
  struct key_sort *order = calloc(n, sizeof *order);
  struct object map = object_start();
  if (order == NULL) {
    json_decref(map.json);
    map.json = NULL;
  }
  size_t cleaned = 0;
  for (; map.json != NULL && cleaned < n; cleaned++) {
    size_t len = 0;
    const char *key = aiw_search_result_metadata_key_with_len(result, cleaned, &len);
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
      const char *value = aiw_search_result_metadata_value_with_len(result, order[i].index, &len);
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
  put(obj, name, map.json);
}

json_t *aiwj_search_result(const aiw_search_result *result) {
  struct object obj = object_start();
  size_t len = 0;
  const char *s = aiw_search_result_asset_id_with_len(result, &len);
  put_string(&obj, "assetId", s, len);
  put_float(&obj, "score", aiw_search_result_score(result));
  s = aiw_search_result_caption_with_len(result, &len);
  put_string(&obj, "caption", s, len);
  s = aiw_search_result_mime_type_with_len(result, &len);
  put_string(&obj, "mimeType", s, len);
  s = aiw_search_result_thumbnail_url_with_len(result, &len);
  put_string(&obj, "thumbnailUrl", s, len);
  put_metadata(&obj, "metadata", result);
  return obj.json;
}

json_t *aiwj_search_response(const aiw_search_response *resp) {
  struct object obj = object_start();
  put_array(&obj, "results", aiw_search_response_result_count(resp), search_result_at, resp);
  put_int(&obj, "totalCount", aiw_search_response_total_count(resp));
  put_bool(&obj, "success", aiw_search_response_success(resp));
  size_t len = 0;
  const char *error = aiw_search_response_error_with_len(resp, &len);
  put_string(&obj, "error", error, len);
  return obj.json;
}

json_t *aiwj_embedding_response(const aiw_embedding_response *resp) {
  struct object obj = object_start();
  size_t n = 0;
  const float *v = aiw_embedding_response_semantic_vector(resp, &n);
  put_array(&obj, "semanticVector", n, float_at, v);
  v = aiw_embedding_response_visual_vector(resp, &n);
  put_array(&obj, "visualVector", n, float_at, v);
  put_bool(&obj, "success", aiw_embedding_response_success(resp));
  size_t len = 0;
  const char *error = aiw_embedding_response_error_with_len(resp, &len);
  put_string(&obj, "error", error, len);
  return obj.json;
}

json_t *aiwj_process_status(const aiw_process_status *status) {
  struct object obj = object_start();
  put_bool(&obj, "success", aiw_process_status_success(status));
  size_t len = 0;
  const char *error = aiw_process_status_error_with_len(status, &len);
  put_string(&obj, "error", error, len);
  int stage = (int)aiw_process_status_stage(status);
  if (stage != 0) {
    /* An enum value this build does not know is printed as its number, as
     * protobuf-go does. */
    const char *name = aiw_processing_stage_name(stage);
    put(&obj, "stage", name != NULL ? json_string(name) : json_integer(stage));
  }
  put_float(&obj, "progress", aiw_process_status_progress(status));
  return obj.json;
}

json_t *aiwj_chat_response(const aiw_chat_response *chunk) {
  struct object obj = object_start();
  size_t len = 0;
  const char *text = aiw_chat_response_chunk_with_len(chunk, &len);
  put_string(&obj, "chunk", text, len);
  put_bool(&obj, "isFinal", aiw_chat_response_is_final(chunk));
  put_array(&obj, "sources", aiw_chat_response_source_count(chunk), chat_source_at, chunk);
  return obj.json;
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
