/* tests/static/hello.c -- a C program of "your own", linked by
 * tests/static/run.sh through `pkg-config --static --libs aiw` (and once
 * dynamically, as the control that must not run in the minimal root).
 *
 *   hello TARGET    prints libaiw's and gRPC's versions, then the health of
 *                   the service at TARGET; exit 0 when it is SERVING.
 */
#include <stdio.h>

#include <aiw.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s TARGET\n", argv[0]);
    return 64;
  }
  printf("libaiw %s, gRPC core %s\n", aiw_version(), aiw_grpc_version());
  aiw_error err;
  aiw_client *client = NULL;
  if (aiw_client_new(argv[1], NULL, &client, &err) != AIW_OK) {
    fprintf(stderr, "hello: %s\n", err.message);
    return 1;
  }
  aiw_health_status status = AIW_HEALTH_UNKNOWN;
  aiw_code code = aiw_health_check(client, "", NULL, &status, &err);
  aiw_client_free(client);
  if (code != AIW_OK) {
    fprintf(stderr, "hello: %s: %s\n", aiw_code_name(code), err.message);
    return 1;
  }
  printf("health: %s\n", aiw_health_status_name(status));
  return status == AIW_HEALTH_SERVING ? 0 : 1;
}
