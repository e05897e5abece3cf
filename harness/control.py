"""Client of the Control API (`proto/gbt32960/control/v1/control.proto`) of the reference platforms and
the vehicle fleet, for pytest fixtures and scripts. Results are plain Python values (dicts, lists,
ints, strings); errors raise `ControlError` with the gRPC status code and the server's message.

    with ControlClient("127.0.0.1:50051") as c:
        c.sessions()                                   # [{"id": "LS9...", "kind": "vehicle", ...}]
        with c.frames(vins=[vin], timeout=5) as stream:  # subscribed when this returns
            ...                                          # make something happen
            frame = stream.wait_for(lambda f: f["direction"] == "out")
        c.register_vehicle("LS9TB0X10SA000001", public_service=True, region="110000")

    async with AsyncControlClient("127.0.0.1:50051") as c:     # grpc.aio: the same methods, awaited
        await c.sessions()
        async with await c.frames(vins=[vin], timeout=5) as stream:
            frame = await stream.wait_for(lambda f: f["command"] == 0x01)

Frames are dicts: at, link, direction ("in"/"out" as seen by the serving party), raw (bytes), decoded
(the frame as `gbt32960 decode --json` prints it, or None), error, and for convenience vin, command
and ack (the header's VIN field, command byte and response flag, read from the raw bytes).

Under gevent (locust), call `init_gevent()` (it runs `grpc.experimental.gevent.init_gevent()`) once,
after gevent's monkey-patching and before any client is created; otherwise grpc's own threads block
the gevent hub.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import grpc

from harness.rpc import load

pb = load("gbt32960.control.v1.control_pb2")
pb_grpc = load("gbt32960.control.v1.control_pb2_grpc")

__all__ = ["AsyncControlClient", "AsyncFrameStream", "ControlClient", "ControlError", "FrameStream", "init_gevent",
           "frame_dict", "plain"]

DEFAULT_TIMEOUT = 30.0  # seconds per call, plus whatever a call is asked to wait for
SUBSCRIBED_KEY = "gbt32960-subscribed"  # initial metadata StreamFrames sends once its subscription is live
KINDS = {"vehicle": pb.SESSION_KIND_VEHICLE, "platform": pb.SESSION_KIND_PLATFORM, None: pb.SESSION_KIND_UNSPECIFIED}
COMMAND_KINDS = {"query": pb.COMMAND_KIND_QUERY, "set": pb.COMMAND_KIND_SET, "control": pb.COMMAND_KIND_CONTROL}


def init_gevent() -> None:
    """Make grpc cooperate with gevent (locust). Call once, after monkey-patching, before any client."""
    from grpc.experimental import gevent as grpc_gevent

    grpc_gevent.init_gevent()


class ControlError(RuntimeError):
    """A Control call failed: `code` is the grpc.StatusCode, `details` the server's explanation."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details

    @classmethod
    def of(cls, exc: grpc.RpcError) -> ControlError:
        code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
        details = exc.details() if hasattr(exc, "details") else str(exc)
        return cls(code, details or "")


# ====================================================================== messages -> plain values


def plain(message: Any) -> dict[str, Any]:
    """A protobuf message as a dict of plain values (enums as short lower-case names, e.g. "vehicle")."""
    out: dict[str, Any] = {}
    for fd in message.DESCRIPTOR.fields:
        value = getattr(message, fd.name)
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            out[fd.name] = {k: _value(value_fd, v) for k, v in value.items()}
        elif fd.is_repeated:
            out[fd.name] = [_value(fd, v) for v in value]
        else:
            out[fd.name] = _value(fd, value)
    return out


def _value(fd: Any, value: Any) -> Any:
    if fd.message_type is not None:
        if fd.message_type.full_name == "gbt32960.common.v1.FrameRecord":
            return frame_dict(value)
        return plain(value)
    if fd.enum_type is not None:
        name = fd.enum_type.values_by_number[value].name
        prefix = "_".join(fd.enum_type.values[0].name.split("_")[:-1]) + "_"  # e.g. SESSION_KIND_
        return name.removeprefix(prefix).lower()
    return value


def _json(text: str) -> Any:
    return json.loads(text) if text else None


def frame_dict(record: Any) -> dict[str, Any]:
    """A FrameRecord as a dict; `decoded` is the parsed JSON (None when not decoded)."""
    decoded = _json(record.decoded_json)
    raw = bytes(record.raw)
    return {"at": record.at, "link": record.link, "direction": record.direction, "raw": raw, "decoded": decoded,
            "error": record.error, "vin": raw[4:21].decode("ascii", "replace").rstrip("\0 "),
            "command": raw[2] if len(raw) > 3 else None, "ack": raw[3] if len(raw) > 3 else None}


def _stored(message: Any) -> dict[str, Any]:
    frames = []
    for f in message.frames:
        d = plain(f)
        record = d.pop("record")
        frames.append({**record, **d})  # one flat dict per stored frame
    return {"frames": frames, "truncated": message.truncated}


def _with_json(*keys: str) -> Callable[[Any], dict[str, Any]]:
    def convert(message: Any) -> dict[str, Any]:
        d = plain(message)
        for key in keys:
            d[key.removesuffix("_json")] = _json(d.pop(key))
        return d
    return convert


# ====================================================================== the API, sync or async


class _Api:
    """Every Control call. `_call` returns the value (ControlClient) or an awaitable of it (AsyncControlClient)."""

    timeout: float

    def _call(self, rpc: str, request: Any, convert: Callable[[Any], Any], wait: float = 0.0) -> Any:
        raise NotImplementedError

    # ------------------------------------------------------------------ inspect
    def info(self) -> Any:
        """Role, name, address, editions, vehicles, data_call_mode, started_at, upstreams."""
        return self._call("GetInfo", pb.GetInfoRequest(), plain)

    def sessions(self, kind: str | None = None, *, include_all: bool = False) -> Any:
        """Logged-in links (platform) or online vehicles (fleet); `kind` "vehicle" or "platform"."""
        return self._call("ListSessions", pb.ListSessionsRequest(kind=KINDS[kind], include_all=include_all),
                          lambda m: [plain(s) for s in m.sessions])

    def queue(self) -> Any:
        """{"queues": [...per upstream or vehicle...], "total_depth": n}."""
        return self._call("GetQueue", pb.GetQueueRequest(), plain)

    def warnings(self, vin: str = "", kind: str = "", *, since: float = 0.0, limit: int = 0) -> Any:
        """Warnings, oldest first: dicts of at, vin, kind, detail."""
        return self._call("ListWarnings", pb.ListWarningsRequest(vin=vin, kind=kind, since=since, limit=limit),
                          lambda m: [plain(w) for w in m.warnings])

    def stats(self) -> Any:
        """{"counters": {...}, "frames_by_command": {...}, "uptime": s}."""
        return self._call("GetStats", pb.GetStatsRequest(), plain)

    def query_frames(self, vin: str = "", start: str = "", end: str = "", *, commands: Iterable[int] = (),
                     limit: int = 0, decode: bool = True) -> Any:
        """Stored frames in a collection-time window ("YYYY-MM-DD HH:MM:SS", GMT+8), oldest first:
        {"frames": [flat dicts], "truncated": bool}."""
        request = pb.QueryFramesRequest(vin=vin, start=start, end=end, commands=list(commands), limit=limit,
                                        skip_decode=not decode)
        return self._call("QueryFrames", request, _stored)

    def timers(self) -> Any:
        """Every timer in force, by name."""
        return self._call("GetTimers", pb.GetTimersRequest(), lambda m: plain(m.timers))

    def defects(self) -> Any:
        """Every defect switch: dicts of name, description, on, vehicles."""
        return self._call("ListDefects", pb.ListDefectsRequest(), lambda m: [plain(d) for d in m.defects])

    def get_data_call(self, call_id: int, *, wait: float = 0.0) -> Any:
        """A data call; with `wait`, first wait up to that many seconds for the callee's answer."""
        return self._call("GetDataCall", pb.GetDataCallRequest(call_id=call_id, wait=wait), plain, wait)

    # ------------------------------------------------------------------ act
    def register_vehicle(self, vin: str, *, public_service: bool = False, region: str = "") -> Any:
        """True when it replaced a registration."""
        request = pb.RegisterVehicleRequest(vin=vin, public_service=public_service, region=region)
        return self._call("RegisterVehicle", request, lambda m: m.replaced)

    def remove_vehicle(self, vin: str) -> Any:
        """True when the vehicle was online and was disconnected."""
        return self._call("RemoveVehicle", pb.RemoveVehicleRequest(vin=vin), lambda m: m.disconnected)

    def register_platform(self, platform_id: str, username: str, password: str, *, region: str = "") -> Any:
        """True when it replaced earlier credentials."""
        request = pb.RegisterPlatformRequest(platform_id=platform_id, username=username, password=password,
                                             region=region)
        return self._call("RegisterPlatform", request, lambda m: m.replaced)

    def remove_platform(self, platform_id: str) -> Any:
        """True when the platform was logged in and was disconnected."""
        return self._call("RemovePlatform", pb.RemovePlatformRequest(platform_id=platform_id),
                          lambda m: m.disconnected)

    def set_timers(self, **values: float) -> Any:
        """Change timers by name (e.g. heartbeat=5); returns every timer afterwards."""
        return self._call("SetTimers", pb.SetTimersRequest(values=values), lambda m: plain(m.timers))

    def data_call(self, platform_id: str, vins: Iterable[str], duration: int) -> Any:
        """National platform: start a real-time data call; returns the call id (see `get_data_call`)."""
        request = pb.StartDataCallRequest(platform_id=platform_id, vins=list(vins), duration=duration)
        return self._call("StartDataCall", request, lambda m: m.call_id)

    def spot_check(self, platform_id: str, vin: str, *, wait: float = 5.0) -> Any:
        """National platform: {"answered", "ack", "latest" (the data unit's bytes), "latest_decoded"}."""
        request = pb.SpotCheckRequest(platform_id=platform_id, vin=vin, wait=wait)
        return self._call("SpotCheck", request, _spot_check, wait)

    def send_command(self, vin: str, kind: str, body: dict[str, Any] | None = None, *, wait: float = 0.0) -> Any:
        """Query/set/control ("query", "set", "control") to an online vehicle; `body` without time, e.g.
        {"ids": [1, 2]}. Returns sent, answered, failed, tries, ack, answer (bytes), answer_decoded."""
        request = pb.SendCommandRequest(vin=vin, kind=COMMAND_KINDS[kind], body_json=json.dumps(body or {}),
                                        wait=wait)
        return self._call("SendCommand", request, _command_result, wait)

    def exchange_key(self, vin: str, key_type: int = 0x05, *, valid_seconds: float = 0.0) -> Any:
        """Enterprise platform: make a data-unit key for an online 2025 vehicle and send it 0x0B
        (key_type 3 AES, 5 SM4; valid from now for `valid_seconds`, 0: one day). Returns sent (the
        frame), valid_from, expires; never the key."""
        request = pb.ExchangeKeyRequest(vin=vin, key_type=key_type, valid_seconds=valid_seconds)
        return self._call("ExchangeKey", request, plain)

    def set_defect(self, name: str, on: bool = True, *, vin: str = "") -> Any:
        """Switch a defect on or off (fleet: `vin` names one vehicle); returns every switch afterwards."""
        return self._call("SetDefect", pb.SetDefectRequest(name=name, on=on, vin=vin),
                          lambda m: [plain(d) for d in m.defects])

    def drain(self, timeout: float = 10.0) -> Any:
        """Wait up to `timeout` s until nothing waits upstream (platform) or for reissue (fleet):
        {"drained", "remaining", "waited"}."""
        return self._call("Drain", pb.DrainRequest(timeout=timeout), plain, timeout)

    def stop(self) -> Any:
        """Stop the party (it answers first)."""
        return self._call("Stop", pb.StopRequest(), lambda m: None)

    # ------------------------------------------------------------------ fleet
    def raise_alarm(self, vin: str, level: int, *, duration: float = 0.0) -> Any:
        """Fleet: the vehicle develops an alarm of `level` (0 duration: twice the alarm window)."""
        return self._call("RaiseAlarm", pb.RaiseAlarmRequest(vin=vin, level=level, duration=duration),
                          lambda m: m.state)

    def go_offline(self, vin: str, *, silent: bool = False, key_off: bool = False) -> Any:
        """Fleet: logout and close (silent: close without logout; key_off: Annex B power-off)."""
        return self._call("GoOffline", pb.GoOfflineRequest(vin=vin, silent=silent, key_off=key_off),
                          lambda m: m.state)

    def go_online(self, vin: str) -> Any:
        """Fleet: power on again and log in."""
        return self._call("GoOnline", pb.GoOnlineRequest(vin=vin), lambda m: m.state)

    def set_edition(self, vin: str, edition: int, *, reconnect: bool = False) -> Any:
        """Fleet: switch edition (at the next login, or now with `reconnect`)."""
        return self._call("SetEdition", pb.SetEditionRequest(vin=vin, edition=edition, reconnect=reconnect),
                          lambda m: m.state)

    @staticmethod
    def _frames_request(vins: Iterable[str], links: Iterable[str], replay: bool, decode: bool) -> Any:
        return pb.StreamFramesRequest(vins=list(vins), links=list(links), replay=replay, skip_decode=not decode)


def _spot_check(message: Any) -> dict[str, Any]:
    d = plain(message)
    d["latest_decoded"] = _json(d.pop("latest_json"))
    return d


def _command_result(message: Any) -> dict[str, Any]:
    d = plain(message)
    d["answer_decoded"] = _json(d.pop("answer_json"))
    return d


def _health_request(service: str) -> Any:
    from grpc_health.v1 import health_pb2

    return health_pb2.HealthCheckRequest(service=service)


def _health_stub(channel: Any) -> Any:
    from grpc_health.v1 import health_pb2_grpc

    return health_pb2_grpc.HealthStub(channel)


def _reflection_stub(channel: Any) -> Any:
    from grpc_reflection.v1alpha import reflection_pb2_grpc

    return reflection_pb2_grpc.ServerReflectionStub(channel)


def _list_services_request() -> Any:
    from grpc_reflection.v1alpha import reflection_pb2

    return reflection_pb2.ServerReflectionRequest(list_services="")


def _status_name(response: Any) -> str:
    return response.DESCRIPTOR.fields_by_name["status"].enum_type.values_by_number[response.status].name


# ====================================================================== sync


class FrameStream:
    """Live frames from StreamFrames; subscribed on the server when constructed. Iterate it, or
    `wait_for(predicate)`. The stream's `timeout` bounds its whole life: iteration ends then."""

    def __init__(self, call: Any) -> None:
        self._call = call
        call.initial_metadata()  # returns once the server subscribed (or the call ended)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            for record in self._call:
                yield frame_dict(record)
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
                return  # the stream's time is over (or it was closed): the iteration just ends
            raise ControlError.of(exc) from None

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first frame for which `predicate` is true; TimeoutError when the stream ends first."""
        for frame in self:
            if predicate(frame):
                return frame
        raise TimeoutError("no matching frame before the stream ended")

    def close(self) -> None:
        self._call.cancel()

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ControlClient(_Api):
    """Blocking client (grpc). `target` is "host:port"; `timeout` the default seconds per call."""

    def __init__(self, target: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.target = target
        self.timeout = timeout
        self.channel = grpc.insecure_channel(target)
        self._stub = pb_grpc.ControlStub(self.channel)

    def _call(self, rpc: str, request: Any, convert: Callable[[Any], Any], wait: float = 0.0) -> Any:
        try:
            return convert(getattr(self._stub, rpc)(request, timeout=self.timeout + wait))
        except grpc.RpcError as exc:
            raise ControlError.of(exc) from None

    def frames(self, vins: Iterable[str] = (), links: Iterable[str] = (), *, replay: bool = False,
               decode: bool = True, timeout: float | None = None) -> FrameStream:
        """Subscribe to frames (of these VINs / links; `replay`: stored ones first); returns once live."""
        call = self._stub.StreamFrames(self._frames_request(vins, links, replay, decode), timeout=timeout)
        return FrameStream(call)

    def health(self, service: str = "") -> str:
        """The health status name, e.g. "SERVING"."""
        try:
            return _status_name(_health_stub(self.channel).Check(_health_request(service), timeout=self.timeout))
        except grpc.RpcError as exc:
            raise ControlError.of(exc) from None

    def services(self) -> list[str]:
        """Service names the server lists through reflection."""
        responses = _reflection_stub(self.channel).ServerReflectionInfo(iter([_list_services_request()]),
                                                                        timeout=self.timeout)
        return [s.name for r in responses for s in r.list_services_response.service]

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until the channel is connected (TimeoutError after `timeout`)."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise TimeoutError(f"control server {self.target} not ready within {timeout} s") from None

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ====================================================================== async


class AsyncFrameStream:
    """Live frames (grpc.aio); see FrameStream. Made by `await AsyncControlClient.frames(...)`."""

    def __init__(self, call: Any) -> None:
        self._call = call

    async def _subscribed(self) -> AsyncFrameStream:
        await self._call.initial_metadata()
        return self

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        try:
            async for record in self._call:
                yield frame_dict(record)
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
                return
            raise ControlError.of(exc) from None

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first frame for which `predicate` is true; TimeoutError when the stream ends first."""
        async for frame in self:
            if predicate(frame):
                return frame
        raise TimeoutError("no matching frame before the stream ended")

    def close(self) -> None:
        self._call.cancel()

    async def __aenter__(self) -> AsyncFrameStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class AsyncControlClient(_Api):
    """The same calls over grpc.aio; every method returns an awaitable. Create it on the loop that uses it."""

    def __init__(self, target: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.target = target
        self.timeout = timeout
        self.channel = grpc.aio.insecure_channel(target)
        self._stub = pb_grpc.ControlStub(self.channel)

    def _call(self, rpc: str, request: Any, convert: Callable[[Any], Any], wait: float = 0.0) -> Any:
        async def call() -> Any:
            try:
                return convert(await getattr(self._stub, rpc)(request, timeout=self.timeout + wait))
            except grpc.RpcError as exc:
                raise ControlError.of(exc) from None
        return call()

    async def frames(self, vins: Iterable[str] = (), links: Iterable[str] = (), *, replay: bool = False,
                     decode: bool = True, timeout: float | None = None) -> AsyncFrameStream:
        """Subscribe to frames; returns once the server's subscription is live."""
        call = self._stub.StreamFrames(self._frames_request(vins, links, replay, decode), timeout=timeout)
        return await AsyncFrameStream(call)._subscribed()

    async def health(self, service: str = "") -> str:
        try:
            return _status_name(await _health_stub(self.channel).Check(_health_request(service),
                                                                        timeout=self.timeout))
        except grpc.RpcError as exc:
            raise ControlError.of(exc) from None

    async def services(self) -> list[str]:
        call = _reflection_stub(self.channel).ServerReflectionInfo(iter([_list_services_request()]),
                                                                  timeout=self.timeout)
        return [s.name async for r in call for s in r.list_services_response.service]

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncControlClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
