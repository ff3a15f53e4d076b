/* client_options.c -- options read once by aiw_client_new. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

aiw_client_options *aiw_client_options_new(void) { return calloc(1, sizeof(aiw_client_options)); }

void aiw_client_options_free(aiw_client_options *opts) {
  if (!opts) return;
  free(opts->root_certs_pem);
  free(opts->cert_chain_pem);
  free(opts->private_key_pem);
  free(opts->server_name);
  free(opts->user_agent);
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

aiw_code aiw_client_options_set_tls(aiw_client_options *opts, const char *root_certs_pem,
                                    const char *cert_chain_pem, const char *private_key_pem) {
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
