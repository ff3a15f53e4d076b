/*
 * cli.h -- what every part of the aiw CLI shares: the parsed global options
 * (struct cli), the exit statuses, the option codes, the shared getopt loop
 * and the one-line error reports (`aiw: CODE_NAME: message` on stderr).
 */
#ifndef AIW_CLI_H
#define AIW_CLI_H

#include <getopt.h>
#include <stdint.h>

#include "aiw.h"

#define AIW_CLI_VERSION "1.0.0"
#define DEFAULT_TARGET "127.0.0.1:50051"
#define DEFAULT_UNARY_TIMEOUT_MS 30000

/* The largest input files read: --image (the CLI sets no max send size on
 * the client, so a documented cap of its own: 64 MiB, the reference
 * service's receive limit) and the PEM files --ca, --cert, --key. */
#define MAX_IMAGE_BYTES ((size_t)64 * 1024 * 1024)
#define MAX_PEM_BYTES ((size_t)1024 * 1024)
/* --service-config FILE: a service config is small; 1 MiB, as a PEM file. */
#define MAX_SERVICE_CONFIG_BYTES ((size_t)1024 * 1024)
/* --keepalive SECONDS: gRPC's keepalive time is an int of milliseconds. */
#define MAX_KEEPALIVE_SECONDS ((int64_t)INT32_MAX / 1000)
#define KEEPALIVE_TIMEOUT_MS 20000

/* Exit statuses beyond the aiw_code values 1..17 (sysexits.h numbers). */
enum {
  EXIT_USAGE = 64,
  EXIT_NOINPUT = 66,
  EXIT_UNHEALTHY = 69, /* `aiw health`: answered, but not SERVING (EX_UNAVAILABLE) */
  EXIT_SOFTWARE = 70,
  EXIT_OSERR = 71,
  EXIT_IOERR = 74,
  EXIT_SIGINT = 130,
  EXIT_SIGTERM = 143
};

/* The global options, and the call options they build. */
struct cli {
  const char *command; /* NULL before the command word */
  const char *target;
  int64_t timeout_ms;
  int timeout_set;
  int json;
  int tls;
  const char *ca_file, *cert_file, *key_file, *server_name;
  const char *service_config_file;  /* --service-config, or NULL */
  int64_t keepalive_s;              /* --keepalive; 0: off */
  const char *compression;          /* --compress: "gzip", "deflate", "identity"; NULL: none set */
  const char *token;                /* --token, else $AIW_TOKEN; NULL: none */
  int token_from_env;               /* the token is $AIW_TOKEN's */
  int insecure_token;               /* --insecure-token */
  int verbose;                      /* -v: response headers and trailers on stderr */
  aiw_call_options *call_options;   /* owned by main */
  aiw_response_info *response_info; /* -v: attached to call_options while the call runs */
  int headers_shown;                /* -v: the headers have been printed */
};

/* getopt_long codes of the long options without a short form. */
enum {
  OPT_TIMEOUT = 256,
  OPT_JSON,
  OPT_TLS,
  OPT_CA,
  OPT_CERT,
  OPT_KEY,
  OPT_SERVER_NAME,
  OPT_VERSION,
  OPT_TYPE,
  OPT_IMAGE,
  OPT_FORMAT,
  OPT_LIMIT,
  OPT_THRESHOLD,
  OPT_FILTER,
  OPT_ASSET_ID,
  OPT_PATH,
  OPT_MIME,
  OPT_OCR,
  OPT_CAPTION,
  OPT_EMBED,
  OPT_SUMMARY,
  OPT_CHUNK_SIZE,
  OPT_HISTORY,
  OPT_MAX_DOCS,
  OPT_IMAGES,
  OPT_SERVICE_CONFIG,
  OPT_KEEPALIVE,
  OPT_COMPRESS,
  OPT_TOKEN,
  OPT_INSECURE_TOKEN
};

/* Global options are accepted before and after the command word: every
 * command's option table ends with these (then the {NULL} terminator). */
#define GLOBAL_LONG_OPTIONS                                                                                            \
  {"target", required_argument, NULL, 't'}, {"timeout", required_argument, NULL, OPT_TIMEOUT},                         \
      {"header", required_argument, NULL, 'H'}, {"json", no_argument, NULL, OPT_JSON},                                 \
      {"tls", no_argument, NULL, OPT_TLS}, {"ca", required_argument, NULL, OPT_CA},                                    \
      {"cert", required_argument, NULL, OPT_CERT}, {"key", required_argument, NULL, OPT_KEY},                          \
      {"server-name", required_argument, NULL, OPT_SERVER_NAME}, {"help", no_argument, NULL, 'h'},                     \
      {"version", no_argument, NULL, OPT_VERSION}, {"service-config", required_argument, NULL, OPT_SERVICE_CONFIG},    \
      {"keepalive", required_argument, NULL, OPT_KEEPALIVE}, {"compress", required_argument, NULL, OPT_COMPRESS},      \
      {"token", required_argument, NULL, OPT_TOKEN}, {"insecure-token", no_argument, NULL, OPT_INSECURE_TOKEN}, {      \
    "verbose", no_argument, NULL, 'v'                                                                                  \
  }
#define GLOBAL_SHORT_OPTIONS "t:H:hv"

/* Returned by option handlers and checks when parsing goes on; any other
 * value is the exit status to stop with (0 after --help or --version). */
#define CLI_CONTINUE (-1)

/*
 * A command's handler of its own options: `option` is getopt_long's code,
 * `arg` its optarg, `state` what the command passed to cli_parse_options.
 * Returns CLI_CONTINUE, or an exit status after reporting.
 */
typedef int (*cli_option_handler)(struct cli *cli, int option, const char *arg, void *state);

/*
 * The getopt_long loop of main and of every command. `optstring` is
 * getopt's ("+:" GLOBAL_SHORT_OPTIONS for main, which stops at the command
 * word; ":" GLOBAL_SHORT_OPTIONS for a command). -h/--help prints `help`;
 * global options are handled here, the others go to `handle` (NULL: none).
 * Returns CLI_CONTINUE with optind at the first operand, or an exit status
 * (0 after --help or --version; 64 after a usage error, reported).
 */
int cli_parse_options(struct cli *cli, int argc, char **argv, const char *optstring, const struct option *options,
                      const char *help, cli_option_handler handle, void *state);

/* After the options: exactly one operand, the QUERY. CLI_CONTINUE or 64. */
int cli_expect_query(const struct cli *cli, int argc);

/* A word an option chooses among, and the value it stands for. */
struct cli_word {
  const char *name;
  int value;
};

/*
 * Looks `arg` up (case-insensitive) in `words` (ended by a NULL name) and
 * stores its value in *value. Returns CLI_CONTINUE, or 64 after reporting
 * `OPTION is a, b or c, not 'ARG'`.
 */
int cli_parse_word(const struct cli *cli, const char *option, const char *arg, const struct cli_word *words,
                   int *value);

/* Prints `aiw: USAGE: ...` and a pointer to the help; returns 64. */
int usage_error(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A setter refused an argument (`what`: "--filter", "QUERY", ...): reports
 * it as out of memory (71) or a usage error (64); returns the status. */
int bad_argument(const struct cli *cli, aiw_code code, const char *what);

/* Prints `aiw: OUT_OF_MEMORY: out of memory`; returns 71. */
int out_of_memory(void);

/* Prints `aiw: OUTPUT_ERROR: ...` for a failed write to stdout; returns 74. */
int output_error(int saved_errno);

/* Flushes stdout: 0, or 74 after reporting. */
int flush_output(void);

/*
 * Reads the input file `path` ("-": standard input) named by an option
 * (`what`: "image", "--ca", ...), at most `max` bytes, interruptibly
 * (SIGINT/SIGTERM stop the read). 0 with *out malloc'd (NUL-terminated) and
 * *len set, or an exit status after reporting: 66 when the file cannot be
 * read or is larger than `max` bytes, 71 out of memory, 130/143 after a
 * signal.
 */
int read_input_file(const char *what, const char *path, size_t max, char **out, size_t *len);

#endif /* AIW_CLI_H */
