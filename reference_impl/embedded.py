"""The three reference platforms in one process, wired together on loopback.

Used by `gbt32960 demo`, by the project's integration tests and by the embedded topology: a
national and a local platform start first (on free ports), then an enterprise platform that
logs in to both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
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


def enterprise_config(storage: str | Path, vehicles: list[Vehicle], *, local: tuple[str, int],
                      national: tuple[str, int], timers: Timers | None = None, region: str = "110000",
                      name: str = ENTERPRISE_ID, host: str = "127.0.0.1", defects: frozenset[str] = frozenset(),
                      control_port: int | None = None) -> PlatformConfig:
    """An enterprise platform that relays to `local` (for `region`) and `national`, logging in to both
    as `name` with the trio's credentials."""
    return PlatformConfig(
        role="enterprise", name=name, listen=f"{host}:0", storage=str(storage), timers=timers or Timers(),
        vehicles={v.vin: v for v in vehicles}, defects=defects, control_port=control_port,
        upstreams=[Upstream(f"local-{region}", *local, "local", region, name, *CREDENTIALS),
                   Upstream("national", *national, "national", "", name, *CREDENTIALS)])


async def start_trio(workdir: str | Path, vehicles: list[Vehicle], *, timers: Timers | None = None,
                     region: str = "110000", defects: frozenset[str] = frozenset(),
                     enterprise: dict | None = None, host: str = "127.0.0.1",
                     route: Callable[[str, str, int], tuple[str, int]] | None = None,
                     control_port: int | None = None, more_enterprises: Sequence[str] = ()) -> Trio:
    """Start national + local (for `region`) + enterprise; `enterprise` overrides its config fields.
    `defects` are switched on in all three (a switch that does not apply to a role does nothing).
    `control_port=0` serves each platform's gRPC control API on a free port (`server.control_port`).
    `route(name, host, port)` may send an upstream link elsewhere (e.g. through a fault proxy).
    `more_enterprises`: platform ids of further enterprise platforms (with the same credentials) that
    the local and national platforms accept, e.g. the other processes of a sharded enterprise platform."""
    workdir = Path(workdir)
    timers = timers or Timers()
    ids = (ENTERPRISE_ID, *more_enterprises)
    accounts = {pid: Account(pid, *CREDENTIALS) for pid in ids}
    via = route or (lambda name, h, p: (h, p))
    national = await start_platform(PlatformConfig(
        role="national", name="NATIONAL", listen=f"{host}:0", storage=str(workdir / "national.sqlite"),
        timers=timers, accounts=accounts, defects=defects, control_port=control_port,
        accept_unknown_vins=True))  # vehicles open sampling links here in terminal-link data calls
    local = await start_platform(PlatformConfig(
        role="local", name=f"LOCAL-{region}", listen=f"{host}:0", storage=str(workdir / "local.sqlite"),
        timers=timers, accounts={pid: dataclasses.replace(a, region=region) for pid, a in accounts.items()},
        defects=defects, control_port=control_port))
    cfg = enterprise_config(workdir / "enterprise.sqlite", vehicles, timers=timers, region=region, host=host,
                            defects=defects, control_port=control_port, local=via(f"local-{region}", host, local.port),
                            national=via("national", host, national.port))
    for key, value in (enterprise or {}).items():
        setattr(cfg, key, value)
    return Trio(national, local, await start_platform(cfg))
