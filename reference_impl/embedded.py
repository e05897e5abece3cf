"""The three reference platforms in one process, wired together on loopback.

Used by `gbt32960 demo`, by the project's integration tests and by the embedded topology: a
national and a local platform start first (on free ports), then an enterprise platform that
logs in to both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.protocol.timers import Timers

from .config import Account, PlatformConfig, Upstream, Vehicle
from .core import PlatformCore
from .server import PlatformServer

ENTERPRISE_ID = "ENTERPRISE-01"
CREDENTIALS = ("ent01", "secret-01")


@dataclass
class Trio:
    national: PlatformServer
    local: PlatformServer
    enterprise: PlatformServer

    @property
    def servers(self) -> tuple[PlatformServer, ...]:
        return (self.enterprise, self.local, self.national)

    async def stop(self) -> None:
        for s in self.servers:
            await s.stop()
            s.core.store.close()


async def start_platform(cfg: PlatformConfig) -> PlatformServer:
    return await PlatformServer(PlatformCore(cfg)).start()


async def start_trio(workdir: str | Path, vehicles: list[Vehicle], *, timers: Timers | None = None,
                     region: str = "110000", defects: frozenset[str] = frozenset(),
                     enterprise: dict | None = None, host: str = "127.0.0.1",
                     route: Callable[[str, str, int], tuple[str, int]] | None = None,
                     control_port: int | None = None) -> Trio:
    """Start national + local (for `region`) + enterprise; `enterprise` overrides its config fields.
    `defects` are switched on in all three (a switch that does not apply to a role does nothing).
    `control_port=0` serves each platform's gRPC control API on a free port (`server.control_port`).
    `route(name, host, port)` may send an upstream link elsewhere (e.g. through a fault proxy)."""
    workdir = Path(workdir)
    timers = timers or Timers()
    account = Account(ENTERPRISE_ID, *CREDENTIALS)
    via = route or (lambda name, h, p: (h, p))
    national = await start_platform(PlatformConfig(
        role="national", name="NATIONAL", listen=f"{host}:0", storage=str(workdir / "national.sqlite"),
        timers=timers, accounts={ENTERPRISE_ID: account}, defects=defects, control_port=control_port,
        accept_unknown_vins=True))  # vehicles open sampling links here in terminal-link data calls
    local = await start_platform(PlatformConfig(
        role="local", name=f"LOCAL-{region}", listen=f"{host}:0", storage=str(workdir / "local.sqlite"),
        timers=timers, accounts={ENTERPRISE_ID: dataclasses.replace(account, region=region)}, defects=defects,
        control_port=control_port))
    cfg = PlatformConfig(
        role="enterprise", name=ENTERPRISE_ID, listen=f"{host}:0", storage=str(workdir / "enterprise.sqlite"),
        timers=timers, vehicles={v.vin: v for v in vehicles}, defects=defects, control_port=control_port,
        upstreams=[
            Upstream(f"local-{region}", *via(f"local-{region}", host, local.port), "local", region, ENTERPRISE_ID,
                     *CREDENTIALS),
            Upstream("national", *via("national", host, national.port), "national", "", ENTERPRISE_ID, *CREDENTIALS),
        ])
    for key, value in (enterprise or {}).items():
        setattr(cfg, key, value)
    return Trio(national, local, await start_platform(cfg))
