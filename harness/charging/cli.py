"""`gbt32960 charging session|serve|decode`: GB/T 27930 sessions, a simulator SUT, candump logs.

    gbt32960 charging session --bms 2015 --charger 2015-compat [--log FILE] [--defect NAME]
    gbt32960 charging serve --role bms --version 2015 --interface socketcan --channel vcan0 [--defect X]
    gbt32960 charging decode FILE

`session` runs our charger and BMS simulators against each other on python-can's virtual bus
(fake clock: the standard's timers, no waiting) and prints the annotated CAN trace; exit 0 when
the session completed, 1 when it did not. `serve` runs one of them as a SUT on a real bus, in
real time, session after session, until Ctrl-C or --duration. `decode` reads a candump -l log
back and annotates it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.charging.bus import INTERFACES, Server, gaps, open_bus
from harness.charging.machine import DEFECTS, NODE_VERSIONS, Bms, Charger
from harness.charging.session import annotate, read_candump, run
from harness.cli import EXIT_OK, InputError, register
from harness.protocol.timers import Timers


def _configure(p: argparse.ArgumentParser) -> None:
    subs = p.add_subparsers(dest="charging_command", metavar="ACTION", required=True)
    s = subs.add_parser("session", help="run a simulated charger <-> BMS session and print the CAN trace",
                        description="Run our charger and BMS simulators on python-can's virtual bus (simulated "
                                    "time, the standard's timers) and print the trace like candump, with decoded "
                                    "fields. Exit 0 when the session completed, 1 when it did not.")
    s.add_argument("--charger", choices=NODE_VERSIONS, default="2015", help="charger version (default 2015)")
    s.add_argument("--bms", choices=NODE_VERSIONS, default="2015", help="BMS version (default 2015)")
    s.add_argument("--log", metavar="FILE", help="also write the frames as a candump -l log")
    s.add_argument("--charger-defect", action="append", default=[], choices=sorted(DEFECTS), metavar="NAME",
                   help="switch a charger defect on (see docs/charging-defects.md)")
    s.add_argument("--bms-defect", action="append", default=[], choices=sorted(DEFECTS), metavar="NAME",
                   help="switch a BMS defect on")
    s.add_argument("--bus", default="virtual", choices=("virtual", "socketcan", "memory"),
                   help="python-can interface (default virtual; socketcan needs --channel, e.g. vcan0)")
    s.add_argument("--channel", default=None, help="bus channel (socketcan)")
    s.add_argument("--quiet", action="store_true", help="print only the outcome")
    v = subs.add_parser(
        "serve", help="run our BMS or charger as a SUT on a CAN bus until stopped",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run our BMS or charger simulator as the system under test on a python-can bus, in real time, "
                    "and print every frame on the bus with its decoded fields (like candump). A lab can point the "
                    "conformance cases at it as if it were a device (see docs/charging.md, 'Testing a real BMS or "
                    "charger').",
        epilog="""sessions (the bus has no plug or auxiliary-power line, so silence stands in for it):
  charger  starts a session, and once it has finished stays silent for the session gap
           (2 x quiet + 4 periods) before it starts the next one
  bms      is powered by the charger's first frame and powers down when the bus has been
           silent for `quiet` (retry wait or J1939 T1-T4 + 2 periods): the next frame from
           the charger starts a fresh BMS

timers: the standard's unless --pixit FILE gives a `timers:` section (the same PIXIT the
conformance run uses, so both sides agree); `charging: {quiet, session_gap}` override the gaps.

examples:
  ip link add dev vcan0 type vcan && ip link set up vcan0       # once, as root
  gbt32960 charging serve --role charger --version 2015-compat --interface socketcan --channel vcan0
  gbt32960 conformance --case 'GBT27930-2015/D*' --pics charger-pics.yaml --pixit pixit.yaml \\
      -- --can-interface socketcan --can-channel vcan0
  gbt32960 charging serve --role bms --version 2015 --interface socketcan --channel vcan0 \\
      --defect no_bhm --duration 600

`virtual` is python-can's in-process bus: another process cannot join it (use it from Python,
e.g. tests/charging/test_external_sut.py). Exit 0 when stopped by Ctrl-C or --duration.""")
    v.add_argument("--role", required=True, choices=("bms", "charger"), help="which simulator is the SUT")
    v.add_argument("--version", dest="node_version", choices=NODE_VERSIONS, default="2015",
                   help="its GB/T 27930 version (default 2015)")
    v.add_argument("--interface", default="socketcan", metavar="NAME",
                   help=f"python-can interface (default socketcan; e.g. {', '.join(INTERFACES)})")
    v.add_argument("--channel", default=None, metavar="NAME", help="the channel, e.g. vcan0 or can0")
    v.add_argument("--defect", action="append", default=[], choices=sorted(DEFECTS), metavar="NAME",
                   help="switch a defect on (repeatable; see docs/charging-defects.md): " + ", ".join(sorted(DEFECTS)))
    v.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    v.add_argument("--pixit", default=None, metavar="FILE", help="PIXIT YAML: timers, charging.quiet/session_gap")
    v.add_argument("--log", metavar="FILE", help="also write the frames as a candump -l log")
    v.add_argument("--quiet", dest="silent", action="store_true", help="print only the session lines (#)")
    d = subs.add_parser("decode", help="annotate a candump -l log",
                        description="Read a candump -l log (as written by --log or candump) and print every "
                                    "frame with its decoded fields; TP transfers are reassembled.")
    d.add_argument("file", metavar="FILE")
    d.add_argument("--version", dest="proto_version", choices=("2011", "2015"), default="2015",
                   help="layouts to decode with first (default 2015)")


@register("charging", help="GB/T 27930 charger <-> BMS: simulated sessions, a simulator SUT on a bus, candump logs",
          description=__doc__ or "", configure=_configure)
def run_charging(args: argparse.Namespace) -> int:
    if args.charging_command == "serve":
        return _serve(args)
    if args.charging_command == "decode":
        try:
            trace = read_candump(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{args.file}: {exc}") from exc
        for line in annotate(trace, args.proto_version):
            sys.stdout.write(line + "\n")
        return EXIT_OK
    timers = Timers()
    charger = Charger(args.charger, timers, frozenset(args.charger_defect))
    bms = Bms(args.bms, timers, frozenset(args.bms_defect))
    outcome = run(charger, bms, bus=args.bus, channel=args.channel)
    if not args.quiet:
        for line in annotate(outcome.trace, charger.wire):
            sys.stdout.write(line + "\n")
    if args.log:
        Path(args.log).write_text(outcome.trace.candump(), encoding="utf-8")
    for who, node in (("charger", charger), ("BMS", bms)):
        for at, text in node.log:
            sys.stdout.write(f"# {who} {at:9.3f} {text}\n")
    sys.stdout.write(f"# charger {args.charger} <-> BMS {args.bms}: {len(outcome.trace.records)} frames, "
                     f"{outcome.end:.3f} s simulated, charger {charger.state}, BMS {bms.state}"
                     + (f", BMS speaks {charger.peer_version}" if charger.peer_version else "") + "\n")
    return EXIT_OK if outcome.completed else 1


def _pixit(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise InputError(f"{path}: not a mapping")
    return doc


def _serve(args: argparse.Namespace) -> int:
    pixit = _pixit(args.pixit)
    known = set(vars(Timers()))
    wanted = {k: v for k, v in (pixit.get("timers") or {}).items() if k.startswith(("charge_", "j1939_"))}
    if set(wanted) - known:
        raise InputError(f"{args.pixit}: unknown timers {sorted(set(wanted) - known)}")
    timers = Timers().with_(**wanted)
    section = pixit.get("charging") or {}
    g = gaps(timers, section.get("quiet"), section.get("session_gap"))
    try:
        bus = open_bus(args.interface, args.channel)
    except Exception as exc:  # noqa: BLE001 - python-can raises many kinds; all mean "no such bus here"
        raise InputError(f"cannot open {args.interface}:{args.channel}: {exc}") from exc
    log = open(args.log, "w", encoding="utf-8") if args.log else None  # noqa: SIM115 - closed below

    def out(line: str) -> None:
        if not args.silent or line.startswith("#"):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    server = Server(args.role, args.node_version, timers, bus, frozenset(args.defect), out=out,
                    log=(lambda line: log.write(line + "\n")) if log else None, quiet=g.quiet,
                    session_gap=g.session_gap)
    out(f"# serving {args.role} {args.node_version} on {args.interface}:{args.channel or '-'}"
        + (f", defects {', '.join(args.defect)}" if args.defect else "")
        + f"; quiet {g.quiet:g} s, session gap {g.session_gap:g} s; Ctrl-C stops")
    try:
        server.run(duration=args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        bus.shutdown()
        if log:
            log.close()
    out(f"# served {server.sessions} session(s): {', '.join(server.outcomes) or 'none finished'}")
    return EXIT_OK
