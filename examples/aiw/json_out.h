/*
 * json_out.h -- proto3 canonical JSON (the form grpcurl prints) for the four
 * AiWorker response messages, built from libaiw's public getters with
 * jansson doing all string encoding.
 *
 * Every function returns a new jansson reference (json_decref it) or NULL if
 * out of memory. aiwj_print writes one compact line and flushes.
 */
#ifndef AIW_JSON_OUT_H
#define AIW_JSON_OUT_H

#include <stdio.h>

#include <jansson.h>

#include "aiw.h"

/* A float32 as the shortest decimal that reads back to the same float;
 * NaN and the infinities as the strings "NaN", "Infinity", "-Infinity". */
json_t *aiwj_float(float f);

/* A JSON string of `s`; bytes that are not valid UTF-8 become U+FFFD. */
json_t *aiwj_string(const char *s);

json_t *aiwj_search_result(const aiw_search_result *result);
json_t *aiwj_search_response(const aiw_search_response *resp);
json_t *aiwj_embedding_response(const aiw_embedding_response *resp);
json_t *aiwj_process_status(const aiw_process_status *status);
json_t *aiwj_chat_response(const aiw_chat_response *chunk);

/* Writes `value` as one line to `out`, flushes, and releases `value`
 * (NULL-safe: a NULL value is reported as out of memory). Returns 0, or -1
 * if encoding or writing failed (errno set). */
int aiwj_print(FILE *out, json_t *value);

#endif /* AIW_JSON_OUT_H */
