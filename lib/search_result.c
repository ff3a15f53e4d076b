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
