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

/* 1 when `addr` (one address, no scheme) has no port or a port 1..65535. */
static int port_ok(const char *addr, size_t len) {
  const char *colon = NULL;
  if (len > 0 && addr[0] == '[') { /* [v6]:port */
    const char *close = memchr(addr, ']', len);
    if (!close) return 1;
    if ((size_t)(close - addr) + 1 == len) return 1;
    if (close[1] != ':') return 1;
    colon = close + 1;
  } else {
    const char *first = memchr(addr, ':', len);
    if (!first) return 1;
    if (memchr(first + 1, ':', len - (size_t)(first - addr) - 1)) return 1; /* bare IPv6: not ours to judge */
    colon = first;
  }
  const char *p = colon + 1, *end = addr + len;
  if (p == end || end - p > 5) return 0;
  long port = 0;
  for (; p < end; p++) {
    if (*p < '0' || *p > '9') return 0;
    port = port * 10 + (*p - '0');
  }
  return port >= 1 && port <= 65535;
}

/* Checks the ports of a target gRPC would otherwise wrap around. */
static int target_ports_ok(const char *target) {
  const char *list = target;
  int several = 0;
  if (strncmp(target, "dns:///", 7) == 0) list = target + 7;
  else if (strncmp(target, "dns:", 4) == 0) list = target + 4;
  else if (strncmp(target, "ipv4:", 5) == 0 || strncmp(target, "ipv6:", 5) == 0) list = target + 5, several = 1;
  else if (strchr(target, '/') || strncmp(target, "unix:", 5) == 0) return 1; /* other schemes: theirs */
  for (;;) {
    const char *comma = several ? strchr(list, ',') : NULL;
    size_t len = comma ? (size_t)(comma - list) : strlen(list);
    if (!port_ok(list, len)) return 0;
    if (!comma) return 1;
    list = comma + 1;
  }
}

aiw_code aiw_client_new(const char *target, const aiw_client_options *opts, aiw_client **out, aiw_error *err) {
  if (out) *out = NULL;
  if (!out) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_client_new: out is NULL");
  if (!target || !*target) return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_client_new: target is NULL or empty");
  if (aiw__in_callback())
    return aiw__fail(err, AIW_RECURSIVE_API_CALL, -1, "aiw_client_new called from inside a libaiw callback");
  if (!target_ports_ok(target))
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_client_new: target \"%s\" has a port outside 1..65535",
                     target);

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
