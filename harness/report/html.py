"""The human report: a self-contained HTML conformance test report in the PCTR layout (ISO/IEC 9646-5).

One run gives `index.html` (cover, PICS, PIXIT, clause x verdict matrix, summary by clause) and one page
per case under `cases/` (requirement, verdict and reason, expected vs actual, frames with hex and
decoded JSON, pcap and log links, party logs, counts, the rerun command). Several runs give a
comparison page (case x SUT) and each run's own report in a sub-folder.

Every page carries its CSS inline and needs no script: it opens from a file share, a mail attachment
or an air-gapped lab machine. Every value from a run is escaped, since reasons and logs quote what a
SUT sent.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .evidence import iso_time
from .model import RED, SCHEMA_VERSION, VERDICTS, CaseResult, FrameEvidence, RunResult
from .text import VERDICT_MEANING, case_key, clause_key, overall, slug, sut_label

__all__ = ["FRAME_LIMIT", "case_page_name", "run_folders", "write_html"]

FRAME_LIMIT = 400  # frames shown per case page; the pcap and the decoded log always hold all of them
HEX_LINE = 16

# Values of keys like these are masked in the PIXIT table: the report is shared, credentials are not.
_SECRET = re.compile(r"pass(word|wd)?|secret|token|credential|private|api[_-]?key", re.IGNORECASE)

CSS = """
:root { --ink:#1f2328; --muted:#59636e; --line:#d1d9e0; --soft:#f6f8fa; --accent:#0b3d91; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC",
       Helvetica, Arial, sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 32px 64px; }
a { color: #0550ae; }
h1 { font-size: 26px; margin: 4px 0 8px; }
h2 { font-size: 19px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--accent);
     color: var(--accent); }
h3 { font-size: 15px; margin: 22px 0 6px; }
.doc-kind { text-transform: uppercase; letter-spacing: .08em; font-size: 12px; color: var(--muted); }
.cover { border: 1px solid var(--line); border-top: 6px solid var(--accent); border-radius: 6px;
         padding: 18px 22px 14px; background: linear-gradient(#fbfcfe, #fff); }
.cover-grid { display: grid; grid-template-columns: 1fr 1fr; gap: 6px 28px; margin-top: 10px; }
.overall { display: flex; align-items: center; gap: 14px; flex-wrap: wrap; margin: 10px 0 4px; }
.overall > .v { font-size: 18px; padding: 6px 16px; }
.chip .v { min-width: 0; font-size: 11px; padding: 0 6px; }
h1.case-id { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 22px; }
.banner { display: flex; gap: 14px; align-items: baseline; padding: 10px 14px; border-radius: 6px; margin: 10px 0;
          border: 1px solid var(--line); background: var(--soft); }
.banner > .v { font-size: 16px; padding: 4px 14px; }
.banner .why { white-space: pre-wrap; }
ul.redlist { margin: 6px 0 8px; padding-left: 0; list-style: none; }
ul.redlist li { margin: 3px 0; }
ul.redlist .v { min-width: 58px; margin-right: 6px; }
td.when { white-space: nowrap; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
table.kv th { width: 32%; white-space: nowrap; }
table.kv { margin: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.zero { color: #b6bec7; text-align: right; }
tr.total td, tr.total th { font-weight: 700; background: var(--soft); }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
                   font-size: 12.5px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 8px 10px; margin: 4px 0;
      overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
pre.cmd { background: #0d1117; color: #e6edf3; border-color: #0d1117; white-space: pre-wrap; }
pre.log { max-height: 420px; overflow: auto; white-space: pre; word-break: normal; }
blockquote { margin: 4px 0 10px; padding: 6px 12px; border-left: 4px solid var(--accent); background: #f3f6fb; }
.v { display: inline-block; min-width: 62px; padding: 1px 8px; border-radius: 10px; font-weight: 700;
     font-size: 12px; text-align: center; border: 1px solid transparent; white-space: nowrap; }
.v-PASS { background: #dafbe1; color: #116329; border-color: #8fd8a0; }
.v-FAIL { background: #ffebe9; color: #a40e26; border-color: #ff8182; }
.v-ERROR { background: #fbefff; color: #6e2a9e; border-color: #d8b9ff; }
.v-INCONC { background: #fff8c5; color: #7d4e00; border-color: #e9c46a; }
.v-NA { background: #eff2f5; color: #4b535c; border-color: #c9d1d9; }
.v-XFAIL { background: #ddf4ff; color: #0a3069; border-color: #80ccff; }
.v-XPASS { background: #a40e26; color: #fff; border-color: #82071e; }
.v-NOCASES { background: #a40e26; color: #fff; }
.red-row td { background: #fff7f6; }  /* before the verdict cells, which keep their colour */
td.c-PASS { background: #eefbf1; } td.c-FAIL { background: #fff1ef; } td.c-ERROR { background: #fbf4ff; }
td.c-INCONC { background: #fffbe0; } td.c-NA { background: #f6f8fa; } td.c-XFAIL { background: #eef8ff; }
td.c-XPASS { background: #ffe2e0; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
.err { color: #a40e26; font-weight: 600; }
nav.toc { margin: 18px 0 0; padding: 10px 16px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
nav.toc ol { margin: 4px 0; padding-left: 22px; columns: 2; }
.crumbs { font-size: 13px; margin-bottom: 8px; }
details { margin: 2px 0; }
details > summary { cursor: pointer; color: #0550ae; }
code.json { color: #0550ae; font-style: italic; }
.diff td.exp { background: #eefbf1; } .diff td.act { background: #fff1ef; }
.frames td { font-size: 12.5px; }
.dir { font-weight: 700; text-align: center; }
.legend td:first-child { width: 90px; }
.chips { display: flex; gap: 6px; flex-wrap: wrap; }
.chip { border: 1px solid var(--line); border-radius: 12px; padding: 1px 10px; font-size: 12px; background: #fff; }
.differs { color: #a40e26; font-weight: 700; }
.timeline-box { overflow-x: auto; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
table.figures td, table.figures th { text-align: right; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 8px; }
@media print { main { max-width: none; padding: 0; } details { display: block; } a { color: inherit; }
  h2 { break-after: avoid; } tr { break-inside: avoid; } }
"""


# ------------------------------------------------------------------------------------ small pieces

_RED_ROW = ' class="red-row"'
_NO_LOGS = '<p class="muted">No party log was collected.</p>'


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _href(path: str) -> str:
    # a path from the run (relative, maybe with spaces or '#'): percent-encode each segment, keep '/'
    return esc(quote(path.replace(os.sep, "/"), safe="/"))


def _cls(verdict: str) -> str:
    return re.sub(r"[^A-Za-z]", "", verdict) or "unknown"


def badge(verdict: str) -> str:
    return f'<span class="v v-{_cls(verdict)}" title="{esc(VERDICT_MEANING.get(verdict, ""))}">{esc(verdict)}</span>'


def _when(t: float) -> str:
    if not t:
        return "—"
    return _dt.datetime.fromtimestamp(t, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(s: float) -> str:
    return f"{s:.3f} s" if s < 60 else f"{s / 60:.1f} min ({s:.0f} s)"


def _kv(rows: Iterable[tuple[str, str]], cls: str = "kv") -> str:
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="{cls}">{body}</table>'


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def _inline_value(value: Any) -> str:
    # strings as they are (no JSON quotes); other values as JSON in another colour, so null and "null" differ
    if isinstance(value, str):
        return f"<code>{esc(value)}</code>"
    return f'<code class="json" title="JSON value">{esc(json.dumps(value, ensure_ascii=False, default=str))}</code>'


def _page(title: str, body: str, generated: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n"
            f"<footer>{generated}</footer>\n</main>\n</body>\n</html>\n")


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """PICS/PIXIT trees as (dotted item, value) rows; lists of scalars stay one row."""
    if isinstance(obj, dict):
        if not obj and prefix:
            return [(prefix, {})]
        rows: list[tuple[str, Any]] = []
        for k, v in obj.items():
            rows += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return rows
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        rows = []
        for n, v in enumerate(obj):
            rows += _flatten(v, f"{prefix}[{n}]")
        return rows
    return [(prefix, obj)]


def _support(value: Any) -> str:
    if value is True:
        return '<span class="v v-PASS">Yes</span>'
    if value is False:
        return '<span class="v v-NA">No</span>'
    if isinstance(value, list):
        return esc(", ".join(str(v) for v in value)) or '<span class="muted">(none)</span>'
    if value is None or value == {}:
        return '<span class="muted">—</span>'
    return esc(value)


def _clause_anchor(standard: str, clause: str) -> str:
    return f"clause-{slug(standard + '-' + clause)}"


def case_page_name(case: CaseResult) -> str:
    return f"cases/{slug(case.case_id)}.html"


def _page_names(run: RunResult) -> dict[int, str]:
    """A distinct page per case, even if two cases share an id (a bug elsewhere, still reported)."""
    seen: set[str] = set()
    out: dict[int, str] = {}
    for n, case in enumerate(run.cases):
        name = case_page_name(case)
        k = 2
        while name in seen:
            name = f"cases/{slug(case.case_id)}-{k}.html"
            k += 1
        seen.add(name)
        out[n] = name
    return out


def _counts_chips(run: RunResult) -> str:
    counts = run.counts()
    return '<div class="chips">' + "".join(
        f'<span class="chip">{badge(v)} {counts[v]}</span>' for v in VERDICTS if counts[v]) + "</div>"


# ------------------------------------------------------------------------------------ one run: index


def _red_list(run: RunResult, pages: dict[int, str], limit: int = 15) -> str:
    # what an assessor reads first: every red verdict, linked, with its reason
    red = [(n, c) for n, c in enumerate(run.cases) if c.verdict in RED]
    items = "".join(f'<li>{badge(c.verdict)}<a class="mono" href="{_href(pages[n])}">{esc(c.case_id)}</a> '
                    f'<span class="small muted">{esc(c.reason.splitlines()[0] if c.reason else "")}</span></li>'
                    for n, c in red[:limit])
    more = f'<li class="muted">… and {len(red) - limit} more (see section 4)</li>' if len(red) > limit else ""
    return f'<ul class="redlist">{items}{more}</ul>' if red else ""


def _cover(run: RunResult, pages: dict[int, str], generated_at: str) -> str:
    word = overall(run)
    elapsed = max((run.finished or run.started) - run.started, 0.0)
    s = run.sut
    ident = _kv([
        ("SUT", f"<strong>{esc(sut_label(run))}</strong>"),
        ("kind", esc(s.kind)), ("address", esc(s.address) or "—"), ("image", esc(s.image) or "—"),
        ("role", esc(run.role)), ("edition", esc(run.edition)), ("timers", f"<code>{esc(run.timers)}</code>"),
    ])
    tool = _kv([
        ("tool", f"{esc(run.tool)} {esc(run.tool_version)}"),
        ("started", esc(_when(run.started))), ("finished", esc(_when(run.finished)) if run.finished else
                                                 '<span class="err">did not finish</span>'),
        ("duration", esc(_seconds(elapsed))), ("cases", str(len(run.cases))),
        ("report generated", esc(generated_at)),
    ])
    red = sum(1 for c in run.cases if c.verdict in RED)
    verdict_note = (f"{red} red verdict(s): FAIL, ERROR or XPASS" if red else
                    "no red verdict" if run.cases else "no case ran: never a pass")
    rerun = f'<pre class="cmd">{esc(run.command)}</pre>' if run.command else '<p class="muted">(not recorded)</p>'
    return (
        '<header class="cover">'
        '<div class="doc-kind">Protocol conformance test report (PCTR) · layout after ISO/IEC 9646-5</div>'
        f"<h1>GB/T 32960 conformance of {esc(sut_label(run))}</h1>"
        f'<div class="overall"><span>Overall result</span>{badge(word)}'
        f'<span class="muted">{esc(verdict_note)}</span>{_counts_chips(run)}</div>{_red_list(run, pages)}'
        f'<div class="cover-grid"><div><h3>System under test</h3>{ident}</div>'
        f"<div><h3>Test run</h3>{tool}</div></div>"
        f"<h3>Rerun the whole run</h3>{rerun}"
        "</header>"
    )


def _toc(items: Sequence[tuple[str, str]]) -> str:
    lis = "".join(f'<li><a href="#{esc(a)}">{esc(t)}</a></li>' for a, t in items)
    return f'<nav class="toc"><strong>Contents</strong><ol>{lis}</ol></nav>'


def _pics(run: RunResult) -> str:
    rows = _flatten(run.pics)
    if not rows:
        return '<p class="muted">No PICS was given.</p>'
    body = "".join(f'<tr><td class="mono">{esc(k)}</td><td>{_support(v)}</td></tr>' for k, v in rows)
    return f"<table><tr><th>PICS item</th><th>Support / value claimed</th></tr>{body}</table>"


def _pixit(run: RunResult) -> str:
    rows = _flatten(run.pixit)
    if not rows:
        return '<p class="muted">No PIXIT was given.</p>'
    masked = '<span class="muted">•••••• (masked)</span>'
    body = "".join(f'<tr><td class="mono">{esc(k)}</td><td>{masked if _SECRET.search(k) else _support(v)}</td></tr>'
                   for k, v in rows)
    return (f"<table><tr><th>PIXIT item</th><th>Value</th></tr>{body}</table>"
            '<p class="small muted">Values of credential-like items are masked here; results.json holds what the '
            "harness was given.</p>")


def _clauses(run: RunResult) -> list[tuple[tuple[str, str], list[tuple[int, CaseResult]]]]:
    groups: dict[tuple[str, str], list[tuple[int, CaseResult]]] = {}
    for n, case in enumerate(run.cases):
        groups.setdefault((case.standard, case.clause), []).append((n, case))
    ordered = sorted(groups.items(), key=lambda kv: clause_key(*kv[0]))
    return [(k, sorted(v, key=lambda nc: case_key(nc[1]))) for k, v in ordered]


def _matrix(run: RunResult) -> str:
    head = "".join(f'<th class="num">{badge(v)}</th>' for v in VERDICTS)
    rows = []
    totals = dict.fromkeys(VERDICTS, 0)
    for (standard, clause), cases in _clauses(run):
        counts = dict.fromkeys(VERDICTS, 0)
        for _, c in cases:
            counts[c.verdict] = counts.get(c.verdict, 0) + 1
            totals[c.verdict] = totals.get(c.verdict, 0) + 1
        cells = "".join(f'<td class="num c-{_cls(v)}">{counts[v]}</td>' if counts[v] else '<td class="zero">·</td>'
                        for v in VERDICTS)
        red = any(counts[v] for v in RED)
        anchor = _clause_anchor(standard, clause)
        rows.append(f"<tr{_RED_ROW if red else ''}><td class=\"mono\">{esc(standard)}</td>"
                    f'<td class="mono"><a href="#{esc(anchor)}">{esc(clause)}</a></td>{cells}'
                    f'<td class="num">{len(cases)}</td></tr>')
    total_cells = "".join(f'<td class="num">{totals[v]}</td>' for v in VERDICTS)
    rows.append(f'<tr class="total"><td colspan="2">all clauses</td>{total_cells}'
                f'<td class="num">{len(run.cases)}</td></tr>')
    return (f'<table class="matrix"><tr><th>standard</th><th>clause</th>{head}<th class="num">cases</th></tr>'
            f'{"".join(rows)}</table>')


def _legend() -> str:
    rows = "".join(f"<tr><td>{badge(v)}</td><td>{esc(VERDICT_MEANING[v])}</td></tr>" for v in VERDICTS)
    return f'<details><summary>What the verdicts mean</summary><table class="legend">{rows}</table></details>'


def _summary(run: RunResult, pages: dict[int, str]) -> str:
    out = []
    for (standard, clause), cases in _clauses(run):
        anchor = _clause_anchor(standard, clause)
        rows = []
        for n, c in cases:
            rows.append(
                f"<tr{_RED_ROW if c.verdict in RED else ''}>"
                f'<td class="mono"><a href="{_href(pages[n])}">{esc(c.case_id)}</a></td>'
                f'<td class="small">{esc(c.edition)}</td>'
                f"<td>{esc(c.requirement)}</td><td>{badge(c.verdict)}</td>"
                f'<td class="small">{esc(c.reason)}</td><td class="num small">{c.duration:.2f}</td></tr>')
        out.append(f'<h3 id="{esc(anchor)}">{esc(standard)} clause {esc(clause)}</h3>'
                   '<table><tr><th style="width:24%">case</th><th style="width:48px">ed.</th><th>requirement</th>'
                   '<th style="width:80px">verdict</th>'
                   '<th style="width:30%">reason</th><th class="num" style="width:60px">s</th></tr>'
                   f'{"".join(rows)}</table>')
    return "".join(out) or '<p class="err">No case ran.</p>'


def _index(run: RunResult, pages: dict[int, str], generated_at: str, up: str | None) -> str:
    crumbs = f'<div class="crumbs"><a href="{_href(up)}">← comparison of all SUTs</a></div>' if up else ""
    toc = _toc([("pics", "PICS: static conformance"), ("pixit", "PIXIT: test set-up"),
                ("matrix", "Verdicts by clause"), ("summary", "Test campaign: every case by clause")])
    body = (
        crumbs + _cover(run, pages, generated_at) + toc
        + f'<h2 id="pics">1 PICS: what the SUT claims</h2>{_pics(run)}'
        + f'<h2 id="pixit">2 PIXIT: how the SUT was reached and timed</h2>{_pixit(run)}'
        + f'<h2 id="matrix">3 Verdicts by clause</h2>{_matrix(run)}{_legend()}'
        + '<h2 id="summary">4 Test campaign: every case by clause</h2>'
        + '<p class="small muted">Each case links to its page: requirement, verdict and reason, expected vs '
          "actual, frames (hex and decoded), pcap and decoded log, party logs and the command that reruns it.</p>"
        + _summary(run, pages)
    )
    return _page(f"PCTR GB/T 32960: {sut_label(run)}", body, _footer(run, generated_at))


def _footer(run: RunResult, generated_at: str) -> str:
    return (f"{esc(run.tool)} {esc(run.tool_version)} · results schema {esc(SCHEMA_VERSION)} · "
            f"generated {esc(generated_at)} · the machine-readable results are in results.json")


# ------------------------------------------------------------------------------------ one case


def _meaning(case: CaseResult) -> str:
    return VERDICT_MEANING.get(case.verdict, "")


def _hexdump(raw_hex: str) -> str:
    try:
        raw = bytes.fromhex(raw_hex)
    except ValueError:
        return raw_hex
    return "\n".join(f"{off:04x}  {raw[off:off + HEX_LINE].hex(' ')}" for off in range(0, len(raw), HEX_LINE))


def _frames(case: CaseResult, limit: int) -> str:
    frames: list[FrameEvidence] = case.evidence.frames
    if not frames:
        return '<p class="muted">No frame was recorded for this case.</p>'
    first = min(f.at for f in frames)
    rows = []
    for n, f in enumerate(frames[:limit], 1):
        size = len(f.raw_hex) // 2
        problem = f'<div class="err">{esc(f.error)}</div>' if f.error else ""
        decoded = (f"<details><summary>decoded JSON</summary><pre>{esc(_json(f.decoded))}</pre></details>"
                   if f.decoded is not None else "")
        rows.append(
            f'<tr><td class="num">{n}</td><td class="mono small when">{esc(iso_time(f.at))}<br/>'
            f'<span class="muted">+{f.at - first:.3f} s</span></td><td>{esc(f.link)}</td>'
            f'<td class="dir mono">{esc(f.direction)}</td><td>{esc(f.summary)}{problem}'
            f"<details><summary>hex, {size} bytes</summary><pre>{esc(_hexdump(f.raw_hex))}</pre></details>"
            f"{decoded}</td></tr>")
    more = (f'<p class="muted">{len(frames) - limit} more frame(s) are in the pcap and the decoded log.</p>'
            if len(frames) > limit else "")
    return ('<table class="frames"><tr><th class="num">#</th><th>time (UTC)</th>'
            '<th style="width:20%">link</th><th>dir</th><th>frame</th></tr>'
            f'{"".join(rows)}</table>{more}')


# ------------------------------------------------------------------------------------ forwarding figures

FORWARDING_COUNTS = ("frames sent", "frames relayed", "frames reissued", "frames duplicated", "frames lost",
                     "time to drain (s)")
TIMELINE_MARKS = 3000  # a picture, not a log: beyond this the frames table and the pcap have the rest
_MARK_COLOURS = (  # (test on command byte, colour, legend)
    ((0x02,), "#0969da", "real-time 0x02"), ((0x03,), "#d1670a", "reissue 0x03"),
    ((0x01, 0x04, 0x05, 0x06), "#8250df", "login / logout 0x01 0x04-0x06"), ((0x07,), "#8c959f", "heartbeat 0x07"),
)
_OTHER_COLOUR = "#1a7f37"


def is_forwarding(case: CaseResult) -> bool:
    """A case that records the forwarding figures (frames sent, relayed, ...)."""
    return "frames sent" in case.evidence.counts and "frames relayed" in case.evidence.counts


def _forwarding_figures(case: CaseResult) -> str:
    c = case.evidence.counts
    cells = "".join(f'<th class="num">{esc(k)}</th>' for k in FORWARDING_COUNTS)
    values = "".join(f'<td class="num">{esc(c[k]) if k in c else "—"}</td>' for k in FORWARDING_COUNTS)
    lost = c.get("frames lost", 0)
    note = (f'<p class="err">{esc(lost)} frame(s) lost.</p>' if lost else "")
    return f'<table class="figures"><tr>{cells}</tr><tr>{values}</tr></table>{note}'


def _colour(raw_hex: str) -> tuple[int, str]:
    try:
        command = int(raw_hex[4:6], 16)
    except ValueError:
        return -1, _OTHER_COLOUR
    for commands, colour, _ in _MARK_COLOURS:
        if command in commands:
            return command, colour
    return command, _OTHER_COLOUR


def timeline_svg(frames: Sequence[FrameEvidence], *, width: int = 880, lane: int = 34) -> str:
    """Frames over time, one lane per link (the vehicles' links, the proxied enterprise -> local link): an
    inline SVG, coloured by command; frames towards the peer above the lane's middle line, answers below."""
    if not frames:
        return '<p class="muted">No frame was recorded: no timeline.</p>'
    links = sorted({f.link for f in frames}, key=lambda name: (name.startswith("proxy"), name))
    per_link = {name: sum(f.link == name for f in frames) for name in links}
    t0 = min(f.at for f in frames)
    span = max(max(f.at for f in frames) - t0, 1e-3)
    left, right, top = 210, 12, 22
    plot = width - left - right
    height = top + lane * len(links) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="100%" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="frames over time on each link">']
    for i, name in enumerate(links):
        y: float = top + lane * i
        shade = "#f6f8fa" if i % 2 else "#fff"
        parts.append(f'<rect x="{left}" y="{y}" width="{plot}" height="{lane - 4}" fill="{shade}" stroke="#d0d7de"/>')
        parts.append(f'<line x1="{left}" y1="{y + (lane - 4) / 2}" x2="{left + plot}" y2="{y + (lane - 4) / 2}" '
                     'stroke="#d0d7de" stroke-dasharray="2,3"/>')
        label = (name if len(name) <= 30 else name[:14] + "…" + name[-15:]) + f" ({per_link[name]})"
        parts.append(f'<text x="{left - 6}" y="{y + lane / 2}" text-anchor="end" font-size="11">{esc(label)}</text>')
    for k in range(6):  # time axis: six ticks
        x = left + plot * k / 5
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + lane * len(links)}" stroke="#eaeef2"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + lane * len(links) + 14}" text-anchor="middle" '
                     f'font-size="10">+{span * k / 5:.2f} s</text>')
    row = {name: i for i, name in enumerate(links)}
    for f in frames[:TIMELINE_MARKS]:
        x = left + plot * (f.at - t0) / span
        y = top + lane * row[f.link] + (lane - 4) * (0.27 if f.direction == "->" else 0.73)
        command, colour = _colour(f.raw_hex)
        title = f"+{f.at - t0:.3f} s {f.link} {f.direction} {f.summary or (f'0x{command:02X}' if command >= 0 else '')}"
        parts.append(f'<rect x="{x - 1.5:.1f}" y="{y - 5:.1f}" width="3" height="10" fill="{colour}">'
                     f"<title>{esc(title)}</title></rect>")
    legend_x = left
    for _, colour, text in (*_MARK_COLOURS, ((), _OTHER_COLOUR, "other")):
        parts.append(f'<rect x="{legend_x}" y="4" width="8" height="10" fill="{colour}"/>'
                     f'<text x="{legend_x + 11}" y="13" font-size="10">{esc(text)}</text>')
        legend_x += 12 + 6 * len(text) + 14
    parts.append("</svg>")
    more = (f'<p class="muted">{len(frames) - TIMELINE_MARKS} more frame(s) not drawn.</p>'
            if len(frames) > TIMELINE_MARKS else "")
    return ('<div class="timeline-box">' + "".join(parts) + "</div>"
            '<p class="muted small">Each mark is one frame; above a lane\'s dashed line: towards the SUT or the '
            "upstream platform (->), below: back (<-).</p>" + more)


def _forwarding(case: CaseResult) -> str:
    if not is_forwarding(case):
        return ""
    return (f"<h2>Forwarding figures</h2>{_forwarding_figures(case)}"
            f"<h3>Timeline: frames over time on each link</h3>{timeline_svg(case.evidence.frames)}")


def _diff(case: CaseResult) -> str:
    if not case.evidence.diff:
        return '<p class="muted">No field-level difference was recorded.</p>'
    rows = "".join(f'<tr><td class="mono">{esc(d.path)}</td><td class="exp">{_inline_value(d.expected)}</td>'
                   f'<td class="act">{_inline_value(d.actual)}</td></tr>' for d in case.evidence.diff)
    return f'<table class="diff"><tr><th>field</th><th>expected</th><th>actual</th></tr>{rows}</table>'


def _files(case: CaseResult, available: set[str]) -> str:
    items = []
    for what, path in (("pcap (opens in Wireshark)", case.evidence.pcap), ("decoded, annotated log",
                                                                           case.evidence.log)):
        if not path:
            continue
        missing = "" if path in available else ' <span class="err">(file missing)</span>'
        items.append(f'<li>{esc(what)}: <a href="../{_href(path)}">{esc(path)}</a>{missing}</li>')
    return f"<ul>{''.join(items)}</ul>" if items else '<p class="muted">No evidence file was written.</p>'


def _case_page(run: RunResult, case: CaseResult, generated_at: str, available: set[str], limit: int) -> str:
    ev = case.evidence
    red = case.verdict in RED
    facts = _kv([
        ("case", f"<code>{esc(case.case_id)}</code>"), ("standard", esc(case.standard)),
        ("clause", esc(case.clause)), ("verdict", badge(case.verdict)),
        ("reason", f'<span style="white-space:pre-wrap">{esc(case.reason)}</span>' if case.reason else "—"),
        ("edition", esc(case.edition) or "—"), ("SUT role", esc(case.role) or esc(run.role)),
        ("SUT", esc(sut_label(run))), ("duration", esc(_seconds(case.duration))),
        ("pytest node", f"<code>{esc(case.nodeid)}</code>" if case.nodeid else "—"),
    ])
    counts = (_kv([(k, esc(v)) for k, v in ev.counts.items()]) if ev.counts
              else '<p class="muted">No count was recorded.</p>')
    notes = "".join(f"<li>{esc(n)}</li>" for n in ev.notes)
    logs = "".join(
        f'<details{" open" if red else ""}><summary>{esc(party)} ({len(text.splitlines())} lines)</summary>'
        f'<pre class="log">{esc(text)}</pre></details>' for party, text in ev.party_logs.items())
    rerun = f'<pre class="cmd">{esc(case.rerun)}</pre>' if case.rerun else '<p class="muted">(not recorded)</p>'
    edition = f' <span class="muted">[{esc(case.edition)}]</span>' if case.edition else ""
    body = (
        '<div class="crumbs"><a href="../index.html">← report index</a> · '
        f'<a href="../index.html#{esc(_clause_anchor(case.standard, case.clause))}">clause {esc(case.clause)}</a></div>'
        f'<div class="doc-kind">Test case report · {esc(sut_label(run))}</div>'
        f'<h1 class="case-id">{esc(case.case_id)}{edition}</h1>'
        f'<div class="banner">{badge(case.verdict)}<span class="why">{esc(case.reason) or esc(_meaning(case))}'
        "</span></div>"
        f"<h2>Requirement</h2><blockquote>{esc(case.requirement) or '—'}</blockquote>"
        f"<h2>Verdict</h2>{facts}"
        f"<h3>Rerun just this case</h3>{rerun}"
        f"<h2>Expected vs actual</h2>{_diff(case)}"
        + _forwarding(case)
        + f"<h2>Counts</h2>{counts}"
        + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "")
        + f"<h2>Frames ({len(ev.frames)})</h2>{_files(case, available)}{_frames(case, limit)}"
        + f"<h2>Party logs</h2>{logs or _NO_LOGS}"
    )
    return _page(f"{case.case_id} {case.verdict}", body, _footer(run, generated_at))


# ------------------------------------------------------------------------------------ writing


def _bring_evidence(run: RunResult, source: Path | None, out: Path) -> set[str]:
    """Copy the run's evidence files next to the report when they live elsewhere; the paths that exist.

    Paths in results.json are relative to its folder; a report written to another folder (or merged)
    gets copies, so the report folder is self-contained. Paths that climb out ('..') or are absolute
    are left as they are and linked only if they exist relative to the report.
    """
    available: set[str] = set()
    for case in run.cases:
        for rel in (case.evidence.pcap, case.evidence.log):
            if not rel:
                continue
            target = out / rel
            safe = not Path(rel).is_absolute() and ".." not in Path(rel).parts
            if source is not None and safe and source.resolve() != out.resolve() and not target.exists():
                origin = source / rel
                if origin.is_file():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target)
            if target.is_file():
                available.add(rel)
    return available


def _write_run(run: RunResult, out: Path, source: Path | None, generated_at: str, up: str | None,
               limit: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "cases").mkdir(exist_ok=True)
    available = _bring_evidence(run, source, out)
    pages = _page_names(run)
    for n, case in enumerate(run.cases):
        (out / pages[n]).write_text(_case_page(run, case, generated_at, available, limit), encoding="utf-8")
    index = out / "index.html"
    index.write_text(_index(run, pages, generated_at, up), encoding="utf-8")
    return index


def write_html(run_or_runs: RunResult | Sequence[RunResult], dir: str | Path, *,
               sources: Sequence[str | Path | None] | None = None, frame_limit: int = FRAME_LIMIT) -> Path:
    """Write the HTML report into `dir`; return the path of its index.html.

    One run: `index.html` and `cases/*.html`. Several runs: `index.html` compares them (case x SUT)
    and each run's report goes to its own sub-folder. `sources` gives, per run, the folder its
    evidence paths are relative to (the folder of its results.json); default: `dir` itself.
    """
    runs = [run_or_runs] if isinstance(run_or_runs, RunResult) else list(run_or_runs)
    if not runs:
        raise ValueError("write_html needs at least one run")
    srcs = [Path(s) if s is not None else None for s in (sources or [None] * len(runs))]
    if len(srcs) != len(runs):
        raise ValueError(f"{len(runs)} run(s) but {len(srcs)} source folder(s)")
    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    generated_at = _dt.datetime.now(tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if len(runs) == 1:
        return _write_run(runs[0], out, srcs[0], generated_at, None, frame_limit)
    folders = run_folders(runs)
    for run, folder, src in zip(runs, folders, srcs, strict=True):
        _write_run(run, out / folder, src, generated_at, "../index.html", frame_limit)
    index = out / "index.html"
    index.write_text(_comparison(runs, folders, generated_at), encoding="utf-8")
    return index


def run_folders(runs: Sequence[RunResult]) -> list[str]:
    """The sub-folder of each run in a comparison report: numbered, so equal SUT names stay apart."""
    names: list[str] = []
    for n, run in enumerate(runs, 1):
        name = f"sut-{n}-{slug(sut_label(run))}"
        names.append(name)
    return names


# ------------------------------------------------------------------------------------ several SUTs


def _comparison(runs: Sequence[RunResult], folders: Sequence[str], generated_at: str) -> str:
    labels = [sut_label(r) for r in runs]
    # two SUTs may share a name (one product, two versions): number the columns so they stay apart
    heads = "".join(f'<th><a href="{_href(f)}/index.html">{esc(lab)}</a><div class="small muted">#{n}</div></th>'
                    for n, (lab, f) in enumerate(zip(labels, folders, strict=True), 1))

    def row(title: str, cells: Iterable[str]) -> str:
        return f"<tr><th>{esc(title)}</th>{''.join(f'<td>{c}</td>' for c in cells)}</tr>"

    ident = "".join([
        row("overall result", (badge(overall(r)) for r in runs)),
        row("kind", (esc(r.sut.kind) for r in runs)),
        row("address / image", (esc(r.sut.image or r.sut.address or "—") for r in runs)),
        row("role", (esc(r.role) for r in runs)),
        row("edition", (esc(r.edition) for r in runs)),
        row("timers", (f"<code>{esc(r.timers)}</code>" for r in runs)),
        row("started", (esc(_when(r.started)) for r in runs)),
        row("tool", (f"{esc(r.tool)} {esc(r.tool_version)}" for r in runs)),
        row("cases", (str(len(r.cases)) for r in runs)),
        *(f"<tr><th>{badge(v)}</th>" + "".join(
            f'<td class="num">{r.counts()[v]}</td>' if r.counts()[v] else '<td class="zero">·</td>' for r in runs)
          + "</tr>" for v in VERDICTS),
    ])
    # case x SUT: the union of every run's cases, ordered by clause
    # one case id may run once per edition: a row is (case id, edition)
    by_id: dict[tuple[str, str], CaseResult] = {}
    for r in runs:
        for c in r.cases:
            by_id.setdefault((c.case_id, c.edition), c)
    names = [_page_names(r) for r in runs]
    pages = [{(c.case_id, c.edition): names[k][n] for n, c in enumerate(r.cases)} for k, r in enumerate(runs)]
    verdicts = [{(c.case_id, c.edition): c.verdict for c in r.cases} for r in runs]
    rows = []
    differ = 0
    for case_id, c in sorted(by_id.items(), key=lambda kv: (case_key(kv[1]), kv[0][1])):
        cells = []
        seen = set()
        for n, folder in enumerate(folders):
            v = verdicts[n].get(case_id)
            if v is None:
                cells.append('<td class="muted small">not run</td>')
                continue
            seen.add(v)
            cells.append(f'<td class="c-{_cls(v)}"><a href="{_href(folder)}/{_href(pages[n][case_id])}">'
                         f"{badge(v)}</a></td>")
        mark = '<td class="differs" title="verdicts differ">≠</td>' if len(seen) > 1 else "<td></td>"
        differ += len(seen) > 1
        rows.append(f'<tr><td class="mono">{esc(case_id[0])}</td><td class="small">{esc(case_id[1])}</td>'
                    f'<td class="small">{esc(c.requirement)}</td>'
                    f'{"".join(cells)}{mark}</tr>')
    body = (
        '<header class="cover">'
        '<div class="doc-kind">Protocol conformance test report (PCTR) · comparison of systems under test</div>'
        f"<h1>GB/T 32960 conformance: {len(runs)} SUTs side by side</h1>"
        f'<p class="muted">{len(by_id)} case(s); verdicts differ between SUTs on {differ}. '
        "Each SUT's column heading opens its full report.</p></header>"
        f'<h2 id="suts">1 Systems under test</h2><table><tr><th></th>{heads}</tr>{ident}</table>'
        f'<h2 id="matrix">2 Verdicts, case × SUT</h2>'
        f'<table class="matrix"><tr><th style="width:24%">case</th><th>ed.</th><th>requirement</th>{heads}'
        f'<th title="verdicts differ">≠</th></tr>{"".join(rows)}</table>{_legend()}'
    )
    footer = f"{esc(runs[0].tool)} · generated {esc(generated_at)} · one folder per SUT with its own report"
    return _page(f"PCTR GB/T 32960: {len(runs)} SUTs compared", body, footer)
