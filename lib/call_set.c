/* call_set.c -- a set of running calls that can be cancelled together: the
 * calls of a client (aiw_client_close) and those of a cancel token. */
#include "engine.h"

int aiw__call_set_init(aiw_call_set *set) {
  set->cancelled = 0;
  set->head = NULL;
  return pthread_mutex_init(&set->lock, NULL) == 0;
}

void aiw__call_set_destroy(aiw_call_set *set) { pthread_mutex_destroy(&set->lock); }

int aiw__call_set_add(aiw_call_set *set, aiw_call_link *link) {
  pthread_mutex_lock(&set->lock);
  int ok = !set->cancelled;
  if (ok) {
    link->prev = NULL;
    link->next = set->head;
    if (set->head) set->head->prev = link;
    set->head = link;
  }
  pthread_mutex_unlock(&set->lock);
  return ok;
}

void aiw__call_set_remove(aiw_call_set *set, aiw_call_link *link) {
  pthread_mutex_lock(&set->lock);
  if (link->prev)
    link->prev->next = link->next;
  else
    set->head = link->next;
  if (link->next) link->next->prev = link->prev;
  link->next = link->prev = NULL;
  pthread_mutex_unlock(&set->lock);
}

void aiw__call_set_cancel(aiw_call_set *set, aiw_cancel_reason reason) {
  pthread_mutex_lock(&set->lock);
  set->cancelled = 1;
  /* Members stay valid while listed: a call leaves the set before release. */
  for (aiw_call_link *l = set->head; l; l = l->next) l->cancel(l->call, reason);
  pthread_mutex_unlock(&set->lock);
}

int aiw__call_set_cancelled(aiw_call_set *set) {
  pthread_mutex_lock(&set->lock);
  int cancelled = set->cancelled;
  pthread_mutex_unlock(&set->lock);
  return cancelled;
}

void aiw__call_set_reset(aiw_call_set *set) {
  pthread_mutex_lock(&set->lock);
  set->cancelled = 0;
  pthread_mutex_unlock(&set->lock);
}
