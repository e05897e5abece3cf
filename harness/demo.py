"""`gbt32960 demo`: the whole chain in one process, no Docker.

    gbt32960 demo --vehicles 200 --duration 20

Starts a national, a local and an enterprise reference platform on loopback and a fleet of
simulated vehicles (a share of them public-service vehicles of the local platform's region). Half
way through, the national platform makes a real-time data call for a few vehicles. A progress line
shows vehicles online, frames/s, relayed/s and alarms; the summary checks that every data frame the
fleet sent was stored by the enterprise platform, and that every public-service frame reached the
local platform. Exit status 0 when both hold, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from harness.cli import register
from harness.protocol.timers import Timers
from harness.terminal.fleet import Fleet, make_vin
from reference_impl.config import Vehicle
from reference_impl.embedded import ENTERPRISE_ID, Trio, start_trio

REGION = "110000"
DATA = (0x02, 0x03)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vehicles", type=int, default=200, help="simulated vehicles (default 200)")
    p.add_argument("--duration", type=float, default=20.0, metavar="SECONDS", help="how long to run (default 20)")
    p.add_argument("--public-share", type=float, default=0.3,
                   help="share of public-service vehicles, relayed to the local platform (default 0.3)")
    p.add_argument("--rate", type=float, default=1.0, metavar="SECONDS",
                   help="real-time report period of the vehicles (default 1 s, busier than the standard's ≤30 s)")
    p.add_argument("--edition", choices=("2016", "2025", "mixed"), default="mixed", help="vehicle edition (mixed)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="where the platforms' SQLite stores go (default: a fresh temporary folder)")
    p.add_argument("--seed", type=int, default=1, help="seed of the fleet's data")
    p.add_argument("--quiet", action="store_true", help="no progress line")


@register("demo", help="run national, local and enterprise platforms and a vehicle fleet in one process",
          description=__doc__, configure=configure)
def run(args: argparse.Namespace) -> int:
    return asyncio.run(_demo(args, sys.stderr, sys.stdout))


def _vehicles(n: int, public_share: float) -> list[Vehicle]:
    step = max(1, round(1 / public_share)) if public_share > 0 else 0
    return [Vehicle(make_vin(i), public_service=bool(step) and i % step == 0, region=REGION) for i in range(n)]


async def _demo(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gbt32960-demo-"))
    vehicles = _vehicles(args.vehicles, args.public_share)
    public = {v.vin for v in vehicles if v.public_service}
    trio = await start_trio(workdir, vehicles, timers=Timers(), region=REGION)
    ent = trio.enterprise.core
    fleet = Fleet("127.0.0.1", trio.enterprise.port, args.vehicles, edition=args.edition, seed=args.seed,
                  report_period=args.rate, heartbeat=max(args.rate * 5, 5.0), alarm_rate=20.0, level3_share=0.05)
    err.write(f"platforms up: enterprise :{trio.enterprise.port}, local :{trio.local.port}, "
              f"national :{trio.national.port}; stores in {workdir}\n")
    called: list[str] = []
    tty = err.isatty()
    last = {"t": time.monotonic(), "in": 0, "relayed": 0}
    call_at = args.duration / 2

    def progress(st: object, fps: float) -> None:
        nonlocal called
        now = time.monotonic()
        dt = max(now - last["t"], 1e-9)
        rate_in = (ent.stats["frames_in"] - last["in"]) / dt
        rate_relay = (ent.stats["relayed"] - last["relayed"]) / dt
        last.update(t=now, **{"in": ent.stats["frames_in"], "relayed": ent.stats["relayed"]})
        if not called and now - t0 >= call_at:
            called = [v for v in ent.online if v not in public][:3]
            if called:
                _, actions = trio.national.core.data_call(ENTERPRISE_ID, called, max(2, int(args.duration / 4)),
                                                          time.time())
                trio.national.run(actions)
                err.write(("\n" if tty else "") + f"national platform: real-time data call for {len(called)} "
                          f"vehicles\n")
        if not args.quiet:
            line = (f"[{now - t0:5.1f}s] online {len(ent.online):>5}/{args.vehicles}  frames/s {rate_in:8.1f}  "
                    f"relayed/s {rate_relay:7.1f}  warnings {ent.stats['warnings']}  "
                    f"level-3 alarms {ent.stats['level3_alarms']}")
            err.write(("\r" + line + "\033[K") if tty else line + "\n")
            err.flush()

    t0 = time.monotonic()
    await fleet.start()
    try:
        await fleet.run(args.duration, progress=progress)
    finally:
        stats = await fleet.stop(logout=True)
    if tty and not args.quiet:
        err.write("\n")
    await _settle(trio)
    ok = _summary(trio, stats, public, called, out)
    await trio.stop()
    return 0 if ok else 1


async def _settle(trio: Trio, timeout: float = 15.0) -> None:
    """Wait (bounded) until the enterprise has stored everything and its queues are empty."""
    ent = trio.enterprise.core
    deadline = time.monotonic() + timeout
    previous = -1
    while time.monotonic() < deadline:
        queued = ent.store.queue_depth() + sum(len(u.inflight) for u in ent.uplinks.values())
        stored = ent.stats["stored"]
        if queued == 0 and stored == previous:
            return
        previous = stored
        await asyncio.sleep(0.2)


def _summary(trio: Trio, stats: object, public: set[str], called: list[str], out: TextIO) -> bool:
    ent, local, national = trio.enterprise.core, trio.local.core, trio.national.core
    frames = getattr(stats, "frames", {})
    sent = frames.get("realtime", 0) + frames.get("reissue", 0)
    stored = ent.store.count(command=0x02) + ent.store.count(command=0x03)
    public_frames = [f for f in ent.store.frames(commands=DATA) if f.vin in public and not f.duplicate]
    relayed = {(f.vin, f.collected_at) for f in local.store.frames(commands=DATA)}
    missing = [f for f in public_frames if (f.vin, f.collected_at) not in relayed]
    private_relayed = sum(1 for f in local.store.frames(commands=DATA) if f.vin not in public)
    to_national = sum(1 for f in national.store.frames(commands=DATA))
    all_stored = stored == sent
    all_relayed = not missing and private_relayed == 0
    lines = [
        "",
        f"fleet: {getattr(stats, 'vehicles', 0)} vehicles, {getattr(stats, 'frames_total', 0)} frames sent "
        f"({sent} real-time/reissue), {getattr(stats, 'errors', 0)} error answers",
        f"enterprise platform: {ent.store.count()} frames stored, {stored} real-time/reissue "
        f"({ent.store.count(duplicate=True)} duplicates flagged), {ent.stats['rejected']} rejected, "
        f"{ent.stats['warnings']} warnings ({ent.stats['level3_alarms']} level-3 alarms)",
        f"local platform {REGION}: {len(relayed)} frames from {len(public)} public-service vehicles; "
        f"private vehicles relayed: {private_relayed}",
        f"national platform: data call for {len(called)} vehicles -> {to_national} frames received",
        "",
        f"every data frame stored ........ {'YES' if all_stored else 'NO'} ({stored} of {sent})",
        f"every public frame relayed ..... {'YES' if all_relayed else 'NO'} "
        f"({len(public_frames) - len(missing)} of {len(public_frames)}; private relayed {private_relayed})",
    ]
    out.write("\n".join(lines) + "\n")
    return all_stored and all_relayed
