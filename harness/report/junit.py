"""`junit.xml`: the run as JUnit XML, for CI systems (GitLab, Jenkins, GitHub test reporters).

JUnit knows only pass, failure, error and skipped, so the seven verdicts are mapped (design §3.5:
a skip is never a pass, so INCONC and N/A are "skipped", never silently green):

  PASS -> (nothing)   FAIL -> <failure>   ERROR, XPASS -> <error>
  INCONC, N/A -> <skipped> with the reason   XFAIL -> <skipped> "expected failure: reason"

The exact verdict is kept in each testcase's <properties> (verdict, case_id, clause, edition, role).
"""

from __future__ import annotations

import datetime as _dt
import re
import xml.etree.ElementTree as ET  # noqa: S405  (we write XML; nothing untrusted is parsed here)
from pathlib import Path

from .model import CaseResult, RunResult
from .text import sut_label

__all__ = ["write_junit"]

# XML 1.0 forbids most control characters; a VIN with NULs or a reason quoting raw bytes would make
# the whole file unreadable, so they are written as visible escapes instead.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
LOG_LIMIT = 20_000  # characters of each party log kept in <system-err> (the HTML report has them whole)


def _x(text: object) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def _properties(parent: ET.Element, items: list[tuple[str, object]]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in items:
        ET.SubElement(props, "property", name=_x(name), value=_x(value))


def _outcome(case: CaseResult) -> tuple[str, str] | None:
    """(element, message) for a verdict, None for PASS."""
    reason = case.reason or "(no reason given)"
    return {
        "PASS": None,
        "FAIL": ("failure", reason),
        "ERROR": ("error", reason),
        "XPASS": ("error", f"unexpected pass of a declared expected failure: {reason}"),
        "INCONC": ("skipped", f"inconclusive: {reason}"),
        "N/A": ("skipped", f"not applicable: {reason}"),
        "XFAIL": ("skipped", f"expected failure: {reason}"),
    }.get(case.verdict, ("error", f"unknown verdict {case.verdict!r}: {reason}"))


def _details(case: CaseResult) -> str:
    lines = [f"{case.case_id}: {case.verdict}", f"requirement: {case.requirement}", f"reason: {case.reason}"]
    for d in case.evidence.diff:
        lines.append(f"diff {d.path}: expected {d.expected!r}, actual {d.actual!r}")
    ev = case.evidence
    lines += [f"evidence: {name} {path}" for name, path in (("pcap", ev.pcap), ("log", ev.log)) if path]
    if case.rerun:
        lines.append(f"rerun: {case.rerun}")
    return "\n".join(lines)


def _testcase(suite: ET.Element, case: CaseResult) -> None:
    tc = ET.SubElement(suite, "testcase", classname=_x(f"{case.standard}/{case.clause}"), name=_x(case.case_id),
                       time=f"{max(case.duration, 0.0):.3f}")
    _properties(tc, [("case_id", case.case_id), ("clause", case.clause), ("standard", case.standard),
                     ("edition", case.edition), ("role", case.role), ("verdict", case.verdict),
                     ("rerun", case.rerun)])
    outcome = _outcome(case)
    if outcome is not None:
        tag, message = outcome
        el = ET.SubElement(tc, tag, message=_x(message), type=_x(case.verdict))
        if tag != "skipped":
            el.text = _x(_details(case))
    out = [f"requirement: {case.requirement}"]
    out += [f"{k}: {v}" for k, v in case.evidence.counts.items()]
    out += [f"note: {n}" for n in case.evidence.notes]
    if case.rerun:
        out.append(f"rerun: {case.rerun}")
    ET.SubElement(tc, "system-out").text = _x("\n".join(out))
    if case.evidence.party_logs:
        err = []
        for party, log in case.evidence.party_logs.items():
            cut = f"\n… ({len(log) - LOG_LIMIT} more characters in the HTML report)" if len(log) > LOG_LIMIT else ""
            err.append(f"==== {party}\n{log[:LOG_LIMIT]}{cut}")
        ET.SubElement(tc, "system-err").text = _x("\n".join(err))


def write_junit(run: RunResult, path: str | Path) -> Path:
    """Write `run` as JUnit XML to `path` (a file); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tally = {"tests": len(run.cases), "failures": 0, "errors": 0, "skipped": 0}
    for case in run.cases:
        outcome = _outcome(case)
        if outcome is not None:
            tally[{"failure": "failures", "error": "errors", "skipped": "skipped"}[outcome[0]]] += 1
    elapsed = max((run.finished or run.started) - run.started, 0.0)
    totals = {k: str(v) for k, v in tally.items()} | {"time": f"{elapsed:.3f}"}
    label = sut_label(run)
    root = ET.Element("testsuites", {"name": _x(f"{run.tool} {run.tool_version}".strip()), **totals})
    stamp = _dt.datetime.fromtimestamp(run.started, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    suite = ET.SubElement(root, "testsuite", {"name": _x(f"GB/T 32960 conformance: {label}"), "timestamp": stamp,
                                              "hostname": "localhost", **totals})
    _properties(suite, [("SUT", label), ("sut.kind", run.sut.kind), ("sut.address", run.sut.address),
                        ("sut.image", run.sut.image), ("sut.name", run.sut.name), ("role", run.role),
                        ("edition", run.edition), ("timers", run.timers), ("tool", run.tool),
                        ("tool_version", run.tool_version), ("command", run.command),
                        *((f"count.{v}", n) for v, n in run.counts().items())])
    for case in run.cases:
        _testcase(suite, case)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
