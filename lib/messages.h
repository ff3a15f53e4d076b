/*
 * messages.h -- what the message layer shares: the helpers the generated
 * code (messages.gen.c) calls, and what the RPC entry points (lib/<rpc>.c)
 * need of the hand-written rules (message_rules.c). Never installed; names
 * protobuf-c's types, never gRPC's.
 *
 * A request handle (aiw_asset_request, ...) is its protobuf-c message
 * itself, built with malloc: every string, byte string, array and
 * sub-message it holds is its own allocation, so protobuf-c frees it whole.
 * A response handle is the decoded protobuf-c message (decode.c).
 */
#ifndef AIW_MESSAGES_H
#define AIW_MESSAGES_H

#include "internal.h"

/* ---- building requests (strings.c) ---------------------------------------- */

/* A new message of type `desc`, initialized to its defaults (malloc); NULL
 * if out of memory. Free with aiw__message_free. */
void *aiw__message_new(const ProtobufCMessageDescriptor *desc);
/* Frees a message built with aiw__message_new and everything in it. NULL-safe. */
void aiw__message_free(ProtobufCMessage *msg);
/* Replaces *slot with a copy of `len` bytes of `data` (NULL only when len
 * is 0). INVALID_ARGUMENT or OUT_OF_MEMORY leave *slot as it was. */
aiw_code aiw__set_bytes(ProtobufCBinaryData *slot, const void *data, size_t len);

/* ---- enums (rpc_common.c) ------------------------------------------------- */

/* The proto name of `value` in `desc`, or NULL when it defines none. */
const char *aiw__enum_name(const ProtobufCEnumDescriptor *desc, int value);
/* 1 when `desc` defines `value`. */
int aiw__enum_valid(const ProtobufCEnumDescriptor *desc, int value);

/* ---- the rules the schema does not say (message_rules.c) ------------------ */

/* AIW_OK when every field the service cannot do without is set in `req`
 * (a request message of the contract); else INVALID_ARGUMENT with `err`
 * naming the first missing one. */
aiw_code aiw__check_required(const ProtobufCMessage *req, aiw_error *err);

/* ---- the typed RPC entry points (rpc_common.c) ---------------------------- */

/*
 * aiw__unary / aiw__unary_start: the blocking and the asynchronous forms of
 * the unary RPC aiw__methods[method] with request `req` (NULL refused):
 * the common argument checks (`what` is the public function's name, for
 * the messages), the required fields, then the call. aiw__unary: `out` (may
 * be NULL: refused) gets the response on AIW_OK and AIW_SERVICE_ERROR, else
 * NULL.
 */
aiw_code aiw__unary(aiw_client *client, int method, const void *req, const aiw_call_options *opts,
                    ProtobufCMessage **out, const char *what, aiw_error *err);
aiw_code aiw__unary_start(aiw_client *client, int method, const void *req, const aiw_call_options *opts,
                          aiw_queue *queue, void *tag, const char *what, aiw_error *err);

#endif /* AIW_MESSAGES_H */
