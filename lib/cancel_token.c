/* cancel_token.c -- cancellation that any thread may fire while calls run.
 * The token keeps the list of calls using it, so cancelling reaches each one
 * through grpc_call_cancel (thread-safe in C core). */
#include <stdlib.h>

#include "internal.h"

struct aiw_cancel_token {
  pthread_mutex_t lock;
  int cancelled;
  aiw_call *calls; /* linked through token_next/token_prev */
};

aiw_cancel_token *aiw_cancel_token_new(void) {
  aiw_cancel_token *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  if (pthread_mutex_init(&t->lock, NULL) != 0) {
    free(t);
    return NULL;
  }
  return t;
}

void aiw_cancel_token_free(aiw_cancel_token *token) {
  if (!token) return;
  pthread_mutex_destroy(&token->lock);
  free(token);
}

void aiw_cancel_token_cancel(aiw_cancel_token *token) {
  if (!token) return;
  pthread_mutex_lock(&token->lock);
  token->cancelled = 1;
  for (aiw_call *c = token->calls; c; c = c->token_next) aiw__call_cancel(c, AIW_CANCEL_TOKEN);
  pthread_mutex_unlock(&token->lock);
}

int aiw_cancel_token_is_cancelled(const aiw_cancel_token *token) {
  if (!token) return 0;
  aiw_cancel_token *t = (aiw_cancel_token *)token;
  pthread_mutex_lock(&t->lock);
  int cancelled = t->cancelled;
  pthread_mutex_unlock(&t->lock);
  return cancelled;
}

void aiw_cancel_token_reset(aiw_cancel_token *token) {
  if (!token) return;
  pthread_mutex_lock(&token->lock);
  token->cancelled = 0;
  pthread_mutex_unlock(&token->lock);
}

int aiw__token_register_call(aiw_cancel_token *token, aiw_call *c) {
  pthread_mutex_lock(&token->lock);
  int ok = !token->cancelled;
  if (ok) {
    c->token_prev = NULL;
    c->token_next = token->calls;
    if (token->calls) token->calls->token_prev = c;
    token->calls = c;
    c->token = token;
  }
  pthread_mutex_unlock(&token->lock);
  return ok;
}

void aiw__token_unregister_call(aiw_cancel_token *token, aiw_call *c) {
  pthread_mutex_lock(&token->lock);
  if (c->token_prev)
    c->token_prev->token_next = c->token_next;
  else
    token->calls = c->token_next;
  if (c->token_next) c->token_next->token_prev = c->token_prev;
  c->token_next = c->token_prev = NULL;
  c->token = NULL;
  pthread_mutex_unlock(&token->lock);
}
