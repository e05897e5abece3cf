"""What a conformance case sees of the parties, whatever backend runs them.

A `Topology` names the SUT and the harness's own peers by role. Each platform party offers the
same small inspection surface (`frames`, `online`, `queue_depth`, `warnings`), answered in-process
for the embedded backend and over the Control gRPC service for containers, so a case never knows
which backend runs what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.protocol.timers import Timers


class StimulusUnavailable(Exception):
    """The SUT or the topology offers no way to apply a stimulus, or to look at what a case must see
    (no Control service, no restart, no fault proxy): the case cannot decide, its verdict is INCONC."""


@dataclass(frozen=True)
class StoredFrameView:
    vin: str
    command: int
    ack: int
    collected_at: str | None
    raw: bytes
    duplicate: bool
    link: str


@dataclass(frozen=True)
class VehicleSpec:
    vin: str
    public_service: bool
    region: str
    edition: int = 2016


class PlatformParty(Protocol):
    name: str
    role: str
    host: str
    port: int

    def frames(self, vin: str | None = None, commands: tuple[int, ...] | None = None) -> list[StoredFrameView]: ...

    def online(self) -> list[str]: ...

    def queue_depth(self, upstream: str | None = None) -> int: ...

    def warnings(self, vin: str | None = None) -> list[tuple[str, str, str]]: ...

    def logs(self) -> str: ...


@dataclass
class Topology:
    """Every party of a run, addressed by role."""

    role: str  # the role the SUT plays
    backend: str  # embedded | docker | external (for the report, not for cases)
    sut: PlatformParty
    local: PlatformParty | None
    national: PlatformParty | None
    vehicles: list[VehicleSpec]
    timers: Timers
    region: str
    platform_id: str  # the enterprise platform's unique id in platform login frames (the SUT's, or ours)
    credentials: tuple[str, str] = ("", "")  # username, password with `platform_id` (when the harness logs in)
    faults: Any = None  # harness.faults client, when a proxy sits on the links
    extra: dict[str, Any] = field(default_factory=dict)

    def vehicle(self, *, public: bool | None = None, region: str | None = None, edition: int | None = None,
                index: int = 0) -> VehicleSpec:
        """The index-th registered vehicle matching the filters."""
        found = [v for v in self.vehicles
                 if (public is None or v.public_service == public) and (region is None or v.region == region)
                 and (edition is None or v.edition == edition)]
        if len(found) <= index:
            raise LookupError(f"no registered vehicle #{index} with public={public} region={region} edition={edition}")
        return found[index]

    def party_logs(self) -> dict[str, str]:
        out = {}
        for name, party in (("sut", self.sut), ("local", self.local), ("national", self.national)):
            if party is not None:
                text = party.logs()
                if text:
                    out[f"{name} ({party.name})"] = text
        return out

    def restart(self, party: str, *, hard: bool = True) -> None:
        """Stop a platform ("enterprise", "local") and start it again with its stored data; `hard` stops it
        abruptly, like kill -9. A backend that cannot do this raises StimulusUnavailable (INCONC)."""

        restart = self.extra.get("restart")
        if restart is None:
            raise StimulusUnavailable(f"the {self.backend} topology cannot restart the {party} platform")
        restart(party, hard)

    def close(self) -> None:
        closer = self.extra.get("close")
        if closer:
            closer()


def default_vehicles(region: str) -> list[VehicleSpec]:
    """The registered test fleet: public-service vehicles of the local platform's region, one of
    another region, private ones; both editions."""
    out = []
    for edition in (2016, 2025):
        tag = "A" if edition == 2016 else "B"
        out += [
            VehicleSpec(f"LPUB{tag}{1:012d}", True, region, edition),
            VehicleSpec(f"LPUB{tag}{2:012d}", True, region, edition),
            VehicleSpec(f"LOTH{tag}{1:012d}", True, "310000", edition),
            VehicleSpec(f"LPRI{tag}{1:012d}", False, region, edition),
        ]
    return out
