"""GB/T 27930 simulation speed: prints figures, never fails on them (exits 0).

    python benchmarks/charging.py            # 100 complete sessions per pairing, 20,000 TP transfers
    python benchmarks/charging.py --quick    # 5 sessions, 1,000 transfers: a smoke run
    python benchmarks/charging.py --external charger   # the whole catalogue, real time, external path

`--external ROLE` serves our ROLE simulator (2015-compat) in a thread as if it were a device and runs
every GB/T 27930 case against it through the external-SUT path (python-can virtual bus, real time,
shortened timeouts as in tests/charging/test_external_sut.py): it prints the verdict counts and the
wall time, i.e. what a lab run costs per case and which cases an external SUT cannot get.

Sessions: our charger and BMS simulators, every frame through python-can's virtual bus (two Bus
objects on one channel, as in the cases), on the simulated clock with the standard's timers (the
5 s / 1 s timeouts and 50-250 ms periods; a session simulates about 6 s of charging and ~360 frames,
the compat pairing 11 s). Wall time per session is what a suite pays; target: 100 complete
sessions in under 60 s. The same sessions with no bus (the sans-IO nodes back to back) show what
the bus costs. J1939 transport: 49-byte BRM transfers (RTS, CTS, 7 DT, EndOfMsgAck) between a
TpSender and a TpReceiver, no bus: messages/s and frames/s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.charging.can import BMS, CHARGER  # noqa: E402
from harness.charging.j1939 import TpReceiver, TpSender  # noqa: E402
from harness.charging.machine import Bms, Charger  # noqa: E402
from harness.charging.session import run  # noqa: E402
from harness.protocol.timers import Timers  # noqa: E402

PAIRINGS = (("2015", "2015"), ("2011", "2011"), ("2015-compat", "2011"))


def sessions(n: int, charger: str, bms: str, bus: str) -> tuple[float, int, int]:
    timers = Timers()
    frames = done = 0
    t0 = time.perf_counter()
    for _ in range(n):
        o = run(Charger(charger, timers), Bms(bms, timers), bus=bus)
        frames += len(o.trace.records)
        done += o.completed
    return time.perf_counter() - t0, frames, done


def transport(n: int) -> tuple[float, int]:
    timers = Timers()
    data = bytes(range(49))
    frames = 0
    t0 = time.perf_counter()
    for _ in range(n):
        s = TpSender(BMS, CHARGER, 0x0200, data, timers)
        r = TpReceiver(CHARGER, timers)
        queue = s.start(0.0)
        while queue:
            frames += len(queue)
            nxt = []
            for fr in queue:
                nxt += r.on_frame(fr, 0.0) if fr.dst == CHARGER else s.on_frame(fr, 0.0)
            queue = nxt
        assert r.completed
    return time.perf_counter() - t0, frames


# timeouts shortened on both sides (periods stay the standard's): the same values as the external-SUT test
EXTERNAL_TIMERS = {"charge_timeout": 2.0, "charge_ready_timeout": 4.0, "charge_crm_wait": 4.0,
                   "charge_end_timeout": 3.0, "charge_fallback": 2.0, "charge_pause_limit": 6.0,
                   "charge_retry_wait": 0.5, "charge_reconnect_wait": 1.5, "charge_retries": 1, "j1939_t2": 0.75,
                   "j1939_t3": 0.75, "j1939_t4": 0.55}


def external(role: str, out_dir: Path) -> int:
    """Every case against our `role` simulator served in a thread, through the external-SUT path."""
    import json
    import threading

    import pytest
    import yaml

    from harness.charging.bus import Server, open_bus

    out_dir.mkdir(parents=True, exist_ok=True)
    chan = f"bench-external-{role}"
    bus = open_bus("virtual", chan)
    server = Server(role, "2015-compat", Timers().with_(**EXTERNAL_TIMERS), bus)
    stop = threading.Event()
    thread = threading.Thread(target=server.run, args=(stop,), daemon=True)
    (out_dir / "pics.yaml").write_text(yaml.safe_dump({"charging": {"role": role, role: {"version": "2015-compat"}}}))
    (out_dir / "pixit.yaml").write_text(yaml.safe_dump({"timers": EXTERNAL_TIMERS}))
    cases = Path(__file__).resolve().parents[1] / "scenarios" / "gbt27930"
    t0 = time.perf_counter()
    # the served SUT is a thread sharing the GIL with pytest: at the default 5 ms switch interval it
    # wakes up to ~5 ms late, which a 50 ms ±10 % period check sees; a device has its own timers
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    thread.start()
    try:
        pytest.main([str(cases), "-p", "no:cacheprovider", "-q", "--pics", str(out_dir / "pics.yaml"),
                     "--pixit", str(out_dir / "pixit.yaml"), "--can-interface", "virtual", "--can-channel", chan,
                     "--report", str(out_dir / "report")])
    finally:
        stop.set()
        thread.join(timeout=10)
        bus.shutdown()
        sys.setswitchinterval(switch)
    wall = time.perf_counter() - t0
    results = json.loads((out_dir / "report" / "results.json").read_text())["cases"]
    counts: dict[str, int] = {}
    for c in results:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    run = [c for c in results if c["verdict"] not in ("N/A",)]
    print(f"\nexternal {role} (our 2015-compat simulator served in a thread), {len(results)} cases: "
          + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
          + f"; {wall:.0f} s wall, {wall / max(1, len(run)):.1f} s per case run; {server.sessions} sessions served")
    for c in results:
        if c["verdict"] not in ("PASS", "N/A"):
            print(f"  {c['verdict']} {c['case_id']}: {c['reason'][:150]}")
    print(f"report: {out_dir / 'report' / 'index.html'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a smoke run: 5 sessions, 1,000 transfers")
    p.add_argument("--external", choices=("charger", "bms"), default=None,
                   help="run every case against our ROLE simulator through the external-SUT path (minutes)")
    p.add_argument("--out", default="benchmark-external", help="report folder for --external")
    args = p.parse_args(argv)
    if args.external:
        return external(args.external, Path(args.out) / args.external)
    n, transfers = (5, 1000) if args.quick else (100, 20000)
    print(f"GB/T 27930 sessions, {n} per row (standard timers, simulated clock)")
    print(f"{'charger <-> BMS':<24} {'bus':<8} {'complete':>9} {'wall s':>8} {'ms/session':>11} {'frames/s':>10}")
    total_virtual = 0.0
    for charger, bms in PAIRINGS:
        for bus in ("virtual", "memory"):
            wall, frames, done = sessions(n, charger, bms, bus)
            if bus == "virtual" and (charger, bms) == ("2015", "2015"):
                total_virtual = wall
            print(f"{charger + ' <-> ' + bms:<24} {bus:<8} {done:>5}/{n:<3} {wall:>8.2f} {wall / n * 1000:>11.1f} "
                  f"{frames / wall:>10,.0f}")
    wall, frames = transport(transfers)
    print(f"\nJ1939 transport, {transfers:,} BRM transfers of 49 B (no bus): {transfers / wall:,.0f} messages/s, "
          f"{frames / wall:,.0f} frames/s")
    per100 = total_virtual / n * 100
    verdict = "met" if per100 < 60 else "missed"
    print(f"\ntargets (reported, never enforced)\n100 complete 2015 sessions on the virtual bus in < 60 s: {verdict} "
          f"({per100:.1f} s{' extrapolated' if n != 100 else ''})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
