#!/usr/bin/python3
"""Turns the bench's raw measurements into the report.

    report.py OUT                 print results.txt; write results.json, chart.dat, chart.gp
    report.py --missed TABLE OUT  print "FAMILY TABLE" for each target missed in TABLE
    report.py --smoke-check OUT   print "bench-smoke: N passed, N failed"; exit 1 on failure
    report.py --markdown OUT      print the figures as the Markdown kept in docs/performance.md

OUT holds raw.tsv (one line per measurement), cost.tsv and meta.tsv, written
by run.sh. Every figure printed is a median over the rounds of this one run,
and every ratio divides two medians of this run.
"""
import json
import os
import statistics
import sys

# fibfast: its FIB answer cache forced on; nocache: forced off (run.sh FIBFAST_CACHE_FLAG, FIBFAST_NOCACHE_FLAG).
MODES = ("kernel", "fibfast", "lookup", "redirect", "nocache")
TABLES = ("one", "multipath", "full", "paper", "zipf")
TABLE_NAMES = {"one": "one route", "full": "full table, uniform", "multipath": "multipath, 1024 flows",
               "paper": "full table, paper's 4k dst", "zipf": "full table, Zipf, 1024 flows"}
# (table, ratio, threshold, family or None for both): issue 5's targets, then
# issue 12's. "*" is every table.
TARGETS = (
    ("one", "fibfast/kernel", 2.5, None),
    ("one", "fibfast/redirect", 0.75, None),
    ("full", "fibfast/kernel", 1.8, None),
    ("paper", "fibfast/kernel", 2.5, None),
    ("zipf", "fibfast/kernel", 2.5, None),
    ("full", "fibfast/nocache", 0.95, None),
    ("one", "fibfast/redirect", 0.85, "ipv4"),
    ("*", "fibfast/lookup", 1.0, None),
)
# Why a ratio can be missing from a run, beyond a mode that failed.
UNMEASURED = {"fibfast/nocache": "not measured: no nocache rows in this run (BENCH_MODES?)"}

AGENT_LABELS = {
    "table_load_ms": "kernel takes in 1.2M routes (ip -batch)",
    "agent_rss_kib_one_route": "agent RSS, one route",
    "agent_rss_kib_full_live": "agent RSS after the table was loaded under it",
    "agent_catchup_ms": "agent busy after the kernel finished loading",
    "agent_cpu_ms_during_load": "agent CPU time spent while the table loaded",
    "agent_attach_ms_full": "agent start to attached, full table present",
    "agent_settle_ms_full": "agent start to idle, full table present",
    "agent_rss_kib_full_cold": "agent RSS, started with the full table",
}


def read_tsv(path, ncols):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t", ncols - 1) for line in f if line.strip()]


def load(out):
    meta = dict(read_tsv(os.path.join(out, "meta.tsv"), 2))
    runs = {}
    share = {}
    cache = {}
    for row in read_tsv(os.path.join(out, "raw.tsv"), 9):
        fam, table, mode, rnd, pps, sent, ns, fast = row[:8]
        runs.setdefault((fam, table, mode), []).append(int(pps))
        if fast != "-":
            share.setdefault((fam, table), []).append(fast)
        # HITS%/BYPASSED% of fibfast's forwarding lookups (older runs: absent).
        if mode == "fibfast" and len(row) > 8 and row[8] != "-":
            hits, bypassed = (float(v.rstrip("%")) for v in row[8].split("/"))
            cache.setdefault((fam, table), []).append((hits, bypassed))
    meta["_cache"] = cache
    costs = []
    for mode, table, kind, res in read_tsv(os.path.join(out, "cost.tsv"), 4):
        fields = dict(kv.split("=", 1) for kv in res.split())
        costs.append({"program": mode, "table": table, "packet": kind,
                      "ns_per_packet": int(fields["ns_per_pkt"]), "action": fields["action"],
                      "harness_ns": int(fields.get("harness_ns", 0))})
    return meta, runs, share, costs


def scenarios(runs):
    out = []
    for table in TABLES:
        for fam in ("ipv4", "ipv6"):
            if not any((fam, table, m) in runs for m in MODES):
                continue
            s = {"family": fam, "table": table, "pps": {}, "runs": {}}
            for m in MODES:
                if (fam, table, m) in runs:
                    s["runs"][m] = runs[(fam, table, m)]
                    s["pps"][m] = int(statistics.median(runs[(fam, table, m)]))
            p = s["pps"]
            for a, b in (("fibfast", "kernel"), ("fibfast", "redirect"), ("redirect", "kernel"),
                         ("lookup", "kernel"), ("lookup", "redirect"), ("fibfast", "lookup"),
                         ("fibfast", "nocache")):
                if p.get(a) and p.get(b):
                    s[f"{a}/{b}"] = round(p[a] / p[b], 3)
            # Generator and sink cost the same in every mode; what a mode costs
            # beyond the redirect-only bound is its own forwarding work.
            if p.get("redirect"):
                s["ns_above_bound"] = {m: round(1e9 / p[m] - 1e9 / p["redirect"])
                                       for m in ("kernel", "lookup", "fibfast") if p.get(m)}
            out.append(s)
    return out


def attach_cache(scens, meta):
    """The median share of fibfast's lookups its FIB cache answered and bypassed."""
    for s in scens:
        rounds = meta.get("_cache", {}).get((s["family"], s["table"]))
        if rounds:
            s["fib_cache"] = {"hits_percent": round(statistics.median(h for h, _ in rounds), 1),
                              "bypassed_percent": round(statistics.median(b for _, b in rounds), 1)}


def cache_cell(s):
    c = s.get("fib_cache")
    return "-" if not c else f"{c['hits_percent']:.1f}% ({c['bypassed_percent']:.1f}%)"


def targets(scens):
    res = []
    for s in scens:
        for table, ratio, threshold, family in TARGETS:
            if table not in ("*", s["table"]) or family not in (None, s["family"]):
                continue
            value = s.get(ratio)
            res.append({"family": s["family"], "table": s["table"], "ratio": ratio, "threshold": threshold,
                        "value": value, "met": None if value is None else value >= threshold})
    return res


def mpps(v):
    return "-" if v is None else f"{v / 1e6:.2f}"


def ratio(v):
    return "-" if v is None else f"{v:.2f}x"


def text_report(meta, scens, share, tgts, costs):
    w = []
    w.append(f"fibfast benchmark, {meta.get('date', '?')}")
    w.append(f"machine: {meta.get('cpu', '?')}; kernel {meta.get('kernel', '?')}")
    w.append(f"command: {meta.get('command', '?')}  (median of {meta.get('runs')} rounds of "
             f"{meta.get('seconds')} s each)")
    w.append(f"fibfast: {meta.get('fibfast', 'missing')}; source tree {meta.get('tree', '?')}")
    w.append("")
    w.append("64-byte UDP frames, Mpps delivered to the sink (median of rounds)")
    hdr = (f"{'scenario':<34}{'kernel':>8}{'fibfast':>9}{'lookup':>8}{'redirect':>10}{'ff/kern':>9}"
           f"{'ff/redir':>10}{'lk/kern':>9}{'lk/redir':>10}  in XDP")
    w.append(hdr)
    w.append("-" * len(hdr))
    for s in scens:
        name = f"{s['family']} {TABLE_NAMES[s['table']]}"
        sh = share.get((s["family"], s["table"]), [])
        w.append(f"{name:<34}{mpps(s['pps'].get('kernel')):>8}{mpps(s['pps'].get('fibfast')):>9}"
                 f"{mpps(s['pps'].get('lookup')):>8}{mpps(s['pps'].get('redirect')):>10}"
                 f"{ratio(s.get('fibfast/kernel')):>9}{ratio(s.get('fibfast/redirect')):>10}"
                 f"{ratio(s.get('lookup/kernel')):>9}{ratio(s.get('lookup/redirect')):>10}  {min(sh) if sh else '-'}")
    w.append("lookup: the lookup-only forwarder (bench/lookup.bpf.c), the floor for any forwarder that asks the FIB")
    w.append("")
    w.append("per-packet time above the redirect-only bound, 1/rate - 1/bound (the router's own work)")
    for s in scens:
        above = s.get("ns_above_bound", {})
        if "kernel" in above and "fibfast" in above:
            k, f = above["kernel"], above["fibfast"]
            times = f"  (kernel's work / fibfast's: {k / f:.1f}x)" if f > 0 else ""
            lk = f"  lookup-only +{above['lookup']} ns" if "lookup" in above else ""
            hits = f"  FIB cache hits (bypassed) {cache_cell(s)}" if s.get("fib_cache") else ""
            w.append(f"  {s['family'] + ' ' + TABLE_NAMES[s['table']]:<34}kernel +{k} ns  fibfast +{f} ns{lk}{times}{hits}")
    w.append("")
    if tgts and meta.get("smoke") != "1":
        w.append("targets")
        for t in tgts:
            verdict = UNMEASURED.get(t["ratio"], "not measured") if t["met"] is None else ("met" if t["met"] else "MISSED")
            w.append(f"  {t['family']} {TABLE_NAMES[t['table']]}: {t['ratio']} {ratio(t['value'])}"
                     f" (target >= {t['threshold']}x): {verdict}")
        w.append("")
    if costs:
        w.append("fast-path program cost, BPF_PROG_TEST_RUN on p0 (median ns per packet)")
        for c in costs:
            w.append(f"  {c['program']:<9}{TABLE_NAMES[c['table']]:<24}{c['packet']:<11}"
                     f"{c['ns_per_packet']:>5} ns  -> XDP_{c['action']}")
        w.append("")
    agent = {k: v for k, v in meta.items() if k.startswith(("agent_", "table_"))}
    if agent:
        w.append("agent and full table")
        for k, label in AGENT_LABELS.items():
            if k in agent:
                w.append(f"  {label:<48}{fmt_agent(k, int(agent[k])):>10}")
        w.append("")
    profiles = sorted(f for f in os.listdir(OUT) if f.startswith("profile-"))
    for p in profiles:
        w.append(f"profile ({p}): where the time goes while fibfast forwards")
        with open(os.path.join(OUT, p)) as f:
            w.extend("  " + line.rstrip() for line in f)
        w.append("")
    return "\n".join(w)


def markdown(meta, scens, share, tgts, costs):
    w = [f"Measured {meta.get('date', '?')} on {meta.get('cpu', '?')}, kernel {meta.get('kernel', '?')}, "
         f"with `{meta.get('command', '?')}`: median of {meta.get('runs')} rounds of "
         f"{meta.get('seconds')} s per figure.", ""]
    w.append("| scenario | kernel Mpps | fibfast Mpps | lookup-only Mpps | redirect-only Mpps | fibfast/kernel "
             "| fibfast/redirect | lookup-only/kernel | lookup-only/redirect | forwarded in XDP |")
    w.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in scens:
        sh = share.get((s["family"], s["table"]), [])
        w.append(f"| {s['family'].replace('ipv', 'IPv')} {TABLE_NAMES[s['table']]} | {mpps(s['pps'].get('kernel'))} | "
                 f"{mpps(s['pps'].get('fibfast'))} | {mpps(s['pps'].get('lookup'))} | {mpps(s['pps'].get('redirect'))} | "
                 f"{ratio(s.get('fibfast/kernel'))} | {ratio(s.get('fibfast/redirect'))} | "
                 f"{ratio(s.get('lookup/kernel'))} | {ratio(s.get('lookup/redirect'))} | {min(sh) if sh else '-'} |")
    w += ["", "| scenario | kernel: ns above the bound | lookup-only: ns above the bound | fibfast: ns above the bound "
          "| fibfast: FIB cache hits (bypassed) |",
          "|---|---:|---:|---:|---:|"]
    for s in scens:
        above = s.get("ns_above_bound", {})
        w.append(f"| {s['family'].replace('ipv', 'IPv')} {TABLE_NAMES[s['table']]} | "
                 f"{above.get('kernel', '-')} | {above.get('lookup', '-')} | {above.get('fibfast', '-')} | "
                 f"{cache_cell(s)} |")
    if tgts:
        w += ["", "| target | measured | verdict |", "|---|---:|---|"]
        for t in tgts:
            verdict = UNMEASURED.get(t["ratio"], "not measured") if t["met"] is None else ("met" if t["met"] else "**missed**")
            w.append(f"| {t['family'].replace('ipv', 'IPv')} {TABLE_NAMES[t['table']]}: {t['ratio']} >= {t['threshold']} "
                     f"| {ratio(t['value'])} | {verdict} |")
    if costs:
        w += ["", "| program | table | packet | ns per packet | verdict |", "|---|---|---|---:|---|"]
        for c in costs:
            w.append(f"| {c['program']} | {TABLE_NAMES[c['table']]} | {c['packet']} | {c['ns_per_packet']} | XDP_{c['action']} |")
    agent = {k: int(v) for k, v in meta.items() if k.startswith(("agent_", "table_"))}
    if agent:
        w += ["", "| agent and full table | |", "|---|---:|"]
        for k, label in AGENT_LABELS.items():
            if k in agent:
                w.append(f"| {label} | {fmt_agent(k, agent[k])} |")
    return "\n".join(w)


def fmt_agent(key, value):
    return f"{value / 1024:.1f} MiB" if "rss" in key else f"{value / 1000:.1f} s"


def chart(out, scens, meta):
    with open(os.path.join(out, "chart.dat"), "w") as f:
        f.write("# scenario kernel fibfast lookup redirect\n")
        for s in scens:
            label = s["family"].replace("ipv", "IPv") + "\\n" + TABLE_NAMES[s["table"]].replace(", ", "\\n")
            if s.get("fibfast/kernel"):
                label += f"\\n({s['fibfast/kernel']:.2f}x kernel)"
            vals = [s["pps"].get(m) for m in ("kernel", "fibfast", "lookup", "redirect")]
            f.write('"' + label + '" ' + " ".join("NaN" if v is None else f"{v / 1e6:.3f}" for v in vals) + "\n")
    with open(os.path.join(out, "chart.gp"), "w") as f:
        f.write(f"""set terminal pngcairo size 1100,560 font ",10"
set output "{out}/chart.png"
set title "64-byte UDP through a 3-namespace veth lab, Mpps delivered (median of {meta.get('runs')} rounds)\\n{meta.get('cpu', '')}, kernel {meta.get('kernel', '')}, {meta.get('date', '')}" noenhanced
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel "Mpps delivered to the sink"
set yrange [0:*]
set grid ytics
set key outside top center horizontal
set bmargin 6
set xtics noenhanced
plot "{out}/chart.dat" using 2:xtic(1) title "kernel forwarding" lc rgb "#999999", \\
     "" using 3 title "fibfast" lc rgb "#1f77b4", \\
     "" using 4 title "lookup-only forwarder (FIB floor)" lc rgb "#2ca02c", \\
     "" using 5 title "redirect-only bound" lc rgb "#ff7f0e"
""")


def main(argv):
    global OUT
    if argv[0] == "--missed":
        OUT = argv[2]
        meta, runs, share, costs = load(OUT)
        for t in targets(scenarios(runs)):
            if t["table"] == argv[1] and t["met"] is False:
                print(t["family"][3:], t["table"])
        return 0
    if argv[0] == "--markdown":
        OUT = argv[1]
        meta, runs, share, costs = load(OUT)
        scens = scenarios(runs)
        attach_cache(scens, meta)
        print(markdown(meta, scens, share, targets(scens), costs))
        return 0
    if argv[0] == "--smoke-check":
        OUT = argv[1]
        meta, runs, share, costs = load(OUT)
        passed = failed = 0
        for (fam, table, mode), values in sorted(runs.items()):
            ok = all(v > 0 for v in values)
            print(f"bench-smoke: {fam} {table} {mode}: {'ok' if ok else 'FAILED, nothing delivered'}")
            passed, failed = passed + ok, failed + (not ok)
        # pps > 0 proves nothing about fibfast unless its own counters show the frames were
        # forwarded in XDP: the kernel forwards whatever the fast path hands it.
        for fam, table in sorted({(f, t) for f, t, _ in runs}):
            shares = share.get((fam, table), [])
            if not shares:
                ok, why = False, "FAILED, fibfast was not measured (no binary, or it did not attach)"
            elif not all(s.endswith("%") for s in shares):
                ok, why = False, ("FAILED, fibfast's counters could not be read (fibfast stats --json or jq), "
                                  "so what was delivered may be the kernel's forwarding")
            else:
                ok = all(float(s.rstrip("%")) > 0 for s in shares)
                why = "ok" if ok else "FAILED, every frame went to the kernel"
            print(f"bench-smoke: {fam} {table} fibfast forwarded in XDP: {why} ({', '.join(shares) or '-'})")
            passed, failed = passed + ok, failed + (not ok)
        for c in costs:
            if c["table"] != "one" or c["packet"] not in ("ipv4-udp", "ipv6-udp"):
                continue
            ok = c["action"] == "REDIRECT"
            print(f"bench-smoke: cost of {c['program']} on {c['packet']}: "
                  f"{'ok' if ok else 'FAILED'} ({c['ns_per_packet']} ns, XDP_{c['action']})")
            passed, failed = passed + ok, failed + (not ok)
        measured = {(c["program"], c["packet"]) for c in costs if c["table"] == "one"}
        for program in sorted({m for _, _, m in runs} - {"kernel"}):
            for packet in ("ipv4-udp", "ipv6-udp"):
                if (program, packet) not in measured:
                    print(f"bench-smoke: cost of {program} on {packet}: FAILED, not measured")
                    failed += 1
        if not runs:
            failed += 1
        print(f"bench-smoke: {passed} passed, {failed} failed")
        return 1 if failed else 0
    OUT = argv[0]
    meta, runs, share, costs = load(OUT)
    scens = scenarios(runs)
    attach_cache(scens, meta)
    tgts = targets(scens)
    for s in scens:
        s["in_xdp"] = share.get((s["family"], s["table"]))
    result = {
        "machine": {"cpu": meta.get("cpu"), "kernel": meta.get("kernel")},
        "date": meta.get("date"), "command": meta.get("command"), "fibfast": meta.get("fibfast"),
        "tree": meta.get("tree"),
        "rounds": int(meta.get("runs", 0)), "seconds_per_round": float(meta.get("seconds", 0)),
        "scenarios": scens, "targets": tgts, "cost": costs,
        "agent": {k: int(v) for k, v in meta.items() if k.startswith(("agent_", "table_"))},
    }
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    chart(OUT, scens, meta)
    print(text_report(meta, scens, share, tgts, costs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
