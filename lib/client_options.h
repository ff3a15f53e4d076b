/*
 * client_options.h -- the client options (client_options.c owns them;
 * client.c reads them when it makes a client), and the compression names
 * and token check they share with the call options. Never installed.
 */
#ifndef AIW_CLIENT_OPTIONS_H
#define AIW_CLIENT_OPTIONS_H

#include "internal.h"

struct aiw_client_options {
  size_t max_receive_size; /* 0: gRPC's default (4 MiB) -- see has_max_receive */
  int has_max_receive;
  size_t max_send_size; /* 0: unlimited */
  int use_tls;
  char *root_certs_pem;
  char *cert_chain_pem;
  char *private_key_pem;
  char *server_name;
  char *user_agent;
  /* since 1.2: the production channel */
  char *service_config;   /* JSON, or NULL */
  char *lb_policy;        /* or NULL */
  int retry_max_attempts; /* 0: no typed retry policy */
  int64_t retry_initial_backoff_ms, retry_max_backoff_ms;
  int64_t keepalive_time_ms; /* 0: off */
  int64_t keepalive_timeout_ms;
  int keepalive_permit_without_calls;
  int64_t backoff_initial_ms, backoff_min_connect_ms, backoff_max_ms; /* 0: gRPC's */
  int64_t idle_timeout_ms;                                            /* 0: gRPC's */
  int compression;                                                    /* a grpc_compression_algorithm */
  char *authority;
  char *bearer_token;
  aiw_token_fn token_fn;
  void *token_userdata;
  int allow_insecure_credentials;
  aiw_stats_fn stats_fn;
  void *stats_userdata;
};

/* Parses a compression name ("identity", "deflate", "gzip") into a
 * grpc_compression_algorithm; -1 for anything else (client_options.c). */
int aiw__compression_parse(const char *name);
/* The name gRPC sends for an algorithm. */
const char *aiw__compression_name(int algorithm);
/* 1 when every byte of `token` is printable ASCII (a header value). */
int aiw__token_printable(const char *token, size_t len);

#endif /* AIW_CLIENT_OPTIONS_H */
