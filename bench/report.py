#!/usr/bin/env python3
"""bench/report.py -- turns the RESULT / FAILED / MISSING lines of
bench/run.sh into tables (median of the rounds with the per-round
min..max), the ratio tables (libaiw against the raw C core floor and
against grpc++, the Go package against grpc-go and against libaiw), the
open-streams table and bench/RESULTS.md; also summarises callgrind profiles.

  report.py table RESULTS_TXT --meta META_TXT [--callgrind CG_MD] [--md OUT.md]
  report.py callgrind --client NAME --what WHAT --unit call|message --n1 N1 FILE1 --n2 N2 FILE2

Standard library only. Nothing here judges a number: it only reports.
"""
import argparse
import re
import statistics
import sys

CLIENTS = ["rawc", "libaiw-q", "libaiw", "cpp", "grpcgo", "aiwgo", "aiwgo-recv"]
CLIENT_LABEL = {
    "rawc": "raw C core (floor)",
    "libaiw-q": "libaiw (C), aiw_queue",
    "libaiw": "libaiw (C), blocking",
    "cpp": "C++ grpc++ sync",
    "grpcgo": "grpc-go 1.33",
    "aiwgo": "Go aiworker",
    "aiwgo-recv": "Go aiworker, ChatStream+Recv",
}
CLIENT_HOW = {
    "rawc": "one completion queue, one thread",
    "libaiw-q": "one aiw_queue, one thread",
    "libaiw": "a thread per call in flight",
    "cpp": "a thread per call in flight",
    "grpcgo": "a goroutine per call in flight",
    "aiwgo": "a goroutine per call in flight; streams: ChatStreamFunc",
    "aiwgo-recv": "a goroutine per stream; ChatStream + Recv",
}
WORKLOADS = ["unary1", "unary16", "unary64", "stream1", "stream8"]
WORKLOAD_LABEL = {
    "unary1": "GetEmbedding, 1 in flight",
    "unary16": "GetEmbedding, 16 in flight",
    "unary64": "GetEmbedding, 64 in flight",
    "stream1": "ChatStream `!many:1000` (1001 messages per stream), 1 in flight",
    "stream8": "ChatStream `!many:1000` (1001 messages per stream), 8 in flight",
}
# (subject, peer, why) -- the ratios the report gives, CPU per call / per message
PAIRS = [
    ("libaiw-q", "rawc", "libaiw's queue over the same structure written on grpc.h (target 1.05)"),
    ("libaiw", "rawc", "libaiw's blocking calls against the floor"),
    ("libaiw", "cpp", "the same structure: blocking calls, a thread per call"),
    ("aiwgo", "grpcgo", "the choice a Go user has"),
    ("aiwgo-recv", "grpcgo", "the same, streams read grpc-go's way"),
    ("aiwgo", "libaiw-q", "the binding over the path it uses (libaiw's queue)"),
    ("aiwgo", "libaiw", "the binding against libaiw's blocking calls"),
]
PAIR_LABEL = {
    ("libaiw-q", "rawc"): "libaiw (queue) ÷ raw C",
    ("libaiw", "rawc"): "libaiw (blocking) ÷ raw C",
    ("libaiw", "cpp"): "libaiw (blocking) ÷ grpc++",
    ("aiwgo", "grpcgo"): "Go pkg ÷ grpc-go",
    ("aiwgo-recv", "grpcgo"): "Go pkg (Recv) ÷ grpc-go",
    ("aiwgo", "libaiw-q"): "Go pkg ÷ libaiw (queue)",
    ("aiwgo", "libaiw"): "Go pkg ÷ libaiw (blocking)",
}
OPEN_CLIENTS = ["grpcgo", "aiwgo"]


def wkey(workload, conc):
    return "%s%d" % (workload, conc)


def parse_results(path):
    rows, fails = [], []
    with open(path) as f:
        for line in f:
            word = line.split(" ", 1)[0]
            if word not in ("RESULT", "FAILED", "MISSING"):
                continue
            kv = dict(tok.split("=", 1) for tok in line.split()[1:] if "=" in tok)
            key = wkey(kv["workload"], int(kv["conc"]))
            rnd = int(kv.get("round", "1"))
            if word != "RESULT":
                fails.append({"client": kv["client"], "workload": key, "round": rnd, "kind": word,
                              "why": kv.get("why", "").replace("_", " ")})
                continue
            r = {"client": kv["client"], "round": rnd, "workload": key}
            calls, chunks = int(kv["calls"]), int(kv["chunks"])
            wall = float(kv["wall_s"])
            cpu = float(kv["cpu_user_s"]) + float(kv["cpu_sys_s"])
            csw = int(kv.get("csw_vol", 0)) + int(kv.get("csw_invol", 0))
            r.update(calls=calls, chunks=chunks, conc=int(kv["conc"]), wall=wall, cpu=cpu, csw=csw)
            r["cpu_us_call"] = cpu / calls * 1e6
            r["csw_call"] = csw / calls
            r["cpu_us_chunk"] = cpu / chunks * 1e6 if chunks else None
            r["csw_chunk"] = csw / chunks if chunks else None
            r["user_share"] = float(kv["cpu_user_s"]) / cpu if cpu > 0 else 0.0
            r["p50_us"], r["p99_us"] = float(kv["p50_us"]), float(kv["p99_us"])
            r["rate"] = calls / wall
            r["chunk_rate"] = chunks / wall if chunks else None
            r["threads"] = int(kv.get("threads", 0))
            r["rss_mb"] = int(kv.get("rss_kb", 0)) / 1024.0
            for k in ("peak_open", "completed", "hold_ms"):
                r[k] = int(kv[k]) if k in kv else None
            r["all_open_s"] = float(kv["all_open_s"]) if "all_open_s" in kv else None
            r["srv_us_call"] = float(kv["srv_cpu_s"]) / int(kv["srv_calls"]) * 1e6 if "srv_cpu_s" in kv else None
            rows.append(r)
    return rows, fails


def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def is_stream(w):
    return w.startswith("stream")


def cpu_key(w):
    return "cpu_us_chunk" if is_stream(w) else "cpu_us_call"


def csw_key(w):
    return "csw_chunk" if is_stream(w) else "csw_call"


METRICS = ("cpu_us_call", "cpu_us_chunk", "csw_call", "csw_chunk", "p50_us", "p99_us", "rate", "chunk_rate",
           "srv_us_call", "user_share", "threads", "rss_mb", "wall", "cpu", "peak_open", "completed",
           "all_open_s", "csw")


def summarise(rows):
    """{(client, workload): {metric: median, metric+'_range': (min, max)}}"""
    out = {}
    for key in sorted({(r["client"], r["workload"]) for r in rows}):
        rs = [r for r in rows if (r["client"], r["workload"]) == key]
        m = {"rounds": len(rs), "calls": rs[0]["calls"], "chunks": rs[0]["chunks"], "hold_ms": rs[0]["hold_ms"]}
        for k in METRICS:
            vals = [r[k] for r in rs if r.get(k) is not None]
            m[k] = statistics.median(vals) if vals else None
            m[k + "_range"] = (min(vals), max(vals)) if vals else None
        out[key] = m
    return out


def with_range(m, k, spec):
    """median and, with more than one round, the per-round min..max."""
    v = m.get(k)
    if v is None:
        return "-"
    rg = m.get(k + "_range")
    if m["rounds"] > 1 and rg:
        return "%s (%s..%s)" % (spec % v, spec % rg[0], spec % rg[1])
    return spec % v


def round_ratios(rows, w, subject, peer, k):
    """subject/peer ratio of metric k in each round (both measured in that round)."""
    res = []
    for rnd in sorted({r["round"] for r in rows}):
        a = [r for r in rows if r["round"] == rnd and r["workload"] == w and r["client"] == subject]
        b = [r for r in rows if r["round"] == rnd and r["workload"] == w and r["client"] == peer]
        if a and b and b[0].get(k) and a[0].get(k) is not None:
            res.append(a[0][k] / b[0][k])
    return res


def ratio_cell(s, rows, w, subject, peer, k=None, rng=True):
    k = k or cpu_key(w)
    a, b = s.get((subject, w)), s.get((peer, w))
    if not a or not b or not b.get(k) or a.get(k) is None:
        return "-"
    rr = round_ratios(rows, w, subject, peer, k)
    v = a[k] / b[k]
    if rng and len(rr) > 1:
        return "%.2f (%.2f..%.2f)" % (v, min(rr), max(rr))
    return "%.2f" % v


def fail_note(fails, c, w):
    fs = [f for f in fails if f["client"] == c and f["workload"] == w]
    if not fs:
        return None
    kinds = {f["kind"] for f in fs}
    if kinds == {"MISSING"}:
        return "missing (did not build)"
    why = next((f["why"] for f in fs if f["why"]), "")
    return "failed in %d round(s)%s" % (len(fs), (": " + why) if why else "")


def table_lines(s, rows, fails):
    lines = []
    for w in WORKLOADS:
        present = [c for c in CLIENTS if (c, w) in s or fail_note(fails, c, w)]
        if not present:
            continue
        any_m = next((s[(c, w)] for c in CLIENTS if (c, w) in s), None)
        if is_stream(w):
            if any_m:
                lines.append("### %s -- %d streams per client per round, median of %d round(s) (min..max)"
                             % (WORKLOAD_LABEL[w], any_m["calls"], any_m["rounds"]))
            lines += ["", "| client | client CPU us/chunk | context switches /chunk | p50 ms/stream | p99 ms/stream "
                      "| chunks/s | threads | user CPU | server CPU us/chunk |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for c in present:
                m = s.get((c, w))
                if not m:
                    lines.append("| %s | %s |  |  |  |  |  |  |  |" % (CLIENT_LABEL[c], fail_note(fails, c, w)))
                    continue
                srv = m["srv_us_call"] / (m["chunks"] / m["calls"]) if m["srv_us_call"] and m["chunks"] else None
                lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    CLIENT_LABEL[c], with_range(m, "cpu_us_chunk", "%.2f"), fmt(m["csw_chunk"], "%.3f"),
                    fmt(m["p50_us"] / 1000, "%.1f"), fmt(m["p99_us"] / 1000, "%.1f"),
                    with_range(m, "chunk_rate", "%.0f"), fmt(m["threads"], "%d"),
                    fmt(m["user_share"] * 100, "%.0f%%"), fmt(srv, "%.2f")))
        else:
            if any_m:
                lines.append("### %s -- %d calls per client per round, median of %d round(s) (min..max)"
                             % (WORKLOAD_LABEL[w], any_m["calls"], any_m["rounds"]))
            lines += ["", "| client | client CPU us/call | context switches /call | p50 us | p99 us | calls/s "
                      "| threads | user CPU | server CPU us/call |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for c in present:
                m = s.get((c, w))
                if not m:
                    lines.append("| %s | %s |  |  |  |  |  |  |  |" % (CLIENT_LABEL[c], fail_note(fails, c, w)))
                    continue
                lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    CLIENT_LABEL[c], with_range(m, "cpu_us_call", "%.1f"), fmt(m["csw_call"], "%.3f"),
                    fmt(m["p50_us"], "%.0f"), fmt(m["p99_us"], "%.0f"), with_range(m, "rate", "%.0f"),
                    fmt(m["threads"], "%d"), fmt(m["user_share"] * 100, "%.0f%%"), fmt(m["srv_us_call"], "%.0f")))
        lines.append("")
    return lines


def open_lines(s, rows, fails):
    sizes = sorted({int(w[4:]) for (_, w) in s if w.startswith("open")} |
                   {int(f["workload"][4:]) for f in fails if f["workload"].startswith("open")})
    if not sizes:
        return []
    lines = ["### Open streams: N concurrent ChatStreams from one process, one connection", "",
             "Each stream `!hold:MS:10`: its first message at once, then the server waits MS ms "
             "(1000 + N/5) and sends 9 more and the final one. A goroutine per stream, ChatStream + Recv. "
             "Threads: peak of `Threads:` in /proc/self/status sampled every 5 ms; RSS: VmHWM; "
             "open at once: most streams between their first and last message at the same time; "
             "all open after: from the first start until every stream had its first message. "
             "Median of the rounds (min..max).", "",
             "| N | client | completed | open at once | peak OS threads | peak RSS MB | all open after s "
             "| wall s | client CPU ms | context switches |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        w = "open%d" % n
        for c in OPEN_CLIENTS:
            m = s.get((c, w))
            note = fail_note(fails, c, w)
            if not m:
                if note:
                    lines.append("| %d | %s | **%s** |  |  |  |  |  |  |  |" % (n, CLIENT_LABEL[c], note))
                continue
            comp = "%d/%d all" % (m["completed"], n) if m["completed"] == n else "%d/%d" % (m["completed"], n)
            if note:
                comp += "; **%s**" % note
            lines.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                n, CLIENT_LABEL[c], comp, fmt(m["peak_open"], "%d"), with_range(m, "threads", "%d"),
                with_range(m, "rss_mb", "%.1f"), fmt(m["all_open_s"], "%.2f"), with_range(m, "wall", "%.2f"),
                fmt(m["cpu"] * 1000 if m["cpu"] is not None else None, "%.0f"), fmt(m["csw"], "%d")))
        a, b = s.get(("aiwgo", w)), s.get(("grpcgo", w))
        if a and b:
            def r(k):
                return "%.2f" % (a[k] / b[k]) if a.get(k) and b.get(k) else "-"
            lines.append("| %d | *Go pkg ÷ grpc-go* |  |  | *%s* | *%s* | *%s* | *%s* | *%s* | *%s* |" % (
                n, r("threads"), r("rss_mb"), r("all_open_s"), r("wall"), r("cpu"), r("csw")))
    lines.append("")
    return lines


def ratio_lines(s, rows):
    lines = ["### Ratios, client CPU per call (unary) / per message (stream): subject ÷ peer, same run", "",
             "Ratio of the medians, with the min..max of the per-round ratios (both clients measured in the "
             "same round). Below 1 = the subject is cheaper.", "",
             "| workload | " + " | ".join(PAIR_LABEL[(a, b)] for a, b, _ in PAIRS) + " |",
             "|---|" + "---:|" * len(PAIRS)]
    for w in WORKLOADS:
        cells = [ratio_cell(s, rows, w, a, b) for a, b, _ in PAIRS]
        if all(c == "-" for c in cells):
            continue
        lines.append("| %s | %s |" % (w, " | ".join(cells)))
    lines += ["", "The same pairs, other measures (ratio of the medians): context switches per call / message, "
              "p50 and p99 latency (below 1 = better), throughput (above 1 = better).", "",
              "| workload | pair | CPU | context switches | p50 | p99 | throughput |", "|---|---|---:|---:|---:|---:|---:|"]
    for w in WORKLOADS:
        for a, b, _ in PAIRS:
            if (a, w) not in s or (b, w) not in s:
                continue
            rk = "chunk_rate" if is_stream(w) else "rate"
            lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                w, PAIR_LABEL[(a, b)], ratio_cell(s, rows, w, a, b, rng=False),
                ratio_cell(s, rows, w, a, b, csw_key(w), rng=False), ratio_cell(s, rows, w, a, b, "p50_us", rng=False),
                ratio_cell(s, rows, w, a, b, "p99_us", rng=False), ratio_cell(s, rows, w, a, b, rk, rng=False)))
    lines += ["", "Why each pair: " + "; ".join("%s -- %s" % (PAIR_LABEL[(a, b)], why) for a, b, why in PAIRS) + ".", ""]
    return lines


def summary_lines(s, rows, fails, cg):
    out = []
    for a, b, _ in PAIRS:
        rs = []
        for w in WORKLOADS:
            x, y = s.get((a, w)), s.get((b, w))
            if x and y and y.get(cpu_key(w)):
                rs.append("%s %.2f" % (w, x[cpu_key(w)] / y[cpu_key(w)]))
        if rs:
            out.append("- Client CPU, %s: %s." % (PAIR_LABEL[(a, b)], ", ".join(rs)))
    for n in sorted({int(w[4:]) for (_, w) in s if w.startswith("open")} |
                    {int(f["workload"][4:]) for f in fails if f["workload"].startswith("open")}):
        parts = []
        for c in OPEN_CLIENTS:
            m = s.get((c, "open%d" % n))
            note = fail_note(fails, c, "open%d" % n)
            if m and not note:
                parts.append("%s %d/%d completed, %d threads, %.0f MB" % (CLIENT_LABEL[c], m["completed"], n,
                                                                          m["threads"], m["rss_mb"]))
            elif note:
                parts.append("%s %s" % (CLIENT_LABEL[c], note))
        if parts:
            out.append("- %d open streams: %s." % (n, "; ".join(parts)))
    missing = sorted({f["client"] for f in fails if f["kind"] == "MISSING"})
    if missing:
        out.append("- Missing (did not build): %s." % ", ".join(CLIENT_LABEL.get(c, c) for c in missing))
    if cg:
        out += ["- " + l for l in cg_ratio_lines(cg)]
    return out


def cmd_table(args):
    rows, fails = parse_results(args.results)
    if not rows and not fails:
        print("report.py: no RESULT lines in %s" % args.results, file=sys.stderr)
        return 1
    s = summarise(rows)
    body = ratio_lines(s, rows) + table_lines(s, rows, fails) + open_lines(s, rows, fails)
    cg = open(args.callgrind).read().strip() if args.callgrind else ""
    summ = summary_lines(s, rows, fails, cg)
    print("\n".join(body + summ))
    if args.md:
        meta = open(args.meta).read().strip() if args.meta else ""
        with open(args.md, "w") as f:
            f.write("# libaiw client cost: benchmark results\n\n")
            f.write("Written by `make bench` (bench/run.sh); see bench/README.md for what is measured and how.\n\n")
            f.write("## Machine and run\n\n")
            f.write(meta + "\n\n")
            f.write("## Clients\n\n| client | how calls are in flight |\n|---|---|\n")
            f.write("".join("| %s | %s |\n" % (CLIENT_LABEL[c], CLIENT_HOW[c]) for c in CLIENTS) + "\n")
            if summ:
                f.write("## Summary\n\n" + "\n".join(summ) + "\n\n")
            f.write("## Results\n\n")
            f.write("\n".join(body) + "\n")
            if cg:
                f.write("## Instruction counts (callgrind)\n\n" + CALLGRIND_INTRO + "\n".join(cg_totals(cg))
                        + "\n" + cg + "\n\n")
            f.write(CAVEATS)
    return 0


CAVEATS = """## Caveats

- 2 shared cores, noisy: the server, the client and gRPC's threads compete
  for the same two cores, and the machine is shared with other work. Single
  runs move by 10-30%; compare ratios measured in the same run (the rounds
  are interleaved and rotate which client goes first; the min..max of the
  per-round ratios is beside each), not absolute numbers across runs.
- The server (bench_server, grpc++ async, one polling thread) answers from
  precomputed bytes and costs a few us per call, so throughput and latency
  now say something about the clients; at 16 and 64 in flight the server
  thread and the client still share two cores, so calls/s is a property of
  the pair.
- getrusage counts every thread of the client process (gRPC's own threads,
  Go's runtime and GC), which is the cost a user pays; it does not count the
  kernel work done on the server side of the loopback. Context switches are
  ru_nvcsw + ru_nivcsw of the whole process. Threads is `Threads:` of
  /proc/self/status at the end of the measured phase (for the threaded C/C++
  runners: plus the workers just joined); for open streams the sampled peak.
- The clients do the same work per call (a 30 s deadline, one shared
  channel, the response checked: 1024 floats / 1001 messages), each in its
  own idiom: raw C and libaiw decode with protobuf-c, C++ with libprotobuf,
  grpc-go and the Go package into protoc-gen-go structs.
- p99 of a stream workload is over few streams (100 or 320: the slowest one to
  four).
"""


# ---- callgrind ---------------------------------------------------------------

CALLGRIND_INTRO = """Nearly deterministic (gRPC's polling still varies a little with timing), unlike\nthe timings above: `valgrind --tool=callgrind` on the
raw C core, libaiw (queue and blocking) and C++ clients, each run twice with different counts against the
same server; (Ir of the long run - Ir of the short run) / (extra calls or
messages) is the steady per-call cost with start-up, connection set-up and
dynamic linking cancelled out. Every instruction of the process is counted
(all threads), and attributed to the shared object it executes in (self cost).
"libaiw: aiw_* functions" are the library's own named functions;
"libaiw: other" are its static helpers and the protobuf-c generated glue
compiled into libaiw.so (the raw C client has that glue in its binary). grpc-go and the Go package cannot be compared this
way (Go under valgrind is not meaningful).

"""


def cg_ratio_lines(md):
    """Instruction ratios per unit between clients (deterministic, unlike the timings)."""
    tot = {}
    cur = None
    for line in md.splitlines():
        m = re.match(r"^([\w-]+), (.*?): instructions per (\w+)", line)
        if m:
            cur = (m.group(1), m.group(2), m.group(3))
            continue
        m = re.match(r"^\| \*\*total\*\* \| \*\*(-?\d+)\*\* \|", line)
        if m and cur:
            tot[cur[:2]] = (int(m.group(1)), cur[2])
    out = []
    for what in sorted({k[1] for k in tot}):
        parts = []
        for a, b in (("libaiw-q", "rawc"), ("libaiw", "rawc"), ("libaiw", "cpp")):
            if (a, what) in tot and (b, what) in tot and tot[(b, what)][0]:
                parts.append("%s %.2f" % (PAIR_LABEL[(a, b)], tot[(a, what)][0] / tot[(b, what)][0]))
        if parts:
            out.append("Instructions per %s of %s (callgrind): %s." % (tot[next(k for k in tot if k[1] == what)][1],
                                                                    what, ", ".join(parts)))
    return out


def cg_totals(md):
    """Summary table: total Ir and the library layer's Ir per unit, per client and workload."""
    secs = {}
    cur = None
    for line in md.splitlines():
        m = re.match(r"^([\w-]+), (.*?): instructions per (\w+)", line)
        if m:
            cur = (m.group(1), m.group(2), m.group(3))
            secs[cur] = {}
            continue
        m = re.match(r"^\| (.*?) \| \**(-?\d+)\** \|", line)
        if m and cur:
            secs[cur][m.group(1).strip("*")] = int(m.group(2))
    lib = ["libaiw: aiw_* functions", "libaiw: other (static helpers, pb-c glue)"]
    layer = {"libaiw": lib, "libaiw-q": lib, "cpp": ["grpc++ (C++ API layer)"]}
    out = ["| workload | client | total Ir per unit | API layer: libaiw.so / libgrpc++ "
           "| benchmark binary (C++: + generated stubs, inlined grpc++) "
           "| codec: protobuf-c / libprotobuf | gRPC C core + absl |", "|---|---|---:|---:|---:|---:|---:|"]
    order = {c: i for i, c in enumerate(CLIENTS)}
    for (client, what, unit), d in sorted(secs.items(), key=lambda kv: (kv[0][1], order.get(kv[0][0], 99))):
        tot = d.get("total", 0)
        lay = sum(d.get(k, 0) for k in layer.get(client, []))
        codec = d.get("protobuf-c (libaiw's codec)", d.get("libprotobuf (C++ codec)", 0))
        if client == "rawc":  # its protobuf-c glue is compiled into the binary
            codec = d.get("protobuf-c (libaiw's codec)", 0)
        core = d.get("gRPC C core (+ absl, upb)", 0)

        def pc(v):
            return "%d (%.1f%%)" % (v, 100.0 * v / tot) if tot else "-"
        binary = sum(v for k, v in d.items() if k.startswith("benchmark"))
        out.append("| %s per %s | %s | %d | %s | %s | %s | %s |" % (
            what, unit, CLIENT_LABEL.get(client, client), tot, pc(lay), pc(binary), pc(codec), pc(core)))
    out.append("")
    out += cg_ratio_lines(md)
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
        return "benchmark binary (C++: also its generated stubs, inlined grpc++; raw C: its pb-c glue)"
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
