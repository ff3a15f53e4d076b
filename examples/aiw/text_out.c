/*
 * text_out.c -- output for people (see text_out.h).
 */
#include "text_out.h"

#include <stdlib.h>

void print_clean(FILE *out, const char *s)
{
  for (; *s != '\0'; s++)
    fputc(((unsigned char)*s < 0x20 || *s == 0x7f) ? ' ' : *s, out);
}

void format_float(char *buf, size_t size, float f)
{
  for (int digits = 1; digits <= 9; digits++) {
    snprintf(buf, size, "%.*g", digits, (double)f);
    if (strtof(buf, NULL) == f)
      return;
  }
}
