"""`gbt32960 quality CAPTURE|--store DB [--reference FILE]`: assess data quality, write JSON + HTML.

Exit status: 0 when every verdict passes, 1 when any fails, 2 for bad input (missing file,
nothing assessable).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.cli import register

from . import records as _records
from . import report as _report
from . import thresholds as _th
from .assess import Assessor, assess_store
from .reference import compare


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("capture", nargs="?", metavar="CAPTURE",
                   help="a pcap/pcapng capture, or a file of concatenated raw frames (.bin)")
    p.add_argument("--store", metavar="DB", help="a reference platform's SQLite store (frames table)")
    p.add_argument("--link", help="with --store: only frames of this link")
    p.add_argument("--port", type=int, action="append", help="with a capture: only TCP flows on this port")
    p.add_argument("--reference", metavar="FILE", help="reference CSV (vin, time, item columns) to compare with")
    p.add_argument("--mapping", metavar="YAML", help="with --reference LOG: the reference is a candump log and "
                   "this file maps CAN signals to items (see harness/quality/candump.py)")
    p.add_argument("--thresholds", metavar="YAML", help="thresholds (PIXIT) merged over the shipped defaults")
    p.add_argument("--workers", type=int, default=1,
                   help="with --store: assess in this many processes (vehicles split by VIN)")
    p.add_argument("--out", metavar="DIR", default="reports/quality", help="where quality.json and quality.html go")


def _source(args: argparse.Namespace, stats: _records.SourceStats) -> Iterator[_records.Record]:
    if args.store:
        return _records.from_store(args.store, stats, link=args.link)
    path = Path(args.capture)
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\n\r\r\n", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
        return _records.from_pcap(path, stats, ports=args.port)
    return _records.from_stream(_chunks(path), stats)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            yield chunk


def run_quality(args: argparse.Namespace) -> int:
    if bool(args.capture) == bool(args.store):
        print("gbt32960 quality: give a CAPTURE or --store DB (one of them)", file=sys.stderr)
        return 2
    src = args.store or args.capture
    if not Path(src).exists():
        print(f"gbt32960 quality: {src}: no such file", file=sys.stderr)
        return 2
    th = _th.load(args.thresholds)
    res: dict[str, Any]
    if args.store and args.workers > 1:
        res = assess_store(args.store, th, workers=args.workers, link=args.link)
    else:
        stats = _records.SourceStats()
        a = Assessor(th)
        for rec in _source(args, stats):
            a.add(rec)
        res = a.result(stats)
    if args.reference:
        # a second pass: the comparison needs no memory of the first
        res["reference"] = compare(_source(args, _records.SourceStats()), args.reference, th,
                                   mapping=args.mapping)
        if res["reference"]["verdict"] == "FAIL":
            res["verdict"] = "FAIL"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _report.write_json(res, out / "quality.json")
    _report.write_html(res, out / "quality.html", title=f"Data quality: {Path(src).name}")
    print(_report.summary_text(res))
    print(f"wrote {out / 'quality.json'} and {out / 'quality.html'}")
    if res["records"]["records"] == 0:
        return 2
    return 1 if res["verdict"] == "FAIL" else 0


register(
    "quality",
    help="data quality in the manner of GB/T 32960.4-2025: null/abnormal/range rates, timing, consistency",
    description="Assess the real-time data of a capture or a platform store: per-item null, abnormal and "
                "out-of-range rates, record NVR/AVR, presence of information types, reporting-period "
                "compliance, gaps, drift, duplicates, reissue share, physical consistency, and (with "
                "--reference) a per-item comparison with reference data. Thresholds are our documented "
                "defaults (harness/quality/thresholds.yaml) unless --thresholds gives others.",
    configure=_configure,
)(run_quality)
