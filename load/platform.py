"""The reference platforms for `gbt32960 load --target reference`, in their own process.

    python -m load.platform --vehicles 20000 --public-share 0.1 --timers '{"heartbeat": 30}'

Why a subprocess: locust monkey-patches its processes with gevent, and the reference platforms run on
asyncio; a separate process also keeps the platform's CPU apart from the load generator's.

Starts national + local + enterprise (each with Control on a free port) and, in processes of their own
(`python -m harness.faults`), fault proxies with the link "vehicles->enterprise" ("targets", their
Faults services "faults_all"), where the vehicles connect when the profile cuts links (outage; vehicle
i uses proxy i mod n); otherwise they connect "direct". A proxy holds two descriptors per vehicle, so
there are as many proxies as the open-file limit asks for (two for 10,000 vehicles at the 20,000 of
this machine). Every 10 s what survived goes out of the garbage collector's sight (`gc.freeze`: full
collections of 10,000 connections' objects stalled the platforms 0.1-0.2 s).

The fleet's VINs (`make_vin(i)`) are registered; every `round(1/share)`-th is a public-service
vehicle of the local platform's region. When ready it prints one JSON line:
{"target": "127.0.0.1:PORT", "targets": [...], "direct": ..., "control": {"enterprise": ..., "local": ...,
"national": ...}, "faults": ..., "faults_all": [...], "link": "vehicles->enterprise", "workdir": ...}.
It stops when stdin closes or on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.protocol.timers import Timers

VEHICLE_LINK = "vehicles->enterprise"
REGION = "110000"


def public_step(share: float) -> int:
    """Every `step`-th vehicle index is a public-service vehicle (0: none)."""
    return max(1, round(1 / share)) if share > 0 else 0


def is_public(index: int, share: float) -> bool:
    step = public_step(share)
    return bool(step) and index % step == 0


def raise_fd_limit(wanted: int) -> int:
    """Open-file limit of this process (and the processes it starts) to at least `wanted` when allowed
    (the soft limit up to the hard one; the hard one too when privileged); returns the soft limit.
    A platform holds one descriptor per vehicle, the fault proxy two: 20,000 (this machine's default
    hard limit) ran out at 10,000 vehicles through the proxy, and new links and Faults calls failed."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            nr_open = wanted
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, nr_open), min(wanted, nr_open)))
            return min(wanted, nr_open)
        except (ValueError, OSError):
            pass  # not privileged: as far as the hard limit goes
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new


async def _run(args: argparse.Namespace) -> None:
    from harness.terminal.fleet import make_vin
    from reference_impl.config import Vehicle
    from reference_impl.embedded import start_trio

    timers = Timers().with_(**json.loads(args.timers)) if args.timers else Timers()
    limit = raise_fd_limit(2 * args.vehicles + 4096)  # the proxies inherit it
    # a proxy holds two descriptors per vehicle: as many proxy processes as the limit asks for
    proxies_needed = max(1, -(-2 * args.vehicles // max(1024, limit - 2048)))
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="gbt32960-load-"))
    step = public_step(args.public_share)
    # every vehicle is registered (a margin for the workers' index strides); unknown VINs are refused
    vehicles = [Vehicle(make_vin(i), public_service=bool(step) and i % step == 0, region=REGION)
                for i in range(args.vehicles + 64)]
    trio = await start_trio(workdir, vehicles, timers=timers, region=REGION, control_port=0)
    # the fault proxy in processes of its own: in this one it shared the platforms' GIL, and with
    # 10,000 links its per-byte record starved them (and its own Faults service) of CPU
    procs: list[asyncio.subprocess.Process] = []
    infos: list[dict[str, Any]] = []
    try:
        for _ in range(proxies_needed):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "harness.faults", "--lifetime", str(args.proxy_lifetime),
                "--link", f"{VEHICLE_LINK}=0:127.0.0.1:{trio.enterprise.port}",
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE)
            procs.append(proc)
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            if not line:
                raise RuntimeError("a fault proxy did not start")
            infos.append(json.loads(line))
    except BaseException:
        await _stop_proxies(procs)
        await trio.stop()
        raise
    targets = [f"127.0.0.1:{info['links'][VEHICLE_LINK]}" for info in infos]
    print(json.dumps({
        "target": targets[0], "targets": targets, "direct": f"127.0.0.1:{trio.enterprise.port}",
        "control": {n: f"127.0.0.1:{getattr(trio, n).control_port}" for n in ("enterprise", "local", "national")},
        "faults": infos[0]["control"], "faults_all": [info["control"] for info in infos], "link": VEHICLE_LINK,
        "workdir": str(workdir)}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    monitor = asyncio.create_task(_monitor(args.monitor)) if args.monitor else None
    freezer = asyncio.create_task(_freezer(FREEZE_PERIOD))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.buffer.read1(1024) else None)
    try:
        await stop.wait()
    finally:
        freezer.cancel()
        if monitor is not None:
            monitor.cancel()
        loop.remove_reader(sys.stdin.fileno())
        await trio.stop()
        await _stop_proxies(procs)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


async def _stop_proxies(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            proc.terminate()
    for proc in procs:
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()


FREEZE_PERIOD = 10.0


async def _freezer(period: float) -> None:
    """Every `period` s, what survived so far goes out of the garbage collector's sight (`gc.freeze`):
    a full collection otherwise walks every object of 10,000 connections and their vehicles, and
    stalls the platforms' event loop for 100-200 ms (every answer waits meanwhile)."""
    import gc

    while True:
        gc.freeze()
        await asyncio.sleep(period)


async def _monitor(period: float) -> None:
    """Every `period` s, one line on stderr: the worst event-loop lag and garbage collection pause."""
    import gc
    import time

    gcs = {"t0": 0.0, "max": 0.0}

    def timer(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gcs["t0"] = time.perf_counter()
        else:
            gcs["max"] = max(gcs["max"], time.perf_counter() - gcs["t0"])

    gc.callbacks.append(timer)
    worst, until = 0.0, time.monotonic() + period
    while True:
        t0 = time.monotonic()
        await asyncio.sleep(0.01)
        now = time.monotonic()
        worst = max(worst, now - t0 - 0.01)
        if now >= until:
            print(f"platform {time.time():.1f}: loop lag max {worst * 1000:.0f} ms, gc max {gcs['max'] * 1000:.0f} ms",
                  file=sys.stderr, flush=True)
            worst, gcs["max"], until = 0.0, 0.0, now + period


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m load.platform", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vehicles", type=int, default=1000, help="fleet size (public-service VINs are registered)")
    p.add_argument("--public-share", type=float, default=0.1, help="share of public-service vehicles")
    p.add_argument("--timers", default="", help="Timers overrides as JSON, e.g. '{\"heartbeat\": 30}'")
    p.add_argument("--workdir", help="where the SQLite stores go (default: a temporary folder, removed)")
    p.add_argument("--keep", action="store_true", help="keep the stores at exit")
    p.add_argument("--proxy-lifetime", type=float, default=4 * 3600.0, metavar="SECONDS",
                   help="the fault proxy stops by itself after this long (default 4 h; it stops with this process)")
    p.add_argument("--monitor", type=float, default=0.0, metavar="SECONDS",
                   help="every SECONDS, print the worst event-loop lag and GC pause to stderr (0: never)")
    args = p.parse_args(argv)
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
