"""`gbt32960 simulate`: run a fleet of simulated vehicles against a platform.

    gbt32960 simulate --vehicles 1000 --target 127.0.0.1:32960 --edition mixed --rate 10 --duration 60

A one-line progress display (vehicles online, frames/s, errors) goes to stderr while it runs, and a
summary at the end (stdout; `--json` for a machine-readable one). Wire-up: the main CLI calls
`add_parser(subparsers)`; the parser's defaults carry the handler as `func` and `_run`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from typing import Any, TextIO

from harness.protocol.timers import Timers

from .fleet import Fleet, FleetStats
from .machine import DEFECTS


def _target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vehicles", type=int, default=10, help="number of simulated vehicles (default 10)")
    p.add_argument("--target", type=_target, default=("127.0.0.1", 32960), metavar="HOST:PORT",
                   help="platform address (default 127.0.0.1:32960)")
    p.add_argument("--edition", choices=("2016", "2025", "mixed"), default="2016",
                   help="protocol edition of the vehicles; mixed = half and half (see --mix)")
    p.add_argument("--mix", type=float, default=0.5, help="share of 2025 vehicles with --edition mixed")
    p.add_argument("--rate", type=float, default=10.0, metavar="SECONDS",
                   help="real-time report period in seconds of wall time (default 10; with --compress K "
                        "the collection times advance K times that)")
    p.add_argument("--heartbeat", type=float, default=None, metavar="SECONDS", help="heartbeat period")
    p.add_argument("--duration", type=float, default=60.0, metavar="SECONDS", help="how long to run (default 60)")
    p.add_argument("--seed", type=int, default=0, help="seed of VINs, editions and vehicle data")
    p.add_argument("--ramp", type=float, default=None, metavar="SECONDS",
                   help="spread the connects over this long (default: 2000 per second)")
    p.add_argument("--compress", type=float, default=1.0, metavar="K",
                   help="run every standard timer K times faster (calendar time runs K times faster too)")
    p.add_argument("--cells", type=int, default=96, help="cells per pack")
    p.add_argument("--probes", type=int, default=32, help="temperature probes per pack")
    p.add_argument("--alarm-rate", type=float, default=0.2, help="random alarms per vehicle per simulated hour")
    p.add_argument("--sample-period", type=float, default=None, metavar="SECONDS",
                   help="sampling period for the level-3 pre-fault buffer (default: the alarm period, 1 s; "
                        "0 samples only at report times, cheapest)")
    p.add_argument("--defect", action="append", default=[], choices=sorted(DEFECTS), metavar="NAME",
                   help="switch a terminal defect on (self-tests of a platform's checks); repeatable")
    p.add_argument("--control-port", type=int, default=None, metavar="PORT",
                   help="serve the Control API on 127.0.0.1:PORT (0: any free port), so a harness can power "
                        "vehicles on and off and raise alarms (--sut external --role terminal)")
    p.add_argument("--no-logout", action="store_true", help="drop the links at the end without logout 0x04")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress line")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("simulate", help="run a fleet of simulated vehicle terminals against a platform",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(p)
    p.set_defaults(func=run, _run=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of `simulate`; returns the exit status (0 ok, 1 no vehicle ever came online)."""
    return asyncio.run(_simulate(args, sys.stderr, sys.stdout))


async def _simulate(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    host, port = args.target
    k = args.compress
    timers = Timers().compressed(k) if k != 1 else Timers()
    fleet = Fleet(host, port, args.vehicles, edition=args.edition, mix=args.mix, timers=timers, time_scale=1 / k,
                  seed=args.seed, report_period=args.rate, heartbeat=args.heartbeat, ramp=args.ramp,
                  cells=args.cells, probes=args.probes, alarm_rate=args.alarm_rate,
                  sample_period=args.sample_period, defects=frozenset(args.defect))
    peak = {"online": 0, "fps": 0.0}
    tty = err.isatty()

    def progress(st: FleetStats, fps: float) -> None:
        peak["online"] = max(peak["online"], st.online)
        peak["fps"] = max(peak["fps"], fps)
        if not args.quiet:
            line = st.line(fps)
            err.write(("\r" + line + "\033[K") if tty else line + "\n")
            err.flush()

    control = None
    if args.control_port is not None:
        from .control import serve_control

        control = await serve_control(fleet, port=args.control_port)
        err.write(f"control on 127.0.0.1:{control.port}\n")
        err.flush()
    await fleet.start()
    _tune_gc()
    try:
        st = await fleet.run(args.duration, progress=progress)
    finally:
        final = await fleet.stop(logout=not args.no_logout)
        if control is not None:
            await control.stop()
    if not args.quiet and tty:
        err.write("\n")
    peak["online"] = max(peak["online"], st.online)
    summary = {**final.as_dict(), "online_at_end": st.online, "peak_online": peak["online"],
               "frames_per_second": round(final.frames_total / max(final.elapsed, 1e-9), 1),
               "peak_frames_per_second": round(peak["fps"], 1), "target": f"{host}:{port}"}
    if args.json:
        out.write(json.dumps(summary, indent=2) + "\n")
    else:
        out.write(_summary_text(summary))
    return 0 if peak["online"] > 0 or args.vehicles == 0 else 1


def _tune_gc() -> None:
    """Full collections over 10,000 terminals' objects pause the loop for a second or more (measured),
    which starves I/O. Freeze what exists after the build and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _summary_text(s: dict[str, Any]) -> str:
    lines = [
        f"simulated {s['vehicles']} vehicles against {s['target']} for {s['elapsed']:.1f} s",
        f"  peak online       {s['peak_online']} (at end {s['online_at_end']})",
        f"  frames sent       {s['frames_total']} ({s['frames_per_second']}/s mean, "
        f"{s['peak_frames_per_second']}/s peak)",
    ]
    for name, n in sorted(s["frames"].items(), key=lambda kv: -kv[1]):
        lines.append(f"    {name:<16}{n}")
    lines += [
        f"  errors received   {s['errors']}",
        f"  reconnects        {s['reconnects']} (connect failures {s['connect_failures']})",
        f"  reissue backlog   {s['backlog']}",
    ]
    return "\n".join(lines) + "\n"


def _register() -> None:
    from harness.cli import register

    register("simulate", help="run a fleet of simulated vehicle terminals against a platform",
             description=__doc__ or "", configure=configure)(run)


_register()
