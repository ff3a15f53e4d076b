/*
 * cmd_chat.c -- `aiw chat`: ChatStream, the answer printed as it streams in,
 * then its sources.
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
    "Ctrl-C cancels the call, keeps what arrived and exits 130. With -v the response headers\n"
    "are printed to stderr when the first message arrives, the trailers after the answer.\n";

static const struct option chat_options[] = {{"history", required_argument, NULL, OPT_HISTORY},
                                             {"max-docs", required_argument, NULL, OPT_MAX_DOCS},
                                             {"threshold", required_argument, NULL, OPT_THRESHOLD},
                                             {"images", no_argument, NULL, OPT_IMAGES},
                                             GLOBAL_LONG_OPTIONS,
                                             {NULL, 0, NULL, 0}};

/* Adds one --history ROLE:CONTENT[@TS]; CLI_CONTINUE or an exit status. */
static int add_history(const struct cli *cli, aiw_chat_request *req, const char *arg) {
  char *role = NULL, *content = NULL;
  int64_t timestamp;
  int split = args_split_history(arg, &role, &content, &timestamp);
  if (split == -2) return out_of_memory();
  if (split != 0) return usage_error(cli, "--history wants ROLE:CONTENT[@UNIX_TS], got '%s'", arg);
  aiw_code code = aiw_chat_request_add_history(req, role, content, timestamp);
  free(role);
  free(content);
  return code == AIW_OK ? CLI_CONTINUE : bad_argument(cli, code, "--history");
}

/* Sets each option on the request (`state`) as it comes. */
static int chat_option(struct cli *cli, int option, const char *arg, void *state) {
  aiw_chat_request *req = state;
  int64_t max_docs;
  float threshold;
  switch (option) {
  case OPT_HISTORY: return add_history(cli, req, arg);
  case OPT_MAX_DOCS:
    if (args_parse_int64(arg, INT32_MIN, INT32_MAX, &max_docs) != 0)
      return usage_error(cli, "--max-docs wants an integer, got '%s'", arg);
    aiw_chat_request_set_max_context_docs(req, (int32_t)max_docs);
    break;
  case OPT_THRESHOLD:
    if (args_parse_float(arg, &threshold) != 0) return usage_error(cli, "--threshold wants a number, got '%s'", arg);
    aiw_chat_request_set_similarity_threshold(req, threshold);
    break;
  case OPT_IMAGES: aiw_chat_request_set_include_images(req, 1); break;
  }
  return CLI_CONTINUE;
}

/* A source of the answer, kept to be printed after the text. */
struct chat_source {
  char *asset_id, *caption; /* whole strings, NULs included */
  size_t asset_id_len, caption_len;
  float score;
};

/* One chat call: its request and what the printing has done so far. */
struct chat_call {
  struct cli *cli; /* -v: the headers are printed at the first message */
  const aiw_chat_request *req;
  int json;
  int wrote_text;
  int at_line_start;
  int failed; /* non-zero: the exit status of an output failure, reported; the stream was stopped */
  struct chat_source *sources;
  size_t source_count;
};

/* A malloc'd copy of the `len` bytes at `s`, NUL-terminated; NULL if out of memory. */
static char *copy_bytes(const char *s, size_t len) {
  char *copy = malloc(len + 1);
  if (copy != NULL) {
    memcpy(copy, s, len);
    copy[len] = '\0';
  }
  return copy;
}

/* Keeps the chunk's sources for the end; 0, or -1 if out of memory. */
static int keep_sources(struct chat_call *st, const aiw_chat_response *chunk) {
  size_t n = aiw_chat_response_source_count(chunk);
  if (n == 0) return 0;
  struct chat_source *more = realloc(st->sources, (st->source_count + n) * sizeof *more);
  if (more == NULL) return -1;
  st->sources = more;
  for (size_t i = 0; i < n; i++) {
    const aiw_search_result *r = aiw_chat_response_source(chunk, i);
    struct chat_source *s = &st->sources[st->source_count];
    const char *id = aiw_search_result_asset_id_with_len(r, &s->asset_id_len);
    const char *caption = aiw_search_result_caption_with_len(r, &s->caption_len);
    s->asset_id = copy_bytes(id, s->asset_id_len);
    s->caption = copy_bytes(caption, s->caption_len);
    s->score = aiw_search_result_score(r);
    st->source_count++;
    if (s->asset_id == NULL || s->caption == NULL) return -1;
  }
  return 0;
}

/* aiw_chat_chunk_fn: prints a chunk as it arrives; 1 stops the stream. */
static int chat_on_chunk(const aiw_chat_response *chunk, void *userdata) {
  struct chat_call *st = userdata;
  call_show_headers(st->cli);
  if (st->json) {
    st->failed = print_json(aiwj_chat_response(chunk));
    return st->failed != 0;
  }
  /* The chunk's whole text, NUL bytes included: the service's bytes. */
  size_t len = 0;
  const char *text = aiw_chat_response_chunk_with_len(chunk, &len);
  if (len > 0) {
    errno = 0;
    if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
      st->failed = output_error(errno != 0 ? errno : EIO);
      return 1;
    }
    st->wrote_text = 1;
    st->at_line_start = text[len - 1] == '\n';
  }
  if (keep_sources(st, chunk) != 0) st->failed = out_of_memory();
  return st->failed != 0;
}

static aiw_code chat_send(aiw_client *client, const aiw_call_options *options, void *state, aiw_error *err) {
  struct chat_call *st = state;
  return aiw_chat_stream(client, st->req, options, chat_on_chunk, st, err);
}

/* After the stream: a newline after the text, then the sources. */
static int chat_finish(void *state, aiw_code code) {
  (void)code;
  struct chat_call *st = state;
  if (st->failed != 0) return st->failed;
  if (!st->json) {
    if (st->wrote_text && !st->at_line_start) putchar('\n');
    for (size_t i = 0; i < st->source_count; i++) {
      const struct chat_source *s = &st->sources[i];
      printf("[%zu] ", i + 1);
      print_clean(stdout, s->asset_id, s->asset_id_len);
      printf(" (score %.4f)", (double)s->score);
      if (s->caption_len > 0) {
        putchar(' ');
        print_clean(stdout, s->caption, s->caption_len);
      }
      putchar('\n');
    }
    return flush_output();
  }
  return 0;
}

int cmd_chat(struct cli *cli, int argc, char **argv) {
  aiw_chat_request *req = aiw_chat_request_new();
  if (req == NULL) return out_of_memory();
  /* The CLI prints chunks as they arrive, so it always asks for streaming. */
  aiw_chat_request_set_stream_response(req, 1);
  aiw_code code;
  int status = cli_parse_options(cli, argc, argv, ":" GLOBAL_SHORT_OPTIONS, chat_options, chat_help, chat_option, req);
  if (status == CLI_CONTINUE) status = cli_expect_query(cli, argc);
  if (status == CLI_CONTINUE && (code = aiw_chat_request_set_query(req, argv[optind])) != AIW_OK)
    status = bad_argument(cli, code, "QUERY");
  if (status == CLI_CONTINUE) {
    static const struct call_handler chat_stream = {chat_send, chat_finish, NULL};
    struct chat_call st = {.cli = cli, .req = req, .json = cli->json, .at_line_start = 1};
    status = call_run(cli, &chat_stream, &st);
    for (size_t i = 0; i < st.source_count; i++) {
      free(st.sources[i].asset_id);
      free(st.sources[i].caption);
    }
    free(st.sources);
  }
  aiw_chat_request_free(req);
  return status;
}
