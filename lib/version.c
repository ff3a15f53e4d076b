/* version.c -- the library's version, and the gRPC core it runs on. */
#include <grpc/grpc.h>

#include "engine.h"

const char *aiw_version(void) { return AIW_VERSION_STRING; }

unsigned int aiw_version_num(void) { return AIW_VERSION_NUM; }

const char *aiw_grpc_version(void) { return grpc_version_string(); }
