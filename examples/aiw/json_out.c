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

json_t *aiwj_float(float f)
{
  if (isnan(f))
    return json_string("NaN");
  if (isinf(f))
    return json_string(f > 0 ? "Infinity" : "-Infinity");
  /* The double nearest to the shortest decimal is printed by jansson with
   * %.9g (aiwj_print), which gives the same digits back. */
  char buf[40];
  format_float(buf, sizeof buf, f);
  return json_real(strtod(buf, NULL));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_sequence_length(const unsigned char *s)
{
  unsigned char c = s[0];
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    return (s[1] & 0xc0) == 0x80 ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
      return 0;
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
      return 0;
    return 4;
  }
  return 0;
}

json_t *aiwj_string(const char *s)
{
  json_t *value = json_string(s);
  if (value != NULL || s == NULL)
    return value;
  /* Not valid UTF-8 (protobuf-c does not check what it unpacks): replace
   * each bad byte with U+FFFD (3 bytes), so at most 3x the input. */
  size_t len = strlen(s);
  char *clean = malloc(3 * len + 1);
  if (clean == NULL)
    return NULL;
  const unsigned char *in = (const unsigned char *)s;
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t n = utf8_sequence_length(in + i);
    if (n == 0) {
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
  value = json_string(clean);
  free(clean);
  return value;
}

/*
 * An object under construction, in field order. A put_* that runs out of
 * memory marks it failed: json is then NULL and later ones do nothing.
 */
struct object {
  json_t *json; /* NULL once failed */
};

static struct object object_start(void)
{
  return (struct object){json_object()};
}

/* Sets obj[name] = value, taking the reference (NULL: out of memory). */
static void put(struct object *obj, const char *name, json_t *value)
{
  if (obj->json == NULL) {
    json_decref(value);
    return;
  }
  if (value == NULL || json_object_set_new(obj->json, name, value) != 0) {
    json_decref(obj->json);
    obj->json = NULL;
  }
}

static void put_string(struct object *obj, const char *name, const char *s)
{
  if (s != NULL && s[0] != '\0')
    put(obj, name, aiwj_string(s));
}

static void put_float(struct object *obj, const char *name, float f)
{
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  if (bits != 0) /* +0.0 is the default; -0.0 is not (as protobuf-go) */
    put(obj, name, aiwj_float(f));
}

static void put_int(struct object *obj, const char *name, int32_t i)
{
  if (i != 0)
    put(obj, name, json_integer(i));
}

static void put_bool(struct object *obj, const char *name, int b)
{
  if (b)
    put(obj, name, json_true());
}

/* obj[name] = [item(owner, 0), ..., item(owner, n - 1)], left out if n is 0. */
static void put_array(struct object *obj, const char *name, size_t n, json_t *(*item)(const void *, size_t),
                      const void *owner)
{
  if (n == 0 || obj->json == NULL)
    return;
  json_t *array = json_array();
  for (size_t i = 0; i < n && array != NULL; i++) {
    if (json_array_append_new(array, item(owner, i)) != 0) {
      json_decref(array);
      array = NULL;
    }
  }
  put(obj, name, array);
}

static json_t *float_at(const void *floats, size_t i)
{
  return aiwj_float(((const float *)floats)[i]);
}

static json_t *search_result_at(const void *resp, size_t i)
{
  return aiwj_search_result(aiw_search_response_result(resp, i));
}

static json_t *chat_source_at(const void *chunk, size_t i)
{
  return aiwj_search_result(aiw_chat_response_source(chunk, i));
}

struct key_sort {
  const aiw_search_result *result;
  size_t index;
};

static int compare_keys(const void *a, const void *b)
{
  const struct key_sort *x = a, *y = b;
  int c = strcmp(aiw_search_result_metadata_key(x->result, x->index),
                 aiw_search_result_metadata_key(y->result, y->index));
  if (c != 0)
    return c;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* obj[name] = the result's metadata map, keys sorted (stable: a repeated
 * key keeps its last value, as a proto map does); left out if empty. */
static void put_metadata(struct object *obj, const char *name, const aiw_search_result *result)
{
  size_t n = aiw_search_result_metadata_count(result);
  if (n == 0 || obj->json == NULL)
    return;
  struct key_sort *order = calloc(n, sizeof *order);
  struct object map = object_start();
  if (order == NULL) {
    json_decref(map.json);
    map.json = NULL;
  } else {
    for (size_t i = 0; i < n; i++)
      order[i] = (struct key_sort){result, i};
    qsort(order, n, sizeof *order, compare_keys);
    for (size_t i = 0; i < n; i++)
      put(&map, aiw_search_result_metadata_key(result, order[i].index),
          aiwj_string(aiw_search_result_metadata_value(result, order[i].index)));
  }
  free(order);
  put(obj, name, map.json);
}

json_t *aiwj_search_result(const aiw_search_result *result)
{
  struct object obj = object_start();
  put_string(&obj, "assetId", aiw_search_result_asset_id(result));
  put_float(&obj, "score", aiw_search_result_score(result));
  put_string(&obj, "caption", aiw_search_result_caption(result));
  put_string(&obj, "mimeType", aiw_search_result_mime_type(result));
  put_string(&obj, "thumbnailUrl", aiw_search_result_thumbnail_url(result));
  put_metadata(&obj, "metadata", result);
  return obj.json;
}

json_t *aiwj_search_response(const aiw_search_response *resp)
{
  struct object obj = object_start();
  put_array(&obj, "results", aiw_search_response_result_count(resp), search_result_at, resp);
  put_int(&obj, "totalCount", aiw_search_response_total_count(resp));
  put_bool(&obj, "success", aiw_search_response_success(resp));
  put_string(&obj, "error", aiw_search_response_error(resp));
  return obj.json;
}

json_t *aiwj_embedding_response(const aiw_embedding_response *resp)
{
  struct object obj = object_start();
  size_t n = 0;
  const float *v = aiw_embedding_response_semantic_vector(resp, &n);
  put_array(&obj, "semanticVector", n, float_at, v);
  v = aiw_embedding_response_visual_vector(resp, &n);
  put_array(&obj, "visualVector", n, float_at, v);
  put_bool(&obj, "success", aiw_embedding_response_success(resp));
  put_string(&obj, "error", aiw_embedding_response_error(resp));
  return obj.json;
}

json_t *aiwj_process_status(const aiw_process_status *status)
{
  struct object obj = object_start();
  put_bool(&obj, "success", aiw_process_status_success(status));
  put_string(&obj, "error", aiw_process_status_error(status));
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

json_t *aiwj_chat_response(const aiw_chat_response *chunk)
{
  struct object obj = object_start();
  put_string(&obj, "chunk", aiw_chat_response_chunk(chunk));
  put_bool(&obj, "isFinal", aiw_chat_response_is_final(chunk));
  put_array(&obj, "sources", aiw_chat_response_source_count(chunk), chat_source_at, chunk);
  return obj.json;
}

int aiwj_print(FILE *out, json_t *value)
{
  if (value == NULL) {
    errno = ENOMEM;
    return -1;
  }
  /* Compact, insertion (= proto field) order, UTF-8 output; reals with 9
   * significant digits, which reproduces aiwj_float's shortest digits. */
  char *text = json_dumps(value, JSON_COMPACT | JSON_REAL_PRECISION(9));
  json_decref(value);
  if (text == NULL) {
    errno = ENOMEM;
    return -1;
  }
  int rc = 0;
  if (fputs(text, out) == EOF || fputc('\n', out) == EOF || fflush(out) == EOF)
    rc = -1;
  free(text);
  return rc;
}
