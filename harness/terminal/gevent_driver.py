"""The same sans-IO terminal over gevent sockets, for locust users.

Scale comes from doing as little per terminal as possible (as in the asyncio driver, `aio`):
- one reader greenlet per link, blocked in `recv` (no CPU while the platform is silent);
- no timer greenlet per terminal: every terminal of a process (of a hub) is on one shared timer
  wheel (`Wheel`): a heap of each terminal's `next_deadline()`, served by one greenlet that wakes at
  most once per `tick` and runs every terminal that is due. A terminal samples every second, so a
  greenlet per terminal waking every second cost more than the terminal itself;
- sends never wait: a frame goes to the kernel at once (`send` with timeout 0); only when a link's
  socket buffer is full do the rest and the frames after it go, in order, through a writer greenlet
  for that link. So a terminal input and its actions run without yielding, and the wheel is never
  held up by one slow link.

Import this module only where gevent is wanted: it needs gevent, and importing gevent changes how
a process should be set up (locust monkey-patches early). The asyncio driver (`aio`) does not.
No monkey-patching happens here: gevent.socket is used directly.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

try:
    import gevent
    import gevent.event
    import gevent.lock
    import gevent.socket
except ImportError as exc:  # pragma: no cover - exercised by a test that hides gevent
    raise ImportError(
        "harness.terminal.gevent_driver needs gevent, which is not installed: `pip install gevent` "
        "(or use the asyncio driver, harness.terminal.aio, which needs nothing)") from exc

from .machine import Close, Connect, Send, Terminal, Upgrade

Hook = Callable[[str, bytes], None]
LinkHook = Callable[[str, str], None]
_INF = float("inf")


class Wheel:
    """One timer for many terminals: a heap of (deadline, seq, driver), served by one greenlet.

    It wakes at most once per `tick` seconds and ticks every terminal that is due (late by at most
    `tick`, as the asyncio driver's wheel). After `budget` seconds of timer work it yields once, so
    answers arriving meanwhile are read (and timed) before the rest of the due work."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, tick: float = 0.01,
                 budget: float = 0.005) -> None:
        self.clock = clock
        self.tick = tick
        self.budget = budget
        self._heap: list[tuple[float, int, GeventTerminal]] = []
        self._seq = itertools.count()
        self._wake = gevent.event.Event()
        self._armed = _INF  # the wheel sleeps until then (inf: it is running, or not started)
        self._last = -_INF
        self._greenlet: Any = None
        self.counters: Counter[str] = Counter()
        self.late_max = 0.0  # the most a due terminal waited for its tick (since the caller reset it)

    def push(self, when: float, driver: GeventTerminal) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), driver))
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)
        elif when < self._armed:
            self._wake.set()

    def __len__(self) -> int:
        return len(self._heap)

    def _run(self) -> None:
        heap, clock, perf = self._heap, self.clock, time.perf_counter
        while heap:
            now = clock()
            when = max(heap[0][0], self._last + self.tick)
            if when > now:
                self._armed = when
                self._wake.clear()
                self._wake.wait(when - now)
                self._armed = _INF
                continue
            self._last = now
            self.counters["fires"] += 1
            self.late_max = max(self.late_max, now - heap[0][0])
            budget_end = perf() + self.budget
            n = 0
            while heap and heap[0][0] <= now:
                d, _, driver = heapq.heappop(heap)
                if driver._due != d:
                    continue  # a stale entry: the deadline moved since it was pushed
                driver._due = None
                driver._on_timer(now)
                n += 1
                if n & 15 == 0 and perf() > budget_end:
                    # busy: let readers (answers being timed) and connects have a turn
                    self.counters["yields"] += 1
                    gevent.sleep(0)
                    budget_end = perf() + self.budget
            if len(heap) > 1024 and len(heap) > 4 * self.counters["drivers"]:
                heap[:] = [e for e in heap if e[2]._due == e[0]]
                heapq.heapify(heap)


_WHEELS: dict[tuple[int, Callable[[], float]], Wheel] = {}


def shared_wheel(clock: Callable[[], float] = time.monotonic) -> Wheel:
    """The wheel of this gevent hub (thread) for `clock`."""
    key = (id(gevent.get_hub()), clock)
    wheel = _WHEELS.get(key)
    if wheel is None:
        wheel = _WHEELS[key] = Wheel(clock)
    return wheel


class GeventTerminal:
    """Drives one `Terminal` with gevent. `clock` gives the terminal's `now` (monotonic seconds).

    `on_send(link, data)` / `on_data(link, data)` observe every frame out (once it is all in the
    kernel's socket buffer) and every chunk in, e.g. to fire locust request events.
    `on_link(link, event)` hears "connect_failed" and "lost" (the platform closed the link or it
    broke) as they happen. `on_upgrade(action)` replaces the default fake upgrade (wait
    `upgrade_delay`, then report the new firmware). The hooks must not block."""

    def __init__(self, terminal: Terminal, *, clock: Callable[[], float] = time.monotonic,
                 connect_timeout: float = 10.0, on_send: Hook | None = None, on_data: Hook | None = None,
                 on_link: LinkHook | None = None, on_upgrade: Callable[[Upgrade], None] | None = None,
                 upgrade_delay: float = 1.0, wheel: Wheel | None = None) -> None:
        self.terminal = terminal
        self.clock = clock
        self.connect_timeout = connect_timeout
        self.on_send = on_send
        self.on_data = on_data
        self.on_link = on_link
        self.on_upgrade = on_upgrade
        self.upgrade_delay = upgrade_delay
        self.wheel = wheel if wheel is not None else shared_wheel(clock)
        self.counters: Counter[str] = Counter()
        self._socks: dict[str, Any] = {}
        self._queues: dict[str, tuple[Any, deque[tuple[memoryview, bytes]]]] = {}  # link -> (sock, unsent)
        self._gen: Counter[str] = Counter()
        self._lock = gevent.lock.RLock()  # terminal calls and their actions run one at a time
        self._stopped = False
        self._greenlets: list[Any] = []
        self._due: float | None = None  # the deadline this terminal has on the wheel
        self._started = False

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        self._started = True
        self.wheel.counters["drivers"] += 1
        self.call(self.terminal.start)

    def call(self, method: Callable[..., list[Any]], *args: Any) -> None:
        """Run a terminal input; `now` is appended to the arguments."""
        with self._lock:
            self._apply(method(*args, self.clock()))

    def stop(self, *, logout: bool = True, timeout: float = 2.0) -> None:
        with self._lock:
            self._apply(self.terminal.shutdown(self.clock(), logout=logout))
            self._stopped = True
            self._due = None
            for link in list(self._socks):
                self._close(link)
        gevent.joinall([g for g in self._greenlets if not g.dead], timeout=timeout)
        gevent.killall([g for g in self._greenlets if not g.dead], block=False)
        self._greenlets.clear()
        if self._started:
            self._started = False
            self.wheel.counters["drivers"] -= 1

    @property
    def online(self) -> bool:
        return self.terminal.online

    # ------------------------------------------------------------------ actions

    def _apply(self, actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, Send):
                self._write(a.link, a.data)
            elif isinstance(a, Connect):
                self._gen[a.link] += 1
                self._spawn(self._link, a.link, self._gen[a.link], a.host, a.port)
            elif isinstance(a, Close):
                self._gen[a.link] += 1
                self._close(a.link)
            elif isinstance(a, Upgrade):
                if self.on_upgrade is not None:
                    self.on_upgrade(a)
                else:
                    version = str(a.fields.get("firmware_version") or "F9.99")
                    gevent.spawn_later(self.upgrade_delay, self.call, self.terminal.upgrade_done, version)
        self._reschedule()  # the next deadline may have moved

    def _reschedule(self) -> None:
        d = None if self._stopped else self.terminal.next_deadline()
        if d != self._due:
            self._due = d
            if d is not None:
                self.wheel.push(d, self)

    def _on_timer(self, now: float) -> None:
        if self._stopped:
            return
        if not self._lock.acquire(blocking=False):  # a terminal call is under way: come back soon
            self._due = now + self.wheel.tick
            self.wheel.push(self._due, self)
            return
        try:
            self._apply(self.terminal.tick(now))
        finally:
            self._lock.release()

    def _spawn(self, fn: Callable[..., Any], *args: Any) -> Any:
        self._greenlets = [g for g in self._greenlets if not g.dead]
        g = gevent.spawn(fn, *args)
        self._greenlets.append(g)
        return g

    def _write(self, link: str, data: bytes) -> None:
        sock = self._socks.get(link)
        if sock is None:
            self.counters["send_without_link"] += 1
            return
        queued = self._queues.get(link)
        if queued is not None and queued[0] is sock:
            queued[1].append((memoryview(data), data))  # behind what the writer still has: keep the order
            return
        try:
            n = sock.send(data, 0, 0.0)  # timeout 0: never waits
        except BlockingIOError:
            n = 0
        except OSError:
            self.counters["send_errors"] += 1
            return
        if n == len(data):
            self._sent(link, data)
            return
        self.counters["send_queued"] += 1
        self._queues[link] = (sock, deque([(memoryview(data)[n:], data)]))
        self._spawn(self._writer, link, sock)

    def _sent(self, link: str, data: bytes) -> None:
        self.counters["frames_out"] += 1
        if self.on_send is not None:
            self.on_send(link, data)

    def _writer(self, link: str, sock: Any) -> None:
        entry = self._queues[link]
        q = entry[1]
        try:
            while q:
                rest, data = q[0]
                try:
                    sock.sendall(rest)
                except OSError:
                    self.counters["send_errors"] += len(q)
                    q.clear()
                    return
                q.popleft()
                with self._lock:
                    self._sent(link, data)
        finally:
            if self._queues.get(link) is entry:
                del self._queues[link]

    def _close(self, link: str) -> None:
        sock = self._socks.pop(link, None)
        queued = self._queues.get(link)
        if queued is not None and queued[0] is sock:
            del self._queues[link]
            self.counters["send_errors"] += len(queued[1])
            queued[1].clear()
        if sock is not None:
            sock.close()

    def _hook(self, link: str, event: str) -> None:
        if self.on_link is not None:
            self.on_link(link, event)

    # ------------------------------------------------------------------ greenlets

    def _link(self, link: str, gen: int, host: str, port: int) -> None:
        try:
            sock: Any = gevent.socket.create_connection((host, port), timeout=self.connect_timeout)
            sock.settimeout(None)
        except OSError:
            self.counters["connect_failures"] += 1
            with self._lock:
                if self._gen[link] == gen and not self._stopped:
                    self._apply(self.terminal.connection_lost(self.clock(), link))
                    self._hook(link, "connect_failed")
            return
        with self._lock:
            if self._gen[link] != gen or self._stopped:
                sock.close()
                return
            self._socks[link] = sock
            self._apply(self.terminal.connected(self.clock(), link))
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            if self.on_data is not None:
                self.on_data(link, data)
            with self._lock:
                if self._socks.get(link) is not sock:
                    return
                self._apply(self.terminal.data_received(data, self.clock(), link))
        with self._lock:
            if self._socks.get(link) is sock:
                self._close(link)
                if not self._stopped:
                    self._apply(self.terminal.connection_lost(self.clock(), link))
                    self._hook(link, "lost")
