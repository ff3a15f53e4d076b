/*
 * cmd_search.c -- `aiw search`: VectorSearch, the results as a table.
 */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "call.h"
#include "commands.h"
#include "json_out.h"
#include "text_out.h"

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

static const struct option search_options[] = {{"type", required_argument, NULL, OPT_TYPE},
                                               {"limit", required_argument, NULL, OPT_LIMIT},
                                               {"threshold", required_argument, NULL, OPT_THRESHOLD},
                                               {"filter", required_argument, NULL, OPT_FILTER},
                                               GLOBAL_LONG_OPTIONS,
                                               {NULL, 0, NULL, 0}};

static const struct cli_word search_types[] = {
    {"semantic", AIW_SEARCH_SEMANTIC}, {"visual", AIW_SEARCH_VISUAL}, {"hybrid", AIW_SEARCH_HYBRID}, {NULL, 0}};

/* Sets each option on the request (`state`) as it comes. */
static int search_option(struct cli *cli, int option, const char *arg, void *state) {
  aiw_search_request *req = state;
  int type, status;
  int64_t limit;
  float threshold;
  aiw_code code;
  switch (option) {
  case OPT_TYPE:
    status = cli_parse_word(cli, "--type", arg, search_types, &type);
    if (status != CLI_CONTINUE) return status;
    aiw_search_request_set_type(req, (aiw_search_type)type);
    break;
  case OPT_LIMIT:
    if (args_parse_int64(arg, 0, INT32_MAX, &limit) != 0)
      return usage_error(cli, "--limit wants an integer 0..%d, got '%s'", INT32_MAX, arg);
    aiw_search_request_set_limit(req, (int32_t)limit);
    break;
  case OPT_THRESHOLD:
    if (args_parse_float(arg, &threshold) != 0) return usage_error(cli, "--threshold wants a number, got '%s'", arg);
    aiw_search_request_set_threshold(req, threshold);
    break;
  case OPT_FILTER:
    code = aiw_search_request_add_filter(req, arg);
    if (code != AIW_OK) return bad_argument(cli, code, "--filter");
    break;
  }
  return CLI_CONTINUE;
}

/* Pads a column of `width` after text of `len` bytes, then a space. */
static void pad(int width, size_t len) { printf("%*s ", len < (size_t)width ? width - (int)len : 0, ""); }

static void print_search_table(const void *response) {
  const aiw_search_response *resp = response;
  size_t n = aiw_search_response_result_count(resp);
  int id_width = 8, mime_width = 9;
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    const aiw_search_result *r = aiw_search_response_result(resp, i);
    aiw_search_result_asset_id_with_len(r, &len);
    if (len > (size_t)id_width) id_width = len < 40 ? (int)len : 40;
    aiw_search_result_mime_type_with_len(r, &len);
    if (len > (size_t)mime_width) mime_width = len < 24 ? (int)len : 24;
  }
  if (n > 0) printf("%-4s %-8s %-*s %-*s %s\n", "#", "SCORE", id_width, "ASSET_ID", mime_width, "MIME_TYPE", "CAPTION");
  for (size_t i = 0; i < n; i++) {
    const aiw_search_result *r = aiw_search_response_result(resp, i);
    printf("%-4zu %-8.4f ", i + 1, (double)aiw_search_result_score(r));
    const char *s = aiw_search_result_asset_id_with_len(r, &len);
    print_clean(stdout, s, len);
    pad(id_width, len);
    s = aiw_search_result_mime_type_with_len(r, &len);
    print_clean(stdout, s, len);
    pad(mime_width, len);
    s = aiw_search_result_caption_with_len(r, &len);
    print_clean(stdout, s, len);
    putchar('\n');
  }
  printf("%zu result%s shown, %d matched\n", n, n == 1 ? "" : "s", (int)aiw_search_response_total_count(resp));
  const char *error = aiw_search_response_error_with_len(resp, &len);
  print_text_line(stdout, "error: ", error, len);
}

static aiw_code send_search(aiw_client *client, const void *request, const aiw_call_options *options, void **response,
                            aiw_error *err) {
  aiw_search_response *resp = NULL;
  aiw_code code = aiw_vector_search(client, request, options, &resp, err);
  *response = resp;
  return code;
}

static json_t *search_json(const void *response) { return aiwj_search_response(response); }

static void free_search(void *response) { aiw_search_response_free(response); }

static const char *vector_search_error(const void *response, size_t *len) {
  return aiw_search_response_error_with_len(response, len);
}

static const struct unary_rpc vector_search = {send_search, search_json, print_search_table, free_search,
                                               vector_search_error};

int cmd_search(struct cli *cli, int argc, char **argv) {
  aiw_search_request *req = aiw_search_request_new();
  if (req == NULL) return out_of_memory();
  aiw_code code;
  int status =
      cli_parse_options(cli, argc, argv, ":" GLOBAL_SHORT_OPTIONS, search_options, search_help, search_option, req);
  if (status == CLI_CONTINUE) status = cli_expect_query(cli, argc);
  if (status == CLI_CONTINUE && (code = aiw_search_request_set_query(req, argv[optind])) != AIW_OK)
    status = bad_argument(cli, code, "QUERY");
  if (status == CLI_CONTINUE) status = call_unary(cli, &vector_search, req);
  aiw_search_request_free(req);
  return status;
}
