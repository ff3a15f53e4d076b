/*
 * signals.h -- Ctrl-C for the aiw CLI. SIGINT and SIGTERM are blocked in
 * every thread (before libaiw starts any) and taken by one sigwait thread,
 * which cancels the running call through an aiw_cancel_token (the token
 * cannot be fired from a signal handler). A second signal ends the process
 * at once (exit 130 / 143). The first signal also makes a pipe readable
 * (signals_fd), so that a blocking read elsewhere -- an input file, a FIFO
 * -- can poll for it: with SIGINT blocked, no read is ever interrupted by
 * EINTR. SIGPIPE is ignored, so a closed output is an EPIPE write error
 * (exit 74), not death by signal.
 */
#ifndef AIW_SIGNALS_H
#define AIW_SIGNALS_H

#include "aiw.h"

/* Ignores SIGPIPE, blocks SIGINT/SIGTERM in this thread (and so in every
 * thread created later, libaiw's included) and starts the thread that takes
 * them. Call it first, before any other thread exists (and after fds 0-2
 * are open: it opens a pipe). 0, or -1 on failure. */
int signals_start(void);

/* The token a signal cancels from now on (borrowed until replaced; NULL:
 * none). Cancelled at once if a signal has already come. */
void signals_set_token(aiw_cancel_token *token);

/* The first signal received (SIGINT, SIGTERM), or 0. */
int signals_received(void);

/* A descriptor that becomes readable (POLLIN) once a signal has been
 * received, and stays so; -1 before signals_start. Never read it. */
int signals_fd(void);

#endif /* AIW_SIGNALS_H */
