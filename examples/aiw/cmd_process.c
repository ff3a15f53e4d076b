/*
 * cmd_process.c -- `aiw process`: ProcessAsset, the stage and progress.
 */
#include <stdio.h>

#include "args.h"
#include "call.h"
#include "commands.h"
#include "json_out.h"
#include "text_out.h"

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

static const struct option process_options[] = {{"asset-id", required_argument, NULL, OPT_ASSET_ID},
                                                {"path", required_argument, NULL, OPT_PATH},
                                                {"mime", required_argument, NULL, OPT_MIME},
                                                {"ocr", no_argument, NULL, OPT_OCR},
                                                {"caption", no_argument, NULL, OPT_CAPTION},
                                                {"embed", no_argument, NULL, OPT_EMBED},
                                                {"summary", no_argument, NULL, OPT_SUMMARY},
                                                {"chunk-size", required_argument, NULL, OPT_CHUNK_SIZE},
                                                GLOBAL_LONG_OPTIONS,
                                                {NULL, 0, NULL, 0}};

/* The request and which of its required options were given. */
struct process_args {
  aiw_asset_request *req;
  int have_id, have_path, have_mime;
};

/* Sets a required string option with `set`; CLI_CONTINUE or an exit status. */
static int set_required(const struct cli *cli, aiw_asset_request *req,
                        aiw_code (*set)(aiw_asset_request *, const char *), const char *arg, int *given,
                        const char *what) {
  *given = 1;
  aiw_code code = set(req, arg);
  return code == AIW_OK ? CLI_CONTINUE : bad_argument(cli, code, what);
}

/* Sets each option on the request as it comes. */
static int process_option(struct cli *cli, int option, const char *arg, void *state) {
  struct process_args *args = state;
  int64_t chunk_size;
  switch (option) {
  case OPT_ASSET_ID:
    return set_required(cli, args->req, aiw_asset_request_set_asset_id, arg, &args->have_id, "--asset-id");
  case OPT_PATH: return set_required(cli, args->req, aiw_asset_request_set_file_path, arg, &args->have_path, "--path");
  case OPT_MIME: return set_required(cli, args->req, aiw_asset_request_set_mime_type, arg, &args->have_mime, "--mime");
  case OPT_OCR: aiw_asset_request_set_enable_ocr(args->req, 1); break;
  case OPT_CAPTION: aiw_asset_request_set_enable_caption(args->req, 1); break;
  case OPT_EMBED: aiw_asset_request_set_enable_embedding(args->req, 1); break;
  case OPT_SUMMARY: aiw_asset_request_set_enable_summary(args->req, 1); break;
  case OPT_CHUNK_SIZE:
    if (args_parse_int64(arg, INT32_MIN, INT32_MAX, &chunk_size) != 0)
      return usage_error(cli, "--chunk-size wants an integer, got '%s'", arg);
    aiw_asset_request_set_max_chunk_size(args->req, (int32_t)chunk_size);
    break;
  }
  return CLI_CONTINUE;
}

static void print_process_status(const void *response) {
  const aiw_process_status *resp = response;
  int stage = (int)aiw_process_status_stage(resp);
  const char *name = aiw_processing_stage_name(stage);
  printf("success: %s\n", aiw_process_status_success(resp) ? "true" : "false");
  if (name != NULL)
    printf("stage: %s\n", name);
  else
    printf("stage: %d\n", stage);
  printf("progress: %.4g%%\n", (double)aiw_process_status_progress(resp) * 100.0);
  size_t len = 0;
  const char *error = aiw_process_status_error_with_len(resp, &len);
  print_text_line(stdout, "error: ", error, len);
}

static aiw_code send_process(aiw_client *client, const void *request, const aiw_call_options *options, void **response,
                             aiw_error *err) {
  aiw_process_status *resp = NULL;
  aiw_code code = aiw_process_asset(client, request, options, &resp, err);
  *response = resp;
  return code;
}

static json_t *process_json(const void *response) { return aiwj_process_status(response); }

static void free_process(void *response) { aiw_process_status_free(response); }

static const char *process_asset_error(const void *response, size_t *len) {
  return aiw_process_status_error_with_len(response, len);
}

static const struct unary_rpc process_asset = {send_process, process_json, print_process_status, free_process,
                                               process_asset_error};

int cmd_process(struct cli *cli, int argc, char **argv) {
  struct process_args args = {.req = aiw_asset_request_new()};
  if (args.req == NULL) return out_of_memory();
  int status = cli_parse_options(cli, argc, argv, ":" GLOBAL_SHORT_OPTIONS, process_options, process_help,
                                 process_option, &args);
  if (status == CLI_CONTINUE && optind < argc)
    status = usage_error(cli, "process takes no arguments, got '%s'", argv[optind]);
  if (status == CLI_CONTINUE && !(args.have_id && args.have_path && args.have_mime))
    status = usage_error(cli, "process needs --asset-id, --path and --mime");
  if (status == CLI_CONTINUE) status = call_unary(cli, &process_asset, args.req);
  aiw_asset_request_free(args.req);
  return status;
}
