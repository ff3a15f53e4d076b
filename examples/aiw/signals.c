/*
 * signals.c -- the sigwait thread that turns SIGINT/SIGTERM into a
 * cancelled call (see signals.h).
 */
#include "signals.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "cli.h"

static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;
static aiw_cancel_token *signal_token; /* guarded by signal_lock */
static int signal_received;            /* guarded by signal_lock */
static sigset_t signal_set;
static int signal_pipe[2] = {-1, -1}; /* [0] readable once a signal came */

static void *signal_thread(void *arg) {
  (void)arg;
  for (;;) {
    int sig = 0;
    if (sigwait(&signal_set, &sig) != 0) continue;
    pthread_mutex_lock(&signal_lock);
    if (signal_received != 0) {
      /* Second signal: the user insists. */
      _exit(sig == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM);
    }
    signal_received = sig;
    if (signal_token != NULL) aiw_cancel_token_cancel(signal_token);
    /* Wakes a poll in signals_fd's users; the byte is never read. */
    ssize_t ignored = write(signal_pipe[1], "", 1);
    (void)ignored;
    pthread_mutex_unlock(&signal_lock);
  }
  return NULL;
}

int signals_start(void) {
  /* A write to a closed pipe or socket fails with EPIPE instead (gRPC sends
   * with MSG_NOSIGNAL anyway): aiw reports it as an output error, 74. */
  struct sigaction ignore = {.sa_handler = SIG_IGN};
  sigemptyset(&ignore.sa_mask);
  if (sigaction(SIGPIPE, &ignore, NULL) != 0) return -1;
  if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
  sigemptyset(&signal_set);
  sigaddset(&signal_set, SIGINT);
  sigaddset(&signal_set, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &signal_set, NULL) != 0) return -1;
  pthread_t thread;
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return -1;
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&thread, &attr, signal_thread, NULL);
  pthread_attr_destroy(&attr);
  return rc == 0 ? 0 : -1;
}

void signals_set_token(aiw_cancel_token *token) {
  pthread_mutex_lock(&signal_lock);
  signal_token = token;
  if (token != NULL && signal_received != 0) aiw_cancel_token_cancel(token);
  pthread_mutex_unlock(&signal_lock);
}

int signals_fd(void) { return signal_pipe[0]; }

int signals_received(void) {
  pthread_mutex_lock(&signal_lock);
  int sig = signal_received;
  pthread_mutex_unlock(&signal_lock);
  return sig;
}
