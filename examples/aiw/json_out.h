/*
 * json_out.h -- proto3 canonical JSON (the form grpcurl prints) for the four
 * AiWorker response messages, built from libaiw's public getters with
 * jansson doing all string encoding.
 *
 * Every builder returns a new jansson reference (json_decref it) or NULL if
 * out of memory (the only way they fail: strings are made valid UTF-8
 * first). aiwj_print writes one compact line and flushes.
 */
#ifndef AIW_JSON_OUT_H
#define AIW_JSON_OUT_H

#include <stdio.h>

#include <jansson.h>

#include "aiw.h"

/* A float32 as the shortest decimal that reads back to the same float;
 * NaN and the infinities as the strings "NaN", "Infinity", "-Infinity". */
json_t *aiwj_float(float f);

/* A JSON string of the `len` bytes at `s` (NULs included: printed as
 * \u0000); bytes that are not valid UTF-8 become U+FFFD. `s` must be
 * followed by a NUL (the getters' strings are), or by 3 readable bytes. */
json_t *aiwj_string(const char *s, size_t len);

json_t *aiwj_search_result(const aiw_search_result *result);
json_t *aiwj_search_response(const aiw_search_response *resp);
json_t *aiwj_embedding_response(const aiw_embedding_response *resp);
json_t *aiwj_process_status(const aiw_process_status *status);
json_t *aiwj_chat_response(const aiw_chat_response *chunk);

/* aiwj_print's failures. */
enum {
  AIWJ_BUILD_FAILED = -1,  /* `value` is NULL: out of memory while building it */
  AIWJ_ENCODE_FAILED = -2, /* json_dumps could not encode it */
  AIWJ_WRITE_FAILED = -3   /* writing or flushing `out` failed (errno set) */
};

/* Writes `value` as one line to `out`, flushes, and releases `value`
 * (NULL-safe). Returns 0 or one of the AIWJ_*_FAILED codes. */
int aiwj_print(FILE *out, json_t *value);

#endif /* AIW_JSON_OUT_H */
