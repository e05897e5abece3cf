"""`gbt32960 charging session|decode`: a simulated GB/T 27930 session, and candump logs decoded.

    gbt32960 charging session --bms 2015 --charger 2015-compat [--log FILE] [--defect NAME]
    gbt32960 charging decode FILE

`session` runs our charger and BMS simulators against each other on python-can's virtual bus
(fake clock: the standard's timers, no waiting) and prints the annotated CAN trace; exit 0 when
the session completed, 1 when it did not. `decode` reads a candump -l log back and annotates it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    d = subs.add_parser("decode", help="annotate a candump -l log",
                        description="Read a candump -l log (as written by --log or candump) and print every "
                                    "frame with its decoded fields; TP transfers are reassembled.")
    d.add_argument("file", metavar="FILE")
    d.add_argument("--version", dest="proto_version", choices=("2011", "2015"), default="2015",
                   help="layouts to decode with first (default 2015)")


@register("charging", help="GB/T 27930 charger <-> BMS: simulated sessions, candump logs",
          description=__doc__ or "", configure=_configure)
def run_charging(args: argparse.Namespace) -> int:
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
