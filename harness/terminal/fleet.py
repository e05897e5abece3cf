"""A fleet of simulated vehicles on one asyncio loop: VIN/ICCID generation, edition mix, counters.

    fleet = Fleet("127.0.0.1", 32960, vehicles=1000, edition="mixed", seed=1)
    await fleet.start()
    await fleet.run(60, progress=print)
    await fleet.stop()
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.protocol.messages import COMMANDS
from harness.protocol.timers import Timers

from .aio import AioDriver, Observer
from .generator import Generator
from .machine import Terminal

GMT8 = _dt.timezone(_dt.timedelta(hours=8))

_VIN_VALUES = {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGH", range(1, 9), strict=True)), **dict(zip("JKLMN", range(1, 6), strict=True)),
               "P": 7, "R": 9, **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def make_vin(index: int, prefix: str = "LS9TB0X1", year: str = "S") -> str:
    """A 17-character VIN (ISO 3779 with its check digit) for vehicle `index`."""
    plant = "ABCDEFGHJKLMNPRSTUVWXYZ"[index // 1_000_000 % 23]
    vin = f"{prefix[:8]:0<8}0{year}{plant}{index % 1_000_000:06d}"
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True))
    check = total % 11
    return vin[:8] + ("X" if check == 10 else str(check)) + vin[9:]


def make_iccid(index: int, seed: int = 0) -> str:
    """A 20-digit ICCID (89 86 ... + Luhn check digit)."""
    body = f"898600{seed % 1000:03d}{index:010d}"[:19]
    digits = [int(c) for c in body]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return body + str((10 - total % 10) % 10)


def calendar_epoch(now: float, time_scale: float = 1.0) -> _dt.datetime:
    """The `epoch` that makes a terminal's calendar read the current GMT+8 time at driver time `now`
    (simulated time then runs 1/time_scale as fast)."""
    return _dt.datetime.now(GMT8).replace(tzinfo=None) - _dt.timedelta(seconds=now / time_scale)


@dataclass
class FleetStats:
    vehicles: int
    started: int
    online: int
    frames: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    backlog: int = 0
    elapsed: float = 0.0

    @property
    def frames_total(self) -> int:
        return sum(self.frames.values())

    def line(self, rate: float | None = None) -> str:
        fps = f"  frames/s {rate:8.1f}" if rate is not None else ""
        started = f" (started {self.started})" if self.started < self.vehicles else ""
        return (f"[{self.elapsed:7.1f}s] online {self.online}/{self.vehicles}{started}{fps}  frames {self.frames_total}"
                f"  errors {self.errors}  reconnects {self.reconnects}  backlog {self.backlog}")

    def as_dict(self) -> dict[str, Any]:
        return {"vehicles": self.vehicles, "started": self.started, "online": self.online,
                "frames": dict(self.frames), "frames_total": self.frames_total, "errors": self.errors,
                "reconnects": self.reconnects, "connect_failures": self.connect_failures,
                "backlog": self.backlog, "elapsed": round(self.elapsed, 3)}


class Fleet:
    """`vehicles` terminals against host:port. `edition` is 2016, 2025 or "mixed" (`mix` = share of
    2025 vehicles). Timers: `timers` (with `time_scale` when compressed), `report_period` and
    `heartbeat` override the two periods. `ramp` spreads the starts over that many seconds."""

    def __init__(self, host: str, port: int, vehicles: int, *, edition: int | str = 2016, mix: float = 0.5,
                 timers: Timers | None = None, time_scale: float = 1.0, seed: int = 0,
                 report_period: float | None = None, heartbeat: float | None = None, ramp: float | None = None,
                 cells: int = 96, probes: int = 32, alarm_rate: float = 0.2, level3_share: float = 0.02,
                 sample_period: float | None = None, defects: frozenset[str] = frozenset(), first_index: int = 0,
                 connect_limit: int = 256, tick: float | None = None,
                 terminal_kwargs: dict[str, Any] | None = None) -> None:
        timers = timers or Timers()
        changes: dict[str, float] = {}
        if report_period is not None:
            changes["report_period"] = report_period
        if heartbeat is not None:
            changes["heartbeat"] = heartbeat
        self.timers = timers.with_(**changes) if changes else timers
        self.host, self.port = host, port
        self.vehicles = vehicles
        self.edition = edition
        self.mix = mix
        self.time_scale = time_scale
        self.seed = seed
        self.ramp = ramp if ramp is not None else vehicles / 2000  # ~2000 connects per second
        self.cells, self.probes = cells, probes
        self.alarm_rate, self.level3_share = alarm_rate, level3_share
        self.sample_period = sample_period
        self.defects = frozenset(defects)
        self.first_index = first_index
        self.connect_limit = connect_limit
        self.tick = tick if tick is not None else self.timers.tick
        self.terminal_kwargs = terminal_kwargs or {}
        self.driver: AioDriver | None = None
        self.terminals: list[Terminal] = []
        self.observers: list[Observer] = []  # handed to the driver: watchers added before start() see it all
        self._t0 = 0.0
        self._starter: asyncio.Task[None] | None = None

    def _edition_of(self, rng: random.Random) -> int:
        if self.edition == "mixed":
            return 2025 if rng.random() < self.mix else 2016
        return int(self.edition)

    def build(self, epoch: _dt.datetime) -> list[Terminal]:
        rng = random.Random(self.seed)  # noqa: S311 - simulation, reproducible by seed
        out = []
        for k in range(self.vehicles):
            i = self.first_index + k
            gen = Generator(self.seed * 1_000_003 + i, cells=self.cells, probes=self.probes,
                            alarm_rate=self.alarm_rate, level3_share=self.level3_share)
            out.append(Terminal(make_vin(i), self._edition_of(rng), self.timers, gen, iccid=make_iccid(i, self.seed),
                                host=self.host, port=self.port, time_scale=self.time_scale, epoch=epoch,
                                defects=self.defects, sample_period=self.sample_period, **self.terminal_kwargs))
        return out

    async def start(self) -> None:
        """Build the terminals and start them, spread over `ramp` seconds (returns at once)."""
        loop = asyncio.get_running_loop()
        self.driver = AioDriver(tick=self.tick, connect_limit=self.connect_limit)
        self.driver.observers = self.observers
        self.terminals = self.build(calendar_epoch(loop.time(), self.time_scale))
        self._t0 = time.monotonic()
        self._starter = loop.create_task(self._start_all())

    async def _start_all(self) -> None:
        # by the clock, not by count: a loaded loop starts more per turn and the ramp still ends on time
        assert self.driver is not None
        n = len(self.terminals)
        t0 = time.monotonic()
        started = 0
        while started < n:
            due = n if self.ramp <= 0 else min(n, int(n * (time.monotonic() - t0) / self.ramp) + 1)
            for term in self.terminals[started:due]:
                self.driver.add(term)
            started = max(started, due)
            if started < n:
                await asyncio.sleep(0.02)

    def stats(self) -> FleetStats:
        st = FleetStats(self.vehicles, 0, 0, elapsed=time.monotonic() - self._t0)
        frames: Counter[int] = Counter()
        for t in self.terminals:
            if not t.started:
                continue
            st.started += 1
            if t.online:
                st.online += 1
            frames.update(t.sent_by_command)
            s = t.stats
            st.errors += s["error_answers"] + s["framing_errors"] + s["decode_errors"]
            st.backlog += len(t.backlog)
        st.frames = Counter({COMMANDS.get(c, f"0x{c:02X}"): n for c, n in frames.items()})
        if self.driver is not None:
            st.reconnects = max(0, self.driver.counters["connects"] - st.started)
            st.connect_failures = self.driver.counters["connect_failures"]
        return st

    async def run(self, duration: float, *, progress: Callable[[FleetStats, float], None] | None = None,
                  interval: float = 1.0) -> FleetStats:
        """Run for `duration` seconds, calling `progress(stats, frames_per_second)` every `interval`."""
        end = time.monotonic() + duration
        last_frames, last_t = self.stats().frames_total, time.monotonic()
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            await asyncio.sleep(min(interval, left))
            st = self.stats()
            now = time.monotonic()
            rate = (st.frames_total - last_frames) / max(now - last_t, 1e-9)
            last_frames, last_t = st.frames_total, now
            if progress is not None:
                progress(st, rate)
        return self.stats()

    async def stop(self, *, logout: bool = True, grace: float = 0.2) -> FleetStats:
        """Stop every terminal: logout 0x04 on logged-in links (when `logout`), close, stop timers."""
        if self._starter is not None:
            self._starter.cancel()
            await asyncio.gather(self._starter, return_exceptions=True)
        driver = self.driver
        if driver is None:
            return self.stats()
        now = driver.loop.time()
        for tid, term in enumerate(driver.terminals):
            driver.apply(tid, term.shutdown(now, logout=logout))
        if logout and grace > 0:
            await asyncio.sleep(grace)  # let the logout frames leave before the sockets go
        await driver.close()
        return self.stats()
