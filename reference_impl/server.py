"""The asyncio driver of a reference platform: sockets and a clock around `PlatformCore`.

Every event is fed to the core at once; its actions wait for the end of the event-loop turn, when
the store is committed once (`flush`) and then all the turn's actions are performed. So nothing is
answered or relayed before it is durable, and 10,000 readable links cost one commit, not 10,000.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .core import Action, Close, Connect, PlatformCore, Send

if TYPE_CHECKING:
    from .control import ControlServer

log = logging.getLogger("reference_impl.server")

WRITE_LIMIT = 4 * 1024 * 1024  # a peer that stops reading is cut off, not buffered forever


class _Connection(asyncio.Protocol):
    def __init__(self, server: PlatformServer, upstream: str | None = None) -> None:
        self.server = server
        self.upstream = upstream
        self.conn = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        s = self.server
        now = s.clock()
        if self.upstream is None:
            self.conn = next(s._ids)
            s.transports[self.conn] = transport
            peer = transport.get_extra_info("peername")
            s.run(s.core.opened(self.conn, f"{peer[0]}:{peer[1]}" if peer else "?", now))
        else:
            self.conn, actions = s.core.upstream_connected(self.upstream, now)
            s.transports[self.conn] = transport
            s.run(actions)

    def data_received(self, data: bytes) -> None:
        s = self.server
        s.run(s.core.received(self.conn, data, s.clock()))

    def connection_lost(self, exc: Exception | None) -> None:
        s = self.server
        s.transports.pop(self.conn, None)
        s.run(s.core.closed(self.conn, s.clock()))


class PlatformServer:
    def __init__(self, core: PlatformCore, clock: Callable[[], float] = time.time) -> None:
        self.core = core
        self.clock = clock
        self.transports: dict[int, asyncio.Transport] = {}
        self._ids = iter(range(1, 1_000_000))
        self._server: asyncio.base_events.Server | None = None
        self._ticker: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._actions: list[Action] = []
        self._commit_scheduled = False
        self.control: ControlServer | None = None  # gRPC control (cfg.control_port)
        self.stopped = asyncio.Event()  # set once stop() finished (signals, or the control's Stop)
        self._stopping = False

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def control_port(self) -> int | None:
        """The bound port of the gRPC control service (None when it is not running)."""
        return self.control.port if self.control is not None else None

    async def start(self) -> PlatformServer:
        cfg = self.core.cfg
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), cfg.host, cfg.port, backlog=4096)
        self._ticker = asyncio.create_task(self._tick())
        self.run(self.core.start(self.clock()))
        log.info("%s platform %s listening on %s:%d", cfg.role, cfg.name, cfg.host, self.port)
        if cfg.control_port is not None:
            from .control import start_control  # grpc is imported only when the control service is asked for

            self.control = await start_control(self, cfg.host, cfg.control_port)
            log.info("%s platform %s control on %s:%d", cfg.role, cfg.name, cfg.host, self.control.port)
        return self

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.core.timers.tick)  # read each time: SetTimers may change it
            self.run(self.core.tick(self.clock()))

    def run(self, actions: list[Action]) -> None:
        """Queue the core's actions; they leave after the turn's single commit (`commit`)."""
        self._actions += actions
        if not self._commit_scheduled:
            self._commit_scheduled = True
            asyncio.get_running_loop().call_soon(self.commit)

    def commit(self) -> None:
        """Commit everything the core stored since the last commit, then perform the queued actions."""
        self._commit_scheduled = False
        actions, self._actions = self._actions, []
        self.core.flush()
        for a in actions:
            if isinstance(a, Send):
                t = self.transports.get(a.conn)
                if t is not None and not t.is_closing():
                    t.write(a.data)
                    if self.core.observers:
                        self.core.sent(a.conn, a.data)
                    if t.get_write_buffer_size() > WRITE_LIMIT:
                        log.info("connection %d does not read; closing", a.conn)
                        t.abort()
            elif isinstance(a, Close):
                t = self.transports.get(a.conn)
                if t is not None:
                    log.info("closing connection %d: %s", a.conn, a.reason)
                    t.close()
            elif isinstance(a, Connect):
                task = asyncio.create_task(self._connect(a))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _connect(self, a: Connect) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.create_connection(lambda: _Connection(self, a.upstream), a.host, a.port),
                                   timeout=max(self.core.timers.response_timeout, 1.0))
        except (TimeoutError, OSError) as exc:
            log.info("upstream %s at %s:%d unreachable: %s", a.upstream, a.host, a.port, exc)
            self.run(self.core.upstream_failed(a.upstream, self.clock()))

    async def stop(self) -> None:
        """Close the control service, every link and the listener; commit. Safe to call twice."""
        if self._stopping:
            await self.stopped.wait()
            return
        self._stopping = True
        if self.control is not None:
            await self.control.stop()
        if self._ticker:
            self._ticker.cancel()
        if self._server:
            self._server.close()
        for t in list(self.transports.values()):
            t.abort()
        if self._server:
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        self.commit()
        self.stopped.set()

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()
