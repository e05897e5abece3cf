"""The embedded backend: the reference platforms in this process, on their own event-loop thread.

The parties run on a background loop, like a SUT on another machine would: cases talk to them over
loopback TCP, and inspect them through `InProcessParty`, which runs each query on the platforms'
loop (never touching their state from the test's thread).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from harness.protocol.timers import Timers
from reference_impl.config import Vehicle
from reference_impl.embedded import ENTERPRISE_ID, start_trio
from reference_impl.server import PlatformServer

from .base import StoredFrameView, Topology, VehicleSpec

T = TypeVar("T")


class LoopThread:
    """An asyncio loop on a daemon thread; `call(coro)` runs a coroutine there and waits."""

    def __init__(self, name: str = "gbt32960-parties") -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class _LogBuffer(logging.Handler):
    """Keeps the platforms' log lines for the evidence of a failed case."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        del self.lines[:-2000]


class InProcessParty:
    def __init__(self, server: PlatformServer, runner: LoopThread, logs: _LogBuffer) -> None:
        self.server, self.runner, self._logs = server, runner, logs
        cfg = server.core.cfg
        self.name, self.role, self.host, self.port = cfg.name, cfg.role, cfg.host, server.port

    def _on_loop(self, fn: Any) -> Any:
        async def run() -> Any:
            return fn()

        return self.runner.call(run())

    def frames(self, vin: str | None = None, commands: tuple[int, ...] | None = None) -> list[StoredFrameView]:
        def read() -> list[StoredFrameView]:
            self.server.core.flush()
            return [StoredFrameView(f.vin, f.command, f.ack, f.collected_at, f.raw, f.duplicate, f.link)
                    for f in self.server.core.store.frames(vin=vin, commands=commands)]

        return self._on_loop(read)

    def online(self) -> list[str]:
        return self._on_loop(lambda: sorted(self.server.core.online))

    def queue_depth(self, upstream: str | None = None) -> int:
        return self._on_loop(lambda: self.server.core.store.queue_depth(upstream))

    def warnings(self, vin: str | None = None) -> list[tuple[str, str, str]]:
        return self._on_loop(lambda: [(w[1], w[2], w[3]) for w in self.server.core.store.warnings(vin)])

    def logs(self) -> str:
        return "\n".join(line for line in self._logs.lines if self.name in line or "reference_impl" in line)


HARNESS_PLATFORM = ("HARNESS-ENT-01", "harness", "harness-secret")  # how the harness logs in to a platform SUT


def start_platform_sut(role: str, timers: Timers, *, region: str = "110000",
                       defects: frozenset[str] = frozenset()) -> Topology:
    """A local or national reference platform alone as the SUT; the harness plays the enterprise
    platform (it logs in with HARNESS_PLATFORM) and the vehicles behind it."""
    from reference_impl.config import Account, PlatformConfig
    from reference_impl.core import PlatformCore

    runner = LoopThread()
    logs = _LogBuffer()
    logging.getLogger("reference_impl").addHandler(logs)
    folder = tempfile.mkdtemp(prefix=f"gbt32960-{role}-")
    pid, user, password = HARNESS_PLATFORM
    from .keys import embedded as embedded_keys

    keys = embedded_keys(region)  # relays encrypted to it, vehicles' signing keys (harness/topology/keys.py)
    cfg = PlatformConfig(role=role, name=f"{role.upper()}-SUT", listen="127.0.0.1:0", timers=timers,
                         storage=str(Path(folder) / f"{role}.sqlite"), defects=defects, control_port=0,
                         accounts={pid: Account(pid, user, password, region)}, accept_unknown_vins=role == "national",
                         security=keys.platform_security())

    async def up() -> PlatformServer:
        return await PlatformServer(PlatformCore(cfg)).start()

    server = runner.call(up())

    def close() -> None:
        async def down() -> None:
            await server.stop()
            server.core.store.close()

        try:
            runner.call(down(), timeout=20)
        finally:
            runner.stop()
            logging.getLogger("reference_impl").removeHandler(logs)

    return Topology(role=role, backend="embedded", sut=InProcessParty(server, runner, logs), local=None,
                    national=None, vehicles=[], timers=timers, region=region, platform_id=pid,
                    credentials=(user, password), extra={"close": close, "control": _control(server), "crypto": keys})


def start(vehicles: list[VehicleSpec], timers: Timers, *, region: str = "110000",
          defects: frozenset[str] = frozenset(), workdir: str | None = None) -> Topology:
    """The three reference platforms in-process; the enterprise platform is the SUT."""
    runner = LoopThread()
    logs = _LogBuffer()
    logging.getLogger("reference_impl").addHandler(logs)
    logging.getLogger("reference_impl").setLevel(logging.INFO)
    folder = workdir or tempfile.mkdtemp(prefix="gbt32960-embedded-")
    specs = [Vehicle(v.vin, v.public_service, v.region) for v in vehicles]
    from harness.faults.run import ProxyThread

    from .keys import embedded as embedded_keys

    # the confidentiality cases' keys and vehicles (harness/topology/keys.py), apart from `vehicles`
    keys = embedded_keys(region)
    specs += [Vehicle(v.vin, v.public_service, v.region) for v in keys.vehicles]

    proxy = ProxyThread().start()
    faults = proxy.client()

    def route(name: str, host: str, port: int) -> tuple[str, int]:
        # the enterprise -> local link goes through the fault proxy, as in the docker backend
        if not name.startswith("local-"):
            return host, port
        faults.create_link("enterprise->local", (host, port))
        listen = next(link for link in faults.links() if link.name == "enterprise->local")
        return "127.0.0.1", int(listen.listen.port)

    async def up() -> Any:
        return await start_trio(Path(folder), specs, timers=timers, region=region, defects=defects,
                                route=route, control_port=0, enterprise={"security": keys.platform_security()})

    trio = runner.call(up())

    async def online() -> None:
        for _ in range(int(10 / 0.02)):
            if all(u.state == "online" for u in trio.enterprise.core.uplinks.values()):
                return
            await asyncio.sleep(0.02)

    runner.call(online())

    def close() -> None:
        try:
            runner.call(trio.stop(), timeout=20)
        finally:
            runner.stop()
            faults.close()
            proxy.stop()
            logging.getLogger("reference_impl").removeHandler(logs)

    parties = {name: InProcessParty(getattr(trio, name), runner, logs) for name in ("enterprise", "local", "national")}
    extra: dict[str, Any] = {"close": close, "workdir": folder, "runner": runner, "trio": trio,
                             "control": _control(trio.enterprise)}

    def restart(name: str, hard: bool = True) -> None:
        # same ports and the same SQLite file: peers and the harness find it where it was
        server = runner.call(_restart(getattr(trio, name), hard), timeout=30)
        setattr(trio, name, server)
        parties[name].server = server
        if name == "enterprise":
            extra["control"] = _control(server)

    extra["restart"] = restart
    extra["crypto"] = keys
    return Topology(role="enterprise", backend="embedded", sut=parties["enterprise"], local=parties["local"],
                    national=parties["national"], vehicles=vehicles, timers=timers, region=region,
                    platform_id=ENTERPRISE_ID, faults=faults, extra=extra)


async def _kill(server: PlatformServer) -> None:
    """Stop a platform the way kill -9 does: links cut without logout, writes not yet committed lost,
    no final commit. Only what the platform committed before (it commits before it answers or relays)
    is left in its SQLite file."""
    server.run = lambda actions: None  # type: ignore[method-assign]  # a dead process performs nothing
    server.commit = lambda: None  # type: ignore[method-assign]
    if server.control is not None:
        await server.control.stop()
    if server._ticker:
        server._ticker.cancel()
    if server._server:
        server._server.close()
    for t in list(server.transports.values()):
        t.abort()
    for task in list(server._tasks):
        task.cancel()
    store = server.core.store
    for pending in (store._frames, store._queue, store._warnings, store._done):
        pending.clear()
    if server._server:
        await server._server.wait_closed()
    store.db.close()
    server.stopped.set()


async def _restart(server: PlatformServer, hard: bool) -> PlatformServer:
    """Stop `server` (hard: like kill -9; else a clean stop) and start a new one from its config and store."""
    from reference_impl.core import PlatformCore

    cfg = server.core.cfg
    port, control_port = server.port, server.control_port
    if hard:
        await _kill(server)
    else:
        await server.stop()
        server.core.store.close()
    cfg.listen = f"{cfg.host}:{port}"
    if control_port is not None:
        cfg.control_port = control_port
    return await PlatformServer(PlatformCore(cfg)).start()


def _control(server: PlatformServer) -> Any:
    from harness.control import ControlClient

    return ControlClient(f"127.0.0.1:{server.control_port}")
