/*
 * aiw -- a command-line client of ThinkBank's AI service, built on libaiw's
 * public API (include/aiw.h) alone, as any outside program would be.
 *
 *   aiw [global options] COMMAND [command options] [ARG]
 *
 * The interface is fixed by CONTRACT.md ("The example CLI"); aiw.1 is its
 * manual. Exit statuses: 0 success; 1..16 the gRPC status of a failed call;
 * 17 success=false from the service; 64 usage error; 66 an input file
 * (--image, --ca, --cert, --key, --service-config) cannot be read or is over
 * its cap (64 MiB, 1 MiB); 69 `aiw health` answered, but not SERVING; 70
 * internal error; 71 out of memory; 74 standard output cannot be
 * written (or JSON encoded); 130 / 143 interrupted by SIGINT / SIGTERM (the
 * call is cancelled and what arrived is printed).
 *
 * This file is main: the global options and the command word. The rest:
 * cli.c (option parsing, error reports), signals.c (Ctrl-C), call.c (client,
 * call, outcome, -v), cmd_*.c (the five commands), json_out.c and json.gen.c (--json),
 * text_out.c (output for people), args.c (argument parsing, files).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiw.h"
#include "cli.h"
#include "commands.h"
#include "signals.h"

static const char global_help[] =
    "usage: aiw [global options] COMMAND [command options] [ARG]\n"
    "\n"
    "A client of ThinkBank's AI service (ai_service.AiWorker over gRPC).\n"
    "\n"
    "global options\n"
    "  -t, --target TARGET   gRPC target (host:port, dns:///host:port, ipv4:a:p,b:p, unix:/path);\n"
    "                        default: $AIW_TARGET, else " DEFAULT_TARGET "\n"
    "  --timeout MS          per-call deadline in milliseconds, 0 for none\n"
    "                        (default: none for chat, 30000 otherwise)\n"
    "  -H, --header K=V      request metadata, repeatable (e.g. authorization=Bearer x,\n"
    "                        x-request-id=abc); keys are lower-cased; the value of a key\n"
    "                        ending in -bin is base64 and is sent decoded\n"
    "  --json                print each response message as one line of proto3 canonical JSON\n"
    "  --tls                 use TLS (implied by --ca, --cert, --key, --server-name)\n"
    "  --ca FILE             PEM root certificates (default: gRPC's roots)\n"
    "  --cert FILE --key FILE  PEM client certificate chain and key (mutual TLS)\n"
    "  --server-name NAME    name to check against the server's certificate\n"
    "  --token TOKEN         send `authorization: Bearer TOKEN` (default: $AIW_TOKEN); needs\n"
    "                        --tls, or --insecure-token to send it over plaintext anyway\n"
    "  --insecure-token      allow the token over a plaintext connection (loopback, trusted net)\n"
    "  --service-config FILE gRPC service config (JSON: loadBalancingConfig, methodConfig with\n"
    "                        retryPolicy, timeout, ..., healthCheckConfig)\n"
    "  --keepalive SECONDS   HTTP/2 keepalive ping after SECONDS idle (20 s to answer); servers\n"
    "                        with default settings refuse pings more often than every 300 s\n"
    "  --compress ALG        compress requests: gzip, deflate or identity (none); not together\n"
    "                        with a retryPolicy\n"
    "  -v, --verbose         print the response headers and trailers to stderr (as grpcurl -v)\n"
    "  -h, --help            this help; `aiw COMMAND --help` for a command's\n"
    "  --version             the versions of aiw and of the libaiw it runs on\n"
    "\n"
    "commands\n"
    "  embed   [--type semantic|visual|both] (TEXT | --image FILE [--format FMT])\n"
    "  search  [--type semantic|visual|hybrid] [--limit N] [--threshold F] [--filter F]... QUERY\n"
    "  process --asset-id ID --path OBJECT --mime TYPE [--ocr] [--caption] [--embed] [--summary]\n"
    "          [--chunk-size N]\n"
    "  chat    [--history ROLE:CONTENT[@UNIX_TS]]... [--max-docs N] [--threshold F] [--images] QUERY\n"
    "  health  [SERVICE]\n"
    "\n"
    "exit status: 0 success; 1..16 the gRPC status code of a failed call; 17 the service\n"
    "answered success=false; 64 usage error; 66 an input file cannot be read; 69 health:\n"
    "not SERVING; 70 internal error; 71 out of memory; 74 output error; 130 interrupted (Ctrl-C).\n"
    "Errors are printed to stderr as `aiw: CODE_NAME: message`. See aiw(1).\n";

static const struct {
  const char *name;
  int (*run)(struct cli *, int, char **);
} commands[] = {
    {"embed", cmd_embed}, {"search", cmd_search}, {"process", cmd_process}, {"chat", cmd_chat}, {"health", cmd_health}};

/* Runs the command argv[0] names with its own argv; the exit status. */
static int run_command(struct cli *cli, int argc, char **argv) {
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (strcmp(argv[0], commands[i].name) == 0) {
      cli->command = commands[i].name;
      optind = 0; /* re-initialise GNU getopt (it permutes again) */
      return commands[i].run(cli, argc, argv);
    }
  }
  return usage_error(cli, "unknown command '%s' (embed, search, process, chat or health)", argv[0]);
}

/*
 * Makes descriptors 0, 1 and 2 valid before anything opens a descriptor:
 * started with one closed (`aiw ... >&-`), the next open -- gRPC's epoll
 * fd, an eventfd, the socket -- would take its number and aiw's output
 * would go there. A closed one gets /dev/null opened the wrong way round
 * (stdin write-only, stdout and stderr read-only), so that using it fails
 * with EBADF just as the closed descriptor would: a closed stdout is an
 * output error (74), a closed stderr loses the messages, nothing else.
 *
 * It runs from .preinit_array, before the initializers of the shared
 * libraries: gRPC's own open an eventfd at load time, before main. main
 * then only checks that it worked (std_fds_failed).
 */
static int std_fds_failed;

static void open_standard_fds(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    int got = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
    if (got != fd) { /* the lowest free number is fd: anything else is odd */
      if (got >= 0) close(got);
      std_fds_failed = 1;
    }
  }
}

__attribute__((section(".preinit_array"), used)) static void (*const preinit_standard_fds)(int, char **,
                                                                                           char **) = open_standard_fds;

int main(int argc, char **argv) {
  if (std_fds_failed) return EXIT_OSERR;
  if (signals_start() != 0) {
    fputs("aiw: INTERNAL: cannot set up signal handling\n", stderr);
    return EXIT_SOFTWARE;
  }
  /* aiw reports every failure in one line of its own; gRPC's internal log
   * lines (handshake failures and the like) only when asked for. */
  setenv("GRPC_VERBOSITY", "NONE", 0);
  struct cli cli = {0};
  const char *env_target = getenv("AIW_TARGET");
  cli.target = env_target != NULL && env_target[0] != '\0' ? env_target : DEFAULT_TARGET;
  const char *env_token = getenv("AIW_TOKEN"); /* --token wins */
  if (env_token != NULL && env_token[0] != '\0') {
    cli.token = env_token;
    cli.token_from_env = 1;
  }
  cli.call_options = aiw_call_options_new();
  if (cli.call_options == NULL) return out_of_memory();

  static const struct option global_options[] = {GLOBAL_LONG_OPTIONS, {NULL, 0, NULL, 0}};
  opterr = 0;
  /* '+': stop at the command word; its options are parsed by the command. */
  int status = cli_parse_options(&cli, argc, argv, "+:" GLOBAL_SHORT_OPTIONS, global_options, global_help, NULL, NULL);
  if (status == CLI_CONTINUE && optind >= argc)
    status = usage_error(&cli, "no COMMAND (embed, search, process, chat or health)");
  if (status == CLI_CONTINUE) status = run_command(&cli, argc - optind, argv + optind);
  aiw_call_options_free(cli.call_options);
  if (status == 0 && fflush(stdout) != 0) status = output_error(errno);
  return status;
}
