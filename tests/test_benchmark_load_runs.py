"""Smoke test: `benchmarks/load.py --quick` runs every part end to end (steady campaigns at 10 s and 1 s
with worker CPU, the capacity line, an outage with its drain time) and exits 0, with nothing lost at
the platform. It asserts nothing about speed: the benchmark prints its targets as met/missed."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "load.py"


@pytest.mark.timeout(420)
def test_load_benchmark_quick_runs_every_part():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=360)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    # | vehicles | workers | worker CPU | CPU per vehicle-second | p99 ack | error rate | data frames (share) | lost |
    rows = re.findall(r"^\| ([\d,]+) \| 1 \| (\d+) % \(max \d+\) \| \d+ µs \| (\d+) ms \| [\d.]+ \| (\d+) \([\d.]+\) "
                      r"\| (\d+) \| (.+) \|$", out, re.MULTILINE)
    assert len(rows) == 2, out  # one campaign per period, each with CPU, p99, frames and server-side truth
    for _, _, _, frames, lost, _ in rows:
        assert int(frames) > 0 and int(lost) == 0, out
    # the sharded run: the enterprise platform as two processes (the column before the loop lag), nothing lost
    sharded = re.findall(r"^\| 80 \| 2 \| .*? \| (\d+) \| (?:yes|no) \| .* \| 2 \| [^|]+ \|$", out, re.MULTILINE)
    assert sharded == ["0"], out
    assert re.search(r"drain time after the heal \d+\.\d s \(.*?\); lost at the platform 0", out), out
    for text in ("one worker sustains 10,000 vehicles at 10 s: ", "platform holds 20,000 vehicles at 10 s",
                 "zero loss (platform side, from Control, every run above): met"):
        assert text in out, out
