#!/usr/bin/python3
"""bench/grpcconn/report.py -- the tables of bench/grpcconn/run.sh.

    report.py RESULTS.txt [--meta META.md] [--md OUT.md]

RESULTS.txt holds the `RESULT client=... round=N` lines of bench_grpcconn
(and `FAILED ...` lines). Prints the tables and, with --md, writes them as
markdown with META.md's bullet list on top.

Per (workload, concurrency) and client: client CPU (user+sys) per call
(unary) or per message (stream), p50 latency (per call; per stream of 1001
messages), throughput, context switches; the median over the rounds and
the min..max. Ratios are taken round by round (both clients of a ratio ran
in the same round) and their median reported. "Kept" is how much of the Go
package's CPU advantage over grpc-go the generated client over grpcconn
keeps: (grpcgo - grpcconn) / (grpcgo - aiwgo), from the medians; only
meaningful where aiwgo is cheaper than grpcgo.
"""

import argparse
import math
import statistics
import sys

CLIENTS = ("grpcconn", "grpcgo", "aiwgo")
LABEL = {"grpcconn": "generated client over grpcconn.Conn (libaiw)",
         "grpcgo": "generated client over grpc-go ClientConn",
         "aiwgo": "aiworker.Client directly (libaiw)"}


def parse(path):
    runs, failed = [], []
    with open(path) as f:
        for line in f:
            words = line.split()
            if not words or words[0] not in ("RESULT", "FAILED"):
                continue
            kv = dict(w.split("=", 1) for w in words[1:] if "=" in w)
            (runs if words[0] == "RESULT" else failed).append(kv)
    return runs, failed


def measures(kv):
    calls, chunks = int(kv["calls"]), int(kv["chunks"])
    cpu = float(kv["cpu_user_s"]) + float(kv["cpu_sys_s"])
    csw = int(kv["csw_vol"]) + int(kv["csw_invol"])
    wall = float(kv["wall_s"])
    unit = chunks if kv["workload"] == "stream" else calls
    return {"cpu": cpu / unit * 1e6, "csw": csw / unit, "p50": float(kv["p50_us"]),
            "p99": float(kv["p99_us"]), "rate": unit / wall if wall > 0 else 0.0,
            "threads": int(kv["threads"])}


def num(x):
    """x with three significant digits, never in exponent form."""
    if x != x or x <= 0:
        return "%g" % x
    return "%.*f" % (max(0, 2 - int(math.floor(math.log10(x)))), x)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_range(xs, f="%.2f"):
    if not xs:
        return "-"
    return (f % med(xs)) + " (" + (f % min(xs)) + ".." + (f % max(xs)) + ")"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--meta")
    ap.add_argument("--md")
    a = ap.parse_args()
    runs, failed = parse(a.results)
    data = {}  # (workload, conc) -> client -> round -> measures
    for kv in runs:
        key = (kv["workload"], int(kv["conc"]))
        data.setdefault(key, {}).setdefault(kv["client"], {})[kv["round"]] = measures(kv)
    keys = sorted(data, key=lambda k: (k[0] != "unary", k[1]))

    out = []
    out.append("| workload | client | CPU / %s, us | p50 | throughput | csw / unit | threads |" % "unit")
    out.append("|---|---|---:|---:|---:|---:|---:|")
    for k in keys:
        w, conc = k
        unit = "message" if w == "stream" else "call"
        for c in CLIENTS:
            rs = data[k].get(c, {})
            if not rs:
                out.append("| %s %d | %s | missing | | | | |" % (w, conc, c))
                continue
            vals = list(rs.values())
            if w == "stream":
                p50 = fmt_range([v["p50"] / 1000 for v in vals], "%.2f") + " ms/stream"
                rate = "%.0f msg/s" % med([v["rate"] for v in vals])
            else:
                p50 = fmt_range([v["p50"] for v in vals], "%.1f") + " us"
                rate = "%.0f calls/s" % med([v["rate"] for v in vals])
            out.append("| %s %d (per %s) | %s | %s | %s | %s | %.3f | %d |" % (
                w, conc, unit, c, fmt_range([v["cpu"] for v in vals], "%.3f" if w == "stream" else "%.2f"),
                p50, rate, med([v["csw"] for v in vals]), max(v["threads"] for v in vals)))

    ratios = []
    ratios.append("| workload | CPU grpcconn ÷ grpcgo | CPU aiwgo ÷ grpcgo | CPU grpcconn ÷ aiwgo | advantage kept | p50 grpcconn ÷ grpcgo | p50 aiwgo ÷ grpcgo |")
    ratios.append("|---|---:|---:|---:|---:|---:|---:|")
    summary = []
    for k in keys:
        w, conc = k
        d = data[k]

        def paired(x, y, m):
            rounds = set(d.get(x, {})) & set(d.get(y, {}))
            return [d[x][r][m] / d[y][r][m] for r in sorted(rounds) if d[y][r][m] > 0]

        def medof(c, m):
            return med([v[m] for v in d.get(c, {}).values()])

        g, gc, aw = medof("grpcgo", "cpu"), medof("grpcconn", "cpu"), medof("aiwgo", "cpu")
        if g - aw > 0:
            kept = "%.0f%%" % (100 * (g - gc) / (g - aw))
        else:
            kept = "n/a (aiwgo not cheaper)"
        ratios.append("| %s %d | %s | %s | %s | %s | %s | %s |" % (
            w, conc, fmt_range(paired("grpcconn", "grpcgo", "cpu")), fmt_range(paired("aiwgo", "grpcgo", "cpu")),
            fmt_range(paired("grpcconn", "aiwgo", "cpu")), kept,
            fmt_range(paired("grpcconn", "grpcgo", "p50")), fmt_range(paired("aiwgo", "grpcgo", "p50"))))
        unit = "us CPU/message" if w == "stream" else "us CPU/call"
        p50 = {c: medof(c, "p50") for c in CLIENTS}
        p50u = "ms/stream" if w == "stream" else "us"
        sc = 1000.0 if w == "stream" else 1.0
        summary.append("- %s, %d in flight: CPU grpcconn %s, grpc-go %s, aiworker %s %s (ratios of the medians: "
                       "grpcconn ÷ grpc-go %.2f, aiworker ÷ grpc-go %.2f, grpcconn ÷ aiworker %.2f; advantage kept: %s); "
                       "p50 grpcconn / grpc-go / aiworker %s / %s / %s %s." % (
                           w, conc, num(gc), num(g), num(aw), unit, gc / g if g else float("nan"),
                           aw / g if g else float("nan"), gc / aw if aw else float("nan"), kept,
                           num(p50["grpcconn"] / sc), num(p50["grpcgo"] / sc), num(p50["aiwgo"] / sc), p50u))

    text = ["## Summary", ""] + summary + ["", "## Client cost", "",
            "Median over the rounds, (min..max). CPU is the client process's user+sys time over the measured calls "
            "divided by the calls (unary) or the messages (stream: 1001 per stream); p50 is per call, or per whole "
            "stream.", ""] + out + ["", "## Ratios, same run", "",
            "Per-round ratios (both clients in the same round), median (min..max); below 1 = the first is cheaper / "
            "faster. *Advantage kept* = (grpc-go − grpcconn) ÷ (grpc-go − aiworker) on the median CPU: 100% = "
            "grpcconn costs what the Go package costs, 0% = what grpc-go costs. On a shared machine the per-round "
            "min..max is the noise: a ratio whose range straddles 1 is no measured difference.", ""] + ratios
    if failed:
        text += ["", "**Failed runs:** " + ", ".join("%s %s conc=%s round %s" % (
            f.get("client"), f.get("workload"), f.get("conc"), f.get("round")) for f in failed)]
    print("\n".join(text))
    if a.md:
        meta = open(a.meta).read().strip() if a.meta else ""
        with open(a.md, "w") as f:
            f.write("# grpcconn: the generated grpc-go client on libaiw -- benchmark results\n\n")
            f.write("Written by `make bench-grpcconn` (bench/grpcconn/run.sh, report.py). Clients: ")
            f.write("; ".join("**%s** = %s" % (c, LABEL[c]) for c in CLIENTS) + ".\n\n")
            f.write("## Machine and run\n\n" + meta + "\n\n")
            f.write("\n".join(text) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
