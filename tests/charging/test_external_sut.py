"""The GB/T 27930 cases against an external SUT, through the bus path a lab uses for a real device.

The "device" is our simulator served by `harness.charging.bus.Server` (what `gbt32960 charging
serve` runs) in a thread: python-can's `virtual` bus is shared within one process. The cases run in
a pytest sub-session with `--can-interface virtual --can-channel NAME` and a PICS naming the SUT's
role, so only the harness's tester is ours and the verdicts come from the frames on the bus in real
time. A clean SUT PASSes; the same SUT started with a defect switch FAILs; what the harness cannot
do to an external SUT (switch a defect on, configure it, power it up) is INCONC, the other role N/A.

On a machine with a Linux vcan interface, the same path runs over socketcan (skipped otherwise).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.charging.bus import Server, open_bus
from harness.protocol.timers import Timers

pytest_plugins = ["pytester"]

CASES_DIR = Path(__file__).resolve().parents[2] / "scenarios" / "gbt27930"
# periods stay the standard's (the cases judge them to ±10 % on the wall clock); the timeouts a
# negative case waits for are shortened, on both sides, through the PIXIT
TIMERS = {"charge_timeout": 2.0, "charge_ready_timeout": 4.0, "charge_crm_wait": 4.0, "charge_end_timeout": 3.0,
          "charge_fallback": 2.0, "charge_pause_limit": 6.0, "charge_retry_wait": 0.5,
          "charge_reconnect_wait": 1.5, "charge_retries": 1, "j1939_t2": 0.75, "j1939_t3": 0.75, "j1939_t4": 0.55}
# CHM period; CEM timing, then retries and giving up; a broken BRM transfer; BEM -> silent retry wait ->
# reconnection that completes; a full 2015-compat session
CHARGER_CASES = ["DP.1001/01", "DN.1001/01", "DN.1002/01", "DN.4003/01", "4.6/04"]
# BRM transfer in a full session; BST at its target SOC and the end of session as seen on the bus; BEM 1 s
# after CRO without CCS
BMS_CASES = ["BP.1002/01", "BP.4001/01", "BN.3001/01", "BP.4002/01"]  # and a charger stop 1 s into charging,
# which needs the BMS to keep charging that long (checked on the bus)
_channels = itertools.count(1)


@contextlib.contextmanager
def served(role: str, version: str, defects: frozenset[str] = frozenset(), *, interface: str = "virtual",
           channel: str | None = None) -> Iterator[tuple[Server, str]]:
    """Our simulator as the external SUT, in a thread, until the block ends."""
    chan = channel or f"ext-sut-{next(_channels)}"
    bus = open_bus(interface, chan)
    lines: list[str] = []
    server = Server(role, version, Timers().with_(**TIMERS), bus, defects, out=lines.append)
    stop = threading.Event()
    thread = threading.Thread(target=server.run, args=(stop,), name=f"sut-{role}", daemon=True)
    # the SUT thread shares the GIL with the harness: a 0.5 ms switch interval (default 5 ms) keeps its
    # wake-ups punctual, as a device's own timers would be
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    thread.start()
    try:
        yield server, chan
    finally:
        stop.set()
        thread.join(timeout=10)
        bus.shutdown()
        sys.setswitchinterval(switch)
    assert not thread.is_alive(), "the served SUT did not stop"


def run_cases(pytester: pytest.Pytester, role: str, version: str, channel: str, cases: list[str], *extra: str,
              interface: str = "virtual") -> dict[str, tuple[str, str, str]]:
    """The verdicts (case id -> verdict, reason, rerun) of a sub-session against the external SUT."""
    pics = pytester.path / f"pics-{role}.yaml"
    pics.write_text(yaml.safe_dump({"charging": {"role": role, role: {"version": version}}}))
    pixit = pytester.path / "pixit.yaml"
    pixit.write_text(yaml.safe_dump({"timers": TIMERS}))
    report = pytester.path / f"report-{role}-{next(_channels)}"
    args = [str(CASES_DIR), "-p", "no:cacheprovider", "--pics", str(pics), "--pixit", str(pixit),
            "--can-interface", interface, "--can-channel", channel, "--report", str(report), *extra]
    for c in cases:
        args += ["--case", f"GBT27930-2015/{c}"]
    pytester.runpytest_inprocess(*args)
    results = json.loads((report / "results.json").read_text())
    return {c["case_id"].removeprefix("GBT27930-2015/"): (c["verdict"], c["reason"], c["rerun"])
            for c in results["cases"]}


def _verdicts(found: dict[str, tuple[str, str, str]]) -> dict[str, str]:
    return {k: v[0] for k, v in found.items()}


def test_external_charger_passes_clean_and_fails_with_a_defect(pytester: pytest.Pytester) -> None:
    others = ["BP.1001/01", "DP.4002/01"]  # a BMS case (N/A) and one that sets the SUT up (INCONC)
    with served("charger", "2015-compat") as (server, chan):
        found = run_cases(pytester, "charger", "2015-compat", chan, CHARGER_CASES + others)
        # the harness cannot switch a defect on in a device: never a PASS, whatever the device does
        forced = run_cases(pytester, "charger", "2015-compat", chan, ["DP.1001/01"], "--sut-defect", "zero_reserved")
    assert _verdicts(found) == {**{c: "PASS" for c in CHARGER_CASES}, "BP.1001/01": "N/A", "DP.4002/01": "INCONC"}, \
        found
    assert "the SUT is a charger" in found["BP.1001/01"][1]
    assert "cannot configure an external charger" in found["DP.4002/01"][1]
    assert _verdicts(forced) == {"DP.1001/01": "INCONC"} and "cannot switch a defect on" in forced["DP.1001/01"][1]
    assert server.sessions >= len(CHARGER_CASES)

    with served("charger", "2015-compat", frozenset({"zero_reserved"})) as (_, chan):
        bad = run_cases(pytester, "charger", "2015-compat", chan, ["DP.1001/01", "DN.1001/01"])
    assert _verdicts(bad) == {"DP.1001/01": "FAIL", "DN.1001/01": "FAIL"}, bad
    assert "0xFF fill" in bad["DP.1001/01"][1] or "reserved" in bad["DP.1001/01"][1], bad
    assert "CEM bits" in bad["DN.1001/01"][1], bad
    assert bad["DN.1001/01"][2].endswith(f"-- --can-interface virtual --can-channel {chan}")  # reruns on the bus


def test_external_bms_passes_clean_and_fails_with_a_defect(pytester: pytest.Pytester) -> None:
    with served("bms", "2015") as (server, chan):
        found = run_cases(pytester, "bms", "2015", chan, BMS_CASES + ["BN.1001/01", "DP.1001/01"])
    assert _verdicts(found) == {**{c: "PASS" for c in BMS_CASES}, "BN.1001/01": "INCONC", "DP.1001/01": "N/A"}, found
    assert "power" in found["BN.1001/01"][1]
    assert server.sessions == len(BMS_CASES)  # one power-up per case: each case got a fresh BMS

    with served("bms", "2015", frozenset({"no_bhm"})) as (_, chan):
        bad = run_cases(pytester, "bms", "2015", chan, ["BP.1002/01"])
    assert _verdicts(bad) == {"BP.1002/01": "FAIL"}, bad


def _vcan() -> str | None:
    """A Linux vcan interface that is up (vcan0 preferred), or None."""
    if not shutil.which("ip"):
        return None
    proc = subprocess.run(["ip", "-brief", "link", "show", "type", "vcan"], capture_output=True, text=True)
    # `ip -brief`: "vcan0  UNKNOWN  ..." when up (vcan has no carrier state), "DOWN" when not
    names = [line.split()[0] for line in proc.stdout.splitlines() if line.strip() and "DOWN" not in line.split()[1:2]]
    return next((n for n in names if n == "vcan0"), names[0] if names else None)


@pytest.mark.skipif(_vcan() is None, reason="no Linux vcan interface here (`ip link show type vcan` lists none; "
                    "needs the vcan kernel module: modprobe vcan; ip link add dev vcan0 type vcan; "
                    "ip link set up vcan0)")
def test_external_sut_over_socketcan_vcan(pytester: pytest.Pytester) -> None:
    chan = _vcan()
    assert chan is not None
    with served("charger", "2015-compat", interface="socketcan", channel=chan) as (_, chan):
        found = run_cases(pytester, "charger", "2015-compat", chan, ["DP.1001/01", "4.6/04"], interface="socketcan")
    assert _verdicts(found) == {"DP.1001/01": "PASS", "4.6/04": "PASS"}, found
    with served("bms", "2015", frozenset({"no_bhm"}), interface="socketcan", channel=chan) as (_, chan):
        bad = run_cases(pytester, "bms", "2015", chan, ["BP.1002/01"], interface="socketcan")
    assert _verdicts(bad) == {"BP.1002/01": "FAIL"}, bad
