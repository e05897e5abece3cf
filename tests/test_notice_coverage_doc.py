"""docs/notice-coverage.md is generated from the catalogue: it must say what the cases say."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_notice_coverage_page_is_up_to_date():
    proc = subprocess.run([sys.executable, "scripts/notice_coverage.py", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
