/*
 * call.c -- one RPC of a command from client to exit status (see call.h).
 */
#include "call.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "json_out.h"
#include "signals.h"

/* Reads a PEM file named by an option; 0, or an exit status (66, ...)
 * after reporting. */
static int read_pem(const char *option, const char *path, char **out, size_t *len) {
  return read_input_file(option, path, MAX_PEM_BYTES, out, len);
}

/* The exit status for a call that ended with `code`. */
static int exit_status_for(aiw_code code, const aiw_error *err) {
  int sig = signals_received();
  if (code == AIW_CANCELLED && sig != 0) return sig == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM;
  /* Refused by the library before any RPC: an argument the user gave. */
  if (code == AIW_INVALID_ARGUMENT && err->grpc_status == -1) return EXIT_USAGE;
  if (code >= AIW_CANCELLED && code <= AIW_SERVICE_ERROR) return (int)code;
  if (code == AIW_OUT_OF_MEMORY) return EXIT_OSERR;
  return EXIT_SOFTWARE; /* RECURSIVE_API_CALL, or a code newer than aiw */
}

/* Prints `aiw: CODE_NAME: message` for a failed call; returns its status.
 * `text` (`len` bytes, may be NULL), when not empty, is the message. */
static int report_call_error(aiw_code code, const aiw_error *err, const char *text, size_t len) {
  int status = exit_status_for(code, err);
  const char *message = err->message[0] != '\0' ? err->message : aiw_strerror((int)code);
  if (status == EXIT_SIGINT || status == EXIT_SIGTERM)
    message = status == EXIT_SIGINT ? "interrupted (SIGINT)" : "interrupted (SIGTERM)";
  else if (text != NULL && len > 0)
    message = NULL;
  fprintf(stderr, "aiw: %s: ", aiw_code_name((int)code));
  if (message != NULL)
    fputs(message, stderr);
  else
    fwrite(text, 1, len, stderr);
  fputc('\n', stderr);
  return status;
}

/* The client options for --tls, --ca, --cert, --key, --server-name. 0, or
 * an exit status after reporting. */
static int set_tls(const struct cli *cli, aiw_client_options *opts) {
  int status = 0;
  char *ca = NULL, *cert = NULL, *key = NULL;
  size_t len = 0, key_len = 0;
  if (cli->ca_file != NULL) status = read_pem("--ca", cli->ca_file, &ca, &len);
  if (status == 0 && cli->cert_file != NULL) status = read_pem("--cert", cli->cert_file, &cert, &len);
  if (status == 0 && cli->key_file != NULL) status = read_pem("--key", cli->key_file, &key, &key_len);
  if (status == 0) {
    aiw_code code = aiw_client_options_set_tls(opts, ca, cert, key);
    if (code == AIW_OK && cli->server_name != NULL) code = aiw_client_options_set_server_name(opts, cli->server_name);
    if (code != AIW_OK)
      status = code == AIW_OUT_OF_MEMORY ? out_of_memory()
                                         : usage_error(cli, "bad TLS options: %s", aiw_strerror((int)code));
  }
  free(ca);
  free(cert);
  if (key != NULL) {
    explicit_bzero(key, key_len);
    free(key);
  }
  return status;
}

/* --service-config FILE into the client options. 0, or an exit status after
 * reporting: 66 the file cannot be read (or is over 1 MiB), 64 it holds a
 * NUL byte, 71. A config gRPC refuses is refused later, by aiw_client_new. */
static int set_service_config(const struct cli *cli, aiw_client_options *opts) {
  char *json = NULL;
  size_t len = 0;
  int status = read_input_file("--service-config", cli->service_config_file, MAX_SERVICE_CONFIG_BYTES, &json, &len);
  if (status != 0) return status;
  if (memchr(json, '\0', len) != NULL)
    status = usage_error(cli, "--service-config file '%s' holds a NUL byte: not a JSON service config",
                         cli->service_config_file);
  else if (aiw_client_options_set_service_config(opts, json) != AIW_OK)
    status = out_of_memory();
  free(json);
  return status;
}

/* --token / $AIW_TOKEN into the client options: refused over plaintext
 * unless --insecure-token. 0, or an exit status after reporting. */
static int set_token(const struct cli *cli, aiw_client_options *opts) {
  const char *what = cli->token_from_env ? "$AIW_TOKEN" : "--token";
  if (!cli->tls && !cli->insecure_token)
    return usage_error(cli,
                       "%s would be sent over plaintext; use --tls, or --insecure-token to send it unencrypted "
                       "anyway (a loopback or trusted network)",
                       what);
  aiw_code code = aiw_client_options_set_bearer_token(opts, cli->token);
  if (code == AIW_OUT_OF_MEMORY) return out_of_memory();
  if (code != AIW_OK) return usage_error(cli, "invalid %s: a bearer token is printable ASCII", what);
  if (cli->insecure_token) aiw_client_options_allow_insecure_credentials(opts, 1);
  return 0;
}

/* The channel options: --service-config, --keepalive, --compress, --token.
 * 0, or an exit status after reporting. */
static int set_channel(const struct cli *cli, aiw_client_options *opts) {
  int status = 0;
  if (cli->service_config_file != NULL) status = set_service_config(cli, opts);
  if (status == 0 && cli->keepalive_s > 0 &&
      aiw_client_options_set_keepalive(opts, cli->keepalive_s * 1000, KEEPALIVE_TIMEOUT_MS, 0) != AIW_OK)
    status = usage_error(cli, "--keepalive %lld refused by libaiw", (long long)cli->keepalive_s);
  if (status == 0 && cli->compression != NULL) {
    aiw_code code = aiw_client_options_set_compression(opts, cli->compression);
    if (code != AIW_OK) status = bad_argument(cli, code, "--compress");
  }
  if (status == 0 && cli->token != NULL) status = set_token(cli, opts);
  return status;
}

/*
 * Creates the client and finishes the call options (deadline, cancel
 * token, -v's response info). 0, or an exit status after reporting.
 */
static int connect_client(struct cli *cli, aiw_cancel_token *token, aiw_client **out) {
  *out = NULL;
  int64_t timeout =
      cli->timeout_set ? cli->timeout_ms : (strcmp(cli->command, "chat") == 0 ? 0 : DEFAULT_UNARY_TIMEOUT_MS);
  if (aiw_call_options_set_timeout_ms(cli->call_options, timeout) != AIW_OK ||
      aiw_call_options_set_cancel_token(cli->call_options, token) != AIW_OK)
    return EXIT_SOFTWARE;
  if (cli->verbose) {
    cli->response_info = aiw_response_info_new();
    if (cli->response_info == NULL) return out_of_memory();
    if (aiw_call_options_set_response_info(cli->call_options, cli->response_info) != AIW_OK) return EXIT_SOFTWARE;
  }

  if ((cli->cert_file == NULL) != (cli->key_file == NULL))
    return usage_error(cli, "--cert and --key go together (mutual TLS)");

  aiw_client_options *opts = aiw_client_options_new();
  if (opts == NULL) return out_of_memory();
  int status = 0;
  aiw_client_options_set_user_agent(opts, "aiw/" AIW_CLI_VERSION);
  if (cli->tls) status = set_tls(cli, opts);
  if (status == 0) status = set_channel(cli, opts);
  if (status == 0) {
    aiw_error err;
    aiw_code code = aiw_client_new(cli->target, opts, out, &err);
    if (code != AIW_OK) status = report_call_error(code, &err, NULL, 0);
  }
  aiw_client_options_free(opts);
  return status;
}

/* -v: one metadata section as grpcurl -v prints it: a blank line, the
 * title, then `key: value` per entry sorted by key (stable: a repeated key's
 * values in the order received), -bin values in base64; "(empty)" if none. */
static void show_metadata(const aiw_response_info *info, int trailing, const char *title) {
  size_t n = aiw_response_info_metadata_count(info, trailing);
  fprintf(stderr, "\n%s\n", title);
  if (n == 0) {
    fputs("(empty)\n", stderr);
    return;
  }
  size_t *order = malloc(n * sizeof *order);
  for (size_t i = 0; i < n; i++) {
    size_t at = i;
    if (order != NULL) { /* insertion sort; out of memory: as received */
      const char *key = aiw_response_info_metadata_key(info, trailing, i);
      while (at > 0 && strcmp(aiw_response_info_metadata_key(info, trailing, order[at - 1]), key) > 0) {
        order[at] = order[at - 1];
        at--;
      }
      order[at] = i;
    }
  }
  for (size_t i = 0; i < n; i++) {
    size_t k = order != NULL ? order[i] : i;
    const char *key = aiw_response_info_metadata_key(info, trailing, k);
    size_t len = 0;
    const char *value = aiw_response_info_metadata_value(info, trailing, k, &len);
    size_t key_len = strlen(key);
    fprintf(stderr, "%s: ", key);
    if (key_len > 4 && strcmp(key + key_len - 4, "-bin") == 0) {
      char *b64 = args_base64_encode(value, len);
      fputs(b64 != NULL ? b64 : "(out of memory)", stderr);
      free(b64);
    } else if (len > 0) {
      fwrite(value, 1, len, stderr);
    }
    fputc('\n', stderr);
  }
  free(order);
}

void call_show_headers(struct cli *cli) {
  if (!cli->verbose || cli->headers_shown || cli->response_info == NULL) return;
  cli->headers_shown = 1;
  show_metadata(cli->response_info, 0, "Response headers received:");
}

/* -v, after the call: the headers (unless shown), the trailers, the peer. */
static void show_response_info(struct cli *cli) {
  if (!cli->verbose || cli->response_info == NULL) return;
  call_show_headers(cli);
  show_metadata(cli->response_info, 1, "Response trailers received:");
  const char *peer = aiw_response_info_peer(cli->response_info);
  if (peer != NULL && peer[0] != '\0') fprintf(stderr, "\nPeer: %s\n", peer);
}

int call_run(struct cli *cli, const struct call_handler *handler, void *state) {
  aiw_cancel_token *token = aiw_cancel_token_new();
  aiw_client *client = NULL;
  int status = token == NULL ? out_of_memory() : connect_client(cli, token, &client);
  if (status == 0) {
    aiw_error err;
    signals_set_token(token);
    aiw_code code = handler->send(client, cli->call_options, state, &err);
    signals_set_token(NULL);
    /* -v: the headers before the response, as grpcurl -v; nothing for a
     * call libaiw refused before sending anything. */
    int sent = code == AIW_OK || err.grpc_status != -1;
    if (sent) call_show_headers(cli);
    status = handler->finish(state, code);
    if (sent) show_response_info(cli);
    const char *text = NULL;
    size_t len = 0;
    if (status == 0 && code == AIW_SERVICE_ERROR && handler->service_error != NULL)
      text = handler->service_error(state, &len);
    if (status == 0 && code != AIW_OK) status = report_call_error(code, &err, text, len);
  }
  aiw_call_options_set_cancel_token(cli->call_options, NULL);
  aiw_call_options_set_response_info(cli->call_options, NULL);
  aiw_response_info_free(cli->response_info);
  cli->response_info = NULL;
  aiw_client_free(client);
  aiw_cancel_token_free(token);
  return status;
}

int print_json(json_t *value) {
  errno = 0;
  switch (aiwj_print(stdout, value)) {
  case 0: return 0;
  case AIWJ_BUILD_FAILED: return out_of_memory();
  case AIWJ_ENCODE_FAILED:
    fputs("aiw: OUTPUT_ERROR: cannot encode the response as JSON (jansson's json_dumps failed)\n", stderr);
    return EXIT_IOERR;
  default: return output_error(errno != 0 ? errno : EIO);
  }
}

/* call_unary's state. */
struct unary_call {
  const struct unary_rpc *rpc;
  const void *request;
  void *response;
  int json;
};

static aiw_code unary_send(aiw_client *client, const aiw_call_options *options, void *state, aiw_error *err) {
  struct unary_call *call = state;
  return call->rpc->send(client, call->request, options, &call->response, err);
}

static int unary_finish(void *state, aiw_code code) {
  (void)code;
  const struct unary_call *call = state;
  if (call->response == NULL) return 0;
  if (call->json) return print_json(call->rpc->to_json(call->response));
  call->rpc->print(call->response);
  return flush_output();
}

static const char *unary_service_error(void *state, size_t *len) {
  const struct unary_call *call = state;
  return call->response != NULL ? call->rpc->error(call->response, len) : NULL;
}

int call_unary(struct cli *cli, const struct unary_rpc *rpc, const void *request) {
  static const struct call_handler unary_handler = {unary_send, unary_finish, unary_service_error};
  struct unary_call call = {.rpc = rpc, .request = request, .json = cli->json};
  int status = call_run(cli, &unary_handler, &call);
  if (call.response != NULL) rpc->free(call.response);
  return status;
}
