"""Who plays which role where: embedded (in-process), docker (testcontainers), external SUT.

`build()` is the one entry point the pytest plugin uses; cases only see `base.Topology`.
"""

from __future__ import annotations

from typing import Any

from harness.protocol.timers import Timers

from .base import Topology, VehicleSpec, default_vehicles

REGION = "110000"


def build(*, sut: str, image: str | None, role: str, timers: Timers, pixit: dict[str, Any],
          defects: frozenset[str] = frozenset()) -> Topology:
    region = str(pixit.get("region", REGION))
    if role == "terminal":
        from . import terminal

        return terminal.start(sut, timers, pixit, region=region, defects=defects)
    if role in ("local", "national") and sut == "reference":
        from . import embedded

        return embedded.start_platform_sut(role, timers, region=region, defects=defects)
    if role != "enterprise":
        raise NotImplementedError(f"--role {role} with --sut {sut}: this harness version runs local and national "
                                  "platform SUTs embedded only")
    vehicles = [VehicleSpec(**v) for v in pixit["vehicles"]] if pixit.get("vehicles") else default_vehicles(region)
    if sut == "reference":
        from . import embedded

        return embedded.start(vehicles, timers, region=region, defects=defects)
    if sut == "docker" or image:
        from . import docker

        return docker.start(vehicles, timers, region=region, defects=defects, image=image)
    if sut.startswith("tcp://"):
        from . import external

        if defects:  # a self-test that silently ran without its defect would read as a clean pass
            raise ValueError("--sut-defect switches exist in our reference platforms only, not in an external SUT")
        return external.start(sut, vehicles, timers, pixit, region=region)
    raise ValueError(f"--sut {sut!r}: expected reference, docker or tcp://HOST:PORT")


__all__ = ["Topology", "VehicleSpec", "build", "default_vehicles"]
