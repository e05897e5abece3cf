"""Faults as data: what to inject (`FaultSpec`), a fault as it stands (`Fault`), a link's faults (`FaultTable`).

No I/O here. The gRPC service converts its messages to these; the engine and the asyncio driver read them.
Every fault is bounded in time (`duration`) or in count (`count`, or a frame fault's `match.nth`): an
unbounded fault is refused here, so no caller can leave a link broken for ever by mistake.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

TO_TARGET = "to_target"
TO_CLIENT = "to_client"
BOTH = "both"
FLOWS = (TO_TARGET, TO_CLIENT)

# byte faults act on every delivery of a direction
BYTE_KINDS = frozenset({"latency", "bandwidth", "blackhole", "reset_after", "slice"})
# frame faults act on whole frames cut by the framer
FRAME_KINDS = frozenset({"drop_frames", "duplicate_frames", "delay_frames", "reorder_frames", "flip_byte",
                         "corrupt_bcc", "replace_frame"})
# connection and link faults act on connections and the listener
CONNECTION_KINDS = frozenset({"drop_connections", "refuse_connections", "half_open", "partition"})
KINDS = BYTE_KINDS | FRAME_KINDS | CONNECTION_KINDS

# kinds whose count is only a cap on what they act on, not their end (they end with their duration)
_COUNT_IS_CAP = frozenset({"half_open", "drop_connections"})

# parameters of each kind: name -> (type, default); the proto messages have the same field names
PARAMS: Mapping[str, Mapping[str, tuple[type, Any]]] = MappingProxyType({
    "latency": {"ms": (int, 0), "jitter_ms": (int, 0)},
    "bandwidth": {"bytes_per_second": (int, 0)},
    "drop_connections": {"graceful": (bool, False)},
    "refuse_connections": {},
    "blackhole": {},
    "half_open": {},
    "reset_after": {"bytes": (int, 0)},
    "slice": {"bytes": (int, 0), "gap_ms": (int, 0)},
    "drop_frames": {},
    "duplicate_frames": {"copies": (int, 1)},
    "delay_frames": {"ms": (int, 0)},
    "reorder_frames": {"max_hold_ms": (int, 1000)},
    "flip_byte": {"offset": (int, 0), "mask": (int, 0xFF), "fix_bcc": (bool, False)},
    "corrupt_bcc": {},
    "replace_frame": {"data": (bytes, b"")},
    "partition": {},
})


class FaultError(ValueError):
    """A fault that cannot be injected as asked (unbounded, bad parameter, wrong direction)."""


@dataclass(frozen=True)
class Match:
    """Which frames a frame fault acts on; `nth` counts matching frames after the injection (1 = next)."""

    nth: int | None = None
    command: int | None = None
    ack: int | None = None
    vin: str = ""

    def matches(self, command: int, ack: int, vin: bytes) -> bool:
        if self.command is not None and command != self.command:
            return False
        if self.ack is not None and ack != self.ack:
            return False
        if self.vin and vin.rstrip(b"\0").decode("ascii", "replace") != self.vin:
            return False
        return True

    def describe(self) -> str:
        parts = []
        if self.command is not None:
            parts.append(f"command 0x{self.command:02X}")
        if self.ack is not None:
            parts.append(f"ack 0x{self.ack:02X}")
        if self.vin:
            parts.append(f"VIN {self.vin}")
        if self.nth is not None:
            parts.append(f"from the {_ordinal(self.nth)} match")
        return ", ".join(parts) or "any frame"


@dataclass(frozen=True)
class FaultSpec:
    """What to inject. `direction` "" takes the kind's default (frame faults: to_target; others: both)."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    direction: str = ""
    duration: float = 0.0
    count: int = 0
    match: Match = field(default_factory=Match)
    seed: int = 0

    def validated(self) -> FaultSpec:
        """The spec with defaults filled in; raises `FaultError` when it cannot be injected."""
        if self.kind not in KINDS:
            raise FaultError(f"unknown fault kind {self.kind!r}; known: {', '.join(sorted(KINDS))}")
        params = _params(self.kind, self.params)
        direction = self.direction or (TO_TARGET if self.kind in FRAME_KINDS | {"half_open"} else BOTH)
        if direction not in (TO_TARGET, TO_CLIENT, BOTH):
            raise FaultError(f"direction {direction!r} is none of to_target, to_client, both")
        if self.duration < 0 or self.count < 0:
            raise FaultError("duration and count cannot be negative")
        count = self.count
        match = self.match
        if self.kind not in FRAME_KINDS and match != Match():
            raise FaultError(f"{self.kind} acts on bytes or connections, not on frames: no frame match")
        if match.nth is not None and match.nth < 1:
            raise FaultError("match.nth counts from 1 (the next matching frame)")
        if self.kind in FRAME_KINDS and match.nth is not None and not count and not self.duration:
            count = 1  # "the n-th frame": one frame
        kind = self.kind
        if kind == "drop_connections":
            if self.duration:
                raise FaultError("drop_connections acts once, now: it takes no duration (count caps it)")
        elif kind in ("partition", "half_open"):
            if self.duration <= 0:
                raise FaultError(f"{kind} is bounded by its duration: give duration > 0")
            if kind == "partition" and count:
                raise FaultError("partition is bounded by its duration only")
        elif not self.duration and not count:
            raise FaultError(f"{kind} must be bounded: give a duration, a count"
                             + (" or match.nth" if kind in FRAME_KINDS else ""))
        if kind == "partition" and direction != BOTH:
            raise FaultError("partition cuts both directions")
        if kind == "half_open" and direction == BOTH:
            raise FaultError("half_open closes one side: direction to_target (the target's side is closed) "
                             "or to_client")
        _check_params(kind, params)
        return replace(self, params=MappingProxyType(params), direction=direction, count=count)

    @property
    def flows(self) -> tuple[str, ...]:
        return FLOWS if self.direction in (BOTH, "") else (self.direction,)

    def summary(self) -> str:
        p = self.params
        what = {
            "latency": lambda: f"latency {p['ms']}±{p['jitter_ms']} ms",
            "bandwidth": lambda: f"bandwidth {p['bytes_per_second']} B/s",
            "drop_connections": lambda: "drop connections" + (" (FIN)" if p["graceful"] else " (RST)"),
            "refuse_connections": lambda: "refuse new connections",
            "blackhole": lambda: "blackhole",
            "half_open": lambda: "half-open",
            "reset_after": lambda: f"reset after {p['bytes']} bytes",
            "slice": lambda: f"slice into {p['bytes']}-byte writes" + (f" {p['gap_ms']} ms apart" if p["gap_ms"]
                                                                        else ""),
            "drop_frames": lambda: "drop frames",
            "duplicate_frames": lambda: f"duplicate frames ×{1 + p['copies']}",
            "delay_frames": lambda: f"delay frames {p['ms']} ms",
            "reorder_frames": lambda: "reorder frames",
            "flip_byte": lambda: f"flip byte {p['offset']} ^0x{p['mask']:02X}" + (" (BCC fixed)" if p["fix_bcc"]
                                                                                 else ""),
            "corrupt_bcc": lambda: "corrupt BCC",
            "replace_frame": lambda: f"replace frames by {len(p['data'])} bytes",
            "partition": lambda: "partition",
        }[self.kind]()
        if self.kind in FRAME_KINDS:
            what += f" ({self.match.describe()})"
        bounds = []
        if self.duration:
            bounds.append(f"for {self.duration:g} s")
        if self.count:
            bounds.append(f"{self.count} times" if self.kind not in _COUNT_IS_CAP else f"at most {self.count}")
        return " ".join([what, self.direction or BOTH, *bounds])


def _params(kind: str, given: Mapping[str, Any]) -> dict[str, Any]:
    known = PARAMS[kind]
    unknown = set(given) - set(known)
    if unknown:
        raise FaultError(f"{kind} takes no parameter {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for name, (typ, default) in known.items():
        value = given.get(name, default)
        if value is None:
            value = default
        try:
            out[name] = bytes(value) if typ is bytes else typ(value)
        except (TypeError, ValueError) as exc:
            raise FaultError(f"{kind}.{name}: {exc}") from exc
    return out


def _check_params(kind: str, p: dict[str, Any]) -> None:
    def need(cond: bool, text: str) -> None:
        if not cond:
            raise FaultError(f"{kind}: {text}")

    if kind == "latency":
        need(p["ms"] >= 0 and p["jitter_ms"] >= 0, "ms and jitter_ms cannot be negative")
    elif kind == "bandwidth":
        need(p["bytes_per_second"] > 0, "bytes_per_second must be positive")
    elif kind == "reset_after":
        need(p["bytes"] > 0, "bytes must be positive")
    elif kind == "slice":
        need(p["bytes"] > 0 and p["gap_ms"] >= 0, "bytes must be positive and gap_ms not negative")
    elif kind == "duplicate_frames":
        p["copies"] = p["copies"] or 1
        need(p["copies"] > 0, "copies must be positive")
    elif kind == "delay_frames":
        need(p["ms"] > 0, "ms must be positive")
    elif kind == "reorder_frames":
        p["max_hold_ms"] = p["max_hold_ms"] or 1000
        need(p["max_hold_ms"] > 0, "max_hold_ms must be positive")
    elif kind == "flip_byte":
        p["mask"] = p["mask"] or 0xFF
        need(0 < p["mask"] <= 0xFF, "mask is one byte")


ACTIVE, EXPIRED, SPENT, CLEARED, DONE = "active", "expired", "spent", "cleared", "done"


class Fault:
    """A fault as it stands. Times: `expires` on the proxy's monotonic clock, `*_wall` since the epoch."""

    __slots__ = ("id", "link", "spec", "kind", "flows", "created", "created_wall", "expires", "remaining",
                 "applied", "seen", "state", "ended_wall", "_on_spent")

    def __init__(self, fault_id: int, link: str, spec: FaultSpec, now: float,
                 on_spent: Callable[[Fault], None] | None = None) -> None:
        self.id = fault_id
        self.link = link
        self.spec = spec
        self.kind = spec.kind
        self.flows = spec.flows
        self.created = now
        self.created_wall = time.time()
        self.expires = now + spec.duration if spec.duration else None
        self.remaining = spec.count or None
        self.applied = 0
        self.seen = 0  # frame faults: matching frames seen since the injection
        self.state = ACTIVE
        self.ended_wall = 0.0
        self._on_spent = on_spent

    def live(self, now: float) -> bool:
        return self.state == ACTIVE and (self.expires is None or now < self.expires)

    def can_act(self) -> bool:
        return self.remaining is None or self.remaining > 0

    def use(self) -> None:
        """The fault acted once; a count-bounded fault ends when its count is used up."""
        self.applied += 1
        if self.remaining is not None:
            self.remaining -= 1
            if self.remaining <= 0 and self.kind not in _COUNT_IS_CAP and self.state == ACTIVE:
                self.state = SPENT
                self.ended_wall = time.time()
                if self._on_spent is not None:
                    self._on_spent(self)

    def frame_hit(self, command: int, ack: int, vin: bytes) -> bool:
        """Is this frame one the fault acts on? Counts matching frames for `nth`."""
        m = self.spec.match
        if not m.matches(command, ack, vin):
            return False
        self.seen += 1
        return (m.nth is None or self.seen >= m.nth) and self.can_act()

    @property
    def expires_wall(self) -> float:
        return self.created_wall + self.spec.duration if self.spec.duration else 0.0


class FaultTable:
    """A link's faults, with the live byte and frame faults of each direction at hand for the engine."""

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self.all: dict[int, Fault] = {}
        self.byte: dict[str, list[Fault]] = {f: [] for f in FLOWS}
        self.frame: dict[str, list[Fault]] = {f: [] for f in FLOWS}
        self._on_change = on_change

    def add(self, fault: Fault) -> None:
        self.all[fault.id] = fault
        self.rebuild()

    def end(self, fault: Fault, state: str) -> bool:
        """End a fault (expired, cleared, done); False when it had already ended."""
        if fault.state != ACTIVE:
            self.rebuild()
            return False
        fault.state = state
        fault.ended_wall = time.time()
        self.rebuild()
        return True

    def rebuild(self) -> None:
        for flow in FLOWS:
            self.byte[flow] = [f for f in self.active() if f.kind in BYTE_KINDS and flow in f.flows]
            self.frame[flow] = [f for f in self.active() if f.kind in FRAME_KINDS and flow in f.flows]
        if self._on_change is not None:
            self._on_change()

    def active(self, kinds: Iterable[str] | None = None) -> list[Fault]:
        wanted = set(kinds) if kinds is not None else None
        return [f for f in self.all.values() if f.state == ACTIVE and (wanted is None or f.kind in wanted)]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
