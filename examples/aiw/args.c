/*
 * args.c -- argument helpers of the aiw CLI (see args.h).
 */
#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int args_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out) {
  if (s == NULL || *s == '\0' || isspace((unsigned char)*s)) return -1;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max) return -1;
  *out = (int64_t)v;
  return 0;
}

int args_parse_float(const char *s, float *out) {
  if (s == NULL || *s == '\0' || isspace((unsigned char)*s)) return -1;
  char *end = NULL;
  errno = 0;
  float v = strtof(s, &end);
  if (errno != 0 || *end != '\0' || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

int args_split_header(const char *s, char **key, const char **value) {
  const char *eq = strchr(s, '=');
  if (eq == NULL || eq == s) return -1;
  size_t n = (size_t)(eq - s);
  char *k = malloc(n + 1);
  if (k == NULL) return -2;
  for (size_t i = 0; i < n; i++) k[i] = (char)tolower((unsigned char)s[i]);
  k[n] = '\0';
  *key = k;
  *value = eq + 1;
  return 0;
}

int args_split_history(const char *s, char **role, char **content, int64_t *timestamp) {
  const char *colon = strchr(s, ':');
  if (colon == NULL || colon == s) return -1;
  const char *body = colon + 1;
  size_t body_len = strlen(body);
  int64_t ts = 0;
  const char *at = strrchr(body, '@');
  if (at != NULL) {
    const char *p = at + 1;
    if (*p == '-') p++;
    int digits = *p != '\0';
    for (const char *q = p; *q != '\0'; q++)
      if (!isdigit((unsigned char)*q)) digits = 0;
    if (digits) {
      if (args_parse_int64(at + 1, INT64_MIN, INT64_MAX, &ts) != 0) return -1;
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

static int base64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

int args_base64_decode(const char *s, unsigned char **out, size_t *len) {
  size_t n = strlen(s);
  while (n > 0 && s[n - 1] == '=') n--;
  if (strlen(s) - n > 2 || n % 4 == 1) return -1;
  unsigned char *buf = malloc(n * 3 / 4 + 1);
  if (buf == NULL) return -2;
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

char *args_base64_encode(const void *data, size_t len) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char *in = data;
  if (len > (SIZE_MAX - 1) / 4 * 3 - 3) return NULL;
  char *out = malloc((len + 2) / 3 * 4 + 1);
  if (out == NULL) return NULL;
  size_t o = 0, i = 0;
  for (; i + 2 < len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = alphabet[v >> 18];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = alphabet[(v >> 6) & 63];
    out[o++] = alphabet[v & 63];
  }
  if (i < len) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
    out[o++] = alphabet[v >> 18];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return out;
}

/* Grows `*buf` (holding `n` bytes) to `cap` + 1 bytes; the old block is
 * wiped before it is freed (the file may be a private key). 0, or -1. */
static int grow(char **buf, size_t n, size_t cap) {
  char *bigger = malloc(cap + 1);
  if (bigger == NULL) return -1;
  memcpy(bigger, *buf, n);
  explicit_bzero(*buf, n);
  free(*buf);
  *buf = bigger;
  return 0;
}

/* Waits until `fd` can be read or `cancel_fd` is readable: 0, or -1 with
 * errno (EINTR: cancelled). */
static int wait_readable(int fd, int cancel_fd) {
  struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = cancel_fd, .events = POLLIN}};
  for (;;) {
    int rc = poll(fds, cancel_fd >= 0 ? 2 : 1, -1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return -1;
    if (cancel_fd >= 0 && (fds[1].revents & POLLIN)) {
      errno = EINTR;
      return -1;
    }
    /* POLLIN, POLLHUP (end of file), POLLERR, POLLNVAL: read() says which. */
    if (fds[0].revents != 0) return 0;
  }
}

int args_read_file(const char *path, size_t max, int cancel_fd, char **out, size_t *len) {
  int is_stdin = strcmp(path, "-") == 0;
  /* O_NONBLOCK only on a descriptor of our own: standard input's file
   * description may be shared with other processes. */
  int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return -1;
  /* The buffer holds up to max + 1 bytes: one more than allowed tells a
   * file of exactly `max` bytes from a bigger one. */
  size_t limit = max < SIZE_MAX - 1 ? max + 1 : SIZE_MAX - 1;
  size_t cap = limit < 65536 ? limit : 65536, n = 0;
  char *buf = malloc(cap + 1);
  int saved = 0;
  if (buf == NULL) saved = ENOMEM;
  while (saved == 0) {
    if (n == limit) {
      saved = EFBIG;
      break;
    }
    if (n == cap) {
      size_t next = cap <= limit / 2 ? cap * 2 : limit;
      if (grow(&buf, n, next) != 0) {
        saved = ENOMEM;
        break;
      }
      cap = next;
    }
    if (wait_readable(fd, cancel_fd) != 0) {
      saved = errno;
      break;
    }
    ssize_t got = read(fd, buf + n, cap - n);
    if (got > 0)
      n += (size_t)got;
    else if (got == 0)
      break; /* end of file */
    else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      saved = errno;
  }
  if (!is_stdin) close(fd);
  if (saved != 0) {
    if (buf != NULL) {
      explicit_bzero(buf, n);
      free(buf);
    }
    errno = saved;
    return -1;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}
