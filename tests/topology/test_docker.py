"""The docker topology: our image built offline, enterprise + local + national in containers with the
fault proxy on the enterprise->local link; the login -> relay case PASSes there as it does embedded.

This test must run (not skip) in CI: .ci/run installs and starts the Docker engine. On a machine
without one, the topology installs and starts it itself (root) or the case is an ERROR."""

import json
import subprocess
import sys

CASE = "NOTICE-2016/1.2/b/01"


def _conformance(tmp_path, sut: str) -> tuple[int, dict]:
    report = tmp_path / sut
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "conformance", "--sut", sut, "--case", CASE,
                           "--edition", "2016", "--report", str(report)],
                          capture_output=True, text=True, timeout=1200)
    results = json.loads((report / "results.json").read_text()) if (report / "results.json").exists() else {}
    assert results, f"no report written:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.returncode, results


def test_login_relay_case_passes_in_docker_and_embedded(tmp_path):
    for sut in ("docker", "reference"):
        code, results = _conformance(tmp_path, sut)
        verdicts = {c["case_id"]: c["verdict"] for c in results["cases"]}
        assert verdicts == {CASE: "PASS"}, (sut, results["cases"][0]["reason"] if results["cases"] else "")
        assert code == 0
