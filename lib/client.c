/* client.c -- a client over one gRPC channel, and the registry of the calls
 * running through it (so that aiw_client_close can cancel them). */
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>

#include "internal.h"

struct aiw_client {
  char *target;
  grpc_channel *channel;
  void *registered[AIW_METHOD_COUNT]; /* grpc_channel_register_call handles */
  size_t max_send;                    /* 0: unlimited */
  aiw_call_set calls;                 /* cancelled = closed */
};

static grpc_channel_credentials *make_credentials(const aiw_client_options *opts) {
  if (!opts || !opts->use_tls) return grpc_insecure_credentials_create();
  grpc_ssl_pem_key_cert_pair pair = {opts->private_key_pem, opts->cert_chain_pem};
  return grpc_ssl_credentials_create(opts->root_certs_pem, opts->cert_chain_pem ? &pair : NULL, NULL, NULL);
}

aiw_code aiw_client_new(const char *target, const aiw_client_options *opts, aiw_client **out, aiw_error *err) {
  if (out) *out = NULL;
  if (!out) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_client_new: out is NULL");
  if (!target || !*target) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_client_new: target is NULL or empty");
  if (aiw__in_callback())
    return aiw__fail(err, AIW_RECURSIVE_API_CALL, -1, "aiw_client_new called from inside a libaiw callback");

  aiw_client *c = calloc(1, sizeof *c);
  if (!c || !(c->target = strdup(target)) || !aiw__call_set_init(&c->calls)) {
    if (c) free(c->target);
    free(c);
    return aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory");
  }
  c->max_send = opts ? opts->max_send_size : 0;
  size_t max_receive = opts && opts->has_max_receive ? opts->max_receive_size : 4u * 1024 * 1024;

  grpc_arg args[4];
  size_t n = 0;
  args[n++] = (grpc_arg){.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                         .value.integer = max_receive ? (int)max_receive : -1};
  args[n++] = (grpc_arg){.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
                         .value.integer = c->max_send ? (int)c->max_send : -1};
  if (opts && opts->user_agent)
    args[n++] = (grpc_arg){.type = GRPC_ARG_STRING, .key = GRPC_ARG_PRIMARY_USER_AGENT_STRING,
                           .value.string = opts->user_agent};
  if (opts && opts->server_name)
    args[n++] = (grpc_arg){.type = GRPC_ARG_STRING, .key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG,
                           .value.string = opts->server_name};
  grpc_channel_args channel_args = {.num_args = n, .args = args};

  grpc_init();
  grpc_channel_credentials *creds = make_credentials(opts);
  if (!creds) {
    grpc_shutdown();
    aiw__call_set_destroy(&c->calls);
    free(c->target);
    free(c);
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_client_new: could not create %s credentials",
                     opts && opts->use_tls ? "TLS" : "insecure");
  }
  c->channel = grpc_channel_create(target, creds, &channel_args);
  grpc_channel_credentials_release(creds);
  for (int m = 0; m < AIW_METHOD_COUNT; m++)
    c->registered[m] = grpc_channel_register_call(c->channel, aiw__methods[m].path, NULL, NULL);
  *out = c;
  return aiw__ok(err);
}

const char *aiw_client_target(const aiw_client *client) { return client ? client->target : ""; }

void aiw_client_close(aiw_client *client) {
  if (client) aiw__call_set_cancel(&client->calls, AIW_CANCEL_CLIENT_CLOSED);
}

void aiw_client_free(aiw_client *client) {
  if (!client) return;
  grpc_channel_destroy(client->channel);
  aiw__call_set_destroy(&client->calls);
  free(client->target);
  free(client);
  grpc_shutdown();
}

grpc_channel *aiw__client_channel(aiw_client *client) { return client->channel; }
void *aiw__client_registered_method(aiw_client *client, int method) { return client->registered[method]; }
size_t aiw__client_max_send(const aiw_client *client) { return client->max_send; }
aiw_call_set *aiw__client_calls(aiw_client *client) { return &client->calls; }
