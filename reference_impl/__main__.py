"""Run one reference platform: `python -m reference_impl ROLE --config FILE [flags]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from harness.protocol.timers import Timers

from . import config as config_mod
from .core import PlatformCore
from .defects import DEFECTS
from .server import PlatformServer


def build_parser() -> argparse.ArgumentParser:
    epilog = "defect switches (self-tests only; all off unless named):\n" + "\n".join(
        f"  {name:24} {text}" for name, text in DEFECTS.items())
    p = argparse.ArgumentParser(
        prog="python -m reference_impl",
        description="A GB/T 32960.3 reference platform (enterprise, local or national). Both editions are "
                    "accepted on one port; every accepted frame is stored in SQLite (WAL).",
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("role", choices=config_mod.ROLES, help="the platform's role")
    p.add_argument("--config", help="YAML or JSON configuration file (see reference_impl/config.py)")
    p.add_argument("--listen", help="HOST:PORT to listen on (overrides the file)")
    p.add_argument("--storage", help="SQLite database path (overrides the file)")
    p.add_argument("--name", help="this platform's unique id (overrides the file)")
    p.add_argument("--defect", action="append", default=[], metavar="NAME", help="switch a defect on (repeatable)")
    p.add_argument("--timers", choices=("standard", "compressed"), help="the standard's timers, or compressed 60x")
    p.add_argument("--control-port", type=int, metavar="N",
                   help="serve the gRPC control API (gbt32960.control.v1.Control, health, reflection) on port N "
                        "of the listen host; 0 picks a free port (overrides the file)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every refused frame and link event")
    return p


def configure(args: argparse.Namespace) -> config_mod.PlatformConfig:
    cfg = config_mod.load(args.config) if args.config else config_mod.PlatformConfig()
    cfg.role = args.role
    for key in ("listen", "storage", "name"):
        if getattr(args, key):
            setattr(cfg, key, getattr(args, key))
    if args.control_port is not None:
        cfg.control_port = args.control_port
    if args.defect:
        cfg.defects = frozenset(cfg.defects | set(args.defect))
    if args.timers == "compressed":
        cfg.timers = Timers().compressed(60)
    config_mod.validate(cfg)
    return cfg


async def _serve(cfg: config_mod.PlatformConfig) -> None:
    server = await PlatformServer(PlatformCore(cfg)).start()
    print(f"{cfg.role} platform {cfg.name} listening on {cfg.host}:{server.port}", flush=True)
    if server.control_port is not None:
        print(f"control (gRPC) on {cfg.host}:{server.control_port}", flush=True)
    loop = asyncio.get_running_loop()
    stopping: set[asyncio.Task] = set()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stopping.add(loop.create_task(server.stop())))
    await server.stopped.wait()  # a signal, or the control API's Stop
    server.core.store.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    try:
        cfg = configure(args)
    except (ValueError, OSError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_serve(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
