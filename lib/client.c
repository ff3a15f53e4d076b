/* client.c -- a client over one gRPC channel, and the registry of the calls
 * running through it (so that aiw_client_close can cancel them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/compression.h>
#include <grpc/grpc_security.h>

#include "engine.h"
#include "client_options.h"

struct aiw_client {
  char *target;
  grpc_channel *channel;
  void *registered[AIW_METHOD_COUNT]; /* grpc_channel_register_call handles */
  size_t max_send;                    /* 0: unlimited */
  aiw_call_set calls;                 /* cancelled = closed */
  int retries;                        /* a retry policy is configured */
  char *bearer_token;                 /* static credentials, or NULL */
  aiw_token_fn token_fn;              /* ... or a callback per call */
  void *token_userdata;
  aiw_stats_fn stats_fn; /* the stats hook, or NULL */
  void *stats_userdata;
};

/* client_options.c numbers compression algorithms as gRPC does. */
_Static_assert(GRPC_COMPRESS_NONE == 0 && GRPC_COMPRESS_DEFLATE == 1 && GRPC_COMPRESS_GZIP == 2,
               "compression algorithm numbers");

/* The longest service config the library builds itself (typed helpers). */
#define BUILT_CONFIG_SIZE 512

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
  if (strncmp(target, "dns:///", 7) == 0)
    list = target + 7;
  else if (strncmp(target, "dns:", 4) == 0)
    list = target + 4;
  else if (strncmp(target, "ipv4:", 5) == 0 || strncmp(target, "ipv6:", 5) == 0)
    list = target + 5, several = 1;
  else if (strchr(target, '/') || strncmp(target, "unix:", 5) == 0)
    return 1; /* other schemes: theirs */
  for (;;) {
    const char *comma = several ? strchr(list, ',') : NULL;
    size_t len = comma ? (size_t)(comma - list) : strlen(list);
    if (!port_ok(list, len)) return 0;
    if (!comma) return 1;
    list = comma + 1;
  }
}

/* gRPC 1.51's retry filter resends a compressed message it retries with its
 * compressed bytes but flagged uncompressed: the server cannot decode it
 * (INTERNAL "Exception deserializing request!"). Refused, not risked. */
#define RETRY_COMPRESSION_BUG                                                                                          \
  "gRPC 1.51 corrupts a compressed request that it retries: use compression or a retry policy, not both"

/* Decodes the JSON string starting after its opening quote at *p into out
 * (cap bytes; longer strings are cut, and then match no key), leaves *p
 * after the closing quote. \uXXXX escapes decode to their byte when below
 * 0x80 (keys gRPC knows are ASCII), else to a byte that matches nothing. */
static void json_string(const char **p, char *out, size_t cap) {
  size_t n = 0;
  const char *s = *p;
  while (*s && *s != '"') {
    char c = *s++;
    if (c == '\\' && *s) {
      char e = *s++;
      if (e == 'u') {
        unsigned v = 0;
        for (int i = 0; i < 4 && *s; i++, s++) {
          char h = *s;
          v = v * 16 + (unsigned)(h >= 'a' ? h - 'a' + 10 : h >= 'A' ? h - 'A' + 10 : h - '0');
        }
        c = v < 0x80 ? (char)v : (char)0x80;
      } else {
        c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
      }
    }
    if (n + 1 < cap) out[n++] = c;
  }
  out[n] = '\0';
  *p = *s ? s + 1 : s;
}

/* 1 when the (valid) JSON text has an object member named `key`, at any
 * depth: a string followed by ':' -- escapes decoded, so that
 * "retry\u0050olicy" counts and a string value "retryPolicy" does not. */
static int json_has_key(const char *json, const char *key) {
  char buf[64];
  for (const char *p = json; *p;) {
    if (*p != '"') {
      p++;
      continue;
    }
    p++;
    json_string(&p, buf, sizeof buf);
    const char *q = p;
    while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
    if (*q == ':' && strcmp(buf, key) == 0) return 1;
  }
  return 0;
}

/* 1 when the options configure retries (the typed policy, or a
 * retryPolicy / hedgingPolicy in the service config). */
static int has_retries(const aiw_client_options *opts) {
  return opts->retry_max_attempts || (opts->service_config && json_has_key(opts->service_config, "retryPolicy")) ||
         (opts->service_config && json_has_key(opts->service_config, "hedgingPolicy"));
}

/* Refuses what gRPC would silently ignore or abort on, with a reason. */
static aiw_code check_production_options(const aiw_client_options *opts, aiw_error *err) {
  if (!opts) return AIW_OK;
  char reason[AIW_ERROR_MESSAGE_SIZE];
  if (opts->service_config && opts->retry_max_attempts)
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1,
                     "aiw_client_new: a service config and a typed retry policy are both set; "
                     "put the retryPolicy in the service config");
  if (opts->service_config && !aiw__service_config_check(opts->service_config, reason, sizeof reason))
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_client_new: invalid service config: %s", reason);
  /* By name, gRPC takes only the policies that need no configuration
   * (others it silently replaces by pick_first): those two. */
  if (opts->lb_policy && strcmp(opts->lb_policy, "pick_first") != 0 && strcmp(opts->lb_policy, "round_robin") != 0)
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1,
                     "aiw_client_new: load-balancing policy \"%.64s\": by name only pick_first or round_robin "
                     "(give others in the service config's loadBalancingConfig)",
                     opts->lb_policy);
  if (opts->compression != GRPC_COMPRESS_NONE && has_retries(opts))
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "aiw_client_new: %s", RETRY_COMPRESSION_BUG);
  if ((opts->bearer_token || opts->token_fn) && !opts->use_tls && !opts->allow_insecure_credentials)
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1,
                     "aiw_client_new: refusing to send a bearer token over plaintext; use TLS "
                     "(aiw_client_options_set_tls) or allow it with aiw_client_options_allow_insecure_credentials");
  return AIW_OK;
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
  aiw_code rc = check_production_options(opts, err);
  if (rc == AIW_OK && opts && opts->bearer_token && !(c->bearer_token = strdup(opts->bearer_token)))
    rc = aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory");
  char built_config[BUILT_CONFIG_SIZE];
  const char *service_config = opts ? opts->service_config : NULL;
  if (rc == AIW_OK && opts && opts->retry_max_attempts) {
    snprintf(built_config, sizeof built_config,
             "{\"methodConfig\":[{\"name\":[{}],\"retryPolicy\":{\"maxAttempts\":%d,"
             "\"initialBackoff\":\"%lld.%03llds\",\"maxBackoff\":\"%lld.%03llds\",\"backoffMultiplier\":2,"
             "\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]}",
             opts->retry_max_attempts, (long long)(opts->retry_initial_backoff_ms / 1000),
             (long long)(opts->retry_initial_backoff_ms % 1000), (long long)(opts->retry_max_backoff_ms / 1000),
             (long long)(opts->retry_max_backoff_ms % 1000));
    service_config = built_config;
  }
  if (rc != AIW_OK) {
    aiw__call_set_destroy(&c->calls);
    free(c->bearer_token);
    free(c->target);
    free(c);
    return rc;
  }
  if (opts) {
    c->retries = has_retries(opts);
    c->token_fn = opts->token_fn;
    c->token_userdata = opts->token_userdata;
    c->stats_fn = opts->stats_fn;
    c->stats_userdata = opts->stats_userdata;
  }
  size_t max_receive = opts && opts->has_max_receive ? opts->max_receive_size : 4u * 1024 * 1024;

  grpc_arg args[20];
  size_t n = 0;
#define INT_ARG(k, v) (args[n++] = (grpc_arg){.type = GRPC_ARG_INTEGER, .key = (k), .value.integer = (int)(v)})
#define STR_ARG(k, v) (args[n++] = (grpc_arg){.type = GRPC_ARG_STRING, .key = (k), .value.string = (v)})
  INT_ARG(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, max_receive ? (int)max_receive : -1);
  INT_ARG(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, c->max_send ? (int)c->max_send : -1);
  if (opts && opts->user_agent) STR_ARG(GRPC_ARG_PRIMARY_USER_AGENT_STRING, opts->user_agent);
  if (opts && opts->server_name) STR_ARG(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, opts->server_name);
  if (service_config) {
    STR_ARG(GRPC_ARG_SERVICE_CONFIG, (char *)service_config);
    /* This config applies, not one the resolver finds (dns TXT records). */
    INT_ARG(GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION, 1);
  }
  if (opts && opts->lb_policy) STR_ARG(GRPC_ARG_LB_POLICY_NAME, opts->lb_policy);
  if (opts && opts->keepalive_time_ms) {
    INT_ARG(GRPC_ARG_KEEPALIVE_TIME_MS, opts->keepalive_time_ms);
    INT_ARG(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, opts->keepalive_timeout_ms);
    INT_ARG(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, opts->keepalive_permit_without_calls);
    /* gRPC stops pinging after 2 pings without data by default: a long
     * silent stream would then go unwatched. Keep pinging. */
    INT_ARG(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  if (opts && opts->backoff_initial_ms) INT_ARG(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, opts->backoff_initial_ms);
  if (opts && opts->backoff_min_connect_ms) INT_ARG(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, opts->backoff_min_connect_ms);
  if (opts && opts->backoff_max_ms) INT_ARG(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, opts->backoff_max_ms);
  if (opts && opts->idle_timeout_ms) INT_ARG(GRPC_ARG_CLIENT_IDLE_TIMEOUT_MS, opts->idle_timeout_ms);
  if (opts && opts->compression) INT_ARG(GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM, opts->compression);
  if (opts && opts->authority) STR_ARG(GRPC_ARG_DEFAULT_AUTHORITY, opts->authority);
#undef INT_ARG
#undef STR_ARG
  grpc_channel_args channel_args = {.num_args = n, .args = args};

  grpc_init();
  grpc_channel_credentials *creds = make_credentials(opts);
  if (!creds) {
    grpc_shutdown();
    aiw__call_set_destroy(&c->calls);
    free(c->bearer_token);
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
  free(client->bearer_token);
  free(client->target);
  free(client);
  grpc_shutdown();
}

grpc_channel *aiw__client_channel(aiw_client *client) { return client->channel; }
void *aiw__client_registered_method(aiw_client *client, int method) { return client->registered[method]; }
size_t aiw__client_max_send(const aiw_client *client) { return client->max_send; }
aiw_call_set *aiw__client_calls(aiw_client *client) { return &client->calls; }

/* ---- credentials ---------------------------------------------------------- */

static char *bearer(const char *token, size_t len) {
  char *v = malloc(len + 8);
  if (!v) return NULL;
  memcpy(v, "Bearer ", 7);
  memcpy(v + 7, token, len);
  v[len + 7] = '\0';
  return v;
}

aiw_stats_fn aiw__client_stats_hook(const aiw_client *client, void **userdata) {
  *userdata = client->stats_userdata;
  return client->stats_fn;
}

aiw_code aiw__client_check_compression(const aiw_client *client, int algorithm, aiw_error *err) {
  if (algorithm != GRPC_COMPRESS_NONE && client->retries)
    return aiw__fail(err, AIW_INVALID_ARGUMENT, -1, "%s", RETRY_COMPRESSION_BUG);
  return AIW_OK;
}

aiw_code aiw__client_authorization(aiw_client *client, const char *method, char **value, aiw_error *err) {
  *value = NULL;
  if (client->bearer_token) {
    if (!(*value = bearer(client->bearer_token, strlen(client->bearer_token))))
      return aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory");
    return AIW_OK;
  }
  if (!client->token_fn) return AIW_OK;
  /* A closed client refuses before its token callback runs (a token fetch
   * may cost); the client's call set still catches a close that comes
   * later. */
  if (aiw__call_set_cancelled(&client->calls)) return aiw__fail(err, AIW_CANCELLED, -1, "client is closed");
  char small[512], *buf = small;
  const char *why = NULL; /* why the token is refused */
  long len = client->token_fn(method, small, sizeof small, client->token_userdata);
  if (len >= (long)sizeof small && len < (long)(64 * 1024)) {
    if (!(buf = malloc((size_t)len + 1))) return aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory");
    long again = client->token_fn(method, buf, (size_t)len + 1, client->token_userdata);
    if (again > len) why = "the token callback's token grew between its two calls";
    len = again;
  } else if (len >= (long)sizeof small) {
    why = "the token callback returned a token of 64 KiB or more";
  }
  if (!why && len < 0) why = "the token callback failed; the call was not sent";
  aiw_code rc = AIW_OK;
  if (why)
    rc = aiw__fail(err, AIW_UNAUTHENTICATED, -1, "%s", why);
  else if (!aiw__token_printable(buf, (size_t)len))
    rc = aiw__fail(err, AIW_UNAUTHENTICATED, -1, "the token callback returned a token that is not printable ASCII");
  else if (len > 0 && !(*value = bearer(buf, (size_t)len)))
    rc = aiw__fail(err, AIW_OUT_OF_MEMORY, -1, "out of memory");
  if (buf != small) free(buf);
  return rc;
}

/* ---- connectivity ---------------------------------------------------------- */

aiw_connectivity_state aiw_client_get_state(aiw_client *client, int try_to_connect) {
  if (!client || aiw__call_set_cancelled(&client->calls)) return AIW_STATE_SHUTDOWN;
  return (aiw_connectivity_state)grpc_channel_check_connectivity_state(client->channel, try_to_connect != 0);
}

/* How long one watch may last, so that a wait sees aiw_client_close. */
#define WATCH_SLICE_MS 200

int aiw_client_wait_for_state_change(aiw_client *client, aiw_connectivity_state last, int64_t timeout_ms) {
  if (!client || aiw__in_callback()) return 0;
  if (aiw__call_set_cancelled(&client->calls)) return last != AIW_STATE_SHUTDOWN; /* closed: SHUTDOWN for good */
  if (aiw_client_get_state(client, 0) != last) return 1;
  gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
  gpr_timespec end = timeout_ms < 0 ? gpr_inf_future(GPR_CLOCK_MONOTONIC)
                                    : gpr_time_add(now, gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
  int changed = 0;
  char tag; /* its address names the watch */
  for (;;) {
    gpr_timespec slice = gpr_time_add(now, gpr_time_from_millis(WATCH_SLICE_MS, GPR_TIMESPAN));
    if (gpr_time_cmp(slice, end) > 0) slice = end;
    grpc_channel_watch_connectivity_state(client->channel, (grpc_connectivity_state)last, slice, cq, &tag);
    grpc_event ev = grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type == GRPC_OP_COMPLETE && ev.success) {
      changed = 1;
      break;
    }
    if (aiw__call_set_cancelled(&client->calls)) { /* closed: now SHUTDOWN */
      changed = last != AIW_STATE_SHUTDOWN;
      break;
    }
    now = gpr_now(GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(now, end) >= 0) break;
  }
  /* Every watch's event was taken: nothing is pending on the queue. */
  grpc_completion_queue_shutdown(cq);
  grpc_completion_queue_destroy(cq);
  return changed;
}

const char *aiw_connectivity_state_name(aiw_connectivity_state state) {
  switch (state) {
  case AIW_STATE_IDLE: return "IDLE";
  case AIW_STATE_CONNECTING: return "CONNECTING";
  case AIW_STATE_READY: return "READY";
  case AIW_STATE_TRANSIENT_FAILURE: return "TRANSIENT_FAILURE";
  case AIW_STATE_SHUTDOWN: return "SHUTDOWN";
  }
  return "UNKNOWN";
}
