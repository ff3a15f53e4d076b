/*
 * text_out.c -- output for people (see text_out.h).
 */
#include "text_out.h"

#include <stdlib.h>

void print_clean(FILE *out, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) fputc(((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i], out);
}

void print_text_line(FILE *out, const char *label, const char *s, size_t len) {
  if (len == 0) return;
  fputs(label, out);
  fwrite(s, 1, len, out);
  fputc('\n', out);
}

void format_float(char *buf, size_t size, float f) {
  for (int digits = 1; digits <= 9; digits++) {
    snprintf(buf, size, "%.*g", digits, (double)f);
    if (strtof(buf, NULL) == f) return;
  }
}
