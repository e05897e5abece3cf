"""An external SUT at tcp://HOST:PORT: the harness plays local and national where the PIXIT says.
Here the "maker's platform" is our reference enterprise platform as a separate process."""

import json
import socket
import subprocess
import sys

import pytest
import yaml

from harness.plugin import COMPRESSED
from harness.topology import build
from harness.topology.base import default_vehicles


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RELAY_CASES = ("NOTICE-2016/1.2/b/01", "NOTICE-2016/1.2/g/01", "NOTICE-2016/1.2/b/03")


def test_relay_cases_pass_against_an_external_sut(tmp_path):
    sut_port, local_port, national_port = _port(), _port(), _port()
    vehicles = default_vehicles("110000")
    creds = {"platform_id": "MAKER-ENT-01", "username": "maker", "password": "pw-01"}
    cfg = {"name": "MAKER-ENT-01", "listen": f"127.0.0.1:{sut_port}", "storage": str(tmp_path / "sut.sqlite"),
           "vehicles": [{"vin": v.vin, "public_service": v.public_service, "region": v.region} for v in vehicles],
           # the SUT runs the harness's compressed timers (the PIXIT below says so), except that it starts
           # before the harness listens: back off briefly
           "timers": {**{k: getattr(COMPRESSED, k) for k in ("platform_login_retry", "response_timeout", "tick",
                                                           "data_resend", "report_period", "idle_timeout")},
                      "login_backoff": 0.5},
           "upstreams": [{"name": "local", "host": "127.0.0.1", "port": local_port, "role": "local",
                          "region": "110000", **creds},
                         {"name": "national", "host": "127.0.0.1", "port": national_port, "role": "national",
                          **creds}]}
    (tmp_path / "sut.json").write_text(json.dumps(cfg))
    pixit = {"platform_id": "MAKER-ENT-01", "credentials": {"username": "maker", "password": "pw-01"},
             "local": {"listen": f"127.0.0.1:{local_port}"}, "national": {"listen": f"127.0.0.1:{national_port}"},
             "vehicles": [vars(v) for v in vehicles], "login_wait": 20,
             "timers": {"report_period": COMPRESSED.report_period}}
    (tmp_path / "pixit.yaml").write_text(yaml.safe_dump(pixit))
    sut = subprocess.Popen([sys.executable, "-m", "reference_impl", "enterprise", "--config",
                            str(tmp_path / "sut.json")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        report = tmp_path / "report"
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "conformance", "--sut",
                               f"tcp://127.0.0.1:{sut_port}", "--pixit", str(tmp_path / "pixit.yaml"),
                               "--clause", "1.2/", "--report", str(report)],
                              capture_output=True, text=True, timeout=300)
        results = json.loads((report / "results.json").read_text())
        verdicts = {(c["case_id"], c["edition"]): c["verdict"] for c in results["cases"]}
        relay = {k: v for k, v in verdicts.items() if k[0] in RELAY_CASES}
        assert len(relay) == 2 * len(RELAY_CASES) and set(relay.values()) == {"PASS"}, (relay, proc.stdout[-3000:])
        # cases needing what an external SUT lacks here (fault proxy, restarts, Control) cannot decide: INCONC or
        # N/A, never a red verdict for a correct SUT and never a PASS
        reasons = {(c["case_id"], c["edition"]): c["reason"] for c in results["cases"]}
        red = {k: reasons[k] for k, v in verdicts.items() if v not in ("PASS", "INCONC", "N/A")}
        assert not red, red
        assert results["sut"]["kind"] == "tcp" and proc.returncode == 0

        # the 2016-only cases need a second instance of the SUT: N/A when the PICS does not claim the
        # behaviour, INCONC (never N/A, never PASS) when it does but the PIXIT names no such instance
        def foreign(*pics_args: str) -> dict[str, tuple[str, str]]:
            out = tmp_path / f"foreign{len(pics_args)}"
            subprocess.run([sys.executable, "-m", "harness.cli", "conformance", "--sut", f"tcp://127.0.0.1:{sut_port}",
                            "--pixit", str(tmp_path / "pixit.yaml"), "--case", "GBT32960.3-2025/6.2/10", *pics_args,
                            "--report", str(out)], capture_output=True, text=True, timeout=300)
            return {c["case_id"]: (c["verdict"], c["reason"])
                    for c in json.loads((out / "results.json").read_text())["cases"]}

        (tmp_path / "pics.yaml").write_text(yaml.safe_dump({"features": {"foreign_edition": "error"}}))
        unclaimed, claimed = foreign(), foreign("--pics", str(tmp_path / "pics.yaml"))
        assert unclaimed["GBT32960.3-2025/6.2/10"][0] == "N/A", unclaimed
        verdict, reason = claimed["GBT32960.3-2025/6.2/10"]
        assert verdict == "INCONC" and "sut_2016_only" in reason, claimed
    finally:
        sut.terminate()
        sut.wait(10)


def test_an_external_sut_refuses_defect_switches():
    # our defect switches live in the reference platforms: a "defect run" against an external SUT would
    # silently run without the defect and read as a clean pass
    with pytest.raises(ValueError, match="not in an external SUT"):
        build(sut="tcp://127.0.0.1:9", image=None, role="enterprise", timers=COMPRESSED, pixit={},
              defects=frozenset({"ack-realtime"}))
