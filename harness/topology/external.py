"""The external backend: a SUT already running at tcp://HOST:PORT (a maker's platform).

The harness plays the local and national platforms itself, listening where the PIXIT says, so the
maker's platform can be configured to forward to them:

```yaml
# pixit.yaml
platform_id: MAKER-ENT-01          # the SUT's unique id in its platform login frames
credentials: {username: ent01, password: secret-01}
region: "110000"
local: {listen: "127.0.0.1:32961"}
national: {listen: "127.0.0.1:32962"}
vehicles:                          # registered in the SUT as given here
  - {vin: LPUBA000000000001, public_service: true, region: "110000", edition: 2016}
```

The SUT itself offers no inspection here: cases that need to look inside it declare
`@needs(pics="control")` (N/A unless the PICS claims a Control service); a case that still reaches
for it is INCONC, never PASS.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.protocol.timers import Timers
from reference_impl.config import Account, PlatformConfig
from reference_impl.core import PlatformCore
from reference_impl.server import PlatformServer

from .base import StimulusUnavailable, StoredFrameView, Topology, VehicleSpec
from .embedded import InProcessParty, LoopThread, _LogBuffer


class ExternalSut:
    """The SUT as far as the harness can see it from outside: an address."""

    def __init__(self, host: str, port: int, name: str) -> None:
        self.name, self.role, self.host, self.port = name, "enterprise", host, port

    def _opaque(self) -> Any:
        # a case that must look inside the SUT cannot decide without its Control service: INCONC, not ERROR
        raise StimulusUnavailable("the external SUT offers no inspection (no Control endpoint): this case cannot "
                                  "decide; a SUT with a Control service claims `control` in its PICS")

    def frames(self, vin: str | None = None, commands: tuple[int, ...] | None = None) -> list[StoredFrameView]:
        return self._opaque()

    def online(self) -> list[str]:
        return self._opaque()

    def queue_depth(self, upstream: str | None = None) -> int:
        return self._opaque()

    def warnings(self, vin: str | None = None) -> list[tuple[str, str, str]]:
        return self._opaque()

    def logs(self) -> str:
        return ""


def start(address: str, vehicles: list[VehicleSpec], timers: Timers, pixit: dict[str, Any],
          region: str = "110000") -> Topology:
    url = urlsplit(address)
    if url.scheme != "tcp" or not url.hostname or not url.port:
        raise ValueError(f"--sut {address!r}: expected tcp://HOST:PORT")
    platform_id = str(pixit.get("platform_id", "ENTERPRISE-01"))
    creds = pixit.get("credentials", {"username": "ent01", "password": "secret-01"})
    account = Account(platform_id, str(creds["username"]), str(creds["password"]), region)
    runner = LoopThread()
    logs = _LogBuffer()
    folder = Path(tempfile.mkdtemp(prefix="gbt32960-external-"))

    async def up(role: str, listen: str) -> PlatformServer:
        cfg = PlatformConfig(role=role, name=f"HARNESS-{role.upper()}", listen=listen, timers=timers,
                             storage=str(folder / f"{role}.sqlite"), accounts={platform_id: account},
                             accept_unknown_vins=role == "national")
        return await PlatformServer(PlatformCore(cfg)).start()

    local = runner.call(up("local", str(pixit.get("local", {}).get("listen", "127.0.0.1:32961"))))
    national = runner.call(up("national", str(pixit.get("national", {}).get("listen", "127.0.0.1:32962"))))

    def close() -> None:
        async def down() -> None:
            for s in (local, national):
                await s.stop()
                s.core.store.close()

        try:
            runner.call(down(), timeout=20)
        finally:
            runner.stop()

    # the SUT logs in to our local platform on its own schedule: give it a bounded while
    async def wait_login(within: float) -> None:
        import asyncio
        import time

        deadline = time.monotonic() + within
        while platform_id not in local.core.online and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    runner.call(wait_login(float(pixit.get("login_wait", 30))), timeout=float(pixit.get("login_wait", 30)) + 5)
    sut = ExternalSut(url.hostname, url.port, str(pixit.get("name", address)))
    return Topology(role="enterprise", backend="external", sut=sut, local=InProcessParty(local, runner, logs),
                    national=InProcessParty(national, runner, logs), vehicles=vehicles,
                    timers=dataclasses.replace(timers), region=region, platform_id=platform_id,
                    extra={"close": close, "workdir": str(folder)})
