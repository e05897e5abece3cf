"""The reference platforms for `gbt32960 load --target reference`, in their own process.

    python -m load.platform --vehicles 20000 --public-share 0.1 --timers '{"heartbeat": 30}'

Why a subprocess: locust monkey-patches its processes with gevent, and the reference platforms run on
asyncio; a separate process also keeps the platform's CPU apart from the load generator's.

Starts national + local + enterprise (each with Control on a free port). The enterprise platform holds
a socket per vehicle, so past what one process's open-file limit allows (about 18,000 vehicles at the
20,000 of this machine) it runs as several processes ("shards", `--shards N`): vehicle i connects to
shard i mod N ("directs"), and each shard has its own store, Control and platform id at the local and
national platforms ("enterprise_shards"), as a maker's platform spread over several gateway nodes.
Fault proxies run in processes of their own (`python -m harness.faults`) with the link
"vehicles->enterprise" ("targets", their Faults services "faults_all"); the vehicles connect through
them when the profile cuts links (outage; vehicle i uses proxy i mod n, and proxy j leads to shard
j mod N), otherwise "direct". A proxy holds two descriptors per vehicle, so there are as many proxies
as the open-file limit asks for. Every 10 s what survived goes out of the garbage collector's sight
(`gc.freeze`: full collections of 10,000 connections' objects stalled the platforms 0.1-0.2 s).

The fleet's VINs (`make_vin(i)`) are registered; every `round(1/share)`-th is a public-service
vehicle of the local platform's region. When ready it prints one JSON line:
{"target": "127.0.0.1:PORT", "targets": [...], "direct": ..., "directs": [...], "control": {"enterprise":
..., "local": ..., "national": ...}, "enterprise_shards": [{"platform_id", "direct", "control"}, ...],
"faults": ..., "faults_all": [...], "link": "vehicles->enterprise", "workdir": ...}.
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


def processes_for(descriptors: int, limit: int) -> int:
    """Processes needed to hold `descriptors` open files at an open-file limit of `limit` per process,
    keeping a reserve in each (stores, Control, uplinks)."""
    return max(1, -(-descriptors // max(1024, limit - 2048)))


def shards_needed(vehicles: int, limit: int) -> int:
    """Enterprise platform processes: a socket per vehicle (and the workers' index margin)."""
    return processes_for(vehicles + 64, limit)


def shard_id(k: int) -> str:
    """The platform id of enterprise shard `k` (shard 0 is the trio's own enterprise platform)."""
    from reference_impl.embedded import ENTERPRISE_ID

    return ENTERPRISE_ID if k == 0 else f"{ENTERPRISE_ID}-S{k}"


def _fleet(args: argparse.Namespace, shard: int, shards: int) -> list[Any]:
    """Shard `shard`'s vehicles: index i belongs to shard i mod shards (the vehicles connect to match),
    with a margin for the workers' index strides; unknown VINs are refused."""
    from harness.terminal.fleet import make_vin
    from reference_impl.config import Vehicle

    step = public_step(args.public_share)
    return [Vehicle(make_vin(i), public_service=bool(step) and i % step == 0, region=REGION)
            for i in range(shard, args.vehicles + 64, shards)]


def _timers(args: argparse.Namespace) -> Timers:
    return Timers().with_(**json.loads(args.timers)) if args.timers else Timers()


async def _start_child(argv: list[str], what: str) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    """Start `python -m ARGV...` that prints one JSON line when ready; returns it and the process."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", *argv, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
    except TimeoutError:
        line = b""
    if not line:
        await _stop_children([proc])
        raise RuntimeError(f"{what} did not start")
    return proc, json.loads(line)


async def _run(args: argparse.Namespace) -> None:
    from reference_impl.embedded import start_trio

    timers = _timers(args)
    limit = raise_fd_limit(2 * args.vehicles + 4096)  # the proxies and shards inherit it
    # one process holds a socket per vehicle: as many enterprise processes as the open-file limit asks for
    shards = args.shards or shards_needed(args.vehicles, limit)
    # a proxy holds two descriptors per vehicle; proxy j leads to shard j mod shards, so vehicle i
    # (proxy i mod n, n a multiple of shards) still reaches shard i mod shards
    proxies_needed = processes_for(2 * args.vehicles, limit)
    proxies_needed = shards * -(-proxies_needed // shards)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="gbt32960-load-"))
    trio = await start_trio(workdir, _fleet(args, 0, shards), timers=timers, region=REGION, control_port=0,
                            more_enterprises=[shard_id(k) for k in range(1, shards)])
    procs: list[asyncio.subprocess.Process] = []
    infos: list[dict[str, Any]] = []
    ent = [{"platform_id": shard_id(0), "direct": f"127.0.0.1:{trio.enterprise.port}",
            "control": f"127.0.0.1:{trio.enterprise.control_port}"}]
    try:
        upstreams = json.dumps({"local": trio.local.port, "national": trio.national.port})
        for k in range(1, shards):
            proc, info = await _start_child(
                ["load.platform", "--shard", str(k), "--shards", str(shards), "--upstreams", upstreams,
                 "--vehicles", str(args.vehicles), "--public-share", str(args.public_share), "--timers", args.timers,
                 "--workdir", str(workdir), "--monitor", str(args.monitor)], f"enterprise shard {k}")
            procs.append(proc)
            ent.append(info)
        # the fault proxy in processes of its own: in this one it shared the platforms' GIL, and with
        # 10,000 links its per-byte record starved them (and its own Faults service) of CPU
        for j in range(proxies_needed):
            proc, info = await _start_child(
                ["harness.faults", "--lifetime", str(args.proxy_lifetime),
                 "--link", f"{VEHICLE_LINK}=0:{ent[j % shards]['direct']}"], "a fault proxy")
            procs.append(proc)
            infos.append(info)
    except BaseException:
        await _stop_children(procs)
        await trio.stop()
        raise
    targets = [f"127.0.0.1:{info['links'][VEHICLE_LINK]}" for info in infos]
    print(json.dumps({
        "target": targets[0], "targets": targets, "direct": ent[0]["direct"], "directs": [e["direct"] for e in ent],
        "control": {"enterprise": ent[0]["control"], "local": f"127.0.0.1:{trio.local.control_port}",
                    "national": f"127.0.0.1:{trio.national.control_port}"},
        "enterprise_shards": ent, "faults": infos[0]["control"], "faults_all": [info["control"] for info in infos],
        "link": VEHICLE_LINK, "workdir": str(workdir)}), flush=True)
    try:
        await _serve_until_stopped(args.monitor)
    finally:
        await trio.stop()
        await _stop_children(procs)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


async def _run_shard(args: argparse.Namespace) -> None:
    """One more enterprise platform process of a sharded enterprise platform (started by `_run`)."""
    from reference_impl.embedded import enterprise_config, start_platform

    up = json.loads(args.upstreams)
    cfg = enterprise_config(Path(args.workdir) / f"enterprise-s{args.shard}.sqlite",
                            _fleet(args, args.shard, args.shards), timers=_timers(args), region=REGION,
                            name=shard_id(args.shard), control_port=0,
                            local=("127.0.0.1", int(up["local"])), national=("127.0.0.1", int(up["national"])))
    server = await start_platform(cfg)
    print(json.dumps({"platform_id": cfg.name, "direct": f"127.0.0.1:{server.port}",
                      "control": f"127.0.0.1:{server.control_port}"}), flush=True)
    try:
        await _serve_until_stopped(args.monitor, f"enterprise shard {args.shard}")
    finally:
        await server.stop()
        server.core.store.close()


async def _serve_until_stopped(monitor_period: float, label: str = "platform") -> None:
    """Serve until stdin closes, SIGTERM or SIGINT; meanwhile keep the collector off what survived
    (`_freezer`) and, when asked, report the loop's lag (`_monitor`)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    monitor = asyncio.create_task(_monitor(monitor_period, label)) if monitor_period else None
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


async def _stop_children(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            proc.terminate()  # the shards stop on SIGTERM as on a closed stdin
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


async def _monitor(period: float, label: str = "platform") -> None:
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
            print(f"{label} {time.time():.1f}: loop lag max {worst * 1000:.0f} ms, gc max {gcs['max'] * 1000:.0f} ms",
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
    p.add_argument("--shards", type=int, default=0, metavar="N",
                   help="enterprise platform processes, vehicle i on process i mod N, each with its own store, "
                   "Control and platform id (default 0: as many as the open-file limit asks for, a socket "
                   "per vehicle; 1 for up to about 18,000 vehicles at a limit of 20,000)")
    p.add_argument("--shard", type=int, default=0, help=argparse.SUPPRESS)  # internal: run shard K only
    p.add_argument("--upstreams", default="", help=argparse.SUPPRESS)  # internal: the trio's local/national ports
    args = p.parse_args(argv)
    if args.shards < 0:
        p.error("--shards must be 0 (automatic) or more")
    asyncio.run(_run_shard(args) if args.shard else _run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
