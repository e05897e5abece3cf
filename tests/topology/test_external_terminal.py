"""A terminal SUT outside the harness (--role terminal --sut external): here our simulator as a separate
process (`gbt32960 simulate --control-port`), set up to report to the address the PIXIT gives. The
harness listens there as the enterprise platform and powers the terminal through its Control API."""

import json
import socket
import subprocess
import sys

import pytest
import yaml

from harness.plugin import COMPRESSED
from harness.terminal.fleet import make_vin

CASES = ("GBT32960.3-2016/B.1/51", "GBT32960.3-2016/6.2/51", "GBT32960.3-2016/B.2.1/51",
         "GBT32960.3-2016/B.2.2/51", "GBT32960.3-2016/B.2.2/52", "GBT32960.3-2016/B.2.3/51",
         "GBT32960.3-2016/B.2.3/52", "GBT32960.3-2016/B.2.4/55",
         # data quality on a live capture (30 s here: 600 s of the simulator's calendar)
         "GBT32960.4-2025/A.1/01-2016", "GBT32960.4-2025/6.3/01-2016", "GBT32960.4-2025/6.3/02-2016")
K = 20  # the simulator's timer compression: its calendar runs K times faster than the wall clock


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp_path, defects: tuple[str, ...], cases: tuple[str, ...] = CASES) -> tuple[int, dict[str, str], str]:
    listen, control = _port(), _port()
    pixit = {"terminal": {"listen": f"127.0.0.1:{listen}", "vin": make_vin(0), "editions": [2016],
                          "control": f"127.0.0.1:{control}", "time_scale": 1 / K},
             "timers": {"report_period": 10 / K, "response_timeout": COMPRESSED.response_timeout},
             "quality": {"live_duration": 30}}
    (tmp_path / "pixit.yaml").write_text(yaml.safe_dump(pixit))
    sim = [sys.executable, "-m", "harness.cli", "simulate", "--vehicles", "1", "--target", f"127.0.0.1:{listen}",
           "--control-port", str(control), "--compress", str(K), "--rate", str(10 / K), "--duration", "600",
           "--alarm-rate", "0",
           "--quiet"]
    for d in defects:
        sim += ["--defect", d]
    terminal = subprocess.Popen(sim, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert "control on" in (terminal.stderr.readline() if terminal.stderr else ""), "the simulator did not start"
        report = tmp_path / "report"
        args = [sys.executable, "-m", "harness.cli", "conformance", "--role", "terminal", "--sut", "external",
                "--pixit", str(tmp_path / "pixit.yaml"), "--edition", "2016", "--report", str(report)]
        for c in cases:
            args += ["--case", c]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
        results = json.loads((report / "results.json").read_text())
        return proc.returncode, {c["case_id"]: c["verdict"] for c in results["cases"]}, proc.stdout[-3000:]
    finally:
        terminal.terminate()
        terminal.wait(20)


def test_cases_pass_against_an_external_terminal(tmp_path):
    code, verdicts, out = _run(tmp_path, ())
    assert verdicts == {c: "PASS" for c in CASES}, out
    assert code == 0


@pytest.mark.parametrize(("defect", "case"), [("ignore-query", "GBT32960.3-2016/B.2.2/51"),
                                              ("set-not-applied", "GBT32960.3-2016/B.2.3/51"),
                                              ("cells-dont-add-up", "GBT32960.4-2025/6.3/02-2016")])
def test_a_defective_external_terminal_fails(tmp_path, defect, case):
    code, verdicts, out = _run(tmp_path, (defect,), (case,))
    assert verdicts[case] == "FAIL", out
    assert code != 0
