"""Self-test of the GB/T 32960.4-2025 cases (terminal as the SUT): a clean simulated terminal
PASSes every case, and each data defect switch FAILs exactly the case that judges it."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def outcomes(tmp_path: Path, *defects: str) -> dict[str, str]:
    junit = tmp_path / f"junit-{'-'.join(defects) or 'clean'}.xml"
    args = [sys.executable, "-m", "pytest", str(ROOT / "scenarios" / "quality"), "--role", "terminal", "-q",
            "-p", "no:cacheprovider", f"--junitxml={junit}"]
    for d in defects:
        args += ["--sut-defect", d]
    subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    out = {}
    for tc in ET.parse(junit).getroot().iter("testcase"):
        bad = tc.find("failure") is not None or tc.find("error") is not None
        skipped = tc.find("skipped") is not None
        out[tc.get("name")] = "FAIL" if bad else ("SKIP" if skipped else "PASS")
    return out


def test_clean_terminal_passes_every_case(tmp_path):
    res = outcomes(tmp_path)
    assert len(res) == 8, res  # 4 cases x 2 editions
    assert set(res.values()) == {"PASS"}, res


@pytest.mark.parametrize(("defect", "failing"), [
    ("stuck-sensor", "test_physical_consistency"),
    ("cells-dont-add-up", "test_physical_consistency"),
    ("late-reports", "test_reporting_timing"),
])
def test_defect_fails_its_case(tmp_path, defect, failing):
    res = outcomes(tmp_path, defect)
    assert len(res) == 8, res
    for name, verdict in res.items():
        want = "FAIL" if name.startswith(failing + "[") else "PASS"
        assert verdict == want, (defect, name, res)
