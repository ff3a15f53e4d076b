/* runtime.c -- gRPC's global runtime, and the guard against RPCs started
 * from inside a callback. */
#include "engine.h"

/* grpc_init and grpc_shutdown are reference-counted and thread-safe in C
 * core; every client holds one reference, and so does each successful
 * aiw_global_init. */
aiw_code aiw_global_init(void) {
  grpc_init();
  return AIW_OK;
}

void aiw_global_cleanup(void) { grpc_shutdown(); }

static _Thread_local int callback_depth;

int aiw__in_callback(void) { return callback_depth > 0; }
void aiw__enter_callback(void) { callback_depth++; }
void aiw__leave_callback(void) { callback_depth--; }
