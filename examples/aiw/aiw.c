/*
 * aiw -- a command-line client of ThinkBank's AI service, built on libaiw's
 * public API (include/aiw.h) alone, as any outside program would be.
 *
 *   aiw [global options] COMMAND [command options] [ARG]
 *
 * The interface is fixed by CONTRACT.md ("The example CLI"); aiw.1 is its
 * manual. Exit statuses: 0 success; 1..16 the gRPC status of a failed call;
 * 17 success=false from the service; 64 usage error; 66 an input file
 * (--image, --ca, --cert, --key) cannot be read; 70 internal error; 71 out
 * of memory; 74 standard output cannot be written; 130 / 143 interrupted by
 * SIGINT / SIGTERM (the call is cancelled and what arrived is printed).
 *
 * Signals: SIGINT and SIGTERM are blocked in every thread (before libaiw
 * starts any) and taken by one sigwait thread, which cancels the running
 * call through an aiw_cancel_token (the token cannot be fired from a signal
 * handler). A second signal ends the process at once.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "aiw.h"
#include "args.h"
#include "json_out.h"

#define AIW_CLI_VERSION "1.0.0"
#define DEFAULT_TARGET "127.0.0.1:50051"
#define DEFAULT_UNARY_TIMEOUT_MS 30000

/* Exit statuses beyond the aiw_code values 1..17 (sysexits.h numbers). */
enum {
  EXIT_USAGE = 64,
  EXIT_NOINPUT = 66,
  EXIT_SOFTWARE = 70,
  EXIT_OSERR = 71,
  EXIT_IOERR = 74,
  EXIT_SIGINT = 130,
  EXIT_SIGTERM = 143
};

/* ------------------------------------------------------------------------ */
/* Signals                                                                  */
/* ------------------------------------------------------------------------ */

static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;
static aiw_cancel_token *signal_token; /* guarded by signal_lock */
static int signal_received;            /* guarded by signal_lock */
static sigset_t signal_set;

static void *signal_thread(void *arg)
{
  (void)arg;
  for (;;) {
    int sig = 0;
    if (sigwait(&signal_set, &sig) != 0)
      continue;
    pthread_mutex_lock(&signal_lock);
    if (signal_received != 0) {
      /* Second signal: the user insists. */
      _exit(sig == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM);
    }
    signal_received = sig;
    if (signal_token != NULL)
      aiw_cancel_token_cancel(signal_token);
    pthread_mutex_unlock(&signal_lock);
  }
  return NULL;
}

/* Blocks SIGINT/SIGTERM in this thread (and so in every thread created
 * later, libaiw's included) and starts the thread that takes them. */
static int signals_start(void)
{
  sigemptyset(&signal_set);
  sigaddset(&signal_set, SIGINT);
  sigaddset(&signal_set, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &signal_set, NULL) != 0)
    return -1;
  pthread_t thread;
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0)
    return -1;
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&thread, &attr, signal_thread, NULL);
  pthread_attr_destroy(&attr);
  return rc == 0 ? 0 : -1;
}

static void signals_set_token(aiw_cancel_token *token)
{
  pthread_mutex_lock(&signal_lock);
  signal_token = token;
  if (token != NULL && signal_received != 0)
    aiw_cancel_token_cancel(token);
  pthread_mutex_unlock(&signal_lock);
}

static int signals_received(void)
{
  pthread_mutex_lock(&signal_lock);
  int sig = signal_received;
  pthread_mutex_unlock(&signal_lock);
  return sig;
}

/* ------------------------------------------------------------------------ */
/* Options shared by every command                                          */
/* ------------------------------------------------------------------------ */

struct cli {
  const char *command; /* NULL before the command word */
  const char *target;
  int64_t timeout_ms;
  int timeout_set;
  int json;
  int tls;
  const char *ca_file, *cert_file, *key_file, *server_name;
  aiw_call_options *call_options;
};

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
  OPT_IMAGES
};

/* Global options are accepted before and after the command word. */
#define GLOBAL_LONG_OPTIONS                                                                               \
  {"target", required_argument, NULL, 't'}, {"timeout", required_argument, NULL, OPT_TIMEOUT},              \
      {"header", required_argument, NULL, 'H'}, {"json", no_argument, NULL, OPT_JSON},                       \
      {"tls", no_argument, NULL, OPT_TLS}, {"ca", required_argument, NULL, OPT_CA},                          \
      {"cert", required_argument, NULL, OPT_CERT}, {"key", required_argument, NULL, OPT_KEY},                \
      {"server-name", required_argument, NULL, OPT_SERVER_NAME}, {"help", no_argument, NULL, 'h'},           \
      {"version", no_argument, NULL, OPT_VERSION}
#define GLOBAL_SHORT_OPTIONS "t:H:h"

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
    "  -h, --help            this help; `aiw COMMAND --help` for a command's\n"
    "  --version             the versions of aiw and of the libaiw it runs on\n"
    "\n"
    "commands\n"
    "  embed   [--type semantic|visual|both] (TEXT | --image FILE [--format FMT])\n"
    "  search  [--type semantic|visual|hybrid] [--limit N] [--threshold F] [--filter F]... QUERY\n"
    "  process --asset-id ID --path OBJECT --mime TYPE [--ocr] [--caption] [--embed] [--summary]\n"
    "          [--chunk-size N]\n"
    "  chat    [--history ROLE:CONTENT[@UNIX_TS]]... [--max-docs N] [--threshold F] [--images] QUERY\n"
    "\n"
    "exit status: 0 success; 1..16 the gRPC status code of a failed call; 17 the service\n"
    "answered success=false; 64 usage error; 66 an input file cannot be read; 70 internal\n"
    "error; 71 out of memory; 74 output error; 130 interrupted (Ctrl-C).\n"
    "Errors are printed to stderr as `aiw: CODE_NAME: message`. See aiw(1).\n";

/* Prints `aiw: USAGE: ...` and a pointer to the help; returns 64. */
static int usage_error(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const struct cli *cli, const char *fmt, ...)
{
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

static int out_of_memory(void)
{
  fputs("aiw: OUT_OF_MEMORY: out of memory\n", stderr);
  return EXIT_OSERR;
}

static int print_version(void)
{
  printf("aiw %s\nlibaiw %s (built against %s), gRPC core %s\n", AIW_CLI_VERSION, aiw_version(), AIW_VERSION_STRING,
         aiw_grpc_version());
  return fflush(stdout) == 0 ? 0 : EXIT_IOERR;
}

/* Adds one -H K=V to the call options. 0 or an exit status. */
static int add_header(struct cli *cli, const char *spec)
{
  char *key = NULL;
  const char *value = NULL;
  int rc = args_split_header(spec, &key, &value);
  if (rc == -2)
    return out_of_memory();
  if (rc != 0)
    return usage_error(cli, "-H wants KEY=VALUE, got '%s'", spec);
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
  if (code == AIW_OUT_OF_MEMORY)
    return out_of_memory();
  if (code != AIW_OK)
    return usage_error(cli, "bad header '%s': %s", spec, err.message);
  return 0;
}

/*
 * Handles a global option met by getopt_long (c, optarg). Returns -1 if `c`
 * is not a global option, 0 when handled, or an exit status (>= 0 with
 * *stop set: --help, --version, an error).
 */
static int handle_global_option(struct cli *cli, int c, const char *arg, int *stop)
{
  int rc = 0;
  *stop = 0;
  switch (c) {
  case 't':
    if (arg[0] == '\0') {
      *stop = 1;
      return usage_error(cli, "--target must not be empty");
    }
    cli->target = arg;
    return 0;
  case OPT_TIMEOUT:
    if (args_parse_int64(arg, 0, INT64_MAX / 2, &cli->timeout_ms) != 0) {
      *stop = 1;
      return usage_error(cli, "--timeout wants milliseconds >= 0, got '%s'", arg);
    }
    cli->timeout_set = 1;
    return 0;
  case 'H':
    rc = add_header(cli, arg);
    *stop = rc != 0;
    return rc;
  case OPT_JSON:
    cli->json = 1;
    return 0;
  case OPT_TLS:
    cli->tls = 1;
    return 0;
  case OPT_CA:
    cli->tls = 1;
    cli->ca_file = arg;
    return 0;
  case OPT_CERT:
    cli->tls = 1;
    cli->cert_file = arg;
    return 0;
  case OPT_KEY:
    cli->tls = 1;
    cli->key_file = arg;
    return 0;
  case OPT_SERVER_NAME:
    cli->tls = 1;
    cli->server_name = arg;
    return 0;
  case OPT_VERSION:
    *stop = 1;
    return print_version();
  default:
    return -1;
  }
}

/* Reports a getopt_long error ('?' or ':'); returns 64. */
static int getopt_error(const struct cli *cli, int c, char *const argv[])
{
  const char *word = argv[optind - 1];
  if (c == ':') {
    if (strncmp(word, "--", 2) == 0)
      return usage_error(cli, "option %s needs an argument", word);
    if (optopt != 0 && optopt < 256)
      return usage_error(cli, "option -%c needs an argument", optopt);
    return usage_error(cli, "option %s needs an argument", word);
  }
  if (strncmp(word, "--", 2) == 0)
    return usage_error(cli, "unknown or ambiguous option %s", word);
  if (optopt != 0 && optopt < 256)
    return usage_error(cli, "unknown option -%c", optopt);
  return usage_error(cli, "unknown option %s", word);
}

/* ------------------------------------------------------------------------ */
/* Calls: client, call options, outcome                                     */
/* ------------------------------------------------------------------------ */

/* Reads a PEM file named by an option; 0, or 66 after reporting. */
static int read_pem(const char *option, const char *path, char **out)
{
  size_t len = 0;
  if (args_read_file(path, out, &len) != 0) {
    fprintf(stderr, "aiw: NO_INPUT: cannot read %s file '%s': %s\n", option, path, strerror(errno));
    return EXIT_NOINPUT;
  }
  return 0;
}

/* The exit status for a call that ended with `code`. */
static int exit_status_for(aiw_code code, const aiw_error *err)
{
  int sig = signals_received();
  if (code == AIW_CANCELLED && sig != 0)
    return sig == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM;
  /* Refused by the library before any RPC: an argument the user gave. */
  if (code == AIW_INVALID_ARGUMENT && err->grpc_status == -1)
    return EXIT_USAGE;
  if (code >= AIW_CANCELLED && code <= AIW_SERVICE_ERROR)
    return (int)code;
  if (code == AIW_OUT_OF_MEMORY)
    return EXIT_OSERR;
  return EXIT_SOFTWARE; /* RECURSIVE_API_CALL, or a code newer than aiw */
}

/* Prints `aiw: CODE_NAME: message` for a failed call; returns its status. */
static int report_call_error(aiw_code code, const aiw_error *err)
{
  int status = exit_status_for(code, err);
  const char *message = err->message[0] != '\0' ? err->message : aiw_strerror(code);
  if (status == EXIT_SIGINT || status == EXIT_SIGTERM)
    message = status == EXIT_SIGINT ? "interrupted (SIGINT)" : "interrupted (SIGTERM)";
  fprintf(stderr, "aiw: %s: %s\n", aiw_code_name(code), message);
  return status;
}

static int output_error(int saved_errno)
{
  fprintf(stderr, "aiw: OUTPUT_ERROR: cannot write to standard output: %s\n", strerror(saved_errno));
  return EXIT_IOERR;
}

/* A setter refused an argument; returns the exit status. */
static int bad_argument(const struct cli *cli, aiw_code code, const char *what)
{
  if (code == AIW_OUT_OF_MEMORY)
    return out_of_memory();
  return usage_error(cli, "invalid %s (%s; strings must be valid UTF-8)", what, aiw_strerror(code));
}

/*
 * Creates the client and finishes the call options (deadline, cancel
 * token). 0, or an exit status after reporting.
 */
static int connect_client(struct cli *cli, aiw_cancel_token *token, aiw_client **out)
{
  *out = NULL;
  int64_t timeout = cli->timeout_set ? cli->timeout_ms
                                     : (strcmp(cli->command, "chat") == 0 ? 0 : DEFAULT_UNARY_TIMEOUT_MS);
  if (aiw_call_options_set_timeout_ms(cli->call_options, timeout) != AIW_OK ||
      aiw_call_options_set_cancel_token(cli->call_options, token) != AIW_OK)
    return EXIT_SOFTWARE;

  if ((cli->cert_file == NULL) != (cli->key_file == NULL))
    return usage_error(cli, "--cert and --key go together (mutual TLS)");

  aiw_client_options *opts = aiw_client_options_new();
  if (opts == NULL)
    return out_of_memory();
  int status = 0;
  char *ca = NULL, *cert = NULL, *key = NULL;
  aiw_client_options_set_user_agent(opts, "aiw/" AIW_CLI_VERSION);
  if (cli->tls) {
    if (cli->ca_file != NULL)
      status = read_pem("--ca", cli->ca_file, &ca);
    if (status == 0 && cli->cert_file != NULL)
      status = read_pem("--cert", cli->cert_file, &cert);
    if (status == 0 && cli->key_file != NULL)
      status = read_pem("--key", cli->key_file, &key);
    if (status == 0) {
      aiw_code code = aiw_client_options_set_tls(opts, ca, cert, key);
      if (code == AIW_OK && cli->server_name != NULL)
        code = aiw_client_options_set_server_name(opts, cli->server_name);
      if (code != AIW_OK)
        status = code == AIW_OUT_OF_MEMORY ? out_of_memory()
                                           : usage_error(cli, "bad TLS options: %s", aiw_strerror(code));
    }
  }
  if (status == 0) {
    aiw_error err;
    aiw_code code = aiw_client_new(cli->target, opts, out, &err);
    if (code != AIW_OK)
      status = report_call_error(code, &err);
  }
  free(ca);
  free(cert);
  if (key != NULL) {
    memset(key, 0, strlen(key));
    free(key);
  }
  aiw_client_options_free(opts);
  return status;
}

/* Control characters would garble a table or a terminal: shown as spaces. */
static void print_clean(FILE *out, const char *s)
{
  for (; *s != '\0'; s++)
    fputc(((unsigned char)*s < 0x20 || *s == 0x7f) ? ' ' : *s, out);
}

/* A float the way people read it: shortest form that reads back the same. */
static void format_float(char *buf, size_t size, float f)
{
  for (int digits = 1; digits <= 9; digits++) {
    snprintf(buf, size, "%.*g", digits, (double)f);
    if (strtof(buf, NULL) == f)
      return;
  }
}

/* ------------------------------------------------------------------------ */
/* embed                                                                    */
/* ------------------------------------------------------------------------ */

static const char embed_help[] =
    "usage: aiw [global options] embed [--type semantic|visual|both] (TEXT | --image FILE [--format FMT])\n"
    "\n"
    "GetEmbedding: the embedding vector(s) of a text or of an image.\n"
    "\n"
    "  --type T        semantic (1024 dims), visual (1152 dims) or both; default: the\n"
    "                  service's choice (semantic for text, visual for images)\n"
    "  --image FILE    embed the bytes of FILE ('-' for standard input) instead of TEXT\n"
    "  --format FMT    the image format (png, jpg, ...); default: FILE's extension\n"
    "\n"
    "Prints each vector's size and first values (all of them with --json).\n";

static void print_vector(const char *name, const float *v, size_t n)
{
  if (n == 0)
    return;
  printf("%s: %zu dims:", name, n);
  for (size_t i = 0; i < n && i < 8; i++) {
    char buf[40];
    format_float(buf, sizeof buf, v[i]);
    printf(" %s", buf);
  }
  printf("%s\n", n > 8 ? " ..." : "");
}

static int cmd_embed(struct cli *cli, int argc, char **argv)
{
  static const struct option options[] = {{"type", required_argument, NULL, OPT_TYPE},
                                          {"image", required_argument, NULL, OPT_IMAGE},
                                          {"format", required_argument, NULL, OPT_FORMAT},
                                          GLOBAL_LONG_OPTIONS,
                                          {NULL, 0, NULL, 0}};
  const char *image = NULL, *format = NULL, *type_name = NULL;
  int c, stop, rc;
  while ((c = getopt_long(argc, argv, ":" GLOBAL_SHORT_OPTIONS, options, NULL)) != -1) {
    switch (c) {
    case OPT_TYPE:
      type_name = optarg;
      break;
    case OPT_IMAGE:
      image = optarg;
      break;
    case OPT_FORMAT:
      format = optarg;
      break;
    case 'h':
      fputs(embed_help, stdout);
      return 0;
    case '?':
    case ':':
      return getopt_error(cli, c, argv);
    default:
      rc = handle_global_option(cli, c, optarg, &stop);
      if (stop)
        return rc;
    }
  }
  aiw_embedding_type type = AIW_EMBEDDING_UNKNOWN;
  if (type_name != NULL) {
    if (strcasecmp(type_name, "semantic") == 0)
      type = AIW_EMBEDDING_SEMANTIC;
    else if (strcasecmp(type_name, "visual") == 0)
      type = AIW_EMBEDDING_VISUAL;
    else if (strcasecmp(type_name, "both") == 0)
      type = AIW_EMBEDDING_BOTH;
    else
      return usage_error(cli, "--type is semantic, visual or both, not '%s'", type_name);
  }
  int npos = argc - optind;
  if (image != NULL && npos > 0)
    return usage_error(cli, "give TEXT or --image FILE, not both");
  if (image == NULL && npos != 1)
    return usage_error(cli, npos == 0 ? "embed needs TEXT or --image FILE" : "embed takes one TEXT (quote it)");
  if (format != NULL && image == NULL)
    return usage_error(cli, "--format goes with --image");

  aiw_embedding_request *req = aiw_embedding_request_new();
  if (req == NULL)
    return out_of_memory();
  aiw_code code;
  if (image != NULL) {
    char *data = NULL;
    size_t len = 0;
    if (args_read_file(image, &data, &len) != 0) {
      fprintf(stderr, "aiw: NO_INPUT: cannot read image file '%s': %s\n", image, strerror(errno));
      aiw_embedding_request_free(req);
      return EXIT_NOINPUT;
    }
    char ext[16] = "";
    if (format == NULL) {
      const char *base = strrchr(image, '/');
      base = base != NULL ? base + 1 : image;
      const char *dot = strrchr(base, '.');
      if (dot != NULL && dot != base && strlen(dot + 1) < sizeof ext) {
        for (size_t i = 0; dot[1 + i] != '\0'; i++)
          ext[i] = (char)((dot[1 + i] >= 'A' && dot[1 + i] <= 'Z') ? dot[1 + i] - 'A' + 'a' : dot[1 + i]);
      }
      format = ext;
    }
    code = aiw_embedding_request_set_image(req, data, len, format);
    free(data);
    if (code != AIW_OK) {
      aiw_embedding_request_free(req);
      return bad_argument(cli, code, "--format");
    }
  } else {
    code = aiw_embedding_request_set_text(req, argv[optind]);
    if (code != AIW_OK) {
      aiw_embedding_request_free(req);
      return bad_argument(cli, code, "TEXT");
    }
  }
  if (type != AIW_EMBEDDING_UNKNOWN)
    aiw_embedding_request_set_type(req, type);

  aiw_cancel_token *token = aiw_cancel_token_new();
  aiw_client *client = NULL;
  int status = token == NULL ? out_of_memory() : connect_client(cli, token, &client);
  if (status == 0) {
    signals_set_token(token);
    aiw_embedding_response *resp = NULL;
    aiw_error err;
    code = aiw_get_embedding(client, req, cli->call_options, &resp, &err);
    signals_set_token(NULL);
    if (resp != NULL) {
      if (cli->json) {
        if (aiwj_print(stdout, aiwj_embedding_response(resp)) != 0)
          status = output_error(errno);
      } else {
        size_t n = 0;
        const float *v = aiw_embedding_response_semantic_vector(resp, &n);
        print_vector("semantic", v, n);
        v = aiw_embedding_response_visual_vector(resp, &n);
        print_vector("visual", v, n);
        const char *error = aiw_embedding_response_error(resp);
        if (error[0] != '\0')
          printf("error: %s\n", error);
        if (fflush(stdout) != 0)
          status = output_error(errno);
      }
    }
    if (status == 0 && code != AIW_OK)
      status = report_call_error(code, &err);
    aiw_embedding_response_free(resp);
  }
  aiw_call_options_set_cancel_token(cli->call_options, NULL);
  aiw_client_free(client);
  aiw_cancel_token_free(token);
  aiw_embedding_request_free(req);
  return status;
}

/* ------------------------------------------------------------------------ */
/* search                                                                   */
/* ------------------------------------------------------------------------ */

static const char search_help[] =
    "usage: aiw [global options] search [--type semantic|visual|hybrid] [--limit N] [--threshold F]\n"
    "                                   [--filter F]... QUERY\n"
    "\n"
    "VectorSearch: the assets that best match QUERY.\n"
    "\n"
    "  --type T        semantic, visual or hybrid; default: the service's choice\n"
    "  --limit N       at most N results (0: the service's default)\n"
    "  --threshold F   only results scoring at least F\n"
    "  --filter F      a filter for the service, repeatable\n"
    "\n"
    "Prints a table of the results (everything, one JSON line, with --json).\n";

static void print_search_table(const aiw_search_response *resp)
{
  size_t n = aiw_search_response_result_count(resp);
  int id_width = 8, mime_width = 9;
  for (size_t i = 0; i < n; i++) {
    const aiw_search_result *r = aiw_search_response_result(resp, i);
    int w = (int)strlen(aiw_search_result_asset_id(r));
    if (w > id_width)
      id_width = w < 40 ? w : 40;
    w = (int)strlen(aiw_search_result_mime_type(r));
    if (w > mime_width)
      mime_width = w < 24 ? w : 24;
  }
  if (n > 0) {
    printf("%-4s %-8s %-*s %-*s %s\n", "#", "SCORE", id_width, "ASSET_ID", mime_width, "MIME_TYPE", "CAPTION");
    for (size_t i = 0; i < n; i++) {
      const aiw_search_result *r = aiw_search_response_result(resp, i);
      printf("%-4zu %-8.4f ", i + 1, (double)aiw_search_result_score(r));
      const char *id = aiw_search_result_asset_id(r), *mime = aiw_search_result_mime_type(r);
      print_clean(stdout, id);
      printf("%*s ", id_width - (int)strlen(id) > 0 ? id_width - (int)strlen(id) : 0, "");
      print_clean(stdout, mime);
      printf("%*s ", mime_width - (int)strlen(mime) > 0 ? mime_width - (int)strlen(mime) : 0, "");
      print_clean(stdout, aiw_search_result_caption(r));
      putchar('\n');
    }
  }
  printf("%zu result%s shown, %d matched\n", n, n == 1 ? "" : "s", (int)aiw_search_response_total_count(resp));
  const char *error = aiw_search_response_error(resp);
  if (error[0] != '\0')
    printf("error: %s\n", error);
}

static int cmd_search(struct cli *cli, int argc, char **argv)
{
  static const struct option options[] = {{"type", required_argument, NULL, OPT_TYPE},
                                          {"limit", required_argument, NULL, OPT_LIMIT},
                                          {"threshold", required_argument, NULL, OPT_THRESHOLD},
                                          {"filter", required_argument, NULL, OPT_FILTER},
                                          GLOBAL_LONG_OPTIONS,
                                          {NULL, 0, NULL, 0}};
  aiw_search_request *req = aiw_search_request_new();
  if (req == NULL)
    return out_of_memory();
  int c, stop, rc = -1;
  int64_t limit;
  float threshold;
  aiw_code code;
  while (rc < 0 && (c = getopt_long(argc, argv, ":" GLOBAL_SHORT_OPTIONS, options, NULL)) != -1) {
    switch (c) {
    case OPT_TYPE:
      if (strcasecmp(optarg, "semantic") == 0)
        aiw_search_request_set_type(req, AIW_SEARCH_SEMANTIC);
      else if (strcasecmp(optarg, "visual") == 0)
        aiw_search_request_set_type(req, AIW_SEARCH_VISUAL);
      else if (strcasecmp(optarg, "hybrid") == 0)
        aiw_search_request_set_type(req, AIW_SEARCH_HYBRID);
      else
        rc = usage_error(cli, "--type is semantic, visual or hybrid, not '%s'", optarg);
      break;
    case OPT_LIMIT:
      if (args_parse_int64(optarg, 0, INT32_MAX, &limit) != 0)
        rc = usage_error(cli, "--limit wants an integer 0..%d, got '%s'", INT32_MAX, optarg);
      else
        aiw_search_request_set_limit(req, (int32_t)limit);
      break;
    case OPT_THRESHOLD:
      if (args_parse_float(optarg, &threshold) != 0)
        rc = usage_error(cli, "--threshold wants a number, got '%s'", optarg);
      else
        aiw_search_request_set_threshold(req, threshold);
      break;
    case OPT_FILTER:
      code = aiw_search_request_add_filter(req, optarg);
      if (code != AIW_OK)
        rc = bad_argument(cli, code, "--filter");
      break;
    case 'h':
      fputs(search_help, stdout);
      rc = 0;
      break;
    case '?':
    case ':':
      rc = getopt_error(cli, c, argv);
      break;
    default:
      rc = handle_global_option(cli, c, optarg, &stop);
      if (!stop)
        rc = -1;
    }
  }
  if (rc < 0 && argc - optind != 1)
    rc = usage_error(cli, argc - optind == 0 ? "search needs a QUERY" : "search takes one QUERY (quote it)");
  if (rc < 0 && (code = aiw_search_request_set_query(req, argv[optind])) != AIW_OK)
    rc = bad_argument(cli, code, "QUERY");
  if (rc >= 0) {
    aiw_search_request_free(req);
    return rc;
  }

  aiw_cancel_token *token = aiw_cancel_token_new();
  aiw_client *client = NULL;
  int status = token == NULL ? out_of_memory() : connect_client(cli, token, &client);
  if (status == 0) {
    signals_set_token(token);
    aiw_search_response *resp = NULL;
    aiw_error err;
    code = aiw_vector_search(client, req, cli->call_options, &resp, &err);
    signals_set_token(NULL);
    if (resp != NULL) {
      if (cli->json) {
        if (aiwj_print(stdout, aiwj_search_response(resp)) != 0)
          status = output_error(errno);
      } else {
        print_search_table(resp);
        if (fflush(stdout) != 0)
          status = output_error(errno);
      }
    }
    if (status == 0 && code != AIW_OK)
      status = report_call_error(code, &err);
    aiw_search_response_free(resp);
  }
  aiw_call_options_set_cancel_token(cli->call_options, NULL);
  aiw_client_free(client);
  aiw_cancel_token_free(token);
  aiw_search_request_free(req);
  return status;
}

/* ------------------------------------------------------------------------ */
/* process                                                                  */
/* ------------------------------------------------------------------------ */

static const char process_help[] =
    "usage: aiw [global options] process --asset-id ID --path OBJECT --mime TYPE [--ocr] [--caption]\n"
    "                                    [--embed] [--summary] [--chunk-size N]\n"
    "\n"
    "ProcessAsset: ask the service to process one stored asset.\n"
    "\n"
    "  --asset-id ID     the asset's id (required)\n"
    "  --path OBJECT     its object path, bucket/object (required)\n"
    "  --mime TYPE       its MIME type (required)\n"
    "  --ocr, --caption, --embed, --summary\n"
    "                    enable OCR, captioning, embedding, summarising\n"
    "  --chunk-size N    the largest text chunk\n"
    "ProcessingOptions are sent when any of the last five is given.\n"
    "\n"
    "Prints the stage and progress the service reports.\n";

static int cmd_process(struct cli *cli, int argc, char **argv)
{
  static const struct option options[] = {{"asset-id", required_argument, NULL, OPT_ASSET_ID},
                                          {"path", required_argument, NULL, OPT_PATH},
                                          {"mime", required_argument, NULL, OPT_MIME},
                                          {"ocr", no_argument, NULL, OPT_OCR},
                                          {"caption", no_argument, NULL, OPT_CAPTION},
                                          {"embed", no_argument, NULL, OPT_EMBED},
                                          {"summary", no_argument, NULL, OPT_SUMMARY},
                                          {"chunk-size", required_argument, NULL, OPT_CHUNK_SIZE},
                                          GLOBAL_LONG_OPTIONS,
                                          {NULL, 0, NULL, 0}};
  aiw_asset_request *req = aiw_asset_request_new();
  if (req == NULL)
    return out_of_memory();
  int c, stop, rc = -1;
  int have_id = 0, have_path = 0, have_mime = 0;
  int64_t chunk_size;
  aiw_code code;
  while (rc < 0 && (c = getopt_long(argc, argv, ":" GLOBAL_SHORT_OPTIONS, options, NULL)) != -1) {
    switch (c) {
    case OPT_ASSET_ID:
      have_id = 1;
      if ((code = aiw_asset_request_set_asset_id(req, optarg)) != AIW_OK)
        rc = bad_argument(cli, code, "--asset-id");
      break;
    case OPT_PATH:
      have_path = 1;
      if ((code = aiw_asset_request_set_file_path(req, optarg)) != AIW_OK)
        rc = bad_argument(cli, code, "--path");
      break;
    case OPT_MIME:
      have_mime = 1;
      if ((code = aiw_asset_request_set_mime_type(req, optarg)) != AIW_OK)
        rc = bad_argument(cli, code, "--mime");
      break;
    case OPT_OCR:
      aiw_asset_request_set_enable_ocr(req, 1);
      break;
    case OPT_CAPTION:
      aiw_asset_request_set_enable_caption(req, 1);
      break;
    case OPT_EMBED:
      aiw_asset_request_set_enable_embedding(req, 1);
      break;
    case OPT_SUMMARY:
      aiw_asset_request_set_enable_summary(req, 1);
      break;
    case OPT_CHUNK_SIZE:
      if (args_parse_int64(optarg, INT32_MIN, INT32_MAX, &chunk_size) != 0)
        rc = usage_error(cli, "--chunk-size wants an integer, got '%s'", optarg);
      else
        aiw_asset_request_set_max_chunk_size(req, (int32_t)chunk_size);
      break;
    case 'h':
      fputs(process_help, stdout);
      rc = 0;
      break;
    case '?':
    case ':':
      rc = getopt_error(cli, c, argv);
      break;
    default:
      rc = handle_global_option(cli, c, optarg, &stop);
      if (!stop)
        rc = -1;
    }
  }
  if (rc < 0 && optind < argc)
    rc = usage_error(cli, "process takes no arguments, got '%s'", argv[optind]);
  if (rc < 0 && !(have_id && have_path && have_mime))
    rc = usage_error(cli, "process needs --asset-id, --path and --mime");
  if (rc >= 0) {
    aiw_asset_request_free(req);
    return rc;
  }

  aiw_cancel_token *token = aiw_cancel_token_new();
  aiw_client *client = NULL;
  int status = token == NULL ? out_of_memory() : connect_client(cli, token, &client);
  if (status == 0) {
    signals_set_token(token);
    aiw_process_status *resp = NULL;
    aiw_error err;
    code = aiw_process_asset(client, req, cli->call_options, &resp, &err);
    signals_set_token(NULL);
    if (resp != NULL) {
      if (cli->json) {
        if (aiwj_print(stdout, aiwj_process_status(resp)) != 0)
          status = output_error(errno);
      } else {
        int stage = (int)aiw_process_status_stage(resp);
        const char *name = aiw_processing_stage_name(stage);
        printf("success: %s\n", aiw_process_status_success(resp) ? "true" : "false");
        if (name != NULL)
          printf("stage: %s\n", name);
        else
          printf("stage: %d\n", stage);
        printf("progress: %.4g%%\n", (double)aiw_process_status_progress(resp) * 100.0);
        const char *error = aiw_process_status_error(resp);
        if (error[0] != '\0')
          printf("error: %s\n", error);
        if (fflush(stdout) != 0)
          status = output_error(errno);
      }
    }
    if (status == 0 && code != AIW_OK)
      status = report_call_error(code, &err);
    aiw_process_status_free(resp);
  }
  aiw_call_options_set_cancel_token(cli->call_options, NULL);
  aiw_client_free(client);
  aiw_cancel_token_free(token);
  aiw_asset_request_free(req);
  return status;
}

/* ------------------------------------------------------------------------ */
/* chat                                                                     */
/* ------------------------------------------------------------------------ */

static const char chat_help[] =
    "usage: aiw [global options] chat [--history ROLE:CONTENT[@UNIX_TS]]... [--max-docs N]\n"
    "                                 [--threshold F] [--images] QUERY\n"
    "\n"
    "ChatStream: ask a question; the answer streams in as the service writes it.\n"
    "\n"
    "  --history R:C[@TS]  an earlier message (role, content, Unix time), repeatable, in order;\n"
    "                      a trailing @digits is the timestamp\n"
    "  --max-docs N        at most N context documents\n"
    "  --threshold F       the documents' similarity threshold\n"
    "  --images            include images among the documents\n"
    "ChatOptions are sent when any of the last three is given. No deadline unless --timeout.\n"
    "\n"
    "Prints the chunks as they arrive, then a newline (unless the text ended with one) and\n"
    "the sources, one per line. With --json, one line per ChatResponse message.\n"
    "Ctrl-C cancels the call, keeps what arrived and exits 130.\n";

struct chat_source {
  char *asset_id;
  char *caption;
  float score;
};

struct chat_state {
  int json;
  int wrote_text;
  int at_line_start;
  int write_errno; /* non-zero: writing stdout failed, the stream was stopped */
  struct chat_source *sources;
  size_t source_count;
};

static int chat_on_chunk(const aiw_chat_response *chunk, void *userdata)
{
  struct chat_state *st = userdata;
  if (st->json) {
    if (aiwj_print(stdout, aiwj_chat_response(chunk)) != 0) {
      st->write_errno = errno != 0 ? errno : EIO;
      return 1;
    }
    return 0;
  }
  const char *text = aiw_chat_response_chunk(chunk);
  size_t len = strlen(text);
  if (len > 0) {
    if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
      st->write_errno = errno != 0 ? errno : EIO;
      return 1;
    }
    st->wrote_text = 1;
    st->at_line_start = text[len - 1] == '\n';
  }
  size_t n = aiw_chat_response_source_count(chunk);
  if (n > 0) {
    struct chat_source *more = realloc(st->sources, (st->source_count + n) * sizeof *more);
    if (more == NULL) {
      st->write_errno = ENOMEM;
      return 1;
    }
    st->sources = more;
    for (size_t i = 0; i < n; i++) {
      const aiw_search_result *r = aiw_chat_response_source(chunk, i);
      struct chat_source *s = &st->sources[st->source_count];
      s->asset_id = strdup(aiw_search_result_asset_id(r));
      s->caption = strdup(aiw_search_result_caption(r));
      s->score = aiw_search_result_score(r);
      st->source_count++;
      if (s->asset_id == NULL || s->caption == NULL) {
        st->write_errno = ENOMEM;
        return 1;
      }
    }
  }
  return 0;
}

static int cmd_chat(struct cli *cli, int argc, char **argv)
{
  static const struct option options[] = {{"history", required_argument, NULL, OPT_HISTORY},
                                          {"max-docs", required_argument, NULL, OPT_MAX_DOCS},
                                          {"threshold", required_argument, NULL, OPT_THRESHOLD},
                                          {"images", no_argument, NULL, OPT_IMAGES},
                                          GLOBAL_LONG_OPTIONS,
                                          {NULL, 0, NULL, 0}};
  aiw_chat_request *req = aiw_chat_request_new();
  if (req == NULL)
    return out_of_memory();
  /* The CLI prints chunks as they arrive, so it always asks for streaming. */
  aiw_chat_request_set_stream_response(req, 1);
  int c, stop, rc = -1, split;
  int64_t number;
  float threshold;
  aiw_code code;
  char *role = NULL, *content = NULL;
  while (rc < 0 && (c = getopt_long(argc, argv, ":" GLOBAL_SHORT_OPTIONS, options, NULL)) != -1) {
    switch (c) {
    case OPT_HISTORY:
      split = args_split_history(optarg, &role, &content, &number);
      if (split == -2) {
        rc = out_of_memory();
      } else if (split != 0) {
        rc = usage_error(cli, "--history wants ROLE:CONTENT[@UNIX_TS], got '%s'", optarg);
      } else {
        code = aiw_chat_request_add_history(req, role, content, number);
        if (code != AIW_OK)
          rc = bad_argument(cli, code, "--history");
        free(role);
        free(content);
      }
      break;
    case OPT_MAX_DOCS:
      if (args_parse_int64(optarg, INT32_MIN, INT32_MAX, &number) != 0)
        rc = usage_error(cli, "--max-docs wants an integer, got '%s'", optarg);
      else
        aiw_chat_request_set_max_context_docs(req, (int32_t)number);
      break;
    case OPT_THRESHOLD:
      if (args_parse_float(optarg, &threshold) != 0)
        rc = usage_error(cli, "--threshold wants a number, got '%s'", optarg);
      else
        aiw_chat_request_set_similarity_threshold(req, threshold);
      break;
    case OPT_IMAGES:
      aiw_chat_request_set_include_images(req, 1);
      break;
    case 'h':
      fputs(chat_help, stdout);
      rc = 0;
      break;
    case '?':
    case ':':
      rc = getopt_error(cli, c, argv);
      break;
    default:
      rc = handle_global_option(cli, c, optarg, &stop);
      if (!stop)
        rc = -1;
    }
  }
  if (rc < 0 && argc - optind != 1)
    rc = usage_error(cli, argc - optind == 0 ? "chat needs a QUERY" : "chat takes one QUERY (quote it)");
  if (rc < 0 && (code = aiw_chat_request_set_query(req, argv[optind])) != AIW_OK)
    rc = bad_argument(cli, code, "QUERY");
  if (rc >= 0) {
    aiw_chat_request_free(req);
    return rc;
  }

  aiw_cancel_token *token = aiw_cancel_token_new();
  aiw_client *client = NULL;
  int status = token == NULL ? out_of_memory() : connect_client(cli, token, &client);
  if (status == 0) {
    struct chat_state st = {.json = cli->json, .at_line_start = 1};
    aiw_error err;
    signals_set_token(token);
    code = aiw_chat_stream(client, req, cli->call_options, chat_on_chunk, &st, &err);
    signals_set_token(NULL);
    if (!st.json && st.write_errno == 0) {
      if (st.wrote_text && !st.at_line_start)
        putchar('\n');
      for (size_t i = 0; i < st.source_count; i++) {
        printf("[%zu] ", i + 1);
        print_clean(stdout, st.sources[i].asset_id);
        printf(" (score %.4f)", (double)st.sources[i].score);
        if (st.sources[i].caption[0] != '\0') {
          putchar(' ');
          print_clean(stdout, st.sources[i].caption);
        }
        putchar('\n');
      }
      if (fflush(stdout) != 0)
        st.write_errno = errno != 0 ? errno : EIO;
    }
    if (code == AIW_CALLBACK_ABORTED && st.write_errno == ENOMEM)
      status = out_of_memory();
    else if (st.write_errno != 0)
      status = output_error(st.write_errno);
    else if (code != AIW_OK)
      status = report_call_error(code, &err);
    for (size_t i = 0; i < st.source_count; i++) {
      free(st.sources[i].asset_id);
      free(st.sources[i].caption);
    }
    free(st.sources);
  }
  aiw_call_options_set_cancel_token(cli->call_options, NULL);
  aiw_client_free(client);
  aiw_cancel_token_free(token);
  aiw_chat_request_free(req);
  return status;
}

/* ------------------------------------------------------------------------ */
/* main                                                                     */
/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
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
  cli.call_options = aiw_call_options_new();
  if (cli.call_options == NULL)
    return out_of_memory();

  static const struct option global_options[] = {GLOBAL_LONG_OPTIONS, {NULL, 0, NULL, 0}};
  int c, stop, status = -1;
  opterr = 0;
  /* '+': stop at the command word; its options are parsed by the command. */
  while (status < 0 && (c = getopt_long(argc, argv, "+:" GLOBAL_SHORT_OPTIONS, global_options, NULL)) != -1) {
    if (c == 'h') {
      fputs(global_help, stdout);
      status = 0;
    } else if (c == '?' || c == ':') {
      status = getopt_error(&cli, c, argv);
    } else {
      int rc = handle_global_option(&cli, c, optarg, &stop);
      if (stop)
        status = rc;
    }
  }
  if (status < 0 && optind >= argc)
    status = usage_error(&cli, "no COMMAND (embed, search, process or chat)");
  if (status < 0) {
    static const struct {
      const char *name;
      int (*run)(struct cli *, int, char **);
    } commands[] = {{"embed", cmd_embed}, {"search", cmd_search}, {"process", cmd_process}, {"chat", cmd_chat}};
    const char *word = argv[optind];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
      if (strcmp(word, commands[i].name) == 0) {
        cli.command = commands[i].name;
        /* The command's own argv: argv[0] is the command word. */
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;
        optind = 0; /* re-initialise GNU getopt (it permutes again) */
        status = commands[i].run(&cli, sub_argc, sub_argv);
        break;
      }
    }
    if (cli.command == NULL)
      status = usage_error(&cli, "unknown command '%s' (embed, search, process or chat)", word);
  }
  aiw_call_options_free(cli.call_options);
  if (status == 0 && fflush(stdout) != 0)
    status = output_error(errno);
  return status;
}
