/*
 * cmd_embed.c -- `aiw embed`: GetEmbedding of a text or an image.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "call.h"
#include "commands.h"
#include "json_out.h"
#include "text_out.h"

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

static const struct option embed_options[] = {{"type", required_argument, NULL, OPT_TYPE},
                                              {"image", required_argument, NULL, OPT_IMAGE},
                                              {"format", required_argument, NULL, OPT_FORMAT},
                                              GLOBAL_LONG_OPTIONS,
                                              {NULL, 0, NULL, 0}};

static const struct cli_word embedding_types[] = {
    {"semantic", AIW_EMBEDDING_SEMANTIC}, {"visual", AIW_EMBEDDING_VISUAL}, {"both", AIW_EMBEDDING_BOTH}, {NULL, 0}};

/* The options, kept until all are parsed: they are checked together. */
struct embed_args {
  const char *type_name, *image, *format;
};

static int embed_option(struct cli *cli, int option, const char *arg, void *state) {
  (void)cli;
  struct embed_args *args = state;
  if (option == OPT_TYPE)
    args->type_name = arg;
  else if (option == OPT_IMAGE)
    args->image = arg;
  else if (option == OPT_FORMAT)
    args->format = arg;
  return CLI_CONTINUE;
}

/* The lower-cased extension of the file `path` names ("" if none or longer
 * than `size` - 1), the image format sent when --format is not given. */
static void extension_of(const char *path, char *ext, size_t size) {
  const char *base = strrchr(path, '/');
  base = base != NULL ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  ext[0] = '\0';
  if (dot != NULL && dot != base && strlen(dot + 1) < size) {
    size_t i = 0;
    for (; dot[1 + i] != '\0'; i++)
      ext[i] = (char)((dot[1 + i] >= 'A' && dot[1 + i] <= 'Z') ? dot[1 + i] - 'A' + 'a' : dot[1 + i]);
    ext[i] = '\0';
  }
}

/* Sets the request's image from the file (format: --format or the file's
 * extension). CLI_CONTINUE, or an exit status after reporting. */
static int set_image(const struct cli *cli, aiw_embedding_request *req, const struct embed_args *args) {
  char *data = NULL;
  size_t len = 0;
  int status = read_input_file("image", args->image, MAX_IMAGE_BYTES, &data, &len);
  if (status != 0) return status;
  char ext[16];
  extension_of(args->image, ext, sizeof ext);
  aiw_code code = aiw_embedding_request_set_image(req, data, len, args->format != NULL ? args->format : ext);
  free(data);
  return code == AIW_OK ? CLI_CONTINUE : bad_argument(cli, code, "--format");
}

static void print_vector(const char *name, const float *v, size_t n) {
  if (n == 0) return;
  printf("%s: %zu dims:", name, n);
  for (size_t i = 0; i < n && i < 8; i++) {
    char buf[40];
    format_float(buf, sizeof buf, v[i]);
    printf(" %s", buf);
  }
  printf("%s\n", n > 8 ? " ..." : "");
}

static void print_embedding(const void *response) {
  const aiw_embedding_response *resp = response;
  size_t n = 0;
  const float *v = aiw_embedding_response_semantic_vector(resp, &n);
  print_vector("semantic", v, n);
  v = aiw_embedding_response_visual_vector(resp, &n);
  print_vector("visual", v, n);
  size_t len = 0;
  const char *error = aiw_embedding_response_error_with_len(resp, &len);
  print_text_line(stdout, "error: ", error, len);
}

static aiw_code send_embedding(aiw_client *client, const void *request, const aiw_call_options *options,
                               void **response, aiw_error *err) {
  aiw_embedding_response *resp = NULL;
  aiw_code code = aiw_get_embedding(client, request, options, &resp, err);
  *response = resp;
  return code;
}

static json_t *embedding_json(const void *response) { return aiwj_embedding_response(response); }

static void free_embedding(void *response) { aiw_embedding_response_free(response); }

static const char *get_embedding_error(const void *response, size_t *len) {
  return aiw_embedding_response_error_with_len(response, len);
}

static const struct unary_rpc get_embedding = {send_embedding, embedding_json, print_embedding, free_embedding,
                                               get_embedding_error};

int cmd_embed(struct cli *cli, int argc, char **argv) {
  struct embed_args args = {0};
  int type = AIW_EMBEDDING_UNKNOWN;
  int status =
      cli_parse_options(cli, argc, argv, ":" GLOBAL_SHORT_OPTIONS, embed_options, embed_help, embed_option, &args);
  if (status == CLI_CONTINUE && args.type_name != NULL)
    status = cli_parse_word(cli, "--type", args.type_name, embedding_types, &type);
  if (status != CLI_CONTINUE) return status;
  int operands = argc - optind;
  if (args.image != NULL && operands > 0) return usage_error(cli, "give TEXT or --image FILE, not both");
  if (args.image == NULL && operands != 1)
    return usage_error(cli, operands == 0 ? "embed needs TEXT or --image FILE" : "embed takes one TEXT (quote it)");
  if (args.format != NULL && args.image == NULL) return usage_error(cli, "--format goes with --image");

  aiw_embedding_request *req = aiw_embedding_request_new();
  if (req == NULL) return out_of_memory();
  if (args.image != NULL) {
    status = set_image(cli, req, &args);
  } else {
    aiw_code code = aiw_embedding_request_set_text(req, argv[optind]);
    if (code != AIW_OK) status = bad_argument(cli, code, "TEXT");
  }
  if (status == CLI_CONTINUE) {
    if (type != AIW_EMBEDDING_UNKNOWN) aiw_embedding_request_set_type(req, (aiw_embedding_type)type);
    status = call_unary(cli, &get_embedding, req);
  }
  aiw_embedding_request_free(req);
  return status;
}
