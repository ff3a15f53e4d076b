/*
 * response_info.h -- what a server sent besides its messages
 * (response_info.c): a blocking call's caller-owned info, an asynchronous
 * call's own inside its completion (async.c). Part of the engine. Never
 * installed.
 */
#ifndef AIW_RESPONSE_INFO_H
#define AIW_RESPONSE_INFO_H

#include "metadata.h"

struct aiw_response_info {
  int have_headers;
  aiw_md_copy headers, trailers;
  char *peer;                /* malloc'd; NULL reads as "" */
  ProtobufCMessage *details; /* the decoded AiwRpc__Status, or NULL */
};

/* Empties an info for its next call (keeps the struct). */
void aiw__info_clear(aiw_response_info *info);
/* Copies the call's headers into its info, once (no info: nothing). 0 when
 * out of memory. */
int aiw__call_keep_headers(aiw_call *c);
/* At the end of the call, before aiw__call_release: headers (if not yet),
 * trailers, peer and status details into its info. 0 when out of memory. */
int aiw__call_keep_end(aiw_call *c);

#endif /* AIW_RESPONSE_INFO_H */
