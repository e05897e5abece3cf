"""The `Faults` gRPC service (`proto/gbt32960/faults/v1/faults.proto`), served by grpc.aio on the proxy's loop.

Handlers call the `FaultProxy` directly between two events, so no thread touches the proxy. Exports (pcap,
JSON lines) read the evidence spool in a worker thread up to a snapshot, so the proxy keeps forwarding
meanwhile. Health (SERVING) and reflection are served beside it (`grpcurl -plaintext HOST:PORT list`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from harness.rpc import load

from .evidence import ConnInfo, EvidenceLog, FrameCutter, Record, decode_frame, endpoints, write_jsonl, write_pcap
from .model import BOTH, TO_CLIENT, TO_TARGET, Fault, FaultError, FaultSpec, Match
from .proxy import FaultProxy, LinkExists, NotAllowed, ProxyLink, UnknownLink

pb = load("gbt32960.faults.v1.faults_pb2")
pb_grpc = load("gbt32960.faults.v1.faults_pb2_grpc")
common = load("gbt32960.common.v1.common_pb2")

log = logging.getLogger("harness.faults.service")

SERVICE = pb.DESCRIPTOR.services_by_name["Faults"].full_name
DEFAULT_LIMIT = 10_000
MAX_MESSAGE = 256 << 20  # evidence pages can be large (the default 4 MB is too small for 10,000 records)
GRPC_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE), ("grpc.max_receive_message_length", MAX_MESSAGE)]

_DIRECTION_TO_TEXT = {pb.DIRECTION_UNSPECIFIED: "", pb.TO_TARGET: TO_TARGET, pb.TO_CLIENT: TO_CLIENT, pb.BOTH: BOTH}
_TEXT_TO_DIRECTION = {v: k for k, v in _DIRECTION_TO_TEXT.items()}


# ---------------------------------------------------------------------- conversions


def spec_from_pb(msg: Any) -> FaultSpec:
    """A `FaultSpec` from a `FaultSpec` message (validation is the proxy's)."""
    kind = msg.WhichOneof("kind")
    if kind is None:
        raise FaultError("no fault kind given")
    params_msg = getattr(msg, kind)
    params = {f.name: v for f, v in params_msg.ListFields()}
    m = msg.match
    match = Match(nth=m.nth if m.HasField("nth") else None, command=m.command if m.HasField("command") else None,
                  ack=m.ack if m.HasField("ack") else None, vin=m.vin)
    return FaultSpec(kind, params, _DIRECTION_TO_TEXT.get(msg.direction, ""), msg.duration_seconds, msg.count,
                     match, msg.seed)


def spec_to_pb(spec: FaultSpec) -> Any:
    msg = pb.FaultSpec(direction=_TEXT_TO_DIRECTION.get(spec.direction, pb.DIRECTION_UNSPECIFIED),
                       duration_seconds=spec.duration, count=spec.count, seed=spec.seed)
    getattr(msg, spec.kind).SetInParent()
    for name, value in spec.params.items():
        setattr(getattr(msg, spec.kind), name, value)
    m = spec.match
    if m.nth is not None:
        msg.match.nth = m.nth
    if m.command is not None:
        msg.match.command = m.command
    if m.ack is not None:
        msg.match.ack = m.ack
    if m.vin:
        msg.match.vin = m.vin
    return msg


def fault_to_pb(f: Fault) -> Any:
    return pb.Fault(id=f.id, link=f.link, kind=f.kind, spec=spec_to_pb(f.spec), state=f.state,
                    created_at=f.created_wall, expires_at=f.expires_wall, applied=f.applied, ended_at=f.ended_wall,
                    summary=f.spec.summary())


def link_to_pb(link: ProxyLink) -> Any:
    return pb.Link(name=link.name, listen=pb.Endpoint(host=link.listen_host, port=link.port),
                   target=pb.Endpoint(host=link.target_host, port=link.target_port), connections=len(link.conns),
                   accepted=link.accepted, listening=link.listening, bytes_to_target=link.delivered[TO_TARGET],
                   bytes_to_client=link.delivered[TO_CLIENT], active_faults=len(link.table.active()))


def _endpoint(a: tuple[str, int] | None) -> Any:
    return pb.Endpoint(host=a[0], port=a[1]) if a else None


def evidence_to_pb(rec: Record, info: ConnInfo | None, cutter: FrameCutter | None = None) -> Any:
    """One record as an `Evidence` message; with a cutter (decode asked for), its frames decoded."""
    direction = "out" if rec.kind == "write" else "in" if rec.kind in ("read", "discard", "relay") else ""
    fr = common.FrameRecord(at=rec.at, link=rec.link, direction=direction, raw=rec.raw)
    src, dst = endpoints(rec, info)
    msg = pb.Evidence(seq=rec.seq, record=fr, flow=rec.flow, connection=rec.conn, kind=rec.kind, action=rec.action,
                      faults=list(rec.faults), detail=rec.detail, src=_endpoint(src), dst=_endpoint(dst))
    if cutter is not None:
        frames = cutter.frames(rec)
        for item in frames:
            if isinstance(item, bytes):
                decoded, error = decode_frame(item)
                msg.frames.append(common.FrameRecord(at=rec.at, link=rec.link, direction=direction, raw=item,
                                                     decoded_json=decoded, error=error))
            else:
                msg.frames.append(common.FrameRecord(at=rec.at, link=rec.link, direction=direction,
                                                     error=str(item)))
        if len(frames) == 1 and isinstance(frames[0], bytes) and frames[0] == rec.raw:
            fr.decoded_json, fr.error = msg.frames[0].decoded_json, msg.frames[0].error
            msg.record.CopyFrom(fr)
    return msg


# ---------------------------------------------------------------------- the service


async def _abort(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("unreachable: abort raises")


def _code(exc: Exception) -> grpc.StatusCode:
    if isinstance(exc, UnknownLink | LookupError):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, LinkExists):
        return grpc.StatusCode.ALREADY_EXISTS
    if isinstance(exc, NotAllowed):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(exc, FaultError | ValueError):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, OSError):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL


class FaultsService(pb_grpc.FaultsServicer):  # type: ignore[name-defined]
    """Faults service over one `FaultProxy`; `on_shutdown` is called by Shutdown (after the proxy stopped)."""

    def __init__(self, proxy: FaultProxy, on_shutdown: Callable[[str], None] | None = None) -> None:
        self.proxy = proxy
        self.on_shutdown = on_shutdown

    async def _guard(self, context: grpc.aio.ServicerContext, coro: Any) -> Any:
        try:
            return await coro
        except (LookupError, ValueError, PermissionError, OSError) as exc:
            await _abort(context, _code(exc), str(exc))

    async def CreateLink(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        link = await self._guard(context, self.proxy.create_link(
            request.name, request.target_host, request.target_port, listen_host=request.listen_host or "127.0.0.1",
            listen_port=request.listen_port))
        return link_to_pb(link)

    async def ListLinks(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        return pb.ListLinksResponse(links=[link_to_pb(ln) for ln in self.proxy.links.values()])

    async def RemoveLink(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        link = await self._guard(context, self.proxy.remove_link(request.name))
        return pb.RemoveLinkResponse(link=link_to_pb(link))

    async def Inject(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        async def go() -> Fault:
            return await self.proxy.inject(request.link, spec_from_pb(request.fault))

        return fault_to_pb(await self._guard(context, go()))

    async def Clear(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        cleared = await self._guard(context, self.proxy.clear(request.link, request.id))
        return pb.ClearResponse(cleared=[fault_to_pb(f) for f in cleared])

    async def ListFaults(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        async def go() -> list[Fault]:
            return self.proxy.faults(request.link, request.include_ended)

        faults = await self._guard(context, go())
        return pb.ListFaultsResponse(faults=[fault_to_pb(f) for f in faults])

    async def StreamEvidence(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:  # noqa: N802
        ev = self.proxy.evidence
        if request.link and request.link not in self.proxy.links and request.link not in ev.per_link:
            await _abort(context, grpc.StatusCode.NOT_FOUND, f"no link {request.link!r}")
        sub = ev.subscribe(request.link)
        cutter = FrameCutter() if request.decode else None
        try:
            last = ev.snapshot()
            # initial metadata says the subscription is live: a follower may start the traffic now
            await context.send_initial_metadata((("gbt32960-subscribed", "1"),))
            if request.replay:
                records = await asyncio.to_thread(lambda: list(ev.records(request.link, 0, last)))
                for rec in records:
                    yield evidence_to_pb(rec, ev.conns.get(rec.conn), cutter)
            while not self.proxy.stopped.is_set():
                get = asyncio.ensure_future(sub.queue.get())
                stop = asyncio.ensure_future(self.proxy.stopped.wait())
                done, _ = await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if get not in done:
                    get.cancel()
                    break
                rec = get.result()
                if rec.seq <= last:
                    continue
                yield evidence_to_pb(rec, ev.conns.get(rec.conn), cutter)
                if sub.overflow and sub.queue.empty():
                    await _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                                 f"the evidence stream fell behind; read on with GetEvidence after seq {rec.seq}")
        finally:
            ev.unsubscribe(sub)

    async def GetEvidence(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        ev = self.proxy.evidence
        if request.link and request.link not in self.proxy.links and request.link not in ev.per_link:
            await _abort(context, grpc.StatusCode.NOT_FOUND, f"no link {request.link!r}")
        last = ev.snapshot()
        conns = dict(ev.conns)
        try:
            return await asyncio.to_thread(export, ev, conns, request, last)
        except OSError as exc:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"cannot write the evidence files: {exc}")

    async def Shutdown(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        log.info("shutdown asked%s", f": {request.reason}" if request.reason else "")
        await self.proxy.stop()
        if self.on_shutdown is not None:
            self.on_shutdown(request.reason)
        return pb.ShutdownResponse()


def export(ev: EvidenceLog, conns: dict[int, ConnInfo], request: Any, last: int) -> Any:
    """GetEvidence's work (in a worker thread): the page of records, and the files asked for."""
    link, after = request.link, request.after_seq
    limit = request.limit or DEFAULT_LIMIT
    resp = pb.GetEvidenceResponse()
    if request.pcap_path:
        path = Path(request.pcap_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        resp.packets = write_pcap(path, ev.records(link, after, last), conns)
        resp.pcap_path = str(path.resolve())
    if request.jsonl_path:
        path = Path(request.jsonl_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(path, ev.records(link, after, last), conns)
        resp.jsonl_path = str(path.resolve())
    cutter = FrameCutter() if request.decode else None
    total = 0
    for rec in ev.records(link, 0 if cutter is not None else after, last):
        if rec.seq <= after:  # decoding needs each stream from its start
            cutter.frames(rec)  # type: ignore[union-attr]
            continue
        total += 1
        if request.files_only:
            continue
        if len(resp.evidence) < limit:
            resp.evidence.append(evidence_to_pb(rec, conns.get(rec.conn), cutter))
        else:
            resp.more = True
    resp.total = total
    return resp


async def start_grpc(proxy: FaultProxy, host: str = "127.0.0.1", port: int = 0,
                     on_shutdown: Callable[[str], None] | None = None) -> tuple[grpc.aio.Server, int]:
    """Serve the Faults service (with health and reflection) on the running loop; (server, port)."""
    server = grpc.aio.server(options=GRPC_OPTIONS)
    pb_grpc.add_FaultsServicer_to_server(FaultsService(proxy, on_shutdown), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen for gRPC on {host}:{port}")
    await server.start()
    await health_servicer.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    return server, bound
