"""The asyncio driver: many sans-IO terminals on one event loop.

Scale comes from doing as little per terminal as possible:
- one `asyncio.Protocol` per TCP connection (no reader task, no stream objects);
- one shared timer: a heap of each terminal's `next_deadline()`, served by a single `call_at`
  handle that fires at most once per `tick` and runs every terminal that is due. There is no task
  per terminal and nothing sleeps per terminal, so 10,000 terminals cost 10,000 small objects;
- connects go through a semaphore so a fleet start does not overflow the server's accept backlog.

The terminal's `now` is `loop.time()`.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from .machine import Close, Connect, Send, Terminal, Upgrade

UpgradeHook = Callable[["AioDriver", int, Upgrade], None]
# (direction, terminal id, link, bytes): "out" is one whole frame a terminal sent, "in" the bytes as
# read from its socket (a chunk: part of a frame, or several)
Observer = Callable[[str, int, str, bytes], None]


class _Link(asyncio.Protocol):
    """One TCP connection of one terminal ("main" or "sampling")."""

    __slots__ = ("driver", "tid", "link", "gen", "transport")

    def __init__(self, driver: AioDriver, tid: int, link: str, gen: int) -> None:
        self.driver = driver
        self.tid = tid
        self.link = link
        self.gen = gen
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.driver._on_made(self)

    def data_received(self, data: bytes) -> None:
        self.driver._on_data(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.driver._on_lost(self)


class AioDriver:
    """Runs terminals on the running loop. `add()` starts one; `close()` drops every link."""

    def __init__(self, *, tick: float = 0.05, connect_limit: int = 256, connect_timeout: float = 10.0,
                 on_upgrade: UpgradeHook | None = None, upgrade_delay: float = 1.0, budget: float = 0.02) -> None:
        self.loop = asyncio.get_running_loop()
        self.tick = tick
        self.budget = budget  # seconds of timer work per loop turn before I/O gets a turn
        self.terminals: list[Terminal] = []
        self._due: list[float | None] = []
        self._heap: list[tuple[float, int]] = []
        self._handle: asyncio.Handle | None = None
        self._armed_at = float("inf")
        self._last_fire = 0.0
        self._links: dict[tuple[int, str], _Link] = {}
        self._gen: dict[tuple[int, str], int] = {}
        self._connects: set[asyncio.Task[None]] = set()
        self._sem = asyncio.Semaphore(connect_limit)
        self.connect_timeout = connect_timeout
        self.on_upgrade = on_upgrade
        self.upgrade_delay = upgrade_delay
        self.closed = False
        self.counters: Counter[str] = Counter()
        self.observers: list[Observer] = []  # watchers of every byte (the fleet's control service)

    # ------------------------------------------------------------------ terminals

    def add(self, terminal: Terminal, *, start: bool = True) -> int:
        tid = len(self.terminals)
        self.terminals.append(terminal)
        self._due.append(None)
        if start:
            self.apply(tid, terminal.start(self.loop.time()))
        return tid

    def call(self, tid: int, method: Callable[..., list[Any]], *args: Any) -> None:
        """Run an operator input (e.g. `terminal.raise_alarm`) and carry out its actions; `now` is
        appended to the arguments."""
        self.apply(tid, method(*args, self.loop.time()))

    def apply(self, tid: int, actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, Send):
                link = self._links.get((tid, a.link))
                if link is not None and link.transport is not None:
                    link.transport.write(a.data)
                    self.counters["frames_out"] += 1
                    self.counters["bytes_out"] += len(a.data)
                    for observe in self.observers:
                        observe("out", tid, a.link, a.data)
                else:
                    self.counters["send_without_link"] += 1
            elif isinstance(a, Connect):
                key = (tid, a.link)
                gen = self._gen.get(key, 0) + 1
                self._gen[key] = gen
                self.counters["connects"] += 1
                task = self.loop.create_task(self._connect(tid, a.link, a.host, a.port, gen))
                self._connects.add(task)
                task.add_done_callback(self._connects.discard)
            elif isinstance(a, Close):
                key = (tid, a.link)
                self._gen[key] = self._gen.get(key, 0) + 1  # a connect still in flight is now stale
                old = self._links.pop(key, None)
                if old is not None and old.transport is not None:
                    old.transport.close()
            elif isinstance(a, Upgrade):
                self.counters["upgrades"] += 1
                if self.on_upgrade is not None:
                    self.on_upgrade(self, tid, a)
                else:
                    version = str(a.fields.get("firmware_version") or "F9.99")
                    self.loop.call_later(self.upgrade_delay, self._upgrade_done, tid, version)
        self._reschedule(tid)

    def _upgrade_done(self, tid: int, version: str) -> None:
        # the default fake upgrade: nothing is fetched; the terminal reports the new firmware
        if not self.closed:
            self.apply(tid, self.terminals[tid].upgrade_done(version, self.loop.time()))

    # ------------------------------------------------------------------ timer heap

    def _reschedule(self, tid: int) -> None:
        d = self.terminals[tid].next_deadline()
        if d == self._due[tid]:
            return
        self._due[tid] = d
        if d is None:
            return
        heapq.heappush(self._heap, (d, tid))
        if d < self._armed_at:
            self._arm()

    def _arm(self) -> None:
        if self.closed or not self._heap:
            return
        # coalesce: fire no more often than once per tick
        when = max(self._heap[0][0], self._last_fire + self.tick)
        if self._handle is not None:
            if when >= self._armed_at:
                return
            self._handle.cancel()
        self._armed_at = when
        self._handle = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = float("inf")
        now = self.loop.time()
        self._last_fire = now
        heap, due, terms = self._heap, self._due, self.terminals
        budget_end = time.perf_counter() + self.budget
        n = 0
        while heap and heap[0][0] <= now:
            d, tid = heapq.heappop(heap)
            if due[tid] != d:
                continue  # a stale entry: the deadline moved since it was pushed
            due[tid] = None
            self.apply(tid, terms[tid].tick(now))
            n += 1
            if n & 31 == 0 and time.perf_counter() > budget_end:
                # overloaded: let I/O (answers, connects) have a turn before the rest of the due work
                self.counters["timer_yields"] += 1
                self._armed_at = now
                self._handle = self.loop.call_soon(self._fire)
                return
        if len(heap) > 4 * len(terms) + 1024:
            self._heap = [(d, t) for d, t in heap if due[t] == d]
            heapq.heapify(self._heap)
        self.counters["timer_fires"] += 1
        self._arm()

    # ------------------------------------------------------------------ connections

    async def _connect(self, tid: int, link: str, host: str, port: int, gen: int) -> None:
        key = (tid, link)
        async with self._sem:
            if self._gen.get(key) != gen or self.closed:
                return
            try:
                await asyncio.wait_for(
                    self.loop.create_connection(lambda: _Link(self, tid, link, gen), host, port),
                    self.connect_timeout)
            except (TimeoutError, OSError):
                self.counters["connect_failures"] += 1
                if self._gen.get(key) == gen and not self.closed:
                    self.apply(tid, self.terminals[tid].connection_lost(self.loop.time(), link))

    def _on_made(self, proto: _Link) -> None:
        key = (proto.tid, proto.link)
        if self._gen.get(key) != proto.gen or self.closed:
            assert proto.transport is not None
            proto.transport.close()
            return
        self._links[key] = proto
        self.apply(proto.tid, self.terminals[proto.tid].connected(self.loop.time(), proto.link))

    def _on_data(self, proto: _Link, data: bytes) -> None:
        if self._links.get((proto.tid, proto.link)) is not proto:
            return
        self.counters["bytes_in"] += len(data)
        for observe in self.observers:
            observe("in", proto.tid, proto.link, data)
        self.apply(proto.tid, self.terminals[proto.tid].data_received(data, self.loop.time(), proto.link))

    def _on_lost(self, proto: _Link) -> None:
        key = (proto.tid, proto.link)
        if self._links.get(key) is not proto:
            return  # we closed it ourselves
        del self._links[key]
        self.counters["links_lost"] += 1
        if not self.closed:
            self.apply(proto.tid, self.terminals[proto.tid].connection_lost(self.loop.time(), proto.link))

    @property
    def open_links(self) -> int:
        return len(self._links)

    async def close(self) -> None:
        """Stop the timer and drop every link (no logout; see `Fleet.stop(logout=True)`)."""
        self.closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for task in list(self._connects):
            task.cancel()
        for link in list(self._links.values()):
            if link.transport is not None:
                link.transport.close()
        self._links.clear()
        if self._connects:
            await asyncio.gather(*self._connects, return_exceptions=True)
        await asyncio.sleep(0)  # let the transports finish closing
