/* call_options.c -- per-call options: deadline, metadata, wait-for-ready,
 * cancel token. Metadata is validated here, once, so that a call never
 * sends a header gRPC would refuse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "call_options.h"
#include "client_options.h"

aiw_call_options *aiw_call_options_new(void) { return calloc(1, sizeof(aiw_call_options)); }

void aiw_call_options_free(aiw_call_options *opts) {
  if (!opts) return;
  aiw_call_options_clear_metadata(opts);
  free(opts->metadata);
  free(opts);
}

aiw_code aiw_call_options_set_timeout_ms(aiw_call_options *opts, int64_t timeout_ms) {
  if (!opts || timeout_ms < 0) return AIW_INVALID_ARGUMENT;
  opts->timeout_ms = timeout_ms;
  return AIW_OK;
}

aiw_code aiw_call_options_set_wait_for_ready(aiw_call_options *opts, int wait_for_ready) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  opts->wait_for_ready = wait_for_ready != 0;
  return AIW_OK;
}

aiw_code aiw_call_options_set_cancel_token(aiw_call_options *opts, aiw_cancel_token *token) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  opts->token = token;
  return AIW_OK;
}

void aiw_call_options_clear_metadata(aiw_call_options *opts) {
  if (!opts) return;
  for (size_t i = 0; i < opts->n_metadata; i++) {
    free(opts->metadata[i].key);
    free(opts->metadata[i].value);
  }
  opts->n_metadata = 0;
}

/* Headers that HTTP/2 or gRPC itself owns. */
static const char *const reserved_keys[] = {
    "content-type",      "te",         "user-agent",       "host",          "connection", "upgrade",
    "transfer-encoding", "keep-alive", "proxy-connection", "content-length"};

static aiw_code check_key(const char *key, int binary, aiw_error *err) {
  if (!key) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "metadata key is NULL");
  size_t len = strlen(key);
  if (len == 0) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "metadata key is empty");
  for (size_t i = 0; i < len; i++) {
    char c = key[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
      return aiw__fail(err, AIW_INVALID_ARGUMENT, -1,
                       "metadata key \"%.64s\": character %zu is not one of [a-z0-9._-] (keys are lower case)", key, i);
  }
  if (strncmp(key, "grpc-", 5) == 0)
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "metadata key \"%.64s\": the grpc- prefix is reserved", key);
  for (size_t i = 0; i < sizeof reserved_keys / sizeof reserved_keys[0]; i++)
    if (strcmp(key, reserved_keys[i]) == 0)
      return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "metadata key \"%s\" is reserved by HTTP/2 or gRPC", key);
  int is_bin = len > 4 && strcmp(key + len - 4, "-bin") == 0;
  if (binary && !is_bin)
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "binary metadata key \"%.64s\" must end in -bin", key);
  if (!binary && is_bin)
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1,
                     "metadata key \"%.64s\" ends in -bin: use aiw_call_options_add_metadata_bin", key);
  return AIW_OK;
}

static aiw_code append_entry(aiw_call_options *opts, const char *key, const void *value, size_t value_len,
                             aiw_error *err) {
  if (opts->n_metadata == opts->cap_metadata) {
    size_t cap = opts->cap_metadata ? opts->cap_metadata * 2 : 4;
    aiw_metadata_entry *grown = realloc(opts->metadata, cap * sizeof *grown);
    if (!grown) return aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory");
    opts->metadata = grown;
    opts->cap_metadata = cap;
  }
  size_t key_len = strlen(key);
  char *k = malloc(key_len + 1);
  char *v = malloc(value_len + 1);
  if (!k || !v) {
    free(k);
    free(v);
    return aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory");
  }
  memcpy(k, key, key_len + 1);
  if (value_len) memcpy(v, value, value_len);
  v[value_len] = '\0';
  opts->metadata[opts->n_metadata++] = (aiw_metadata_entry){k, v, key_len, value_len};
  return aiw__ok(err);
}

aiw_code aiw_call_options_add_metadata(aiw_call_options *opts, const char *key, const char *value, aiw_error *err) {
  if (!opts) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "call options are NULL");
  aiw_code rc = check_key(key, 0, err);
  if (rc != AIW_OK) return rc;
  if (!value) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "metadata value of \"%.64s\" is NULL", key);
  size_t len = strlen(value);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)value[i];
    if (c < 0x20 || c > 0x7e)
      return aiw__fail(err, AIW_INVALID_ARGUMENT, -1,
                       "metadata value of \"%.64s\": byte %zu (0x%02x) is not printable ASCII; "
                       "use a -bin key for binary values",
                       key, i, c);
  }
  return append_entry(opts, key, value, len, err);
}

aiw_code aiw_call_options_add_metadata_bin(aiw_call_options *opts, const char *key, const void *value, size_t len,
                                           aiw_error *err) {
  if (!opts) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "call options are NULL");
  aiw_code rc = check_key(key, 1, err);
  if (rc != AIW_OK) return rc;
  if (!value && len) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "metadata value of \"%.64s\" is NULL", key);
  return append_entry(opts, key, value, len, err);
}

/* ---- the production channel (since 1.2) ---------------------------------- */

aiw_code aiw_call_options_set_compression(aiw_call_options *opts, const char *algorithm) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  if (!algorithm) {
    opts->compression = 0;
    return AIW_OK;
  }
  int alg = aiw__compression_parse(algorithm);
  if (alg < 0) return AIW_INVALID_ARGUMENT;
  opts->compression = alg + 1;
  return AIW_OK;
}

aiw_code aiw_call_options_set_max_receive_size(aiw_call_options *opts, size_t bytes) {
  if (!opts || bytes > INT32_MAX) return AIW_INVALID_ARGUMENT;
  opts->max_receive_size = bytes;
  return AIW_OK;
}

aiw_code aiw_call_options_set_response_info(aiw_call_options *opts, aiw_response_info *info) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  opts->info = info;
  return AIW_OK;
}
