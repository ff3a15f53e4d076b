/*
 * call.h -- running one RPC for a command: the client (target, TLS), the
 * call options (deadline, cancel token), Ctrl-C, the outcome's one-line
 * report and exit status. A command only prepares its request and says how
 * to send it and print what comes back.
 */
#ifndef AIW_CALL_H
#define AIW_CALL_H

#include <jansson.h>

#include "aiw.h"
#include "cli.h"

/* The command's part of a call; `state` is the command's own. */
struct call_handler {
  /* Sends the prepared request over `client` with `options`; the outcome
   * (err filled when it is not AIW_OK). */
  aiw_code (*send)(aiw_client *client, const aiw_call_options *options, void *state, aiw_error *err);
  /* Afterwards, whatever the outcome: prints what is left to print. 0, or
   * an exit status (reported) that wins over the call's. */
  int (*finish)(void *state, aiw_code code);
  /* May be NULL. After SERVICE_ERROR: the response's whole error text
   * (*len bytes, NULs included), reported in place of libaiw's message (a
   * C string, cut at the first NUL); NULL or "" for libaiw's. */
  const char *(*service_error)(void *state, size_t *len);
};

/*
 * Connects, sends through `handler` with Ctrl-C cancelling the call, lets
 * the handler finish, then reports a failed call as `aiw: CODE_NAME:
 * message`. Returns the exit status: 0, 1..17 for the call's code, 130/143
 * after a signal, 64/66/71/... for what failed before the call.
 */
int call_run(struct cli *cli, const struct call_handler *handler, void *state);

/* -v: prints the response headers of the running call to stderr (as
 * grpcurl -v: "Response headers received:", `key: value` lines), once per
 * call; nothing without -v. call_run calls it when the call returns; a
 * stream's callback may call it at its first message (chat does, so the
 * headers come before the answer). The trailers and the peer follow
 * after the command's output. */
void call_show_headers(struct cli *cli);

/* What differs between the unary RPCs (GetEmbedding, VectorSearch,
 * ProcessAsset); request and response are the RPC's own types. */
struct unary_rpc {
  /* Calls the RPC; *response (owned by the caller) may be set even when the
   * call fails (success=false). */
  aiw_code (*send)(aiw_client *client, const void *request, const aiw_call_options *options, void **response,
                   aiw_error *err);
  json_t *(*to_json)(const void *response); /* --json: one line of proto3 JSON */
  void (*print)(const void *response);      /* otherwise: for people */
  void (*free)(void *response);
  const char *(*error)(const void *response, size_t *len); /* the error field, with its length */
};

/* --json: prints `value` (a response message; taken, NULL if building it
 * ran out of memory) as one line on stdout and flushes. 0, or an exit
 * status after reporting: 71 out of memory, 74 when the JSON cannot be
 * encoded or written (`aiw: OUTPUT_ERROR: ...` says which). */
int print_json(json_t *value);

/* call_run for a unary RPC: prints the response (if any) with --json or for
 * people, then frees it. `request` is borrowed. Returns the exit status. */
int call_unary(struct cli *cli, const struct unary_rpc *rpc, const void *request);

#endif /* AIW_CALL_H */
