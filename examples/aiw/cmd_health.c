/*
 * cmd_health.c -- `aiw health [SERVICE]`: grpc.health.v1.Health/Check.
 */
#include <stdio.h>

#include "call.h"
#include "commands.h"

static const char health_help[] =
    "usage: aiw [global options] health [SERVICE]\n"
    "\n"
    "grpc.health.v1.Health/Check: is the server (no SERVICE, i.e. \"\") or SERVICE\n"
    "(e.g. ai_service.AiWorker) serving?\n"
    "\n"
    "Prints the status: SERVING, NOT_SERVING, SERVICE_UNKNOWN (the server does not know\n"
    "SERVICE) or UNKNOWN; with --json the HealthCheckResponse, {\"status\":\"SERVING\"}.\n"
    "Exit status: 0 only when SERVING; 69 for any other answer; the gRPC code when the\n"
    "call fails (12 UNIMPLEMENTED: the server has no health service, 14 UNAVAILABLE).\n";

static const struct option health_options[] = {GLOBAL_LONG_OPTIONS, {NULL, 0, NULL, 0}};

/* One health check: the service asked about and the answer. */
struct health_call {
  const char *service;
  int json;
  aiw_health_status status;
};

static aiw_code health_send(aiw_client *client, const aiw_call_options *options, void *state, aiw_error *err) {
  struct health_call *call = state;
  return aiw_health_check(client, call->service, options, &call->status, err);
}

/* Prints the status once the call succeeded. */
static int health_finish(void *state, aiw_code code) {
  const struct health_call *call = state;
  if (code != AIW_OK) return 0;
  const char *name = aiw_health_status_name(call->status);
  if (call->json) {
    /* The HealthCheckResponse in proto3 JSON: UNKNOWN (0), the default, is omitted. */
    json_t *message = json_object();
    if (message != NULL && call->status != AIW_HEALTH_UNKNOWN &&
        json_object_set_new(message, "status", json_string(name)) != 0) {
      json_decref(message);
      message = NULL;
    }
    return print_json(message);
  }
  printf("%s\n", name);
  return flush_output();
}

int cmd_health(struct cli *cli, int argc, char **argv) {
  int status = cli_parse_options(cli, argc, argv, ":" GLOBAL_SHORT_OPTIONS, health_options, health_help, NULL, NULL);
  if (status != CLI_CONTINUE) return status;
  if (argc - optind > 1) return usage_error(cli, "health takes at most one SERVICE, got '%s' too", argv[optind + 1]);
  static const struct call_handler health_check = {health_send, health_finish, NULL};
  struct health_call call = {
      .service = optind < argc ? argv[optind] : "", .json = cli->json, .status = AIW_HEALTH_UNKNOWN};
  status = call_run(cli, &health_check, &call);
  if (status == 0 && call.status != AIW_HEALTH_SERVING) {
    const char *name = aiw_health_status_name(call.status);
    if (call.service[0] == '\0')
      fprintf(stderr, "aiw: UNHEALTHY: health of the server: %s\n", name);
    else
      fprintf(stderr, "aiw: UNHEALTHY: health of service '%s': %s\n", call.service, name);
    status = EXIT_UNHEALTHY;
  }
  return status;
}
