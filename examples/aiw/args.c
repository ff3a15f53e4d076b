/*
 * args.c -- argument helpers of the aiw CLI (see args.h).
 */
#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int args_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
  if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
    return -1;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max)
    return -1;
  *out = (int64_t)v;
  return 0;
}

int args_parse_float(const char *s, float *out)
{
  if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
    return -1;
  char *end = NULL;
  errno = 0;
  float v = strtof(s, &end);
  if (errno != 0 || *end != '\0' || !isfinite(v))
    return -1;
  *out = v;
  return 0;
}

int args_split_header(const char *s, char **key, const char **value)
{
  const char *eq = strchr(s, '=');
  if (eq == NULL || eq == s)
    return -1;
  size_t n = (size_t)(eq - s);
  char *k = malloc(n + 1);
  if (k == NULL)
    return -2;
  for (size_t i = 0; i < n; i++)
    k[i] = (char)tolower((unsigned char)s[i]);
  k[n] = '\0';
  *key = k;
  *value = eq + 1;
  return 0;
}

int args_split_history(const char *s, char **role, char **content, int64_t *timestamp)
{
  const char *colon = strchr(s, ':');
  if (colon == NULL || colon == s)
    return -1;
  const char *body = colon + 1;
  size_t body_len = strlen(body);
  int64_t ts = 0;
  const char *at = strrchr(body, '@');
  if (at != NULL) {
    const char *p = at + 1;
    if (*p == '-')
      p++;
    int digits = *p != '\0';
    for (const char *q = p; *q != '\0'; q++)
      if (!isdigit((unsigned char)*q))
        digits = 0;
    if (digits) {
      if (args_parse_int64(at + 1, INT64_MIN, INT64_MAX, &ts) != 0)
        return -1;
      body_len = (size_t)(at - body);
    }
  }
  char *r = strndup(s, (size_t)(colon - s));
  char *c = strndup(body, body_len);
  if (r == NULL || c == NULL) {
    free(r);
    free(c);
    return -2;
  }
  *role = r;
  *content = c;
  *timestamp = ts;
  return 0;
}

static int base64_value(unsigned char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+' || c == '-')
    return 62;
  if (c == '/' || c == '_')
    return 63;
  return -1;
}

int args_base64_decode(const char *s, unsigned char **out, size_t *len)
{
  size_t n = strlen(s);
  while (n > 0 && s[n - 1] == '=')
    n--;
  if (strlen(s) - n > 2 || n % 4 == 1)
    return -1;
  unsigned char *buf = malloc(n * 3 / 4 + 1);
  if (buf == NULL)
    return -2;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = base64_value((unsigned char)s[i]);
    if (v < 0) {
      free(buf);
      return -1;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[o++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  *out = buf;
  *len = o;
  return 0;
}

int args_read_file(const char *path, char **out, size_t *len)
{
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (f == NULL)
    return -1;
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap + 1);
  if (buf == NULL) {
    if (f != stdin)
      fclose(f);
    errno = ENOMEM;
    return -1;
  }
  for (;;) {
    if (n == cap) {
      char *bigger = realloc(buf, cap * 2 + 1);
      if (bigger == NULL) {
        free(buf);
        if (f != stdin)
          fclose(f);
        errno = ENOMEM;
        return -1;
      }
      buf = bigger;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
  }
  int failed = ferror(f);
  int saved = errno;
  if (f != stdin)
    fclose(f);
  if (failed) {
    free(buf);
    errno = saved != 0 ? saved : EIO;
    return -1;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}
