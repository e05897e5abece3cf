"""Fixtures of the GB/T 32960.3 platform cases that the shared plugin does not offer."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REFERENCE_PICS = Path(__file__).resolve().parents[2] / "reference_impl" / "examples" / "pics.yaml"


@dataclass
class SingleEditionSut:
    """A platform configured for the 2016 edition only, and what its PICS says about foreign frames."""

    host: str
    port: int
    foreign_edition: str  # "error" or "drop" (PICS features.foreign_edition)
    frames: Any = None  # callable(vin) -> stored raw frames, when the platform can be inspected


def _declared(pics: dict[str, Any]) -> str | None:
    value = (pics.get("features") or {}).get("foreign_edition")
    return str(value) if value is not None else None


@pytest.fixture(scope="module")
def sut_2016_only(pytestconfig: pytest.Config, topology: Any, pics: dict[str, Any],
                  pixit: dict[str, Any]) -> Iterator[SingleEditionSut]:
    """The SUT configured for 2016 only. An external SUT names such an instance in the PIXIT
    (`sut_2016_only: HOST:PORT`) and declares `features.foreign_edition` in its PICS; for the reference
    SUT one is started here with the reference PICS's setting (and the run's defect switches)."""
    address = pixit.get("sut_2016_only")
    if address:
        mode = _declared(pics)
        if mode is None:
            pytest.skip("N/A: the PICS does not declare features.foreign_edition")
        host, port = str(address).rsplit(":", 1)
        yield SingleEditionSut(host, int(port), mode)
        return
    if (pytestconfig.getoption("sut") or "reference") != "reference":
        if _declared(pics) is None:
            pytest.skip("N/A: the PICS does not declare features.foreign_edition")
        # claimed, but the harness has nothing to test it on: it cannot decide (a skip without N/A is INCONC)
        pytest.skip("the PICS declares features.foreign_edition but the PIXIT names no 2016-only instance of "
                    "this SUT (sut_2016_only: HOST:PORT)")
    import yaml

    from harness.topology.embedded import LoopThread
    from reference_impl.config import PlatformConfig, Vehicle
    from reference_impl.core import PlatformCore
    from reference_impl.server import PlatformServer

    mode = _declared(pics) or _declared(yaml.safe_load(REFERENCE_PICS.read_text(encoding="utf-8")))
    assert mode is not None
    runner = LoopThread("gbt32960-2016-only")
    cfg = PlatformConfig(role="enterprise", name="ENT-2016-ONLY", listen="127.0.0.1:0", editions=(2016,),
                         foreign_edition=mode, timers=topology.timers,
                         storage=str(Path(tempfile.mkdtemp(prefix="gbt32960-2016only-")) / "p.sqlite"),
                         vehicles={v.vin: Vehicle(v.vin, False, v.region) for v in topology.vehicles},
                         defects=frozenset(pytestconfig.getoption("sut_defect") or ()))

    async def up() -> PlatformServer:
        return await PlatformServer(PlatformCore(cfg)).start()

    server = runner.call(up())

    def frames(vin: str) -> list[bytes]:
        async def read() -> list[bytes]:
            server.core.flush()
            return [f.raw for f in server.core.store.frames(vin=vin)]

        return runner.call(read())

    try:
        yield SingleEditionSut("127.0.0.1", server.port, mode, frames)
    finally:
        async def down() -> None:
            await server.stop()
            server.core.store.close()

        try:
            runner.call(down(), timeout=20)
        finally:
            runner.stop()
