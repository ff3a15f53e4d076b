/* response_info.c -- what a server sent besides its messages: headers,
 * trailers, the peer's address and the decoded status details; kept after
 * the call is released (blocking calls: in the caller's info; asynchronous
 * ones: in their completion). */
#include <grpc/support/alloc.h>

#include "response_info.h"

#define DETAILS_KEY "grpc-status-details-bin"

aiw_response_info *aiw_response_info_new(void) { return calloc(1, sizeof(aiw_response_info)); }

void aiw__info_clear(aiw_response_info *info) {
  aiw__md_free(&info->headers);
  aiw__md_free(&info->trailers);
  free(info->peer);
  if (info->details) aiw__decoded_free(info->details);
  memset(info, 0, sizeof *info);
}

void aiw_response_info_free(aiw_response_info *info) {
  if (!info) return;
  aiw__info_clear(info);
  free(info);
}

int aiw__call_keep_headers(aiw_call *c) {
  aiw_response_info *info = c->info;
  if (!info || info->have_headers) return 1;
  if (!aiw__md_copy(&info->headers, &c->recv_initial_md)) return 0;
  info->have_headers = 1;
  return 1;
}

/* Decodes a grpc-status-details-bin trailer, if any (one that does not
 * decode is left as a trailer only). 0 when out of memory. */
static int keep_details(aiw_response_info *info) {
  for (size_t i = 0; i < info->trailers.n; i++) {
    const aiw_md_entry *e = &info->trailers.entries[i];
    if (strcmp(e->key, DETAILS_KEY) != 0) continue;
    int oom = 0;
    info->details = aiw__decode(&aiw_rpc__status__descriptor, (const uint8_t *)e->value, e->value_len, &oom);
    return !oom;
  }
  return 1;
}

int aiw__call_keep_end(aiw_call *c) {
  aiw_response_info *info = c->info;
  if (!info) return 1;
  if (!aiw__call_keep_headers(c)) return 0;
  if (!aiw__md_copy(&info->trailers, &c->recv_trailing_md)) return 0;
  if (c->call && !info->peer) {
    char *peer = grpc_call_get_peer(c->call);
    /* With no server reached, gRPC names the channel's target instead:
     * that is no peer. */
    char *target = grpc_channel_get_target(aiw__client_channel(c->client));
    if (peer && target && strcmp(peer, target) == 0 && c->status != GRPC_STATUS_OK && info->headers.n == 0) {
      gpr_free(peer);
      peer = NULL;
    }
    gpr_free(target);
    if (peer) {
      info->peer = strdup(peer);
      gpr_free(peer);
      if (!info->peer) return 0;
    }
  }
  return keep_details(info);
}

static const aiw_md_copy *md_of(const aiw_response_info *info, int trailing) {
  if (!info) return NULL;
  if (trailing) return &info->trailers;
  return info->have_headers ? &info->headers : NULL;
}

size_t aiw_response_info_metadata_count(const aiw_response_info *info, int trailing) {
  const aiw_md_copy *md = md_of(info, trailing);
  return md ? md->n : 0;
}

const char *aiw_response_info_metadata_key(const aiw_response_info *info, int trailing, size_t i) {
  const aiw_md_copy *md = md_of(info, trailing);
  return md && i < md->n ? md->entries[i].key : NULL;
}

const void *aiw_response_info_metadata_value(const aiw_response_info *info, int trailing, size_t i, size_t *len) {
  const aiw_md_copy *md = md_of(info, trailing);
  int in = md && i < md->n;
  if (len) *len = in ? md->entries[i].value_len : 0;
  return in ? md->entries[i].value : NULL;
}

const void *aiw_response_info_get(const aiw_response_info *info, int trailing, const char *key, size_t *len) {
  const aiw_md_copy *md = md_of(info, trailing);
  if (len) *len = 0;
  if (!md || !key) return NULL;
  for (size_t i = 0; i < md->n; i++) {
    if (strcmp(md->entries[i].key, key) == 0) {
      if (len) *len = md->entries[i].value_len;
      return md->entries[i].value;
    }
  }
  return NULL;
}

const char *aiw_response_info_peer(const aiw_response_info *info) { return info && info->peer ? info->peer : ""; }

static const AiwRpc__Status *details_of(const aiw_response_info *info) {
  return info ? (const AiwRpc__Status *)info->details : NULL;
}

int aiw_response_info_has_status_details(const aiw_response_info *info) { return details_of(info) != NULL; }

int aiw_response_info_status_code(const aiw_response_info *info) {
  const AiwRpc__Status *s = details_of(info);
  return s ? s->code : 0;
}

const char *aiw_response_info_status_message(const aiw_response_info *info) {
  const AiwRpc__Status *s = details_of(info);
  return s && s->message ? s->message : "";
}

size_t aiw_response_info_detail_count(const aiw_response_info *info) {
  const AiwRpc__Status *s = details_of(info);
  return s ? s->n_details : 0;
}

const char *aiw_response_info_detail_type_url(const aiw_response_info *info, size_t i) {
  const AiwRpc__Status *s = details_of(info);
  if (!s || i >= s->n_details) return NULL;
  return s->details[i]->type_url ? s->details[i]->type_url : "";
}

const void *aiw_response_info_detail_value(const aiw_response_info *info, size_t i, size_t *len) {
  const AiwRpc__Status *s = details_of(info);
  if (len) *len = 0;
  if (!s || i >= s->n_details) return NULL;
  if (len) *len = s->details[i]->value.len;
  return s->details[i]->value.data ? (const void *)s->details[i]->value.data : (const void *)"";
}
