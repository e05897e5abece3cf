"""Smoke test: `benchmarks/proxy.py --quick` runs end to end (load generator process, standalone proxy process,
sink), exits 0, prints its table and loses nothing. It asserts nothing about speed: the benchmark reports its
target as met/missed and never fails on it."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "proxy.py"


def test_proxy_benchmark_quick_runs_and_loses_nothing():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    for text in ("frames/s", "RTT p50 µs", "RTT p99 µs", "throughput ratio proxy/direct:", "added latency",
                 "targets (reported, never enforced)", "proxy throughput >= 80% of direct:"):
        assert text in out, f"missing {text!r}:\n{out}"
    rows = {m.group(1): m for m in re.finditer(r"^(direct|proxy, no fault|proxy, frame fault \(info only\))\s+"
                                               r"([\d,]+)\s+[\d.]+\s+(\d+)\s", out, re.MULTILINE)}
    assert set(rows) == {"direct", "proxy, no fault", "proxy, frame fault (info only)"}, out
    for m in rows.values():
        assert int(m.group(2).replace(",", "")) > 0 and int(m.group(3)) == 0, m.group(0)
    assert re.search(r"proxy throughput >= 80% of direct: (met|missed) \(\d\.\d\d\)", out), out
    assert "nothing lost: met (0 frames)" in out, out
