"""The same sans-IO terminal over gevent sockets, for locust users (one greenlet per link plus one
timer greenlet per terminal; locust runs each user in a greenlet anyway).

Import this module only where gevent is wanted: it needs gevent, and importing gevent changes how
a process should be set up (locust monkey-patches early). The asyncio driver (`aio`) does not.
No monkey-patching happens here: gevent.socket is used directly.
"""

from __future__ import annotations

import time
from collections import Counter
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


class GeventTerminal:
    """Drives one `Terminal` with gevent. `clock` gives the terminal's `now` (monotonic seconds).

    `on_send(link, data)` / `on_data(link, data)` observe every frame out and every chunk in, e.g.
    to fire locust request events. `on_upgrade(action)` replaces the default fake upgrade (wait
    `upgrade_delay`, then report the new firmware)."""

    def __init__(self, terminal: Terminal, *, clock: Callable[[], float] = time.monotonic,
                 connect_timeout: float = 10.0, on_send: Hook | None = None, on_data: Hook | None = None,
                 on_upgrade: Callable[[Upgrade], None] | None = None, upgrade_delay: float = 1.0) -> None:
        self.terminal = terminal
        self.clock = clock
        self.connect_timeout = connect_timeout
        self.on_send = on_send
        self.on_data = on_data
        self.on_upgrade = on_upgrade
        self.upgrade_delay = upgrade_delay
        self.counters: Counter[str] = Counter()
        self._socks: dict[str, Any] = {}
        self._gen: Counter[str] = Counter()
        self._lock = gevent.lock.RLock()  # terminal calls and their actions run one at a time
        self._wake = gevent.event.Event()
        self._stopped = False
        self._greenlets: list[Any] = []
        self._timer: Any = None

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        self.call(self.terminal.start)
        self._timer = gevent.spawn(self._timer_loop)

    def call(self, method: Callable[..., list[Any]], *args: Any) -> None:
        """Run a terminal input; `now` is appended to the arguments."""
        with self._lock:
            self._apply(method(*args, self.clock()))

    def stop(self, *, logout: bool = True, timeout: float = 2.0) -> None:
        with self._lock:
            self._apply(self.terminal.shutdown(self.clock(), logout=logout))
            self._stopped = True
            for link in list(self._socks):
                self._close(link)
        self._wake.set()
        gevent.joinall([g for g in [self._timer, *self._greenlets] if g is not None], timeout=timeout)
        gevent.killall([g for g in self._greenlets if not g.dead], block=False)

    @property
    def online(self) -> bool:
        return self.terminal.online

    # ------------------------------------------------------------------ actions

    def _apply(self, actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, Send):
                sock = self._socks.get(a.link)
                if sock is None:
                    self.counters["send_without_link"] += 1
                    continue
                try:
                    sock.sendall(a.data)
                except OSError:
                    self.counters["send_errors"] += 1
                    continue
                self.counters["frames_out"] += 1
                if self.on_send is not None:
                    self.on_send(a.link, a.data)
            elif isinstance(a, Connect):
                self._gen[a.link] += 1
                self._greenlets.append(gevent.spawn(self._link, a.link, self._gen[a.link], a.host, a.port))
            elif isinstance(a, Close):
                self._gen[a.link] += 1
                self._close(a.link)
            elif isinstance(a, Upgrade):
                if self.on_upgrade is not None:
                    self.on_upgrade(a)
                else:
                    version = str(a.fields.get("firmware_version") or "F9.99")
                    gevent.spawn_later(self.upgrade_delay, self.call, self.terminal.upgrade_done, version)
        self._wake.set()  # the next deadline may have moved

    def _close(self, link: str) -> None:
        sock = self._socks.pop(link, None)
        if sock is not None:
            sock.close()

    # ------------------------------------------------------------------ greenlets

    def _timer_loop(self) -> None:
        while not self._stopped:
            d = self.terminal.next_deadline()
            timeout = None if d is None else max(0.0, d - self.clock())
            self._wake.clear()
            if timeout is None or timeout > 0:
                self._wake.wait(timeout)
            if self._stopped:
                return
            now = self.clock()
            d = self.terminal.next_deadline()
            if d is not None and now >= d:
                with self._lock:
                    self._apply(self.terminal.tick(now))

    def _link(self, link: str, gen: int, host: str, port: int) -> None:
        try:
            sock: Any = gevent.socket.create_connection((host, port), timeout=self.connect_timeout)
            sock.settimeout(None)
        except OSError:
            self.counters["connect_failures"] += 1
            with self._lock:
                if self._gen[link] == gen and not self._stopped:
                    self._apply(self.terminal.connection_lost(self.clock(), link))
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
            if link in self._socks and self._socks[link] is sock:
                del self._socks[link]
                sock.close()
                if not self._stopped:
                    self._apply(self.terminal.connection_lost(self.clock(), link))
