/*
 * args.h -- argument helpers of the aiw CLI: number parsing, -H headers,
 * --history messages, base64 for -bin header values, reading input files.
 * None of them prints anything; the caller reports failures.
 */
#ifndef AIW_ARGS_H
#define AIW_ARGS_H

#include <stddef.h>
#include <stdint.h>

/* Whole-string decimal integers within [min, max]. 0 on success, -1 if not. */
int args_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);
/* A finite float32 ("0.5", "1e-3"). 0 on success, -1 if not. */
int args_parse_float(const char *s, float *out);

/*
 * args_split_header: "Key=Value" -> key (lower-cased, malloc'd) and value
 * (borrowed from `s`, after the first '='). -1 if there is no '=' or the key
 * is empty; -2 if out of memory.
 */
int args_split_header(const char *s, char **key, const char **value);

/*
 * args_split_history: "ROLE:CONTENT[@UNIX_TS]" -> role and content
 * (malloc'd) and timestamp (0 when absent). The timestamp is a trailing
 * '@' followed by an optional '-' and digits only; a content that itself
 * ends like that needs an explicit "@0"-style suffix. -1 on a malformed
 * spec (no ':', empty role, timestamp out of range); -2 if out of memory.
 */
int args_split_history(const char *s, char **role, char **content, int64_t *timestamp);

/*
 * args_base64_decode: standard or URL-safe alphabet, padding optional,
 * no whitespace. *out is malloc'd (free it), *len its length. -1 if `s` is
 * not base64, -2 if out of memory.
 */
int args_base64_decode(const char *s, unsigned char **out, size_t *len);

/*
 * args_base64_encode: `len` bytes as standard base64 with padding (the form
 * grpcurl prints -bin metadata values in), NUL-terminated, malloc'd (free
 * it); NULL if out of memory.
 */
char *args_base64_encode(const void *data, size_t len);

/*
 * args_read_file: the whole file ("-" = standard input) into a malloc'd
 * buffer with a NUL appended (not counted in *len), at most `max` bytes.
 * Reads in chunks, polling the file together with `cancel_fd` (readable
 * once the read should stop: signals_fd; -1 for none), so that a file that
 * never delivers (a FIFO, a terminal) cannot hang an interrupted aiw. A
 * file the CLI opens is opened with O_NONBLOCK: opening a FIFO does not wait
 * for a writer (the poll does, interruptibly). -1 with errno set on failure:
 * EFBIG if the file holds more than `max` bytes, EINTR if `cancel_fd` became
 * readable, ENOMEM, or the open or read error.
 */
int args_read_file(const char *path, size_t max, int cancel_fd, char **out, size_t *len);

#endif /* AIW_ARGS_H */
