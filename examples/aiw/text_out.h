/*
 * text_out.h -- output for people (and the float digits JSON shares).
 */
#ifndef AIW_TEXT_OUT_H
#define AIW_TEXT_OUT_H

#include <stddef.h>
#include <stdio.h>

/* Writes the `len` bytes at `s` with control characters (which would
 * garble a table or a terminal; NUL included) shown as spaces. */
void print_clean(FILE *out, const char *s, size_t len);

/* Writes `label` and the `len` bytes at `s` as they are (NULs included),
 * then a newline -- unless `len` is 0. For the `error: ...` lines. */
void print_text_line(FILE *out, const char *label, const char *s, size_t len);

/* A finite float the way people read it: the shortest "%.Ng" (N <= 9, all
 * a float32 ever needs) that strtof reads back to the very same float. */
void format_float(char *buf, size_t size, float f);

#endif /* AIW_TEXT_OUT_H */
