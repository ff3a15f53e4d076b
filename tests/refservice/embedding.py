#!/usr/bin/python3
"""The reference service's embedding formula: its only implementation.

ai_worker_server.py imports it to answer GetEmbedding; every test suite reads
its expected vectors from it (the Check harness and the Go tests through
`--serve`, tests/cli/expect.py by importing it). No grpc here, so it starts
fast on any python3. The rules are in README.md ("GetEmbedding"):

- seed = FNV-1a 32-bit of the content bytes (text: its UTF-8), 0 -> 1;
- the semantic vector: SEMANTIC_DIMS elements from the seed;
- the visual vector: VISUAL_DIMS elements from seed ^ 0x9e3779b9, 0 -> 1;
- elements: a xorshift32 stream; element i = ((x % 20001) - 10000) / 10000.0
  (a double; the service sends it rounded to float32).

Command line:

    embedding.py --serve              one request per line on stdin,
                                      `semantic HEX` or `visual HEX` (HEX: the
                                      content bytes, two hex digits each, empty
                                      for empty content); answers one line each
                                      (flushed): the vector's elements, repr()
                                      of the double, separated by one space.
                                      A bad request gets `error: <why>`, and the
                                      helper goes on. Ends at end of input.
    embedding.py semantic|visual HEX  the same answer for one request.

repr() is the shortest decimal that reads back as the same double, and a
decimal read with float32 rounding (C strtof, Go ParseFloat(s, 32)) gives the
double's float32 rounding, bit for bit: what the service sends.
"""

import sys

SEMANTIC_DIMS = 1024
VISUAL_DIMS = 1152
VISUAL_SEED_XOR = 0x9E3779B9


def fnv1a32(data):
    """FNV-1a 32-bit of bytes `data`."""
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def seed(data):
    """The content seed of bytes `data`: FNV-1a 32-bit, 0 -> 1."""
    return fnv1a32(data) or 1


def visual_seed(data):
    """The visual vector's seed of bytes `data`: seed ^ 0x9e3779b9, 0 -> 1."""
    return (seed(data) ^ VISUAL_SEED_XOR) or 1


def vector(s, n):
    """n elements (doubles) of the xorshift32 stream from state s (0 -> 1)."""
    x = s & 0xFFFFFFFF
    if x == 0:
        x = 1
    out = []
    for _ in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out.append(((x % 20001) - 10000) / 10000.0)
    return out


def semantic(data):
    """The semantic vector (SEMANTIC_DIMS doubles) of content bytes `data`."""
    return vector(seed(data), SEMANTIC_DIMS)


def visual(data):
    """The visual vector (VISUAL_DIMS doubles) of content bytes `data`."""
    return vector(visual_seed(data), VISUAL_DIMS)


KINDS = {"semantic": semantic, "visual": visual}


def answer(kind, hexdata):
    """The answer line (without newline) to one request."""
    if kind not in KINDS:
        return "error: unknown vector kind %r (semantic or visual)" % kind
    try:
        data = bytes.fromhex(hexdata)
    except ValueError as e:
        return "error: bad hex content: %s" % e
    return " ".join(map(repr, KINDS[kind](data)))


def serve(inp, out):
    for line in inp:
        parts = line.decode("ascii", "replace").split()
        if not parts:
            reply = "error: empty request"
        elif len(parts) > 2:
            reply = "error: a request is `semantic HEX` or `visual HEX`"
        else:
            reply = answer(parts[0], parts[1] if len(parts) == 2 else "")
        out.write(reply.encode("ascii") + b"\n")
        out.flush()


def main(argv):
    if argv == ["--serve"]:
        try:
            serve(sys.stdin.buffer, sys.stdout.buffer)
        except (BrokenPipeError, KeyboardInterrupt):
            pass
        return 0
    if len(argv) in (1, 2) and argv[0] in KINDS:
        reply = answer(argv[0], argv[1] if len(argv) == 2 else "")
        print(reply)
        return 1 if reply.startswith("error:") else 0
    sys.stderr.write("usage: embedding.py --serve | embedding.py semantic|visual HEX\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
