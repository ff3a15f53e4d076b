/* cancel_token.c -- cancellation that any thread may fire while calls run.
 * The token keeps the set of calls using it, so cancelling reaches each one
 * through grpc_call_cancel (thread-safe in C core). */
#include <stdlib.h>

#include "engine.h"

struct aiw_cancel_token {
  aiw_call_set calls; /* cancelled = the token has fired */
};

aiw_cancel_token *aiw_cancel_token_new(void) {
  aiw_cancel_token *t = calloc(1, sizeof *t);
  if (t && !aiw__call_set_init(&t->calls)) {
    free(t);
    return NULL;
  }
  return t;
}

void aiw_cancel_token_free(aiw_cancel_token *token) {
  if (!token) return;
  aiw__call_set_destroy(&token->calls);
  free(token);
}

void aiw_cancel_token_cancel(aiw_cancel_token *token) {
  if (token) aiw__call_set_cancel(&token->calls, AIW_CANCEL_TOKEN);
}

int aiw_cancel_token_is_cancelled(const aiw_cancel_token *token) {
  return token ? aiw__call_set_cancelled(&((aiw_cancel_token *)token)->calls) : 0;
}

void aiw_cancel_token_reset(aiw_cancel_token *token) {
  if (token) aiw__call_set_reset(&token->calls);
}

aiw_call_set *aiw__token_calls(aiw_cancel_token *token) { return &token->calls; }
