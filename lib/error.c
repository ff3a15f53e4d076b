/* error.c -- result codes: names, descriptions, HTTP statuses, aiw_error. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

typedef struct code_info {
  const char *name;
  const char *description;
  int http_status;
} code_info;

/* Indexed by aiw_code; the HTTP statuses of 0..16 are CONTRACT.md's table. */
static const code_info code_table[] = {
    [AIW_OK] = {"OK", "success", 200},
    [AIW_CANCELLED] = {"CANCELLED", "the call was cancelled", 499},
    [AIW_UNKNOWN] = {"UNKNOWN", "unknown error", 500},
    [AIW_INVALID_ARGUMENT] = {"INVALID_ARGUMENT", "invalid argument", 400},
    [AIW_DEADLINE_EXCEEDED] = {"DEADLINE_EXCEEDED", "deadline exceeded", 504},
    [AIW_NOT_FOUND] = {"NOT_FOUND", "not found", 404},
    [AIW_ALREADY_EXISTS] = {"ALREADY_EXISTS", "already exists", 409},
    [AIW_PERMISSION_DENIED] = {"PERMISSION_DENIED", "permission denied", 403},
    [AIW_RESOURCE_EXHAUSTED] = {"RESOURCE_EXHAUSTED", "resource exhausted", 429},
    [AIW_FAILED_PRECONDITION] = {"FAILED_PRECONDITION", "failed precondition", 400},
    [AIW_ABORTED] = {"ABORTED", "aborted", 409},
    [AIW_OUT_OF_RANGE] = {"OUT_OF_RANGE", "out of range", 400},
    [AIW_UNIMPLEMENTED] = {"UNIMPLEMENTED", "method not implemented by the service", 501},
    [AIW_INTERNAL] = {"INTERNAL", "internal error", 500},
    [AIW_UNAVAILABLE] = {"UNAVAILABLE", "service unavailable", 503},
    [AIW_DATA_LOSS] = {"DATA_LOSS", "data loss", 500},
    [AIW_UNAUTHENTICATED] = {"UNAUTHENTICATED", "unauthenticated", 401},
    [AIW_SERVICE_ERROR] = {"SERVICE_ERROR", "the service answered success=false", 502},
    [AIW_CALLBACK_ABORTED] = {"CALLBACK_ABORTED", "the callback stopped the stream", 499},
    [AIW_OUT_OF_MEMORY] = {"OUT_OF_MEMORY", "out of memory", 500},
    [AIW_RECURSIVE_API_CALL] = {"RECURSIVE_API_CALL", "an RPC was started from inside a libaiw callback", 500},
};

static const code_info *lookup(int code) {
  if (code < 0 || code > AIW_CODE_LAST) return NULL;
  return &code_table[code];
}

const char *aiw_code_name(int code) {
  const code_info *info = lookup(code);
  return info ? info->name : "UNKNOWN_CODE";
}

const char *aiw_strerror(int code) {
  const code_info *info = lookup(code);
  return info ? info->description : "unknown result code";
}

int aiw_http_status(int code) {
  const code_info *info = lookup(code);
  return info ? info->http_status : 500;
}

/* A message truncated to the buffer must not end in half a UTF-8
 * character: drop the bytes of an incomplete last sequence. */
static void cut_at_character(char *msg) {
  size_t n = strlen(msg), start = n;
  while (start > 0 && ((unsigned char)msg[start - 1] & 0xC0) == 0x80 && n - start < 3) start--;
  if (start == 0) return;
  unsigned char lead = (unsigned char)msg[start - 1];
  size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  if (lead >= 0x80 && n - (start - 1) < want) msg[start - 1] = '\0';
}

aiw_code aiw__fail(aiw_error *err, aiw_code code, int grpc_status, const char *fmt, ...) {
  if (err) {
    err->code = code;
    err->grpc_status = grpc_status;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof err->message) cut_at_character(err->message);
  }
  return code;
}

aiw_code aiw__ok(aiw_error *err) {
  if (err) {
    err->code = AIW_OK;
    err->grpc_status = 0;
    err->message[0] = '\0';
  }
  return AIW_OK;
}
