"""Writers: the console table, results.csv and a self-contained report.html
(inline SVG, no scripts, no external fonts)."""
import html as H
import math


def med(row, key):
    v = row.get(key)
    return v["median"] if v else None


def add_ratios(doc):
    """Each row's throughput against ringxfer-epoll (the baseline row) and
    against the best peer of its case."""
    for res in doc["results"]:
        rows = res["rows"]
        base = next((med(r, "throughput") for r in rows if r["baseline"]), None)
        peers = [med(r, "throughput") for r in rows if r["family"] == "peer" and med(r, "throughput")]
        best = max(peers) if peers else None
        res["best_peer"] = next((r["subject"] for r in rows if r["family"] == "peer" and best and med(r, "throughput") == best), None)
        for r in rows:
            t = med(r, "throughput")
            r["vs_ringxfer_epoll"] = t / base if t and base else None
            r["vs_best_peer"] = t / best if t and best else None


def fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.2f}M"
    if a >= 1e4:
        return f"{v / 1e3:.1f}k"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.{digits}f}"


def spread(r, key):
    v = r.get(key)
    if not v:
        return "-"
    return f"{fmt(v['median'])} [{fmt(v['min'])}-{fmt(v['max'])}]"


def cpu_cell(res, r):
    bulk = res["unit"] == "Gbit/s" or res["scenario"] in ("file",)
    v = med(r, "cpu_s_per_gb") if bulk else med(r, "cpu_s_per_mop")
    return (fmt(v) + (" s/GB" if bulk else " s/Mop")) if v is not None else "-"


def columns(res, r):
    lat = "-"
    if med(r, "latency_us_p50") is not None:
        lat = "/".join(fmt(med(r, k)) for k in ("latency_us_p50", "latency_us_p99", "latency_us_p999"))
    sc = r.get("syscalls_per_op")
    sys_cell = "-" if not sc or sc.get("median") is None else fmt(sc["median"]) + ("*" if sc.get("source", "").startswith("strace") else "")
    zc = med(r, "zc_copied_ratio")
    client = med(r, "client_busy_ratio")
    sat = f"{fmt(client, 2)}{'!' if r['client_saturated_runs'] else ''}" if client is not None else "-"
    wait = med(r, "runqueue_wait_ratio")
    return [r["subject"], spread(r, "throughput"), fmt(r["vs_ringxfer_epoll"], 2) if r["vs_ringxfer_epoll"] else "-",
            fmt(r["vs_best_peer"], 2) if r["vs_best_peer"] else "-", lat, cpu_cell(res, r), sys_cell,
            fmt(med(r, "peak_rss_mib"), 1), fmt(zc, 2) if zc is not None else "-", sat,
            fmt(wait, 2) if wait is not None else "-",
            ("ERROR: " + r["error"][:120]) if r["error"] and not r["runs"] else (f"{r['runs']} runs" + (f", {r['errors_in_runs']} errors" if r.get("errors_in_runs") else "")
                                                        + (f", {r['error'][:80]}" if r["error"] else ""))]


HEAD = ["subject", "throughput median [min-max]", "vs rx-epoll", "vs best peer", "lat us p50/p99/p99.9",
        "server CPU", "syscalls/op", "RSS MiB", "zc copied", "client busy", "rq wait", "runs"]


def console(doc):
    m = doc["machine"]
    lines = [f"ringxfer-perf ({doc['mode']}), {m['date_utc']}, kernel {m['kernel']}, {m['cpus']} x {m['cpu']}",
             f"placement: {doc['placement']}; {doc['repetitions']} alternated rounds, warm-up {doc['warmup_s']} s, "
             f"{doc['duration_s']} s measured; load average at start {m['loadavg_at_start']}; {doc['elapsed_s']} s in all"]
    for n in doc["notes"]:
        lines.append("note: " + n)
    for res in doc["results"]:
        lines.append("")
        lines.append(f"== {res['scenario']}: {res['case']} ({res['unit']})")
        table = [HEAD] + [columns(res, r) for r in res["rows"]]
        widths = [max(len(row[i]) for row in table) for i in range(len(HEAD))]
        for row in table:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    lines.append("")
    lines.append("syscalls/op: engine Stats for ringxfer; * = a separate strace -c -f pass. client busy: the load's "
                 "CPU / window (! = saturated in some run: the figure measures the client). rq wait: server's "
                 "run-queue wait per second (> 0.05: a busy machine).")
    return "\n".join(lines)


CSV_KEYS = ["throughput", "latency_us_p50", "latency_us_p99", "latency_us_p999", "cpu_s_per_mop", "cpu_s_per_gb",
            "syscalls_per_op", "peak_rss_mib", "zc_copied_ratio", "client_busy_ratio", "runqueue_wait_ratio"]


def csv_text(doc):
    head = ["scenario", "case", "unit", "subject", "family", "runs"]
    for k in CSV_KEYS:
        head += [k, k + "_min", k + "_max"]
    head += ["vs_ringxfer_epoll", "vs_best_peer", "client_saturated_runs", "error"]
    out = [",".join(head)]
    for res in doc["results"]:
        for r in res["rows"]:
            cells = [res["scenario"], res["case"], res["unit"], r["subject"], r["family"], str(r["runs"])]
            for k in CSV_KEYS:
                v = r.get(k)
                cells += ["" if not v or v.get("median") is None else f"{v[x]:.6g}" for x in ("median", "min", "max")] if v else ["", "", ""]
            cells += ["" if r[k] is None else f"{r[k]:.4g}" for k in ("vs_ringxfer_epoll", "vs_best_peer")]
            cells += [str(r["client_saturated_runs"]), (r["error"] or "").replace(",", ";").replace("\n", " ")]
            out.append(",".join('"' + c.replace('"', "'") + '"' if " " in c else c for c in cells))
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ SVG

PALETTE = ["#1f6feb", "#8250df", "#2da44e", "#bf8700", "#cf222e", "#0a7f86", "#6e7781", "#e16f24", "#953800",
           "#116329", "#5a32a3", "#0969da", "#a40e26", "#4d2d00"]


def nice_log_ticks(lo, hi):
    ticks = []
    e = math.floor(math.log10(lo))
    while 10 ** e <= hi * 1.0001:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo <= v <= hi:
                ticks.append(v)
        e += 1
    return ticks


def nice_linear_ticks(hi):
    if hi <= 0:
        return [0]
    step = 10 ** math.floor(math.log10(hi))
    for m in (1, 2, 5, 10):
        if hi / (step * m) <= 6:
            step *= m
            break
    return [i * step for i in range(int(hi / step) + 2) if i * step <= hi * 1.15]


def bar_chart(title, groups, series, values, unit, log=False, markers=None):
    """Grouped bars. values[(group, series)] = (median, lo, hi); markers
    optional [(group, series)] -> list of (value, label) drawn as ticks."""
    present = [v for v in values.values() if v and v[0]]
    if not present:
        return ""
    group_w = max(90, 24 * len(series) + 30)
    left, top, plot_h = 80, 46, 240
    width = max(760, left + group_w * len(groups) + 20)
    legend_cols = max(1, (width - left) // 230)
    height = top + plot_h + 50 + 18 * ((len(series) + legend_cols - 1) // legend_cols)
    all_vals = [x for v in present for x in v if x]
    if markers:
        all_vals += [x for ms in markers.values() for x, _ in ms if x]
    vmax = max(all_vals)
    if log:
        vmin = min(x for x in all_vals if x > 0)
        lo, hi = 10 ** math.floor(math.log10(vmin)), 10 ** math.ceil(math.log10(vmax))
        ticks = nice_log_ticks(lo, hi)

        def y(v):
            v = max(v, lo)
            return top + plot_h - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * plot_h
    else:
        hi = vmax * 1.1
        ticks = nice_linear_ticks(hi)
        hi = max(hi, ticks[-1])

        def y(v):
            return top + plot_h - v / hi * plot_h
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
         f'font-family="sans-serif" font-size="11">',
         f'<text x="{left}" y="18" font-size="14" font-weight="bold">{H.escape(title)}</text>',
         f'<text x="{left}" y="34" fill="#57606a">{H.escape(unit)}{" (log scale)" if log else ""}; bar = median, '
         f'whisker = min-max over the rounds</text>']
    for tv in ticks:
        ty = y(tv)
        o.append(f'<line x1="{left}" x2="{width - 20}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#d0d7de" stroke-width="0.5"/>')
        o.append(f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end" fill="#57606a">{fmt(tv)}</text>')
    o.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#57606a"/>')
    bw = (group_w - 24) / max(1, len(series))
    for gi, g in enumerate(groups):
        gx = left + gi * group_w + 12
        o.append(f'<text x="{gx + (group_w - 24) / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{H.escape(g)}</text>')
        for si, sname in enumerate(series):
            v = values.get((g, sname))
            if not v or not v[0]:
                continue
            x = gx + si * bw
            yt = y(v[0])
            col = PALETTE[si % len(PALETTE)]
            o.append(f'<rect x="{x + 1:.1f}" y="{yt:.1f}" width="{bw - 2:.1f}" height="{top + plot_h - yt:.1f}" fill="{col}">'
                     f'<title>{H.escape(sname)} {H.escape(g)}: {fmt(v[0])} {H.escape(unit)} [{fmt(v[1])}-{fmt(v[2])}]</title></rect>')
            if v[1] is not None and v[2] is not None and v[2] > v[1]:
                cx = x + bw / 2
                o.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(v[1]):.1f}" y2="{y(v[2]):.1f}" stroke="#24292f" stroke-width="1.2"/>')
                for end in (v[1], v[2]):
                    o.append(f'<line x1="{cx - 3:.1f}" x2="{cx + 3:.1f}" y1="{y(end):.1f}" y2="{y(end):.1f}" stroke="#24292f" stroke-width="1.2"/>')
            for mv, ml in (markers or {}).get((g, sname), []):
                if mv:
                    my = y(mv)
                    o.append(f'<line x1="{x + 1:.1f}" x2="{x + bw - 1:.1f}" y1="{my:.1f}" y2="{my:.1f}" stroke="#24292f" '
                             f'stroke-width="2" stroke-dasharray="{"2,1" if ml == "p99.9" else "none"}"><title>{ml} {fmt(mv)}</title></line>')
    ly = top + plot_h + 36
    for si, sname in enumerate(series):
        lx = left + (si % legend_cols) * 230
        yy = ly + (si // legend_cols) * 18
        o.append(f'<rect x="{lx}" y="{yy - 9}" width="12" height="12" fill="{PALETTE[si % len(PALETTE)]}"/>')
        o.append(f'<text x="{lx + 17}" y="{yy + 1}">{H.escape(sname)}</text>')
    o.append("</svg>")
    return "\n".join(o)


def scenario_charts(doc, scen):
    res = [r for r in doc["results"] if r["scenario"] == scen]
    if not res:
        return ""
    groups = [r["case"] for r in res]
    series = []
    for r in res:
        for row in r["rows"]:
            if row["subject"] not in series:
                series.append(row["subject"])

    def vals(key):
        out = {}
        for r in res:
            for row in r["rows"]:
                v = row.get(key)
                if v and v.get("median") is not None:
                    out[(r["case"], row["subject"])] = (v["median"], v.get("min"), v.get("max"))
        return out
    unit = res[0]["unit"]
    parts = []
    spread_decades = [v[0] for v in vals("throughput").values() if v[0]]
    log = bool(spread_decades) and max(spread_decades) / max(min(spread_decades), 1e-9) > 30
    parts.append(bar_chart(f"{scen}: throughput by case", groups, series, vals("throughput"), unit, log=log))
    lat = vals("latency_us_p99")
    if lat:
        markers = {}
        for r in res:
            for row in r["rows"]:
                markers[(r["case"], row["subject"])] = [(med(row, "latency_us_p50"), "p50"),
                                                        (med(row, "latency_us_p999"), "p99.9")]
        parts.append(bar_chart(f"{scen}: latency", groups, series, lat,
                               "µs; bar = p99 median, solid tick = p50, dashed tick = p99.9", log=True, markers=markers))
    bulk = unit == "Gbit/s" or scen == "file"
    cpu = vals("cpu_s_per_gb" if bulk else "cpu_s_per_mop")
    if cpu:
        parts.append(bar_chart(f"{scen}: server CPU per {'GB' if bulk else 'million ops'}", groups, series, cpu,
                               "CPU seconds per GB" if bulk else "CPU seconds per million ops (lower is better)",
                               log=bool(cpu) and max(v[0] for v in cpu.values()) / max(min(v[0] for v in cpu.values()), 1e-9) > 30))
    return "\n".join(p for p in parts if p)


CSS = """body{font-family:sans-serif;margin:24px;color:#24292f;max-width:1500px}
table{border-collapse:collapse;font-size:12px;margin:8px 0 18px}th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:right}
th{background:#f6f8fa}td:first-child,th:first-child{text-align:left}.note{color:#9a6700}.meta{color:#57606a}
svg{display:block;margin:10px 0 24px;background:#fff}h2{border-bottom:1px solid #d0d7de;padding-bottom:4px}
tr.base td{background:#f6f8fa}.err{color:#cf222e}"""


def html(doc):
    m = doc["machine"]
    o = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>ringxfer-perf</title>",
         f"<style>{CSS}</style></head><body>",
         f"<h1>ringxfer-perf ({H.escape(doc['mode'])})</h1>",
         f"<p class='meta'>{H.escape(m['date_utc'])} &middot; kernel {H.escape(m['kernel'])} &middot; {m['cpus']} &times; "
         f"{H.escape(m['cpu'])} &middot; placement: {H.escape(doc['placement'])} &middot; {doc['repetitions']} alternated "
         f"rounds, warm-up {doc['warmup_s']} s, {doc['duration_s']} s measured &middot; load average at start "
         f"{m['loadavg_at_start']} &middot; {doc['elapsed_s']} s in all<br>command: <code>{H.escape(doc['command'])}</code></p>"]
    for n in doc["notes"]:
        o.append(f"<p class='note'>{H.escape(n)}</p>")
    scenarios = []
    for r in doc["results"]:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    for scen in scenarios:
        o.append(f"<h2>{H.escape(scen)}</h2>")
        for res in [r for r in doc["results"] if r["scenario"] == scen]:
            o.append(f"<h3>{H.escape(res['case'])} <span class='meta'>({H.escape(res['unit'])})</span></h3><table><tr>"
                     + "".join(f"<th>{H.escape(h)}</th>" for h in HEAD) + "</tr>")
            for row in res["rows"]:
                cells = columns(res, row)
                cls = " class='base'" if row["baseline"] else ""
                # An error can be long: the cell shows its start, the tooltip all of it.
                o.append(f"<tr{cls}>" + "".join(
                    f"<td class=err title='{H.escape(row['error'] or '', quote=True)}'>{H.escape(c[:60])}…</td>"
                    if c.startswith("ERROR") and len(c) > 60 else
                    f"<td{' class=err' if c.startswith('ERROR') else ''}>{H.escape(c)}</td>" for c in cells) + "</tr>")
            o.append("</table>")
        o.append(scenario_charts(doc, scen))
    o.append("<p class='meta'>syscalls/op: engine Stats for ringxfer; * = a separate strace -c -f pass (peers). "
             "client busy: the load client's CPU over the window (! = saturated in some round: the figure measures the "
             "client). rq wait: the server's run-queue wait per second of the window (above 0.05: the machine was "
             "busy).</p></body></html>")
    return "\n".join(o)
