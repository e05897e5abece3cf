"""Smoke test: `benchmarks/platform.py --quick` runs end to end, exits 0, prints its tables and loses nothing.

It proves that the benchmark runs (load generator process, bare server, enterprise platform relaying to a local
platform subprocess) and that no frame is lost at small scale (50 terminals, 2 s phases). It asserts nothing about
speed: the benchmark reports its targets as met/missed and never fails on them.
"""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "platform.py"


def test_platform_benchmark_quick_runs_and_loses_nothing():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    for text in ("bare ingest f/s", "plat ingest f/s", "ratio", "relay f/s", "end of each run",
                 "targets (reported, never enforced)"):
        assert text in out, f"missing {text!r}:\n{out}"
    assert "ERROR" not in out, out
    rows = {m.group(1): m for m in re.finditer(
        r"^\s*50\s+(bare|platform)\s+50/50\s+([\d,]+)\s+([\d,]+)\s+(\d+)\s", out, re.MULTILINE)}
    assert set(rows) == {"bare", "platform"}, f"end-of-run rows missing (all 50 terminals logged in?):\n{out}"
    for kind, m in rows.items():
        sent, stored, lost = int(m.group(2).replace(",", "")), int(m.group(3).replace(",", "")), int(m.group(4))
        assert sent > 0, f"{kind}: nothing sent"
        assert (sent - stored, lost) == (0, 0), f"{kind}: sent {sent}, stored {stored}, lost {lost}"
    assert re.search(r"^frames lost \(sent - stored\), all runs: 0$", out, re.MULTILINE), out
