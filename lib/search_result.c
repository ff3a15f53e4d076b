/* search_result.c -- getters of SearchResult, shared by VectorSearch results
 * and ChatStream sources. An aiw_search_result is the decoded protobuf-c
 * message itself, borrowed from its response. */
#include <string.h>

#include "internal.h"

#define RESULT(r) ((const AiService__SearchResult *)(r))

static const char *str(const char *s) { return s ? s : ""; }

const char *aiw_search_result_asset_id(const aiw_search_result *r) { return r ? str(RESULT(r)->asset_id) : ""; }
float aiw_search_result_score(const aiw_search_result *r) { return r ? RESULT(r)->score : 0.0f; }
const char *aiw_search_result_caption(const aiw_search_result *r) { return r ? str(RESULT(r)->caption) : ""; }
const char *aiw_search_result_mime_type(const aiw_search_result *r) { return r ? str(RESULT(r)->mime_type) : ""; }
const char *aiw_search_result_thumbnail_url(const aiw_search_result *r) {
  return r ? str(RESULT(r)->thumbnail_url) : "";
}

size_t aiw_search_result_metadata_count(const aiw_search_result *r) { return r ? RESULT(r)->n_metadata : 0; }

const char *aiw_search_result_metadata_key(const aiw_search_result *r, size_t i) {
  if (!r || i >= RESULT(r)->n_metadata) return NULL;
  return str(RESULT(r)->metadata[i]->key);
}

const char *aiw_search_result_metadata_value(const aiw_search_result *r, size_t i) {
  if (!r || i >= RESULT(r)->n_metadata) return NULL;
  return str(RESULT(r)->metadata[i]->value);
}

const char *aiw_search_result_metadata_get(const aiw_search_result *r, const char *key) {
  if (!r || !key) return NULL;
  for (size_t i = RESULT(r)->n_metadata; i-- > 0;)
    if (strcmp(str(RESULT(r)->metadata[i]->key), key) == 0) return str(RESULT(r)->metadata[i]->value);
  return NULL;
}

/* The same strings with their length in bytes (NULs included). */
static const char *with_len(const char *s, size_t *len) {
  if (len) *len = aiw__decoded_strlen(s);
  return str(s);
}

const char *aiw_search_result_asset_id_with_len(const aiw_search_result *r, size_t *len) {
  return with_len(r ? RESULT(r)->asset_id : NULL, len);
}
const char *aiw_search_result_caption_with_len(const aiw_search_result *r, size_t *len) {
  return with_len(r ? RESULT(r)->caption : NULL, len);
}
const char *aiw_search_result_mime_type_with_len(const aiw_search_result *r, size_t *len) {
  return with_len(r ? RESULT(r)->mime_type : NULL, len);
}
const char *aiw_search_result_thumbnail_url_with_len(const aiw_search_result *r, size_t *len) {
  return with_len(r ? RESULT(r)->thumbnail_url : NULL, len);
}
const char *aiw_search_result_metadata_key_with_len(const aiw_search_result *r, size_t i, size_t *len) {
  if (len) *len = 0;
  if (!r || i >= RESULT(r)->n_metadata) return NULL;
  return with_len(RESULT(r)->metadata[i]->key, len);
}
const char *aiw_search_result_metadata_value_with_len(const aiw_search_result *r, size_t i, size_t *len) {
  if (len) *len = 0;
  if (!r || i >= RESULT(r)->n_metadata) return NULL;
  return with_len(RESULT(r)->metadata[i]->value, len);
}

const char *aiw__string_with_len(const char *s, size_t *len) { return with_len(s, len); }
