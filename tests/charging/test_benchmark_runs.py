"""Smoke test: `benchmarks/charging.py --quick` runs, every session completes, and it prints its figures.
It asserts nothing about speed: the target is reported as met or missed, never enforced."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "charging.py"


def test_charging_benchmark_quick():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    rows = re.findall(r"^(\S+ <-> \S+)\s+(virtual|memory)\s+(\d+)/(\d+)\s", out, re.MULTILINE)
    assert len(rows) == 6, out
    assert all(done == total for _, _, done, total in rows), out
    assert re.search(r"J1939 transport, 1,000 BRM transfers of 49 B \(no bus\): [\d,]+ messages/s", out), out
    assert re.search(r"100 complete 2015 sessions on the virtual bus in < 60 s: (met|missed)", out), out
