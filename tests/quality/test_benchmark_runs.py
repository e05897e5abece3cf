"""benchmarks/quality.py --quick runs and prints its figures (speed is never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quality_benchmark_quick():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "quality.py"), "--quick"], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert "records/s" in out
    assert "assessed: 5000 records" in out
    assert ": met" in out or ": missed" in out
    assert "verdict PASS" in out  # the stored fleet is clean
