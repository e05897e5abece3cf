"""Everything a run leaves in its report folder, in one call (the pytest plugin's `--report DIR`).

    DIR/results.json          the run, validated against schema/results.schema.json
    DIR/junit.xml             for CI
    DIR/index.html, cases/    the PCTR-style HTML report
    DIR/evidence/<case>.pcap  each case's frames as synthetic TCP on 127.0.0.1 (Wireshark, tshark)
    DIR/evidence/<case>.log   the same frames, annotated field by field
"""

from __future__ import annotations

from pathlib import Path

from .evidence import PortSpec, write_decoded_log, write_pcap
from .html import write_html
from .json_report import write_json
from .junit import write_junit
from .model import RunResult
from .text import slug

__all__ = ["write_all", "write_case_evidence"]


def write_case_evidence(run: RunResult, out: str | Path, ports: PortSpec = None) -> None:
    """Write a pcap and a decoded log for every case that has frames but no such file yet, and
    record their paths (relative to `out`) in the case's evidence."""
    out = Path(out)
    used: set[str] = set()
    for case in run.cases:
        ev = case.evidence
        if not ev.frames:
            continue
        name = slug(case.case_id)
        k = 2
        while name in used:  # two results with one id (a rerun in one session) keep both files
            name = f"{slug(case.case_id)}-{k}"
            k += 1
        used.add(name)
        if ev.pcap is None:
            write_pcap(ev.frames, out / "evidence" / f"{name}.pcap", ports)
            ev.pcap = f"evidence/{name}.pcap"
        if ev.log is None:
            write_decoded_log(ev.frames, out / "evidence" / f"{name}.log")
            ev.log = f"evidence/{name}.log"


def write_all(run: RunResult, out: str | Path, ports: PortSpec = None) -> Path:
    """Write evidence files, junit.xml, the HTML report and results.json into `out`; return index.html.

    results.json goes last: it is validated against its schema, and a mismatch (a harness bug)
    raises only after every other file is on disk.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_case_evidence(run, out, ports)
    write_junit(run, out / "junit.xml")
    index = write_html(run, out)
    write_json(run, out)
    return index
