#!/usr/bin/python3
"""Turn bench/run.sh's results.jsonl into the Markdown table, the SVG chart and
the target checks (run with Debian's /usr/bin/python3; standard library only).

    report.py --results R.jsonl --out DIR --fleet fleet.json --tags N --big big.txt [--meta K=V]...

Writes DIR/<date>-<host>.md, DIR/latest.md, DIR/latest.svg and prints the Markdown.
Every PASS/MISS is computed from the measured rows; nothing is hard-coded.
"""

import argparse
import datetime
import json
import os
import socket
import statistics
import sys

SCENARIOS = {
    "a": "(a) cold sync, loopback",
    "b": "(b) cold sync, +20 ms/request, 4 MiB/s per connection",
    "p": "(b′) proxy check: through the proxy without faults",
    "c": "(c) no-op re-sync",
    "d": "(d) cold sync + docker-load tarballs",
    "h": "(h) cold sync, far registry (+100 ms/request, 4 MiB/s per connection)",
    "hn": "(h) no-op re-sync, far registry (skopeo: inspect per tag)",
    "e": "(e) one image with a 1 GB layer (tar size) to a docker-load tarball",
}
TOOL_ORDER = ["ferry", "skopeo-sync", "skopeo-archive", "raw-curl", "disk-floor"]
TOOL_LABEL = {
    "ferry": "ferry",
    "skopeo-sync": "skopeo sync (yaml → dir)",
    "skopeo-archive": "skopeo copy → docker-archive, image by image",
    "raw-curl": "raw bound (curl --parallel + sha256)",
    "disk-floor": "disk floor (dd of ferry's bytes, fsync)",
}
# The bound each scenario is compared with: the network path for syncs, the
# disk for (d), where ferry durably writes the store and every tarball.
BOUND = {"a": "raw-curl", "b": "raw-curl", "d": "disk-floor"}
COLOURS = {"ferry": "#1f77b4", "skopeo-sync": "#d62728", "skopeo-archive": "#ff7f0e", "raw-curl": "#7f7f7f",
           "disk-floor": "#bcbd22"}
MB = 1000 * 1000


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def summarise(rows):
    """{(scenario, tool): stats} over the successful runs."""
    groups = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["tool"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        ok = [r for r in rs if r["rc"] == 0]
        s = {"runs": len(rs), "ok": len(ok), "failed": len(rs) - len(ok)}
        if ok:
            walls = [r["wall"] for r in ok]
            s.update(
                wall=statistics.median(walls), wall_min=min(walls), wall_max=max(walls),
                cpu=statistics.median([r["cpu"] for r in ok]),
                rss_mb=max(r["rss_kb"] for r in ok) / 1024.0,
                **{k: statistics.median([r[k] for r in ok]) for k in
                   ("requests", "head_manifest", "get_manifest", "get_blob", "other", "token")})
        out[key] = s
    return out


def fmt(x, digits=2):
    if x is None:
        return "–"
    if isinstance(x, float) and x.is_integer() and digits == 0:
        return "%d" % x
    return ("%." + str(digits) + "f") % x


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def table(stats):
    lines = ["| scenario | tool | wall s (median) | spread min–max | CPU s | peak RSS MB | requests "
             "(HEAD m / GET m / GET blob / other; tokens) | × ferry | × bound |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|"]
    for scen in SCENARIOS:
        tools = [t for t in TOOL_ORDER if (scen, t) in stats]
        for t in tools:
            s = stats[(scen, t)]
            if not s.get("ok"):
                lines.append("| %s | %s | FAILED (%d/%d runs) | | | | | | |" % (
                    SCENARIOS[scen], TOOL_LABEL[t], s["failed"], s["runs"]))
                continue
            f = stats.get((scen, "ferry"), {}).get("wall")
            raw = stats.get((scen, BOUND.get(scen, "")), {}).get("wall")
            req = "%d (%d / %d / %d / %d; %d)" % (s["requests"], s["head_manifest"], s["get_manifest"],
                                                   s["get_blob"], s["other"], s["token"])
            fail = " (%d failed)" % s["failed"] if s["failed"] else ""
            lines.append("| %s | %s | %s%s | %s–%s | %s | %s | %s | %s | %s |" % (
                SCENARIOS[scen], TOOL_LABEL[t], fmt(s["wall"]), fail, fmt(s["wall_min"]),
                fmt(s["wall_max"]), fmt(s["cpu"]), fmt(s["rss_mb"], 1), req,
                fmt(ratio(s["wall"], f)) if f else "–", fmt(ratio(s["wall"], raw)) if raw else "–"))
    return "\n".join(lines)


def checks(stats, tags):
    """[(target, measured, verdict)], verdict PASS / MISS / n/a (not measured)."""
    def g(scen, tool, key):
        return stats.get((scen, tool), {}).get(key)

    out = []

    def add(target, measured, ok):
        out.append((target, measured, "n/a" if ok is None else ("PASS" if ok else "MISS")))

    fa, sa, ra = g("a", "ferry", "wall"), g("a", "skopeo-sync", "wall"), g("a", "raw-curl", "wall")
    r = ratio(sa, fa)
    add("(a) ferry ≥ 4× faster than skopeo sync", "%s×" % fmt(r), None if r is None else r >= 4)
    r = ratio(fa, ra)
    add("(a) ferry within 1.5× of the raw bound", "%s× raw" % fmt(r), None if r is None else r <= 1.5)
    fc, sc = g("a", "ferry", "cpu"), g("a", "skopeo-sync", "cpu")
    r = ratio(fc, sc)
    add("(a) ferry CPU s ≤ ⅓ of skopeo's", "%s s vs %s s (%s)" % (fmt(fc), fmt(sc), fmt(r)),
        None if r is None else r <= 1 / 3)
    r = ratio(g("b", "skopeo-sync", "wall"), g("b", "ferry", "wall"))
    add("(b) ferry ≥ 10× faster than skopeo sync", "%s×" % fmt(r), None if r is None else r >= 10)
    if ("c", "ferry") in stats and stats[("c", "ferry")].get("ok"):
        s = stats[("c", "ferry")]
        add("(c) no-op: 0 manifest GETs", "%d" % s["get_manifest"], s["get_manifest"] == 0)
        add("(c) no-op: 0 blob GETs", "%d" % s["get_blob"], s["get_blob"] == 0)
        add("(c) no-op: one HEAD per tag", "%d HEADs for %d tags" % (s["head_manifest"], tags),
            s["head_manifest"] == tags)
        add("(c) no-op: under 1 s", "%s s" % fmt(s["wall"]), s["wall"] < 1.0)
    else:
        add("(c) no-op re-sync", "not measured", None)
    r = ratio(g("d", "skopeo-archive", "wall"), g("d", "ferry", "wall"))
    floor = ratio(g("d", "ferry", "wall"), g("d", "disk-floor", "wall"))
    add("(d) sync + tarballs ≥ 5× faster than skopeo copy docker-archive",
        "%s×" % fmt(r) + ("" if floor is None else " (ferry at %s× the disk floor)" % fmt(floor)),
        None if r is None else r >= 5)
    for scen, what in (("h", "cold"), ("hn", "no-op")):
        r = ratio(g(scen, "skopeo-sync", "wall"), g(scen, "ferry", "wall"))
        add("(h) far registry %s: ferry ≥ 10× skopeo" % what, "%s×" % fmt(r), None if r is None else r >= 10)
    rss_a, rss_e = g("a", "ferry", "rss_mb"), g("e", "ferry", "rss_mb")
    add("(e) peak RSS ≤ 24 MB in (a)", "%s MB" % fmt(rss_a, 1), None if rss_a is None else rss_a <= 24)
    add("(e) peak RSS not growing with layer size (1 GB layer export ≤ 24 MB and ≤ 1.25× (a))",
        "%s MB" % fmt(rss_e, 1),
        None if rss_e is None or rss_a is None else rss_e <= 24 and rss_e <= 1.25 * rss_a)
    return out


def svg(stats, meta):
    """Hand-written SVG: one panel per scenario (wall s, median bar, min–max whisker),
    and one panel of peak RSS."""
    W, left, bar_h, gap, panel_gap = 900, 330, 18, 6, 34
    panels = []
    for scen, title in SCENARIOS.items():
        tools = [t for t in TOOL_ORDER if stats.get((scen, t), {}).get("ok")]
        if tools:
            panels.append((title + " — wall s, median (whisker: min–max)", scen, tools, "wall"))
    rss_rows = [(scen, t) for scen in ("a", "d", "e") for t in TOOL_ORDER if stats.get((scen, t), {}).get("ok")]
    height = 60 + sum(panel_gap + len(p[2]) * (bar_h + gap) for p in panels)
    if rss_rows:
        height += panel_gap + len(rss_rows) * (bar_h + gap)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="12">' % (W, height + 20),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="22" font-size="15" font-weight="bold">ferry bench — %s</text>' % esc(
               meta.get("title", "")),
           '<text x="10" y="40" fill="#555">%s</text>' % esc(meta.get("subtitle", ""))]
    y = 60

    def bars(title, items, unit):
        nonlocal y
        y += panel_gap
        out.append('<text x="10" y="%d" font-weight="bold">%s</text>' % (y - 10, esc(title)))
        top = max(max(v, hi) for _, _, v, _, hi, _ in items) or 1.0
        scale = (W - left - 90) / top
        for label, colour, v, lo, hi, note in items:
            out.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 8, y + 13, esc(label)))
            out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>' % (
                left, y, max(1.0, v * scale), bar_h, colour))
            if hi > lo:
                out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="black"/>' % (
                    left + lo * scale, left + hi * scale, y + bar_h // 2, y + bar_h // 2))
            out.append('<text x="%.1f" y="%d">%s %s%s</text>' % (
                left + max(v, hi) * scale + 6, y + 13, fmt(v), unit, esc(note)))
            y += bar_h + gap

    for title, scen, tools, _ in panels:
        f = stats[(scen, "ferry")]["wall"] if stats.get((scen, "ferry"), {}).get("ok") else None
        items = []
        for t in tools:
            s = stats[(scen, t)]
            note = " (%s× ferry)" % fmt(s["wall"] / f, 1) if f and t != "ferry" else ""
            items.append((TOOL_LABEL[t], COLOURS[t], s["wall"], s["wall_min"], s["wall_max"], note))
        bars(title, items, "s")
    if rss_rows:
        bars("peak RSS MB ((a), (d), (e))",
             [("%s %s" % ("(" + scen + ")", TOOL_LABEL[t]), COLOURS[t], stats[(scen, t)]["rss_mb"],
               0, 0, "") for scen, t in rss_rows], "MB")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fleet", required=True)
    ap.add_argument("--tags", type=int, required=True)
    ap.add_argument("--big", required=True)
    ap.add_argument("--meta", action="append", default=[])
    args = ap.parse_args()
    meta = dict(m.split("=", 1) for m in args.meta)
    rows = load(args.results)
    if not rows:
        sys.exit("report.py: no results in %s" % args.results)
    stats = summarise(rows)
    with open(args.fleet) as f:
        fleet = json.load(f)
    seen, total, biggest = set(), 0, 0
    for img in fleet["images"]:
        for c in img["children"]:
            if c["arch"] == "amd64":
                for d in c["blobs"]:
                    if d not in seen:
                        seen.add(d)
                        total += img["sizes"][d]
                        biggest = max(biggest, img["sizes"][d])
    with open(args.big) as f:
        big_ref, big_size = f.read().split()
    now = datetime.datetime.now(datetime.timezone.utc)
    host = socket.gethostname()
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ncpu = os.cpu_count()
    machine = "%s, %d CPUs (%s), %.1f GB RAM" % (host, ncpu, cpu, os.sysconf("SC_PAGE_SIZE") *
                                                 os.sysconf("SC_PHYS_PAGES") / 1e9)
    fleet_desc = ("%d tags in %d repositories, %d unique blobs (linux/amd64), %.0f MB of gzip layers, "
                  "largest layer %.0f MB; the 1 GB-layer image %s: a 1 GB tar layer, %.0f MB gzip'd" % (
                      args.tags, len({i["repo"] for i in fleet["images"]}), len(seen), total / MB,
                      biggest / MB, big_ref, int(big_size) / MB))
    md = ["# ferry benchmark — %s" % now.strftime("%Y-%m-%d %H:%M UTC"), "",
          "- machine: %s" % machine,
          "- load average (1/5/15 min) at start: %s; at end: %s" % (meta.get("load_start", "?"),
                                                                    meta.get("load_end", "?")),
          "- fleet: %s (seed %s, scale %s)" % (fleet_desc, meta.get("seed"), meta.get("scale")),
          "- runs per cell: %s (median, spread min–max); ferry at commit %s with concurrency %s; "
          "skopeo %s" % (meta.get("runs"), meta.get("ferry"), meta.get("concurrency"), meta.get("skopeo")),
          "- registry: Debian's docker-registry (distribution) with token auth on 127.0.0.1; (b) goes "
          "through tests/support/fault_proxy.py: %s" % meta.get("proxy"),
          "- CPU s = user + sys of the whole process tree; peak RSS = largest single process (max over runs); "
          "requests from the registry's access log; × ferry and × bound are wall-time ratios "
          "(> 1: slower than ferry / the bound); the bound is the raw network bound for (a) and (b), "
          "and for (d) the disk floor: dd writing and fsyncing as many bytes as ferry's store and tarballs hold", "",
          table(stats), "", "## Targets (issue #6)", "", "| target | measured | verdict |", "|---|---|---|"]
    for target, measured, verdict in checks(stats, args.tags):
        md.append("| %s | %s | **%s** |" % (target, measured, verdict))
    md.append("")
    pa, pp = stats.get(("a", "ferry"), {}), stats.get(("p", "ferry"), {})
    if pa.get("ok") and pp.get("ok"):
        cap = 16 * 4 * 1024 * 1024
        through = total / pp["wall"]
        md += ["Proxy check: ferry moves %.0f MB/s direct and %.0f MB/s through fault_proxy.py without "
               "faults; (b) caps 16 connections at 4 MiB/s = %.0f MB/s in all, so the proxy %s." % (
                   total / pa["wall"] / MB, through / MB, cap / MB,
                   "is not what limits (b)" if through > 1.2 * cap else
                   "may itself limit (b): read (b) with care"), ""]
    text = "\n".join(md)
    os.makedirs(args.out, exist_ok=True)
    name = "%s-%s.md" % (now.strftime("%Y-%m-%d"), host)
    for n in (name, "latest.md"):
        with open(os.path.join(args.out, n), "w") as f:
            f.write(text)
    title = "%s, scale %s, %s runs" % (now.strftime("%Y-%m-%d"), meta.get("scale"), meta.get("runs"))
    with open(os.path.join(args.out, "latest.svg"), "w") as f:
        f.write(svg(stats, {"title": title, "subtitle": fleet_desc}))
    print(text)


if __name__ == "__main__":
    main()
