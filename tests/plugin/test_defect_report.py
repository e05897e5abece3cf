"""Against the reference platform with a defect switch on, the relevant case FAILs, the report says
why, and its rerun command reproduces the failure."""

import json
import shlex
import subprocess
import sys

CASE = "NOTICE-2016/1.2/b/01"


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=600)


def test_defect_fails_the_case_and_the_rerun_reproduces_it(tmp_path):
    report = tmp_path / "report"
    proc = _run(["conformance", "--sut-defect", "alter-relayed-bytes", "--case", CASE, "--edition", "2016",
                 "--report", str(report)])
    assert proc.returncode == 1, proc.stdout[-3000:]
    results = json.loads((report / "results.json").read_text())
    (case,) = results["cases"]
    assert case["verdict"] == "FAIL"
    assert "relayed frames differ" in case["reason"]
    assert case["evidence"]["diff"] and case["evidence"]["diff"][0]["path"] == "local.frames[*].raw"
    assert case["evidence"]["frames"], "the frames the harness sent are in the evidence"
    assert "FAIL" in (report / "index.html").read_text()
    assert "--sut-defect alter-relayed-bytes" in case["rerun"] and CASE in case["rerun"]
    rerun = shlex.split(case["rerun"])
    assert rerun[:2] == ["gbt32960", "conformance"]
    again = _run(rerun[1:])
    assert again.returncode == 1 and f"FAIL {CASE}" in again.stdout
    clean = _run(["conformance", "--case", CASE, "--edition", "2016"])
    assert clean.returncode == 0 and "1 PASS" in clean.stdout
