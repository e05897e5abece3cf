"""The docker topology: our image built offline, enterprise + local + national in containers with the
fault proxy on the enterprise->local link. A representative subset of the catalogue (framing, login,
real-time data, time sync, heartbeat, reissue and the notice's relay, 2016 edition) PASSes there as it
does embedded.

This test must run (not skip) in CI: .ci/run installs and starts the Docker engine. On a machine
without one, the topology installs and starts it itself (root) or the case is an ERROR."""

import json
import subprocess
import sys

SUBSET = ("GBT32960.3-2016/6.2/*", "GBT32960.3-2016/B.1/*", "GBT32960.3-2016/B.2.1/*", "GBT32960.3-2016/B.2.5/*",
          "GBT32960.3-2016/B.2.6/*", "GBT32960.3-2016/B.2.8/*", "NOTICE-2016/1.2/b/01", "NOTICE-2016/1.2/g/01")
# the forwarding-under-faults cases run in docker in tests/topology/test_docker_notice.py


def _conformance(tmp_path, sut: str) -> tuple[int, dict]:
    report = tmp_path / sut
    cases = [arg for pattern in SUBSET for arg in ("--case", pattern)]
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "conformance", "--sut", sut, *cases,
                           "--edition", "2016", "--report", str(report)],
                          capture_output=True, text=True, timeout=1200)
    results = json.loads((report / "results.json").read_text()) if (report / "results.json").exists() else {}
    assert results, f"no report written:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.returncode, results


def test_subset_passes_in_docker_as_embedded(tmp_path):
    got = {}
    for sut in ("docker", "reference"):
        code, results = _conformance(tmp_path, sut)
        got[sut] = {c["case_id"]: c["verdict"] for c in results["cases"]}
        red = {c["case_id"]: c["reason"] for c in results["cases"] if c["verdict"] != "PASS"}
        assert not red and code == 0, (sut, red)
    assert got["docker"] == got["reference"]
    assert len(got["docker"]) >= 20 and "NOTICE-2016/1.2/b/01" in got["docker"]
