/*
 * cli.c -- the aiw CLI's option parsing (the global options, the getopt
 * loop every command shares) and its one-line error reports.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "args.h"
#include "signals.h"

int usage_error(const struct cli *cli, const char *fmt, ...) {
  va_list ap;
  fputs("aiw: USAGE: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (cli->command != NULL)
    fprintf(stderr, "\nTry 'aiw %s --help'.\n", cli->command);
  else
    fputs("\nTry 'aiw --help'.\n", stderr);
  return EXIT_USAGE;
}

int out_of_memory(void) {
  fputs("aiw: OUT_OF_MEMORY: out of memory\n", stderr);
  return EXIT_OSERR;
}

int output_error(int saved_errno) {
  fprintf(stderr, "aiw: OUTPUT_ERROR: cannot write to standard output: %s\n", strerror(saved_errno));
  return EXIT_IOERR;
}

int flush_output(void) { return fflush(stdout) != 0 ? output_error(errno) : 0; }

int read_input_file(const char *what, const char *path, size_t max, char **out, size_t *len) {
  if (args_read_file(path, max, signals_fd(), out, len) == 0) return 0;
  int saved = errno;
  if (saved == EINTR && signals_received() != 0) {
    int sig = signals_received();
    fprintf(stderr, "aiw: CANCELLED: interrupted (%s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return sig == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM;
  }
  if (saved == ENOMEM) return out_of_memory();
  if (saved == EFBIG)
    fprintf(stderr, "aiw: NO_INPUT: %s file '%s' is larger than %zu bytes\n", what, path, max);
  else
    fprintf(stderr, "aiw: NO_INPUT: cannot read %s file '%s': %s\n", what, path, strerror(saved));
  return EXIT_NOINPUT;
}

int bad_argument(const struct cli *cli, aiw_code code, const char *what) {
  if (code == AIW_OUT_OF_MEMORY) return out_of_memory();
  return usage_error(cli, "invalid %s (%s; strings must be valid UTF-8)", what, aiw_strerror((int)code));
}

static int print_version(void) {
  printf("aiw %s\nlibaiw %s (built against %s), gRPC core %s\n", AIW_CLI_VERSION, aiw_version(), AIW_VERSION_STRING,
         aiw_grpc_version());
  return flush_output();
}

/* Adds one -H K=V to the call options. CLI_CONTINUE or an exit status. */
static int add_header(struct cli *cli, const char *spec) {
  char *key = NULL;
  const char *value = NULL;
  int rc = args_split_header(spec, &key, &value);
  if (rc == -2) return out_of_memory();
  if (rc != 0) return usage_error(cli, "-H wants KEY=VALUE, got '%s'", spec);
  aiw_error err;
  aiw_code code;
  size_t key_len = strlen(key);
  if (key_len > 4 && strcmp(key + key_len - 4, "-bin") == 0) {
    unsigned char *bytes = NULL;
    size_t len = 0;
    rc = args_base64_decode(value, &bytes, &len);
    if (rc == -2) {
      free(key);
      return out_of_memory();
    }
    if (rc != 0) {
      rc = usage_error(cli, "the value of binary header '%s' must be base64", key);
      free(key);
      return rc;
    }
    code = aiw_call_options_add_metadata_bin(cli->call_options, key, bytes, len, &err);
    free(bytes);
  } else {
    code = aiw_call_options_add_metadata(cli->call_options, key, value, &err);
  }
  free(key);
  if (code == AIW_OUT_OF_MEMORY) return out_of_memory();
  if (code != AIW_OK) return usage_error(cli, "bad header '%s': %s", spec, err.message);
  return CLI_CONTINUE;
}

/* handle_global_option's answer for an option that is a command's. */
#define NOT_GLOBAL (-2)

/* Handles a global option (any but -h): CLI_CONTINUE, an exit status, or
 * NOT_GLOBAL. */
static int handle_global_option(struct cli *cli, int option, const char *arg) {
  switch (option) {
  case 't':
    if (arg[0] == '\0') return usage_error(cli, "--target must not be empty");
    cli->target = arg;
    break;
  case OPT_TIMEOUT:
    if (args_parse_int64(arg, 0, INT64_MAX / 2, &cli->timeout_ms) != 0)
      return usage_error(cli, "--timeout wants milliseconds >= 0, got '%s'", arg);
    cli->timeout_set = 1;
    break;
  case 'H': return add_header(cli, arg);
  case OPT_JSON: cli->json = 1; break;
  case OPT_TLS: break;
  case OPT_CA: cli->ca_file = arg; break;
  case OPT_CERT: cli->cert_file = arg; break;
  case OPT_KEY: cli->key_file = arg; break;
  case OPT_SERVER_NAME: cli->server_name = arg; break;
  case OPT_VERSION: return print_version();
  case OPT_SERVICE_CONFIG: cli->service_config_file = arg; break;
  case OPT_KEEPALIVE:
    if (args_parse_int64(arg, 1, MAX_KEEPALIVE_SECONDS, &cli->keepalive_s) != 0)
      return usage_error(cli, "--keepalive wants whole seconds, 1..%lld, got '%s'", (long long)MAX_KEEPALIVE_SECONDS,
                         arg);
    break;
  case OPT_COMPRESS: {
    static const struct cli_word algorithms[] = {{"gzip", 0}, {"deflate", 1}, {"identity", 2}, {NULL, 0}};
    int which = 0;
    int status = cli_parse_word(cli, "--compress", arg, algorithms, &which);
    if (status != CLI_CONTINUE) return status;
    cli->compression = algorithms[which].name;
    break;
  }
  case OPT_TOKEN:
    if (arg[0] == '\0') return usage_error(cli, "--token must not be empty");
    cli->token = arg;
    cli->token_from_env = 0;
    break;
  case OPT_INSECURE_TOKEN: cli->insecure_token = 1; break;
  case 'v': cli->verbose = 1; break;
  default: return NOT_GLOBAL;
  }
  /* --tls, and --ca, --cert, --key and --server-name, which imply it. */
  if (option == OPT_TLS || option == OPT_CA || option == OPT_CERT || option == OPT_KEY || option == OPT_SERVER_NAME)
    cli->tls = 1;
  return CLI_CONTINUE;
}

/* Reports a getopt_long error ('?' or ':'); returns 64. */
static int getopt_error(const struct cli *cli, int c, char *const argv[]) {
  const char *word = argv[optind - 1];
  if (c == ':') {
    if (strncmp(word, "--", 2) == 0) return usage_error(cli, "option %s needs an argument", word);
    if (optopt != 0 && optopt < 256) return usage_error(cli, "option -%c needs an argument", optopt);
    return usage_error(cli, "option %s needs an argument", word);
  }
  if (strncmp(word, "--", 2) == 0) return usage_error(cli, "unknown or ambiguous option %s", word);
  if (optopt != 0 && optopt < 256) return usage_error(cli, "unknown option -%c", optopt);
  return usage_error(cli, "unknown option %s", word);
}

int cli_parse_options(struct cli *cli, int argc, char **argv, const char *optstring, const struct option *options,
                      const char *help, cli_option_handler handle, void *state) {
  int c, status = CLI_CONTINUE;
  while (status == CLI_CONTINUE && (c = getopt_long(argc, argv, optstring, options, NULL)) != -1) {
    if (c == 'h') {
      fputs(help, stdout);
      status = 0;
    } else if (c == '?' || c == ':') {
      status = getopt_error(cli, c, argv);
    } else {
      status = handle_global_option(cli, c, optarg);
      if (status == NOT_GLOBAL) status = handle != NULL ? handle(cli, c, optarg, state) : CLI_CONTINUE;
    }
  }
  return status;
}

int cli_expect_query(const struct cli *cli, int argc) {
  int operands = argc - optind;
  if (operands == 1) return CLI_CONTINUE;
  return usage_error(cli, operands == 0 ? "%s needs a QUERY" : "%s takes one QUERY (quote it)", cli->command);
}

int cli_parse_word(const struct cli *cli, const char *option, const char *arg, const struct cli_word *words,
                   int *value) {
  size_t n = 0;
  for (; words[n].name != NULL; n++) {
    if (strcasecmp(arg, words[n].name) == 0) {
      *value = words[n].value;
      return CLI_CONTINUE;
    }
  }
  /* The choices as "a, b or c". */
  char choices[256] = "";
  size_t used = 0;
  for (size_t i = 0; i < n && used < sizeof choices; i++)
    used += (size_t)snprintf(choices + used, sizeof choices - used, "%s%s", words[i].name,
                             i + 2 < n    ? ", "
                             : i + 2 == n ? " or "
                                          : "");
  return usage_error(cli, "%s is %s, not '%s'", option, choices, arg);
}
