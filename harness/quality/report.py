"""JSON, a text summary and a self-contained HTML page (inline SVG pictures, no external files)."""

from __future__ import annotations

import datetime as _dt
import html
import json
from pathlib import Path
from typing import Any

from harness.report.html import CSS

COLORS = {"PASS": "#1a7f37", "FAIL": "#cf222e", "INCONC": "#9a6700", "N/A": "#57606a"}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pct(x: float) -> str:
    return f"{x * 100:.3f} %"


def _badge(v: str) -> str:
    return f'<b style="color:{COLORS.get(v, "#000")}">{esc(v)}</b>'


def summary_text(res: dict[str, Any]) -> str:
    """A few lines for the terminal: overall verdict and every non-passing finding."""
    r = res["records"]
    lines = [f"verdict: {res['verdict']}   records: {r['records']}   vehicles: {res['vehicles']}   "
             f"NVR {_pct(r['nvr'])}   AVR {_pct(r['avr'])}"]
    for i in res["items"]:
        if i["verdict"] == "FAIL":
            lines.append(f"  FAIL item {i['item']}: null {_pct(i['null_rate'])}, abnormal {_pct(i['abnormal_rate'])}, "
                         f"out of range {_pct(i['out_of_range_rate'])} of {i['values']} values")
    for p in res["presence"]:
        if p["verdict"] == "FAIL":
            lines.append(f"  FAIL presence {p['name']}: missing in {p['missing']} of {p['required']} records")
    for m in res["timing"]["metrics"]:
        lines.append(f"  {m['verdict']:<6} timing {m['metric']}: {m['value']} (limit {m['limit']}, n={m['n']})")
    for c in res["consistency"]:
        lines.append(f"  {c['verdict']:<6} consistency {c['check']}: {c['failed']}/{c['compared']} missed, "
                     f"max miss {c['max_miss']} {c['unit']} ({c['compares']})")
    ref = res.get("reference")
    if ref:
        for i in ref["items"]:
            lines.append(f"  {i['verdict']:<6} reference {i['item']}: match {_pct(i['match_rate'])} of "
                         f"{i['compared']}, max error {i['max_error']} (tolerance {i['tolerance']})")
    return "\n".join(lines)


def write_json(res: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(res, indent=1, default=str), encoding="utf-8")
    return path


# ------------------------------------------------------------------ SVG pictures


def svg_series(points: list[tuple[float, Any, str]], title: str, width: int = 760, height: int = 180,
               gap_s: float = 60.0) -> str:
    """A time series line; null spans shaded grey, abnormal spans shaded red; the line breaks at gaps."""
    if not points:
        return ""
    points = sorted(points, key=lambda p: p[0])  # late and reissued records arrive out of order
    t0, t1 = points[0][0], points[-1][0]
    vals = [p[1] for p in points if isinstance(p[1], (int, float))]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if hi == lo:
        hi = lo + 1
    pad = 30

    def x(t: float) -> float:
        return pad + (t - t0) / max(t1 - t0, 1) * (width - 2 * pad)

    def y(v: float) -> float:
        return height - pad - (v - lo) / (hi - lo) * (height - 2 * pad)

    spans = []
    for t, _v, st in points:
        if st != "ok":
            color = "#8c959f" if st == "null" else "#cf222e"
            spans.append(f'<rect x="{x(t) - 2:.1f}" y="{pad}" width="4" height="{height - 2 * pad}" '
                         f'fill="{color}" opacity="0.45"><title>{esc(st)}</title></rect>')
    segs, cur = [], []
    last_t = None
    for t, v, st in points:
        if cur and last_t is not None and t - last_t > gap_s:
            segs.append(cur)
            cur = []
        last_t = t
        if st == "ok" and isinstance(v, (int, float)):
            cur.append(f"{x(t):.1f},{y(v):.1f}")
        elif cur:
            segs.append(cur)
            cur = []
    if cur:
        segs.append(cur)
    lines = "".join(f'<polyline fill="none" stroke="#0969da" stroke-width="1.2" points="{" ".join(s)}"/>'
                    for s in segs)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
            f'<text x="{pad}" y="16" font-size="12">{esc(title)} (grey: null, red: abnormal)</text>'
            f'<text x="2" y="{pad + 4}" font-size="10">{hi:g}</text>'
            f'<text x="2" y="{height - pad}" font-size="10">{lo:g}</text>'
            f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>'
            f"{''.join(spans)}{lines}</svg>")


def svg_histogram(counts: dict[str, int], title: str, width: int = 760, height: int = 200) -> str:
    """Bars of reporting intervals (seconds); intervals above 120 s are pooled in the last bar."""
    if not counts:
        return ""
    pooled: dict[int, int] = {}
    for k, c in counts.items():
        key = min(int(k), 121)
        pooled[key] = pooled.get(key, 0) + c
    keys = sorted(pooled)
    top = max(pooled.values())
    pad = 30
    bw = min(40.0, max(2.0, (width - 2 * pad) / max(len(keys), 1) - 2))
    bars = []
    for n, k in enumerate(keys):
        h = max(1.0, pooled[k] / top * (height - 2 * pad))  # a single odd interval stays visible
        xx = pad + n * (bw + 2)
        label = ">120" if k == 121 else str(k)
        bars.append(f'<rect x="{xx:.1f}" y="{height - pad - h:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                    f'fill="#0969da"><title>{label} s: {pooled[k]}</title></rect>'
                    f'<text x="{xx:.1f}" y="{height - pad + 12}" font-size="9">{label}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
            f'<text x="{pad}" y="16" font-size="12">{esc(title)} (max bar {top})</text>{"".join(bars)}</svg>')


# ------------------------------------------------------------------ HTML


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_html(res: dict[str, Any], path: str | Path, *, title: str = "Data quality") -> Path:
    r = res["records"]
    parts = [f"<h1>{esc(title)}</h1>",
             f"<p>Overall {_badge(res['verdict'])}. {r['records']} records from {res['vehicles']} vehicles. "
             f"NVR {_pct(r['nvr'])} (limit {_pct(r['limits']['nvr'])}), AVR {_pct(r['avr'])} "
             f"(limit {_pct(r['limits']['avr'])}) {_badge(r['verdict'])}. Thresholds are this project's "
             "defaults unless a file was given: GB/T 32960.4-2025 does not publish its limits.</p>"]
    if res.get("source"):
        s = res["source"]
        parts.append(f"<p>Source: {s['frames']} frames, {s['other_commands']} not real-time, "
                     f"{s['encrypted']} encrypted, {s['errors']} undecodable.</p>")
    parts.append("<h2>Per data item</h2>")
    parts.append(_table(
        ["edition", "item", "range", "values", "null", "abnormal", "out of range", "verdict"],
        [[i["edition"], esc(i["item"]), esc(i["range"]), i["values"], _pct(i["null_rate"]),
          _pct(i["abnormal_rate"]), _pct(i["out_of_range_rate"]), _badge(i["verdict"])] for i in res["items"]]))
    parts.append("<h2>Presence of information types</h2>")
    parts.append(_table(["edition", "type", "required", "missing", "verdict"],
                        [[p["edition"], f"0x{p['type']:02X} {esc(p['name'])}", p["required"], p["missing"],
                          _badge(p["verdict"])] for p in res["presence"]]))
    tm = res["timing"]
    parts.append("<h2>Timing</h2>")
    parts.append(_table(["metric", "value", "limit", "n", "verdict"],
                        [[esc(m["metric"]), esc(m["value"]), esc(m["limit"]), m["n"], _badge(m["verdict"])]
                         for m in tm["metrics"]]))
    parts.append(f"<p>Drift (receive - collection, s): {esc(tm['drift'])}</p>")
    parts.append(svg_histogram(tm["intervals"], "Reporting intervals (s)"))
    if tm["gaps"]:
        parts.append(_table(["vin", "from", "to", "seconds"],
                            [[esc(g["vin"]), _when(g["from"]), _when(g["to"]), g["seconds"]] for g in tm["gaps"]]))
    parts.append("<h2>Physical consistency</h2>")
    parts.append(_table(["check", "compares", "compared", "failed", "max miss", "max difference", "verdict"],
                        [[esc(c["check"]), esc(c["compares"]), c["compared"], c["failed"],
                          f"{c['max_miss']} {esc(c['unit'])}", c["max_difference"], _badge(c["verdict"])]
                         for c in res["consistency"]]))
    for c in res["consistency"]:
        if c["worst"]:
            parts.append(f"<h3>Worst misses: {esc(c['check'])}</h3>")
            parts.append(_table(["vin", "time", "expected", "actual", "miss"],
                                [[esc(w["vin"]), _when(w["time"]), w["expected"], w["actual"], w["miss"]]
                                 for w in c["worst"]]))
    ref = res.get("reference")
    if ref:
        parts.append(f"<h2>Comparison with reference (Annex A.2 style) {_badge(ref['verdict'])}</h2>")
        parts.append(f"<p>{esc(ref['reference'])}: {ref['reference_records']} reference records, "
                     f"{ref['matched_records']} found in the received data.</p>")
        parts.append(_table(["item", "tolerance", "compared", "matched", "match rate", "max error", "verdict"],
                            [[esc(i["item"]), i["tolerance"], i["compared"], i["matched"], _pct(i["match_rate"]),
                              esc(i["max_error"]), _badge(i["verdict"])] for i in ref["items"]]))
        for i in ref["items"]:
            if i["worst"]:
                parts.append(f"<h3>Worst records: {esc(i['item'])}</h3>")
                parts.append(_table(["vin", "time", "reference", "received", "error"],
                                    [[esc(w["vin"]), esc(w["time"]), w["reference"], esc(w["received"]),
                                      esc(w["error"])] for w in i["worst"]]))
    parts.append("<h2>Time series</h2>")
    for vin, series in res.get("series", {}).items():
        for key, pts in series.items():
            parts.append(svg_series([tuple(p) for p in pts], f"{vin} {key}", gap_s=float(res.get("gap_s", 60))))
    doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
           f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")
    path = Path(path)
    path.write_text(doc, encoding="utf-8")
    return path


def _when(t: float | None) -> str:
    if t is None:
        return ""
    return _dt.datetime.fromtimestamp(t + 8 * 3600, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
