"""The Control API (`proto/gbt32960/control/v1/control.proto`) served for a vehicle `Fleet`.

Sessions are the fleet's terminals, StreamFrames shows what they send and receive, Stats come from
`FleetStats`, and the fleet-only acts (RaiseAlarm, GoOffline, GoOnline, SetEdition) go through the
sans-IO Terminal's own inputs, their actions carried out by the fleet's AioDriver. It runs on the
fleet's event loop (grpc.aio), so nothing here races the terminals. Platform-only calls answer
UNIMPLEMENTED.

    fleet = Fleet("127.0.0.1", port, vehicles=10, ...)
    control = await serve_control(fleet)          # before or after fleet.start()
    ...  ControlClient(f"127.0.0.1:{control.port}")
    await control.stop()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import grpc

from harness.protocol.framer import Framer
from harness.rpc.service import (
    STREAM_BUFFER,
    SUBSCRIBED_KEY,
    Subscriber,
    abort,
    bounded_wait,
    frame_record,
    pb,
    pb_grpc,
    start_grpc,
    timers_message,
)

from .fleet import Fleet
from .machine import DEFECTS, MAIN, Terminal

ControlServicer: Any = pb_grpc.ControlServicer  # loaded at run time: typed Any for the checkers

__all__ = ["FleetControl", "FleetControlServer", "serve_control"]



# ====================================================================== the fleet's service


def link_name(vin: str, link: str) -> str:
    return f"vehicle:{vin}" if link == MAIN else f"vehicle:{vin}/{link}"


class FleetControl(ControlServicer):
    """The Control service over one Fleet (see the module docstring)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.started_at = time.time()
        self.subscribers: set[Subscriber] = set()
        self.last_frame: dict[int, float] = {}  # terminal id -> driver time of its last frame in or out
        self._framers: dict[tuple[int, str], Framer] = {}  # "in" chunks cut into frames, while watched
        self._index: dict[str, int] = {}
        self.stopped = asyncio.Event()
        self.on_stop: Any = None  # set by FleetControlServer: stops the gRPC server after the fleet
        fleet.observers.append(self._observe)

    # ------------------------------------------------------------------ observer and lookups
    def _observe(self, direction: str, tid: int, link: str, data: bytes) -> None:
        driver = self.fleet.driver
        now = driver.loop.time() if driver is not None else 0.0
        self.last_frame[tid] = now
        if not self.subscribers:
            return
        vin = self.fleet.terminals[tid].vin
        name = link_name(vin, link)
        at = time.time()
        if direction == "out":
            frames = [data]  # a Send is one whole frame
        else:
            framer = self._framers.setdefault((tid, link), Framer())
            frames = [f for f in framer.feed(data) if isinstance(f, bytes)]
        for raw in frames:
            for sub in self.subscribers:
                if sub.wants(name, raw):
                    sub.offer((at, direction, name, raw))

    def wall(self, driver_time: float) -> float:
        """Unix time of a driver (loop) time."""
        driver = self.fleet.driver
        return time.time() - (driver.loop.time() - driver_time) if driver is not None else 0.0

    async def _terminal(self, vin: str, context: grpc.aio.ServicerContext) -> tuple[int, Terminal]:
        if len(self._index) != len(self.fleet.terminals):
            self._index = {t.vin: i for i, t in enumerate(self.fleet.terminals)}
        tid = self._index.get(vin)
        if tid is None:
            await abort(context, grpc.StatusCode.NOT_FOUND, f"no vehicle {vin!r} in this fleet")
        driver = self.fleet.driver
        if driver is None or tid >= len(driver.terminals):
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION, f"vehicle {vin} has not started yet")
        return tid, driver.terminals[tid]

    def _apply(self, tid: int, actions: list[Any]) -> None:
        assert self.fleet.driver is not None
        self.fleet.driver.apply(tid, actions)

    def _now(self) -> float:
        assert self.fleet.driver is not None
        return self.fleet.driver.loop.time()

    def _started(self) -> list[Terminal]:
        driver = self.fleet.driver
        return list(driver.terminals) if driver is not None else []

    def close_streams(self) -> None:
        for sub in list(self.subscribers):
            sub.offer(None)

    # ------------------------------------------------------------------ inspect
    async def GetInfo(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        f = self.fleet
        editions = sorted({t.edition for t in f.terminals}) or ([int(f.edition)] if f.edition != "mixed"
                                                                 else [2016, 2025])
        return pb.GetInfoResponse(role="fleet", address=f"{f.host}:{f.port}", editions=editions,
                                  vehicles=f.vehicles, started_at=self.started_at)

    async def ListSessions(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if request.kind == pb.SESSION_KIND_PLATFORM:
            return pb.ListSessionsResponse()
        out = []
        for tid, t in enumerate(self._started()):
            if not t.online and not request.include_all:
                continue
            main = t.sessions[MAIN]
            online_at = [when for when, kind, _ in t.log if kind == "online"]
            last = self.last_frame.get(tid)
            out.append(pb.Session(
                id=t.vin, kind=pb.SESSION_KIND_VEHICLE, edition=t.edition, peer=f"{main.host}:{main.port}",
                since=self.wall(online_at[-1]) if online_at and t.online else 0.0,
                last_frame_at=self.wall(last) if last is not None else 0.0, link=link_name(t.vin, MAIN),
                logged_in=t.online, frames_in=sum(t.sent_by_command.values()), state=t.state))
        return pb.ListSessionsResponse(sessions=out)

    async def StreamFrames(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        if request.replay:
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                        "the fleet stores no frames to replay; ask a platform, or stream without replay")
        sub = Subscriber(set(request.vins), set(request.links))
        decoded = not request.skip_decode
        self.subscribers.add(sub)
        try:
            await context.send_initial_metadata(((SUBSCRIBED_KEY, "1"),))
            while True:
                item = await sub.next()
                if item is None:
                    return  # stopping
                if sub.dropped:
                    await abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"this stream fell {STREAM_BUFFER} frames behind; {sub.dropped} were not delivered")
                yield frame_record(*item, decoded)
        finally:
            self.subscribers.discard(sub)
            if not self.subscribers:
                self._framers.clear()

    async def GetQueue(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        queues = []
        for t in self._started():
            if t.backlog:
                # the terminal stores in time order: the head is the oldest sample
                queues.append(pb.Queue(name=t.vin, role="vehicle", state=t.state, depth=len(t.backlog),
                                       oldest_collected_at=str(t.timestamp(t.backlog[0].t))))
        return pb.GetQueueResponse(queues=queues, total_depth=sum(q.depth for q in queues))

    async def ListWarnings(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        rows = []
        for t in self._started():
            if request.vin and t.vin != request.vin:
                continue
            for when, level, info in t.warnings:  # warnings the platform sent (control 0x82/0x06)
                at = self.wall(when)
                if at >= request.since:
                    detail = f"level {level}" + (f", info {bytes(info).hex()}" if info else "")
                    rows.append(pb.WarningRecord(at=at, vin=t.vin, kind="platform-warning", detail=detail))
        if request.kind:
            rows = [r for r in rows if r.kind == request.kind]
        rows.sort(key=lambda r: r.at)
        return pb.ListWarningsResponse(warnings=rows[-(request.limit or 1000):])

    async def GetStats(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        st = self.fleet.stats()
        counters = {k: v for k, v in st.as_dict().items() if isinstance(v, int)}
        if self.fleet.driver is not None:
            counters |= {f"driver.{k}": v for k, v in self.fleet.driver.counters.items()}
        return pb.GetStatsResponse(counters=counters, frames_by_command=dict(st.frames), uptime=st.elapsed)

    async def GetTimers(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.GetTimersResponse(timers=timers_message(self.fleet.timers))

    async def ListDefects(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.ListDefectsResponse(defects=self._defects())

    def _defects(self) -> list[Any]:
        terms = self._started() or self.fleet.terminals
        out = []
        for name, text in DEFECTS.items():
            n = sum(name in t.defects for t in terms)
            out.append(pb.Defect(name=name, description=text, on=n > 0, vehicles=n))
        return out

    # ------------------------------------------------------------------ act (both)
    async def SetDefect(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if request.name not in DEFECTS:
            await abort(context, grpc.StatusCode.NOT_FOUND,
                        f"no terminal defect switch {request.name!r}; known: {', '.join(DEFECTS)}")
        if request.vin:
            targets = [(await self._terminal(request.vin, context))[1]]
        else:
            targets = list(self.fleet.terminals)  # those not started yet too
        for t in targets:
            # the terminal reads its switches when it acts, so a new set takes effect at its next action
            t.defects = t.defects | {request.name} if request.on else t.defects - {request.name}
        return pb.SetDefectResponse(defects=self._defects())

    async def Drain(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.monotonic()
        deadline = started + bounded_wait(request.timeout, 10, 600, context)
        while self._undelivered() and time.monotonic() < deadline:
            await asyncio.sleep(min(self.fleet.tick, max(deadline - time.monotonic(), 0)))
        remaining = self._undelivered()
        return pb.DrainResponse(drained=remaining == 0, remaining=remaining, waited=time.monotonic() - started)

    def _undelivered(self) -> int:
        return sum(len(t.backlog) + sum(len(s.resends) for s in t.sessions.values()) for t in self._started())

    async def Stop(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        task = asyncio.get_running_loop().create_task(self._stop())
        _background.add(task)
        task.add_done_callback(_background.discard)
        return pb.StopResponse()

    async def _stop(self) -> None:
        await self.fleet.stop(logout=True)
        if self.on_stop is not None:
            await self.on_stop()
        self.stopped.set()

    # ------------------------------------------------------------------ act (fleet only)
    async def RaiseAlarm(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        tid, t = await self._terminal(request.vin, context)
        try:
            actions = t.raise_alarm(request.level, self._now(), request.duration or None)
        except ValueError as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        self._apply(tid, actions)
        return pb.RaiseAlarmResponse(state=t.state)

    async def GoOffline(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        tid, t = await self._terminal(request.vin, context)
        if request.key_off:
            self._apply(tid, t.power_off(self._now()))
        else:
            self._apply(tid, t.shutdown(self._now(), logout=not request.silent))
        return pb.GoOfflineResponse(state=t.state)

    async def GoOnline(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        tid, t = await self._terminal(request.vin, context)
        self._apply(tid, t.power_on(self._now()))
        return pb.GoOnlineResponse(state=t.state)

    async def SetEdition(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        tid, t = await self._terminal(request.vin, context)
        try:
            t.set_edition(request.edition)
        except ValueError as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if request.reconnect:  # logout, close, and log in again: the new edition applies at that login
            now = self._now()
            self._apply(tid, t.shutdown(now, logout=True) + t.power_on(now))
        return pb.SetEditionResponse(state=t.state)

    # ------------------------------------------------------------------ platform only
    async def _platform_only(self, context: grpc.aio.ServicerContext, name: str) -> NoReturn:
        await abort(context, grpc.StatusCode.UNIMPLEMENTED,
                    f"{name} is a platform's: call it on a platform's control port, not on the vehicle fleet's")

    async def QueryFrames(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._platform_only(context, "QueryFrames (the fleet stores no frames)")

    async def GetDataCall(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._platform_only(context, "GetDataCall")

    async def RegisterVehicle(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._platform_only(context, "RegisterVehicle")

    async def RemoveVehicle(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._platform_only(context, "RemoveVehicle")

    async def RegisterPlatform(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._platform_only(context, "RegisterPlatform")

    async def RemovePlatform(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._platform_only(context, "RemovePlatform")

    async def SetTimers(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._platform_only(context, "SetTimers (a terminal's timers follow its parameters: set them with "
                                           "0x81 from the platform, SendCommand)")

    async def StartDataCall(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._platform_only(context, "StartDataCall")

    async def SpotCheck(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._platform_only(context, "SpotCheck")

    async def SendCommand(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._platform_only(context, "SendCommand (a platform sends query/set/control to its vehicles)")


_background: set[asyncio.Task] = set()


class FleetControlServer:
    """The running gRPC server of one fleet; `stopped` is set after a Stop call stopped the fleet."""

    def __init__(self, grpc_server: grpc.aio.Server, port: int, servicer: FleetControl, health_servicer: Any) -> None:
        self.grpc_server = grpc_server
        self.port = port
        self.servicer = servicer
        self.health = health_servicer
        self.stopped = servicer.stopped
        self._closed = False
        servicer.on_stop = self.stop

    async def stop(self, grace: float = 1.0) -> None:
        """NOT_SERVING, end the frame streams, stop serving (the fleet itself is the caller's to stop)."""
        if self._closed:
            return
        self._closed = True
        await self.health.enter_graceful_shutdown()
        self.servicer.close_streams()
        if self.servicer._observe in self.servicer.fleet.observers:
            self.servicer.fleet.observers.remove(self.servicer._observe)
        await self.grpc_server.stop(grace)


async def serve_control(fleet: Fleet, host: str = "127.0.0.1", port: int = 0) -> FleetControlServer:
    """Serve the Control API (with health and reflection) for `fleet` on host:port (0: a free port)."""
    servicer = FleetControl(fleet)
    grpc_server, bound, health_servicer = await start_grpc(servicer, host, port)
    return FleetControlServer(grpc_server, bound, servicer, health_servicer)
