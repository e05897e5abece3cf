"""The gRPC control service of a reference platform (`proto/gbt32960/control/v1/control.proto`).

It runs on the platform's own event loop (grpc.aio), so every handler reads and drives the
sans-IO core directly, between two events, and no thread ever touches it. Actions a handler gets
from the core go through `PlatformServer.run`, like any other event's: they leave after the turn's
commit. The standard health service (SERVING) and server reflection are served beside it, so
`grpcurl -plaintext HOST:PORT list` works.

Started by `PlatformServer.start()` when `cfg.control_port` is not None (0: a free port).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, NoReturn

import grpc

from harness.protocol.codec import COMMAND_FLAG, assemble, decode, encode
from harness.protocol.jsonview import frame_from_json, frame_to_json
from harness.protocol.schema import Timestamp
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

from .config import Account, Vehicle
from .defects import DEFECTS
from .security import beijing

if TYPE_CHECKING:
    from .server import PlatformServer
    from .store import StoredFrame

ControlServicer: Any = pb_grpc.ControlServicer  # loaded at run time: typed Any for the checkers

log = logging.getLogger("reference_impl.control")

REPLAY_PAGE = 500  # stored frames read per page when replaying (the loop keeps turning between pages)
COMMAND_OF_KIND = {pb.COMMAND_KIND_QUERY: 0x80, pb.COMMAND_KIND_SET: 0x81, pb.COMMAND_KIND_CONTROL: 0x82}
KIND_OF_LINK = {"vehicle": pb.SESSION_KIND_VEHICLE, "platform": pb.SESSION_KIND_PLATFORM}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


# ====================================================================== the platform's service


def stored_label(row: StoredFrame) -> str:
    """The link name of a stored frame (rows keep the link's identity, or its peer address)."""
    if row.link == row.vin and row.command not in (0x05, 0x06):
        return f"vehicle:{row.link}"
    if row.link.count(":") or row.link.startswith("["):
        return f"peer:{row.link}"  # never logged in: the row kept the peer address
    return f"platform:{row.link}"


def _collection_time(text: str, field: str) -> str:
    try:
        return dt.datetime.strptime(text, TIME_FORMAT).strftime(TIME_FORMAT)
    except ValueError:
        raise ValueError(f"{field} must be a collection time like 2025-06-01 08:00:00, not {text!r}") from None


def _is_vin(vin: str) -> bool:
    return len(vin) == 17 and vin.isascii() and vin.isalnum()


class PlatformControl(ControlServicer):
    """The Control service over one PlatformServer (see the module docstring)."""

    def __init__(self, server: PlatformServer) -> None:
        self.server = server
        self.core = server.core
        self.started_at = server.clock()
        self.subscribers: set[Subscriber] = set()

    # ------------------------------------------------------------------ frame observer
    def _observe(self, direction: str, link: str, raw: bytes) -> None:
        at = self.server.clock()
        for sub in self.subscribers:
            if sub.wants(link, raw):
                sub.offer((at, direction, link, raw))

    def _subscribe(self, sub: Subscriber) -> None:
        if not self.subscribers:
            self.core.observers.append(self._observe)  # no observer, no cost on the hot path
        self.subscribers.add(sub)

    def _unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        if not self.subscribers and self._observe in self.core.observers:
            self.core.observers.remove(self._observe)

    def close_streams(self) -> None:
        for sub in list(self.subscribers):
            sub.offer(None)

    # ------------------------------------------------------------------ inspect
    async def GetInfo(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        cfg = self.core.cfg
        return pb.GetInfoResponse(
            role=cfg.role, name=cfg.name, address=f"{cfg.host}:{self.server.port}", editions=list(cfg.editions),
            vehicles=len(cfg.vehicles), data_call_mode=cfg.data_call_mode, started_at=self.started_at,
            upstreams=list(self.core.uplinks))

    async def ListSessions(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        from .core import label_of

        out = []
        for link in sorted(self.core.links.values(), key=lambda k: (k.opened_at, k.conn)):
            kind = KIND_OF_LINK.get(link.kind, pb.SESSION_KIND_UNSPECIFIED)
            if request.kind and kind != request.kind:
                continue
            if not link.logged_in and not request.include_all:
                continue
            out.append(pb.Session(
                id=link.identity, kind=kind, edition=link.edition, peer=link.peer, since=link.opened_at,
                last_frame_at=link.last_frame_at, link=label_of(link), logged_in=link.logged_in,
                frames_in=link.frames_in, state="online" if link.logged_in else "connected"))
        return pb.ListSessionsResponse(sessions=out)

    async def StreamFrames(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        sub = Subscriber(set(request.vins), set(request.links))
        decoded = not request.skip_decode
        # subscribe, commit and note the last stored id in one step: each frame is then either in
        # the store up to that id (replayed) or in the live buffer, never both, never neither
        self._subscribe(sub)
        try:
            last = 0
            if request.replay:
                self.core.flush()
                last = self.core.store.last_frame_id()
            # tells the client the subscription is live (it may now make things happen)
            await context.send_initial_metadata(((SUBSCRIBED_KEY, "1"),))
            if request.replay:
                after = 0
                only = next(iter(sub.vins)) if len(sub.vins) == 1 else None
                while after < last:
                    rows = self.core.store.frames(vin=only, after_id=after, until_id=last, limit=REPLAY_PAGE)
                    if not rows:
                        break
                    for row in rows:
                        label = stored_label(row)
                        if sub.wants(label, row.raw):
                            yield frame_record(row.received_at, "in", label, row.raw, decoded)
                    after = rows[-1].id
            while True:
                item = await sub.next()
                if item is None:
                    return  # the platform is stopping
                if sub.dropped:
                    await abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"this stream fell {STREAM_BUFFER} frames behind; {sub.dropped} were not delivered")
                yield frame_record(*item, decoded)
        finally:
            self._unsubscribe(sub)

    async def GetQueue(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.core.flush()  # counts include this turn's rows
        store = self.core.store
        queues = []
        for name, up in self.core.uplinks.items():
            status = up.status()
            counters = {k: v for k, v in status.items() if isinstance(v, int) and k not in ("queue", "inflight",
                                                                                              "waiting")}
            queues.append(pb.Queue(name=name, role=up.cfg.role, region=up.cfg.region, state=up.state,
                                   depth=status["queue"], oldest_collected_at=store.queue_oldest(name) or "",
                                   in_flight=status["inflight"], waiting=status["waiting"], counters=counters))
        return pb.GetQueueResponse(queues=queues, total_depth=sum(q.depth for q in queues))

    async def ListWarnings(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.core.flush()
        rows = self.core.store.warnings(request.vin or None, kind=request.kind or None,
                                        since=request.since or None, limit=request.limit or 1000)
        return pb.ListWarningsResponse(warnings=[pb.WarningRecord(at=a, vin=v, kind=k, detail=d)
                                                 for a, v, k, d in rows])

    async def GetStats(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.core.flush()
        counters = dict(self.core.stats, links=len(self.core.links), online=len(self.core.online),
                        queue_depth=self.core.store.queue_depth())
        # stored frames per command (duplicates included; see the "duplicates" counter), so a load
        # campaign can compare what its vehicles sent with what was stored
        rows = self.core.store.db.execute("SELECT command, COUNT(*) FROM frames GROUP BY command").fetchall()
        by_command = {f"0x{c:02X}": n for c, n in rows}
        return pb.GetStatsResponse(counters=counters, frames_by_command=by_command,
                                   uptime=self.server.clock() - self.started_at)

    async def QueryFrames(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            start = _collection_time(request.start, "start") if request.start else None
            end = _collection_time(request.end, "end") if request.end else None
        except ValueError as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        limit = min(request.limit or 10_000, 100_000)
        self.core.flush()
        rows = self.core.store.frames(vin=request.vin or None, start=start, end=end,
                                      commands=tuple(request.commands) or None, limit=limit + 1)
        decoded = not request.skip_decode
        frames = [pb.StoredFrame(id=r.id, record=frame_record(r.received_at, "in", stored_label(r), r.raw, decoded),
                                 vin=r.vin, command=r.command, ack=r.ack, edition=r.edition,
                                 collected_at=r.collected_at or "", duplicate=r.duplicate) for r in rows[:limit]]
        return pb.QueryFramesResponse(frames=frames, truncated=len(rows) > limit)

    async def GetTimers(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.GetTimersResponse(timers=timers_message(self.core.timers))

    async def ListDefects(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.ListDefectsResponse(defects=self._defects())

    def _defects(self) -> list[Any]:
        return [pb.Defect(name=n, description=d, on=n in self.core.defects) for n, d in DEFECTS.items()]

    async def GetDataCall(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        call = self.core.calls.get(request.call_id)
        if call is None:
            await abort(context, grpc.StatusCode.NOT_FOUND,
                        f"no data call {request.call_id} here (ended, or never made)")
        if self.core.cfg.role == "national" and request.wait > 0:
            await self._until(lambda: call.answered, bounded_wait(request.wait, 0, 60, context))
        return pb.GetDataCallResponse(call_id=call.call_id, vins=list(call.vins), until=call.until,
                                      peer=call.upstream, answered=call.answered, results=call.results,
                                      linked=list(call.linked))

    # ------------------------------------------------------------------ act
    async def RegisterVehicle(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if not _is_vin(request.vin):
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"a VIN has 17 letters and digits: {request.vin!r}")
        replaced = self.core.register_vehicle(Vehicle(request.vin, request.public_service, request.region))
        return pb.RegisterVehicleResponse(replaced=replaced)

    async def RemoveVehicle(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if request.vin not in self.core.cfg.vehicles:
            await abort(context, grpc.StatusCode.NOT_FOUND, f"vehicle {request.vin!r} is not registered here")
        actions = self.core.remove_vehicle(request.vin, self.server.clock())
        self.server.run(actions)
        return pb.RemoveVehicleResponse(disconnected=bool(actions))

    async def RegisterPlatform(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        for name, value, most in (("platform_id", request.platform_id, 17), ("username", request.username, 12),
                                  ("password", request.password, 20)):
            if not value or len(value.encode()) > most:
                await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"{name} has 1 to {most} bytes")
        replaced = self.core.register_platform(Account(request.platform_id, request.username, request.password,
                                                       request.region))
        return pb.RegisterPlatformResponse(replaced=replaced)

    async def RemovePlatform(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if request.platform_id not in self.core.cfg.accounts:
            await abort(context, grpc.StatusCode.NOT_FOUND, f"platform {request.platform_id!r} has no credentials here")
        actions = self.core.remove_platform(request.platform_id, self.server.clock())
        self.server.run(actions)
        return pb.RemovePlatformResponse(disconnected=bool(actions))

    async def SetTimers(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            timers = self.core.set_timers(**dict(request.values))
        except ValueError as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return pb.SetTimersResponse(timers=timers_message(timers))

    async def StartDataCall(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._national(context, "StartDataCall")
        if not request.vins or not 1 <= request.duration <= 0xFFFF:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "name at least one VIN and a duration of 1-65535 s")
        try:
            call_id, actions = self.core.data_call(request.platform_id, list(request.vins), request.duration,
                                                   self.server.clock())
        except LookupError as exc:
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        self.server.run(actions)
        return pb.StartDataCallResponse(call_id=call_id)

    async def SpotCheck(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._national(context, "SpotCheck")
        try:
            actions = self.core.spot_check(request.platform_id, request.vin, self.server.clock())
        except LookupError as exc:
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        self.server.run(actions)
        checks = self.core.spot_checks
        await self._until(lambda: request.vin in checks, bounded_wait(request.wait, 5, 60, context))
        if request.vin not in checks:
            return pb.SpotCheckResponse(answered=False)
        flag, latest = checks[request.vin]
        latest_json = ""
        conn = self.core.online.get(request.platform_id)
        if latest and conn in self.core.links:
            # the data unit of a 0x02 frame: framed again to be decoded like one
            raw = assemble(self.core.links[conn].edition, 0x02, COMMAND_FLAG,
                           request.vin.encode("ascii", "replace"), bytes(latest))
            with contextlib.suppress(Exception):
                latest_json = json.dumps(frame_to_json(decode(raw))["body"], ensure_ascii=False)
        return pb.SpotCheckResponse(answered=True, ack=flag, latest=bytes(latest), latest_json=latest_json)

    async def ExchangeKey(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if request.key_type not in (0x03, 0x05):
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "key_type is 3 (AES) or 5 (SM4)")
        conn = self.core.online.get(request.vin)
        link = self.core.links.get(conn) if conn is not None else None
        if link is None or link.kind != "vehicle" or link.edition != 2025:
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                        f"vehicle {request.vin!r} is not online here in the 2025 edition (0x0B is 2025 only)")
        start = beijing(self.server.clock()).replace(microsecond=0)
        end = start + dt.timedelta(seconds=request.valid_seconds or 86400)
        valid_from, expires = Timestamp.from_datetime(start), Timestamp.from_datetime(end)
        actions = self.core.security.rotate_key(self.core, request.vin, request.key_type, None, valid_from, expires)
        self.server.run(actions)
        return pb.ExchangeKeyResponse(sent=actions[0].data, valid_from=str(valid_from), expires=str(expires))

    async def SendCommand(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        command = COMMAND_OF_KIND.get(request.kind)
        if command is None:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "kind is query, set or control")
        conn = self.core.online.get(request.vin)
        link = self.core.links.get(conn) if conn is not None else None
        if link is None or link.kind != "vehicle":
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION, f"vehicle {request.vin!r} is not online here")
        try:
            body = command_body(request.body_json, command, request.vin, link.edition)
        except ValueError as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"body_json: {exc}")
        try:
            actions = self.core.command(request.vin, command, body, self.server.clock())
        except ValueError as exc:  # e.g. a set of a read-only parameter: nothing is sent
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        self.server.run(actions)
        pending = self.core.pending[(request.vin, command)]
        if request.wait > 0:
            await self._until(lambda: pending.answer is not None or pending.failed,
                              bounded_wait(request.wait, 0, 600, context))
        reply = pb.SendCommandResponse(sent=pending.frame, failed=pending.failed, tries=pending.tries)
        if pending.answer is not None:
            reply.answered, reply.ack = True, pending.answer.ack
            with contextlib.suppress(Exception):
                reply.answer = encode(pending.answer)
                reply.answer_json = json.dumps(frame_to_json(pending.answer), ensure_ascii=False)
        return reply

    async def SetDefect(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if request.vin:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "a platform's defects are not per vehicle: "
                                                                   "leave vin empty")
        try:
            self.core.set_defect(request.name, request.on)
        except KeyError:
            await abort(context, grpc.StatusCode.NOT_FOUND,
                        f"no defect switch {request.name!r}; known: {', '.join(DEFECTS)}")
        return pb.SetDefectResponse(defects=self._defects())

    async def Drain(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.monotonic()
        await self._until(lambda: self._undelivered() == 0, bounded_wait(request.timeout, 10, 600, context))
        remaining = self._undelivered()
        return pb.DrainResponse(drained=remaining == 0, remaining=remaining, waited=time.monotonic() - started)

    def _undelivered(self) -> int:
        self.core.flush()  # acknowledged entries leave the table at the commit
        statuses = [up.status() for up in self.core.uplinks.values()]
        return sum(s["queue"] + s["inflight"] + s["waiting"] for s in statuses)

    async def Stop(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        # after answering: the stop closes this server too (its grace lets the answer leave)
        task = asyncio.get_running_loop().create_task(self.server.stop())
        _background.add(task)
        task.add_done_callback(_background.discard)
        return pb.StopResponse()

    # ------------------------------------------------------------------ fleet only
    async def RaiseAlarm(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._fleet_only(context, "RaiseAlarm")

    async def GoOffline(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._fleet_only(context, "GoOffline")

    async def GoOnline(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._fleet_only(context, "GoOnline")

    async def SetEdition(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._fleet_only(context, "SetEdition")

    # ------------------------------------------------------------------ helpers
    async def _fleet_only(self, context: grpc.aio.ServicerContext, name: str) -> NoReturn:
        await abort(context, grpc.StatusCode.UNIMPLEMENTED,
                    f"{name} acts on a simulated vehicle: call it on the fleet's control port, not on the "
                    f"{self.core.cfg.role} platform {self.core.cfg.name}")

    async def _national(self, context: grpc.aio.ServicerContext, name: str) -> None:
        if self.core.cfg.role != "national":
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                        f"{name} is made by the national platform; this is the {self.core.cfg.role} platform "
                        f"{self.core.cfg.name}")

    async def _until(self, done: Any, timeout: float) -> None:
        """Poll `done()` once per platform tick until true or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            await asyncio.sleep(min(self.core.timers.tick, max(deadline - time.monotonic(), 0)))


_background: set[asyncio.Task] = set()


def command_body(body_json: str, command: int, vin: str, edition: int) -> dict[str, Any]:
    """A query/set/control body from JSON (the decode --json form or the short form), as raw values;
    the time is left out (the platform stamps it when it sends)."""
    try:
        body = json.loads(body_json) if body_json.strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError("the body is a JSON object")
    body.pop("time", None)
    placeholder = str(Timestamp(25, 1, 1, 0, 0, 0))
    try:
        frame = frame_from_json({"edition": edition, "command": command, "vin": vin,
                                 "body": {"time": placeholder, **body}})
    except Exception as exc:  # the codec's typed errors name the JSON path
        raise ValueError(str(exc)) from None
    if not isinstance(frame.body, dict):
        raise ValueError("the body is a JSON object with the command's fields")
    frame.body.pop("time", None)
    return frame.body


class ControlServer:
    """The running gRPC server of one platform."""

    def __init__(self, grpc_server: grpc.aio.Server, port: int, servicer: PlatformControl,
                 health_servicer: Any) -> None:
        self.grpc_server = grpc_server
        self.port = port
        self.servicer = servicer
        self.health = health_servicer
        self._stopped = False

    async def stop(self, grace: float = 1.0) -> None:
        """NOT_SERVING, end the frame streams, then stop (in-flight calls get `grace` seconds)."""
        if self._stopped:
            return
        self._stopped = True
        await self.health.enter_graceful_shutdown()
        self.servicer.close_streams()
        await self.grpc_server.stop(grace)


async def start_control(server: PlatformServer, host: str, port: int) -> ControlServer:
    """Serve the Control API (with health and reflection) for `server` on host:port (0: a free port)."""
    servicer = PlatformControl(server)
    grpc_server, bound, health_servicer = await start_grpc(servicer, host, port)
    return ControlServer(grpc_server, bound, servicer, health_servicer)
