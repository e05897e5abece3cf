"""Smoke test: `benchmarks/codec.py --quick` runs, exits 0 and prints its rows.

This only proves the script runs end to end; it asserts nothing about speed (the benchmark reports
its targets as met/missed and never fails on them).
"""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "codec.py"


def test_codec_benchmark_quick_runs():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for row in ("baseline: unpack 24-byte header", "decode realtime 2025 full", "encode realtime 2025 full",
                "decode realtime 2016 full (200 cells)", "decode login 2016", "encode heartbeat 2025",
                "framer: 1 MB of heartbeats", "framer: 1 MB of mixed real-time"):
        assert row in out, f"missing row {row!r}:\n{out}"
    assert "≤ 25 µs" in out and "≥ 300,000 frames/s" in out
    assert "warning" not in out, out
