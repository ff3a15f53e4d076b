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

json_t *aiwj_float(float f)
{
  if (isnan(f))
    return json_string("NaN");
  if (isinf(f))
    return json_string(f > 0 ? "Infinity" : "-Infinity");
  /* The shortest "%.Ng" that strtof reads back to the very same float; at
   * most 9 significant digits are ever needed for a float32. The double
   * nearest to that decimal is then printed by jansson with %.9g
   * (aiwj_print), which gives the same digits back. */
  char buf[40];
  for (int digits = 1; digits <= 9; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
    if (strtof(buf, NULL) == f)
      break;
  }
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

/* Sets obj[name] = value, taking the reference; a NULL value (out of
 * memory) marks the whole object as failed. */
static int put(json_t *obj, const char *name, json_t *value)
{
  if (value == NULL)
    return -1;
  return json_object_set_new(obj, name, value);
}

static int put_string(json_t *obj, const char *name, const char *s)
{
  if (s == NULL || s[0] == '\0')
    return 0;
  return put(obj, name, aiwj_string(s));
}

static int put_float(json_t *obj, const char *name, float f)
{
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  if (bits == 0) /* +0.0 is the default; -0.0 is not (as protobuf-go) */
    return 0;
  return put(obj, name, aiwj_float(f));
}

static int put_bool(json_t *obj, const char *name, int b)
{
  return b ? put(obj, name, json_true()) : 0;
}

static int put_float_array(json_t *obj, const char *name, const float *v, size_t n)
{
  if (n == 0)
    return 0;
  json_t *array = json_array();
  if (array == NULL)
    return -1;
  for (size_t i = 0; i < n; i++) {
    json_t *item = aiwj_float(v[i]);
    if (item == NULL || json_array_append_new(array, item) != 0) {
      json_decref(array);
      return -1;
    }
  }
  return put(obj, name, array);
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

json_t *aiwj_search_result(const aiw_search_result *result)
{
  json_t *obj = json_object();
  if (obj == NULL)
    return NULL;
  int rc = 0;
  rc |= put_string(obj, "assetId", aiw_search_result_asset_id(result));
  rc |= put_float(obj, "score", aiw_search_result_score(result));
  rc |= put_string(obj, "caption", aiw_search_result_caption(result));
  rc |= put_string(obj, "mimeType", aiw_search_result_mime_type(result));
  rc |= put_string(obj, "thumbnailUrl", aiw_search_result_thumbnail_url(result));
  size_t n = aiw_search_result_metadata_count(result);
  if (rc == 0 && n > 0) {
    /* Map entries sorted by key (stable: a repeated key keeps its last
     * value, as a proto map does). */
    struct key_sort *order = calloc(n, sizeof *order);
    json_t *map = json_object();
    if (order == NULL || map == NULL) {
      rc = -1;
    } else {
      for (size_t i = 0; i < n; i++)
        order[i] = (struct key_sort){result, i};
      qsort(order, n, sizeof *order, compare_keys);
      for (size_t i = 0; i < n && rc == 0; i++)
        rc |= put(map, aiw_search_result_metadata_key(result, order[i].index),
                  aiwj_string(aiw_search_result_metadata_value(result, order[i].index)));
    }
    free(order);
    if (rc == 0)
      rc = put(obj, "metadata", map);
    else
      json_decref(map);
  }
  if (rc != 0) {
    json_decref(obj);
    return NULL;
  }
  return obj;
}

/* Appends aiwj_search_result of each of `n` results to obj[name]. */
static int put_results(json_t *obj, const char *name, size_t n,
                       const aiw_search_result *(*get)(const void *, size_t), const void *owner)
{
  if (n == 0)
    return 0;
  json_t *array = json_array();
  if (array == NULL)
    return -1;
  for (size_t i = 0; i < n; i++) {
    json_t *item = aiwj_search_result(get(owner, i));
    if (item == NULL || json_array_append_new(array, item) != 0) {
      json_decref(array);
      return -1;
    }
  }
  return put(obj, name, array);
}

static const aiw_search_result *search_result_at(const void *owner, size_t i)
{
  return aiw_search_response_result(owner, i);
}

static const aiw_search_result *chat_source_at(const void *owner, size_t i)
{
  return aiw_chat_response_source(owner, i);
}

static json_t *finish(json_t *obj, int rc)
{
  if (rc != 0) {
    json_decref(obj);
    return NULL;
  }
  return obj;
}

json_t *aiwj_search_response(const aiw_search_response *resp)
{
  json_t *obj = json_object();
  if (obj == NULL)
    return NULL;
  int rc = 0;
  rc |= put_results(obj, "results", aiw_search_response_result_count(resp), search_result_at, resp);
  int32_t total = aiw_search_response_total_count(resp);
  if (total != 0)
    rc |= put(obj, "totalCount", json_integer(total));
  rc |= put_bool(obj, "success", aiw_search_response_success(resp));
  rc |= put_string(obj, "error", aiw_search_response_error(resp));
  return finish(obj, rc);
}

json_t *aiwj_embedding_response(const aiw_embedding_response *resp)
{
  json_t *obj = json_object();
  if (obj == NULL)
    return NULL;
  int rc = 0;
  size_t n = 0;
  const float *v = aiw_embedding_response_semantic_vector(resp, &n);
  rc |= put_float_array(obj, "semanticVector", v, n);
  v = aiw_embedding_response_visual_vector(resp, &n);
  rc |= put_float_array(obj, "visualVector", v, n);
  rc |= put_bool(obj, "success", aiw_embedding_response_success(resp));
  rc |= put_string(obj, "error", aiw_embedding_response_error(resp));
  return finish(obj, rc);
}

json_t *aiwj_process_status(const aiw_process_status *status)
{
  json_t *obj = json_object();
  if (obj == NULL)
    return NULL;
  int rc = 0;
  rc |= put_bool(obj, "success", aiw_process_status_success(status));
  rc |= put_string(obj, "error", aiw_process_status_error(status));
  int stage = (int)aiw_process_status_stage(status);
  if (stage != 0) {
    /* An enum value this build does not know is printed as its number, as
     * protobuf-go does. */
    const char *name = aiw_processing_stage_name(stage);
    rc |= put(obj, "stage", name != NULL ? json_string(name) : json_integer(stage));
  }
  rc |= put_float(obj, "progress", aiw_process_status_progress(status));
  return finish(obj, rc);
}

json_t *aiwj_chat_response(const aiw_chat_response *chunk)
{
  json_t *obj = json_object();
  if (obj == NULL)
    return NULL;
  int rc = 0;
  rc |= put_string(obj, "chunk", aiw_chat_response_chunk(chunk));
  rc |= put_bool(obj, "isFinal", aiw_chat_response_is_final(chunk));
  rc |= put_results(obj, "sources", aiw_chat_response_source_count(chunk), chat_source_at, chunk);
  return finish(obj, rc);
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
