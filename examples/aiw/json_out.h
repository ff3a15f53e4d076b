/*
 * json_out.h -- proto3 canonical JSON (the form grpcurl prints) for the
 * AiWorker responses, built from libaiw's public getters with jansson doing
 * all string encoding.
 *
 * The per-message builders (aiwj_search_response, aiwj_process_status, ...)
 * are generated from idl/ai_service.proto into json.gen.c: each walks its
 * message field by field, in proto field order, with the writers below,
 * which apply the proto3 JSON rules (default values left out, enums by
 * name, 64-bit integers as strings, bytes in base64, map keys sorted).
 *
 * Every builder returns a new jansson reference (json_decref it) or NULL if
 * out of memory (the only way they fail: strings are made valid UTF-8
 * first). aiwj_print writes one compact line and flushes.
 */
#ifndef AIW_JSON_OUT_H
#define AIW_JSON_OUT_H

#include <stdint.h>
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

/*
 * An object under construction, in field order. A writer that runs out of
 * memory marks it failed: json is then NULL and later writers do nothing.
 * Each aiwj_put_X(obj, name, value) leaves a default value (0, false, "",
 * an empty list or map, enum 0) out, as proto3 JSON does.
 */
typedef struct aiwj_object {
  json_t *json; /* NULL once failed */
} aiwj_object;

aiwj_object aiwj_object_start(void);
/* obj[name] = value, taking the reference (NULL: out of memory). */
void aiwj_put(aiwj_object *obj, const char *name, json_t *value);
void aiwj_put_bool(aiwj_object *obj, const char *name, int b);
void aiwj_put_int32(aiwj_object *obj, const char *name, int32_t i);
void aiwj_put_uint32(aiwj_object *obj, const char *name, uint32_t i);
void aiwj_put_int64(aiwj_object *obj, const char *name, int64_t i);   /* a string */
void aiwj_put_uint64(aiwj_object *obj, const char *name, uint64_t i); /* a string */
void aiwj_put_float(aiwj_object *obj, const char *name, float f);
/* The `len` bytes at `s` (NULs included). */
void aiwj_put_string(aiwj_object *obj, const char *name, const char *s, size_t len);
/* The `len` bytes at `data`, in base64 (RFC 4648, padded). */
void aiwj_put_bytes(aiwj_object *obj, const char *name, const void *data, size_t len);
/* An enum by its proto name (`name_of`, e.g. aiw_processing_stage_name), or
 * by its number when the name is unknown to this build, as protobuf-go does. */
void aiwj_put_enum(aiwj_object *obj, const char *name, int value, const char *(*name_of)(int));
/* [item(owner, 0), ..., item(owner, n - 1)]; item returns a new reference. */
void aiwj_put_array(aiwj_object *obj, const char *name, size_t n, json_t *(*item)(const void *owner, size_t i),
                    const void *owner);
/* Repeated numbers, from a pointer to `n` of them. */
void aiwj_put_floats(aiwj_object *obj, const char *name, const float *v, size_t n);
void aiwj_put_int32s(aiwj_object *obj, const char *name, const int32_t *v, size_t n);
void aiwj_put_uint32s(aiwj_object *obj, const char *name, const uint32_t *v, size_t n);
void aiwj_put_int64s(aiwj_object *obj, const char *name, const int64_t *v, size_t n);
void aiwj_put_uint64s(aiwj_object *obj, const char *name, const uint64_t *v, size_t n);
/* A string getter of an element: the i-th string of `owner`, *len its length. */
typedef const char *(*aiwj_string_at)(const void *owner, size_t i, size_t *len);
/* Repeated strings: n of them, string_at(owner, i). */
void aiwj_put_strings(aiwj_object *obj, const char *name, size_t n, aiwj_string_at string_at, const void *owner);
/* A map<string, string> of n entries (wire order, a repeated key keeping its
 * last value), keys sorted as protobuf-go sorts them. Keys get the same
 * treatment as values: their whole length, invalid UTF-8 replaced. */
void aiwj_put_string_map(aiwj_object *obj, const char *name, size_t n, aiwj_string_at key_at, aiwj_string_at value_at,
                         const void *owner);

/* The builders of the response messages (generated). */
#include "json.gen.h"

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
