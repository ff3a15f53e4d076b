#!/usr/bin/env python3
"""bench/report.py -- turns the RESULT lines of bench/run.sh into a table,
the libaiw ratios, the Go package's ratios (against grpc-go and against
libaiw itself: the cost of the binding) and bench/RESULTS.md; also
summarises callgrind profiles.

  report.py table RESULTS_TXT --meta META_TXT [--callgrind CG_MD] [--md OUT.md]
  report.py callgrind --client NAME --unit call|chunk --n1 N1 FILE1 --n2 N2 FILE2

Standard library only. Nothing here judges a number: it only reports.
"""
import argparse
import re
import statistics
import sys

CLIENTS = ["libaiw", "cpp", "grpcgo", "aiwgo", "aiwgo-recv"]
CLIENT_LABEL = {"libaiw": "libaiw (C)", "cpp": "C++ grpc++ sync", "grpcgo": "grpc-go 1.33",
                "aiwgo": "Go aiworker (cgo over libaiw)", "aiwgo-recv": "Go aiworker, ChatStream+Recv"}
# The Go package's rows: ChatStreamFunc (aiwgo) in every workload, and its
# ChatStream + Recv form (aiwgo-recv) as an extra stream row.
GO_PKG = ["aiwgo", "aiwgo-recv"]
WORKLOADS = ["unary1", "unary16", "stream"]
WORKLOAD_LABEL = {
    "unary1": "GetEmbedding, 1 in flight",
    "unary16": "GetEmbedding, 16 in flight (16 threads / goroutines)",
    "stream": "ChatStream `!many:1000` (1001 messages per stream), 1 in flight",
}


def parse_results(path):
    rows = []
    with open(path) as f:
        for line in f:
            if not line.startswith("RESULT "):
                continue
            kv = dict(tok.split("=", 1) for tok in line.split()[1:] if "=" in tok)
            r = {"client": kv["client"], "round": int(kv.get("round", "1"))}
            conc = int(kv["conc"])
            r["workload"] = "stream" if kv["workload"] == "stream" else "unary%d" % conc
            calls, chunks = int(kv["calls"]), int(kv["chunks"])
            wall = float(kv["wall_s"])
            cpu = float(kv["cpu_user_s"]) + float(kv["cpu_sys_s"])
            r["calls"], r["chunks"], r["conc"] = calls, chunks, conc
            r["cpu_us_call"] = cpu / calls * 1e6
            r["user_share"] = float(kv["cpu_user_s"]) / cpu if cpu > 0 else 0.0
            r["cpu_us_chunk"] = cpu / chunks * 1e6 if chunks else None
            r["p50_us"], r["p99_us"] = float(kv["p50_us"]), float(kv["p99_us"])
            r["rate"] = calls / wall
            r["chunk_rate"] = chunks / wall if chunks else None
            r["srv_us_call"] = float(kv["srv_cpu_s"]) / int(kv["srv_calls"]) * 1e6 if "srv_cpu_s" in kv else None
            rows.append(r)
    return rows


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def summarise(rows):
    """{(client, workload): {metric: median}, ...} plus per-round CPU ratios."""
    out = {}
    for c in CLIENTS:
        for w in WORKLOADS:
            rs = [r for r in rows if r["client"] == c and r["workload"] == w]
            if not rs:
                continue
            m = {k: med(rs, k) for k in ("cpu_us_call", "cpu_us_chunk", "p50_us", "p99_us", "rate",
                                         "chunk_rate", "srv_us_call", "user_share")}
            m["rounds"] = len(rs)
            m["calls"] = rs[0]["calls"]
            m["chunks"] = rs[0]["chunks"]
            out[(c, w)] = m
    return out


def cpu_key(w):
    return "cpu_us_chunk" if w == "stream" else "cpu_us_call"


def round_ratios(rows, w, peer, subject="libaiw"):
    """subject/peer CPU ratio of each round (both measured in that round)."""
    k = cpu_key(w)
    res = []
    for rnd in sorted({r["round"] for r in rows}):
        a = [r for r in rows if r["round"] == rnd and r["workload"] == w and r["client"] == subject]
        b = [r for r in rows if r["round"] == rnd and r["workload"] == w and r["client"] == peer]
        if a and b and b[0][k]:
            res.append(a[0][k] / b[0][k])
    return res


def table_lines(s, rows):
    lines = []
    for w in WORKLOADS:
        if not any((c, w) in s for c in CLIENTS):
            continue
        any_m = next(s[(c, w)] for c in CLIENTS if (c, w) in s)
        if w == "stream":
            lines.append("### %s -- %d streams x %d messages per client per round, median of %d round(s)"
                         % (WORKLOAD_LABEL[w], any_m["calls"], any_m["chunks"] // max(any_m["calls"], 1),
                            any_m["rounds"]))
            lines.append("")
            lines.append("| client | client CPU us/chunk | client CPU us/stream | p50 ms/stream | p99 ms/stream "
                         "| chunks/s | user CPU share | server CPU us/stream |")
            lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
            for c in CLIENTS:
                m = s.get((c, w))
                if not m:
                    continue
                lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    CLIENT_LABEL[c], fmt(m["cpu_us_chunk"], "%.2f"), fmt(m["cpu_us_call"], "%.0f"),
                    fmt(m["p50_us"] / 1000, "%.1f"), fmt(m["p99_us"] / 1000, "%.1f"),
                    fmt(m["chunk_rate"], "%.0f"), fmt(m["user_share"] * 100, "%.0f%%"),
                    fmt(m["srv_us_call"], "%.0f")))
        else:
            lines.append("### %s -- %d calls per client per round, median of %d round(s)"
                         % (WORKLOAD_LABEL[w], any_m["calls"], any_m["rounds"]))
            lines.append("")
            lines.append("| client | client CPU us/call | p50 us | p99 us | calls/s | user CPU share "
                         "| server CPU us/call |")
            lines.append("|---|---:|---:|---:|---:|---:|---:|")
            for c in CLIENTS:
                m = s.get((c, w))
                if not m:
                    continue
                lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                    CLIENT_LABEL[c], fmt(m["cpu_us_call"]), fmt(m["p50_us"], "%.0f"), fmt(m["p99_us"], "%.0f"),
                    fmt(m["rate"], "%.0f"), fmt(m["user_share"] * 100, "%.0f%%"), fmt(m["srv_us_call"], "%.0f")))
        lines.append("")
    return lines


def ratio_lines(s, rows):
    lines = ["### Ratios: libaiw / peer, same run, same server", "",
             "CPU, p50, p99: below 1 = libaiw cheaper / faster. Throughput: above 1 = libaiw faster.", "",
             "| workload | peer | client CPU | CPU ratio per round (min..max) | p50 | p99 | throughput |",
             "|---|---|---:|---|---:|---:|---:|"]
    for w in WORKLOADS:
        a = s.get(("libaiw", w))
        if not a:
            continue
        for peer in ("cpp", "grpcgo"):
            b = s.get((peer, w))
            if not b:
                continue
            k = cpu_key(w)
            rr = round_ratios(rows, w, peer)
            spread = "%.2f..%.2f" % (min(rr), max(rr)) if rr else "-"

            def ratio(key):
                return fmt(a[key] / b[key], "%.2f") if a.get(key) and b.get(key) else "-"
            lines.append("| %s | %s | **%s** | %s | %s | %s | %s |" % (
                w, CLIENT_LABEL[peer], ratio(k), spread, ratio("p50_us"), ratio("p99_us"), ratio("rate")))
    lines.append("")
    lines.append("Client CPU = getrusage(RUSAGE_SELF) user+sys of the client process over the measured calls "
                 "(all its threads), divided by calls (unary) or by messages received (stream). "
                 "p99 of a stream workload is over few streams (with 20, the slowest one).")
    lines.append("")
    return lines


def go_ratio_lines(s, rows):
    """The Go package against grpc-go (the other Go client) and against libaiw
    from C (what the binding costs), all measured in the same run."""
    if not any((c, w) in s for c in GO_PKG for w in WORKLOADS):
        return []
    lines = ["### Ratios: Go package aiworker / peer, same run, same server", "",
             "Against grpc-go: the choice a Go user has. Against libaiw (C): the cost of the binding "
             "(cgo transitions, Go-side packing and decoding, the Go runtime); the extra CPU column is "
             "the difference of the medians, per call (unary) or per message (stream). "
             "CPU, p50, p99: below 1 = the Go package cheaper / faster. Throughput: above 1 = faster.", "",
             "| workload | Go package | peer | client CPU | CPU ratio per round (min..max) "
             "| extra CPU us/unit | p50 | p99 | throughput |",
             "|---|---|---|---:|---|---:|---:|---:|---:|"]
    for w in WORKLOADS:
        for g in GO_PKG:
            a = s.get((g, w))
            if not a:
                continue
            for peer in ("grpcgo", "libaiw"):
                b = s.get((peer, w))
                if not b:
                    continue
                k = cpu_key(w)
                rr = round_ratios(rows, w, peer, subject=g)
                spread = "%.2f..%.2f" % (min(rr), max(rr)) if rr else "-"

                def ratio(key):
                    return fmt(a[key] / b[key], "%.2f") if a.get(key) and b.get(key) else "-"
                diff = fmt(a[k] - b[k], "%+.2f" if w == "stream" else "%+.1f") \
                    if a.get(k) is not None and b.get(k) is not None else "-"
                lines.append("| %s | %s | %s | **%s** | %s | %s | %s | %s | %s |" % (
                    w, CLIENT_LABEL[g], CLIENT_LABEL[peer], ratio(k), spread, diff,
                    ratio("p50_us"), ratio("p99_us"), ratio("rate")))
    lines.append("")
    return lines


def go_summary_line(s):
    parts = []
    for peer in ("grpcgo", "libaiw"):
        rs = []
        for w in WORKLOADS:
            b = s.get((peer, w))
            for g in GO_PKG:
                a = s.get((g, w))
                if a and b and b.get(cpu_key(w)):
                    name = w if g == "aiwgo" else w + " (ChatStream+Recv)"
                    rs.append("%s %.2f" % (name, a[cpu_key(w)] / b[cpu_key(w)]))
        if rs:
            what = CLIENT_LABEL[peer] + (" (the cost of the binding)" if peer == "libaiw" else "")
            parts.append("against %s: %s" % (what, ", ".join(rs)))
    if not parts:
        return []
    return ["Client CPU of the Go package aiworker divided by the peer's, same run (below 1 = aiworker "
            "cheaper): " + "; ".join(parts) + "."]


def summary_lines(s, cg):
    """One-paragraph summary generated from this run's numbers."""
    parts = []
    for peer in ("cpp", "grpcgo"):
        rs = []
        for w in WORKLOADS:
            a, b = s.get(("libaiw", w)), s.get((peer, w))
            if a and b and b.get(cpu_key(w)):
                rs.append("%s %.2f" % (w, a[cpu_key(w)] / b[cpu_key(w)]))
        if rs:
            parts.append("against %s: %s" % (CLIENT_LABEL[peer], ", ".join(rs)))
    out = []
    if parts:
        out.append("Client CPU of libaiw divided by the peer's, same run (below 1 = libaiw cheaper): "
                   + "; ".join(parts) + ".")
    out += go_summary_line(s)
    if cg:
        shares = []
        cur = None
        for line in cg.splitlines():
            m = re.match(r"^libaiw, (.*?): instructions per (\w+)", line)
            if m:
                cur = (m.group(1), m.group(2))
                continue
            if cur and line.startswith("| libaiw: aiw_* functions"):
                shares.append([cur, int(line.split("|")[2]), 0])
            elif cur and line.startswith("| libaiw: other"):
                shares[-1][2] = int(line.split("|")[2])
            elif cur and line.startswith("| **total**"):
                tot = int(line.split("|")[2].strip(" *"))
                if shares and shares[-1][0] == cur:
                    (what, unit), own, other = shares[-1]
                    out.append("libaiw.so's own code executes %d instructions per %s of %s (%.1f%% of the "
                               "client's total; %.1f%% in aiw_* functions), the rest being gRPC core, protobuf-c "
                               "and libc (callgrind, below)." % (own + other, unit, what,
                                                                100.0 * (own + other) / tot, 100.0 * own / tot))
                cur = None
    return out


def cmd_table(args):
    rows = parse_results(args.results)
    if not rows:
        print("report.py: no RESULT lines in %s" % args.results, file=sys.stderr)
        return 1
    s = summarise(rows)
    body = table_lines(s, rows) + ratio_lines(s, rows) + go_ratio_lines(s, rows)
    cg = open(args.callgrind).read().strip() if args.callgrind else ""
    print("\n".join(body + summary_lines(s, cg)))
    if args.md:
        meta = open(args.meta).read().strip() if args.meta else ""
        with open(args.md, "w") as f:
            f.write("# libaiw client cost: benchmark results\n\n")
            f.write("Written by `make bench` (bench/run.sh); see bench/README.md for what is measured and how.\n\n")
            f.write("## Machine and run\n\n")
            f.write(meta + "\n\n")
            summ = summary_lines(s, cg)
            if summ:
                f.write("## Summary\n\n" + "\n\n".join(summ) + "\n\n")
            f.write("## Results\n\n")
            f.write("\n".join(body) + "\n")
            if cg:
                f.write("## Instruction counts (callgrind)\n\n" + CALLGRIND_INTRO + "\n".join(cg_totals(cg))
                        + "\n" + cg + "\n\n")
            f.write(CAVEATS)
    return 0


CAVEATS = """## Caveats

- 2 shared cores, noisy: the Python reference server, the client and gRPC's
  threads compete for the same two cores, and the machine is shared with other
  work. Single-run numbers move by 10-30%; compare ratios measured in the same
  run (the rounds are interleaved and rotate which client goes first), not
  absolute numbers across runs or machines.
- The server is the bottleneck: the reference service is Python (grpcio), and
  its CPU per call (last column, from /proc/PID/stat at 10 ms resolution,
  including warm-up) is several times any client's. calls/s and latency are
  therefore mostly the server's; client CPU per call is the meaningful metric.
- With 16 in flight, latency is queueing behind the server, not client cost.
- getrusage counts every thread of the client process (gRPC's own threads,
  Go's runtime and GC), which is the cost a user pays; it does not count the
  kernel work done on the server side of the loopback.
- The four clients do the same work per call (a 30 s deadline, one shared
  channel, the response checked: 1024 floats / 1001 messages), but each in its
  own idiom: libaiw decodes into its own response object (protobuf-c), C++
  into a generated message (libprotobuf), grpc-go into a generated struct,
  and the Go package aiworker has libaiw decode (protobuf-c), flatten the
  response in C and decode that into its Go structs.
- The Go package's stream row (aiwgo) uses ChatStreamFunc, whose callback
  runs on the calling thread inside the C call; the extra row aiwgo-recv is
  ChatStream + Recv, which hands each message over a channel from the
  goroutine running the call to the reader (grpc-go's form).
"""


# ---- callgrind ---------------------------------------------------------------

CALLGRIND_INTRO = """Nearly deterministic (gRPC's polling still varies a little with timing), unlike\nthe timings above: `valgrind --tool=callgrind` on the
libaiw and the C++ client, each run twice with different counts against the
same server; (Ir of the long run - Ir of the short run) / (extra calls or
messages) is the steady per-call cost with start-up, connection set-up and
dynamic linking cancelled out. Every instruction of the process is counted
(all threads), and attributed to the shared object it executes in (self cost).
"libaiw: aiw_* functions" are the library's own named functions;
"libaiw: other" are its static helpers and the protobuf-c generated glue
compiled into libaiw.so. grpc-go and the Go package cannot be compared this
way (Go under valgrind is not meaningful).

"""


def cg_totals(md):
    """Summary table: total Ir and the library layer's Ir per unit, per client and workload."""
    secs = {}
    cur = None
    for line in md.splitlines():
        m = re.match(r"^(\w+), (.*?): instructions per (\w+)", line)
        if m:
            cur = (m.group(1), m.group(2), m.group(3))
            secs[cur] = {}
            continue
        m = re.match(r"^\| (.*?) \| \**(-?\d+)\** \|", line)
        if m and cur:
            secs[cur][m.group(1).strip("*")] = int(m.group(2))
    layer = {"libaiw": ["libaiw: aiw_* functions", "libaiw: other (static helpers, pb-c glue)"],
             "cpp": ["grpc++ (C++ API layer)"]}
    out = ["| workload | client | total Ir per unit | API layer: libaiw.so / libgrpc++ "
           "| benchmark binary (C++: + generated stubs, inlined grpc++) "
           "| codec: protobuf-c / libprotobuf | gRPC C core + absl |", "|---|---|---:|---:|---:|---:|---:|"]
    for (client, what, unit), d in sorted(secs.items(), key=lambda kv: (kv[0][1], kv[0][0] != "libaiw")):
        tot = d.get("total", 0)
        lay = sum(d.get(k, 0) for k in layer.get(client, []))
        codec = d.get("protobuf-c (libaiw's codec)", d.get("libprotobuf (C++ codec)", 0))
        core = d.get("gRPC C core (+ absl, upb)", 0)

        def pc(v):
            return "%d (%.1f%%)" % (v, 100.0 * v / tot) if tot else "-"
        binary = sum(v for k, v in d.items() if k.startswith("benchmark"))
        out.append("| %s per %s | %s | %d | %s | %s | %s | %s |" % (
            what, unit, CLIENT_LABEL.get(client, client), tot, pc(lay), pc(binary), pc(codec), pc(core)))
    for what in sorted({k[1] for k in secs}):
        a = next((d for k, d in secs.items() if k[0] == "libaiw" and k[1] == what), None)
        b = next((d for k, d in secs.items() if k[0] == "cpp" and k[1] == what), None)
        if a and b and b.get("total"):
            out.append("")
            out.append("%s: libaiw executes %.2fx the instructions of the C++ client per unit." %
                       (what, a["total"] / b["total"]))
    out.append("")
    return out


def parse_callgrind(path):
    """Self cost (Ir) per (object, function) from a callgrind.out file."""
    names = {"ob": {}, "fn": {}, "fl": {}}
    cost = {}
    ob = fn = None
    skip_next = False
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c0 = line[0]
            if c0.isdigit() or c0 in "+-*":
                if skip_next:  # inclusive cost of a call: not self cost
                    skip_next = False
                    continue
                parts = line.split()
                if len(parts) >= 2 and fn is not None:
                    key = (ob, fn)
                    cost[key] = cost.get(key, 0) + int(parts[1])
                continue
            m = re.match(r"^(c?)(ob|fn|fl|fi|fe)=(?:\((\d+)\))?\s*(.*)$", line)
            if m:
                called, kind, ident, name = m.groups()
                table_kind = "fl" if kind in ("fi", "fe") else kind
                if ident is not None:
                    if name:
                        names[table_kind][ident] = name
                    else:
                        name = names[table_kind].get(ident, "?")
                if not called:
                    if kind == "ob":
                        ob = name
                    elif kind == "fn":
                        fn = name
                continue
            if line.startswith("calls="):
                skip_next = True
    return cost


def category(ob, fn):
    o = (ob or "").rsplit("/", 1)[-1]
    if o.startswith("libaiw.so"):
        return "libaiw: aiw_* functions" if fn.startswith("aiw_") else "libaiw: other (static helpers, pb-c glue)"
    if o.startswith("libprotobuf-c"):
        return "protobuf-c (libaiw's codec)"
    if o.startswith("libprotobuf."):
        return "libprotobuf (C++ codec)"
    if o.startswith("libgrpc++"):
        return "grpc++ (C++ API layer)"
    if o.startswith(("libgrpc.", "libgpr", "libupb", "libaddress_sorting", "libre2", "libcares", "libabsl")):
        return "gRPC C core (+ absl, upb)"
    if o.startswith(("libc.so", "libstdc++", "libgcc", "libm.so")):
        return "libc / libstdc++ (malloc, memcpy, locks)"
    if o.startswith("ld-linux"):
        if "tls_get_addr" in fn:
            return "ld.so __tls_get_addr (thread-local lookups)"
        return "ld.so (symbol binding, other)"
    if o.startswith("bench_"):
        return "benchmark binary (C++: also its generated stubs, inlined grpc++)"
    return "other: " + o


def cmd_callgrind(args):
    c1 = parse_callgrind(args.file1)
    c2 = parse_callgrind(args.file2)
    n = args.n2 - args.n1
    cats = {}
    aiw_fns = {}
    for key in set(c1) | set(c2):
        d = c2.get(key, 0) - c1.get(key, 0)
        cat = category(*key)
        cats[cat] = cats.get(cat, 0) + d
        if cat.startswith("libaiw"):
            aiw_fns[key[1]] = aiw_fns.get(key[1], 0) + d
    total = sum(cats.values())
    out = ["%s, %s: instructions per %s = (run of %d - run of %d) / %d; self cost by where it executes"
           % (args.client, args.what, args.unit, args.n2, args.n1, n), "",
           "| code | Ir per %s | share |" % args.unit, "|---|---:|---:|"]
    for cat, v in sorted(cats.items(), key=lambda kv: -kv[1]):
        if abs(v) / n < 0.5 and not cat.startswith("libaiw"):
            continue
        out.append("| %s | %.0f | %.2f%% |" % (cat, v / n, 100.0 * v / total if total else 0))
    out.append("| **total** | **%.0f** | 100%% |" % (total / n))
    top = sorted(aiw_fns.items(), key=lambda kv: -kv[1])[:6]
    if top:
        out.append("")
        out.append("Top libaiw.so functions (Ir per %s): " % args.unit +
                   ", ".join("`%s` %.0f" % (f, v / n) for f, v in top if v > 0))
    out.append("")
    print("\n".join(out))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table")
    t.add_argument("results")
    t.add_argument("--meta")
    t.add_argument("--callgrind")
    t.add_argument("--md")
    c = sub.add_parser("callgrind")
    c.add_argument("--client", required=True)
    c.add_argument("--what", required=True)
    c.add_argument("--unit", required=True)
    c.add_argument("--n1", type=int, required=True)
    c.add_argument("--n2", type=int, required=True)
    c.add_argument("file1")
    c.add_argument("file2")
    args = ap.parse_args()
    return cmd_table(args) if args.cmd == "table" else cmd_callgrind(args)


if __name__ == "__main__":
    sys.exit(main())
