/* client_options.c -- options read once by aiw_client_new. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client_options.h"

aiw_client_options *aiw_client_options_new(void) { return calloc(1, sizeof(aiw_client_options)); }

void aiw_client_options_free(aiw_client_options *opts) {
  if (!opts) return;
  free(opts->root_certs_pem);
  free(opts->cert_chain_pem);
  free(opts->private_key_pem);
  free(opts->server_name);
  free(opts->user_agent);
  free(opts->service_config);
  free(opts->lb_policy);
  free(opts->authority);
  free(opts->bearer_token);
  free(opts);
}

aiw_code aiw_client_options_set_max_receive_size(aiw_client_options *opts, size_t bytes) {
  if (!opts || bytes > INT32_MAX) return AIW_INVALID_ARGUMENT;
  opts->max_receive_size = bytes;
  opts->has_max_receive = 1;
  return AIW_OK;
}

aiw_code aiw_client_options_set_max_send_size(aiw_client_options *opts, size_t bytes) {
  if (!opts || bytes > INT32_MAX) return AIW_INVALID_ARGUMENT;
  opts->max_send_size = bytes;
  return AIW_OK;
}

/* Replaces *slot with a copy of value (NULL clears). */
static aiw_code replace_optional(char **slot, const char *value) {
  char *copy = NULL;
  if (value) {
    copy = strdup(value);
    if (!copy) return AIW_OUT_OF_MEMORY;
  }
  free(*slot);
  *slot = copy;
  return AIW_OK;
}

aiw_code aiw_client_options_set_tls(aiw_client_options *opts, const char *root_certs_pem, const char *cert_chain_pem,
                                    const char *private_key_pem) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  if ((cert_chain_pem == NULL) != (private_key_pem == NULL)) return AIW_INVALID_ARGUMENT;
  char *root = NULL, *chain = NULL, *key = NULL;
  if ((root_certs_pem && !(root = strdup(root_certs_pem))) || (cert_chain_pem && !(chain = strdup(cert_chain_pem))) ||
      (private_key_pem && !(key = strdup(private_key_pem)))) {
    free(root);
    free(chain);
    free(key);
    return AIW_OUT_OF_MEMORY;
  }
  free(opts->root_certs_pem);
  free(opts->cert_chain_pem);
  free(opts->private_key_pem);
  opts->root_certs_pem = root;
  opts->cert_chain_pem = chain;
  opts->private_key_pem = key;
  opts->use_tls = 1;
  return AIW_OK;
}

aiw_code aiw_client_options_set_server_name(aiw_client_options *opts, const char *name) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  /* gRPC core aborts the process on the first call for an empty name or
   * one longer than a DNS name can be (255 bytes). */
  if (name && (!name[0] || strlen(name) > 255)) return AIW_INVALID_ARGUMENT;
  return replace_optional(&opts->server_name, name);
}

aiw_code aiw_client_options_set_user_agent(aiw_client_options *opts, const char *user_agent) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  return replace_optional(&opts->user_agent, user_agent);
}

/* ---- the production channel (since 1.2) ---------------------------------- */

aiw_code aiw_client_options_set_service_config(aiw_client_options *opts, const char *json) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  return replace_optional(&opts->service_config, json);
}

aiw_code aiw_client_options_set_lb_policy(aiw_client_options *opts, const char *policy) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  if (policy && !policy[0]) return AIW_INVALID_ARGUMENT;
  return replace_optional(&opts->lb_policy, policy);
}

aiw_code aiw_client_options_set_retry_policy(aiw_client_options *opts, int max_attempts, int64_t initial_backoff_ms,
                                             int64_t max_backoff_ms) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  if (max_attempts == 0) {
    opts->retry_max_attempts = 0;
    return AIW_OK;
  }
  if (max_attempts < 2 || max_attempts > 5 || initial_backoff_ms < 1 || max_backoff_ms < initial_backoff_ms ||
      max_backoff_ms > 3600 * 1000)
    return AIW_INVALID_ARGUMENT;
  opts->retry_max_attempts = max_attempts;
  opts->retry_initial_backoff_ms = initial_backoff_ms;
  opts->retry_max_backoff_ms = max_backoff_ms;
  return AIW_OK;
}

aiw_code aiw_client_options_set_keepalive(aiw_client_options *opts, int64_t time_ms, int64_t timeout_ms,
                                          int permit_without_calls) {
  if (!opts || time_ms < 0 || timeout_ms < 0 || time_ms > INT32_MAX || timeout_ms > INT32_MAX)
    return AIW_INVALID_ARGUMENT;
  if (time_ms != 0 && (time_ms < 1000 || timeout_ms < 1)) return AIW_INVALID_ARGUMENT;
  opts->keepalive_time_ms = time_ms;
  opts->keepalive_timeout_ms = time_ms ? timeout_ms : 0;
  opts->keepalive_permit_without_calls = time_ms && permit_without_calls;
  return AIW_OK;
}

aiw_code aiw_client_options_set_reconnect_backoff(aiw_client_options *opts, int64_t initial_ms,
                                                  int64_t min_connect_timeout_ms, int64_t max_ms) {
  if (!opts || initial_ms < 0 || min_connect_timeout_ms < 0 || max_ms < 0 || initial_ms > INT32_MAX ||
      min_connect_timeout_ms > INT32_MAX || max_ms > INT32_MAX)
    return AIW_INVALID_ARGUMENT;
  if (initial_ms && max_ms && initial_ms > max_ms) return AIW_INVALID_ARGUMENT;
  opts->backoff_initial_ms = initial_ms;
  opts->backoff_min_connect_ms = min_connect_timeout_ms;
  opts->backoff_max_ms = max_ms;
  return AIW_OK;
}

aiw_code aiw_client_options_set_idle_timeout_ms(aiw_client_options *opts, int64_t idle_ms) {
  if (!opts || idle_ms < 0 || idle_ms > INT32_MAX) return AIW_INVALID_ARGUMENT;
  opts->idle_timeout_ms = idle_ms;
  return AIW_OK;
}

/* Indexed by gRPC's grpc_compression_algorithm (NONE, DEFLATE, GZIP:
 * client.c checks the values). */
static const char *const compression_names[] = {"identity", "deflate", "gzip"};

int aiw__compression_parse(const char *name) {
  for (int i = 0; name && i < 3; i++)
    if (strcmp(name, compression_names[i]) == 0) return i;
  return -1;
}

const char *aiw__compression_name(int algorithm) {
  return algorithm >= 0 && algorithm < 3 ? compression_names[algorithm] : "identity";
}

aiw_code aiw_client_options_set_compression(aiw_client_options *opts, const char *algorithm) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  int alg = algorithm ? aiw__compression_parse(algorithm) : 0;
  if (alg < 0) return AIW_INVALID_ARGUMENT;
  opts->compression = alg;
  return AIW_OK;
}

aiw_code aiw_client_options_set_authority(aiw_client_options *opts, const char *authority) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  if (authority && (!authority[0] || !aiw__utf8_valid(authority, strlen(authority)))) return AIW_INVALID_ARGUMENT;
  return replace_optional(&opts->authority, authority);
}

/* 1 when `token` can be a header value after "Bearer ". */
static int token_ok(const char *token, size_t len) {
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)token[i] < 0x20 || (unsigned char)token[i] > 0x7e) return 0;
  return 1;
}

aiw_code aiw_client_options_set_bearer_token(aiw_client_options *opts, const char *token) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  if (token && !token_ok(token, strlen(token))) return AIW_INVALID_ARGUMENT;
  aiw_code rc = replace_optional(&opts->bearer_token, token);
  if (rc == AIW_OK && token) opts->token_fn = NULL, opts->token_userdata = NULL;
  return rc;
}

aiw_code aiw_client_options_set_token_callback(aiw_client_options *opts, aiw_token_fn fn, void *userdata) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  opts->token_fn = fn;
  opts->token_userdata = fn ? userdata : NULL;
  if (fn) {
    free(opts->bearer_token);
    opts->bearer_token = NULL;
  }
  return AIW_OK;
}

aiw_code aiw_client_options_allow_insecure_credentials(aiw_client_options *opts, int allow) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  opts->allow_insecure_credentials = allow != 0;
  return AIW_OK;
}

int aiw__token_printable(const char *token, size_t len) { return token_ok(token, len); }

aiw_code aiw_client_options_set_stats_hook(aiw_client_options *opts, aiw_stats_fn fn, void *userdata) {
  if (!opts) return AIW_INVALID_ARGUMENT;
  opts->stats_fn = fn;
  opts->stats_userdata = fn ? userdata : NULL;
  return AIW_OK;
}
