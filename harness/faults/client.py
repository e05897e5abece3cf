"""Clients of the `Faults` service, sync and async, with a fluent API for fixtures.

    faults = FaultsClient("127.0.0.1:50070")
    link = faults.create_link("enterprise->local", ("127.0.0.1", local_port))   # link.port: where to connect
    faults.link("enterprise->local").partition(30)
    faults.link("enterprise->local").latency(200, 50, duration=10)
    with faults.link("enterprise->local").drop_frames(command=0x02, count=3):   # cleared when the block ends
        ...
    faults.link("enterprise->local").corrupt_bcc(nth=5)
    faults.link("enterprise->local").clear()
    frames(faults.link("enterprise->local").evidence(), flow="to_target")     # frames as delivered

`AsyncFaultsClient` has the same methods as coroutines (`await faults.link(...).partition(30)`).

Every fault is bounded: byte and connection faults need `duration=` or `count=` (the proxy refuses an
unbounded one with INVALID_ARGUMENT); frame faults without a bound act on one frame (`count=1`).
Errors are `grpc.RpcError` (NOT_FOUND for an unknown link, INVALID_ARGUMENT for a bad fault ...).

Under gevent (locust), call `use_gevent()` once, after gevent's monkey-patching and before the first client
is made: it runs `grpc.experimental.gevent.init_gevent()`, without which grpc's threads block the hub.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

import grpc

from harness.protocol.framer import Framer
from harness.rpc import load

pb = load("gbt32960.faults.v1.faults_pb2")
pb_grpc = load("gbt32960.faults.v1.faults_pb2_grpc")

__all__ = ["AsyncFaultHandle", "AsyncFaultsClient", "AsyncLinkFaults", "FaultHandle", "FaultsClient", "LinkFaults",
           "fault_spec", "frames", "use_gevent"]

_OPTIONS = [("grpc.max_send_message_length", 256 << 20), ("grpc.max_receive_message_length", 256 << 20)]
_DIRECTIONS = {None: pb.DIRECTION_UNSPECIFIED, "": pb.DIRECTION_UNSPECIFIED, "to_target": pb.TO_TARGET,
               "to_client": pb.TO_CLIENT, "both": pb.BOTH}
_FRAME_KINDS = {"drop_frames", "duplicate_frames", "delay_frames", "reorder_frames", "flip_byte", "corrupt_bcc",
                "replace_frame"}
_gevent_ready = False


def use_gevent() -> None:
    """Let grpc cooperate with gevent (locust): call once after `gevent.monkey.patch_all()`, before any client."""
    global _gevent_ready
    if not _gevent_ready:
        from grpc.experimental import gevent as grpc_gevent

        grpc_gevent.init_gevent()
        _gevent_ready = True


def fault_spec(kind: str, *, direction: str | None = None, duration: float | None = None, count: int | None = None,
               nth: int | None = None, command: int | None = None, ack: int | None = None, vin: str | None = None,
               seed: int = 0, **params: Any) -> Any:
    """A `FaultSpec` message; frame faults without any bound get count=1 (one frame)."""
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction {direction!r}: to_target, to_client or both")
    if kind in _FRAME_KINDS and not duration and not count and nth is None:
        count = 1
    spec = pb.FaultSpec(direction=_DIRECTIONS[direction], duration_seconds=duration or 0.0, count=count or 0,
                        seed=seed)
    body = getattr(spec, kind)
    body.SetInParent()
    for name, value in params.items():
        if value is not None:
            setattr(body, name, value)
    if nth is not None:
        spec.match.nth = nth
    if command is not None:
        spec.match.command = command
    if ack is not None:
        spec.match.ack = ack
    if vin:
        spec.match.vin = vin
    return spec


def frames(evidence: Iterable[Any], *, flow: str = "to_target", side: str = "out",
           connection: int | None = None) -> list[bytes]:
    """Whole frames of one direction, cut from the evidence's bytes: as delivered by the proxy (side "out")
    or as it received them ("in"), every connection (in order) or one."""
    kinds = {"write", "relay"} if side == "out" else {"read", "relay"}
    framers: dict[int, Framer] = {}
    out: list[bytes] = []
    for ev in evidence:
        if ev.flow != flow or ev.kind not in kinds or (connection is not None and ev.connection != connection):
            continue
        framer = framers.setdefault(ev.connection, Framer())
        out += [f for f in framer.feed(ev.record.raw) if isinstance(f, bytes)]
    return out


R = TypeVar("R")


class _LinkFaults(Generic[R]):
    """The fluent fault methods of one link; each returns what the client's inject returns (R)."""

    def __init__(self, name: str, inject: Callable[[Any], R]) -> None:
        self.name = name
        self._inject = inject

    def inject(self, kind: str, **kw: Any) -> R:
        """Any fault by kind name and `fault_spec` keywords (the methods below are shorthands)."""
        return self._inject(pb.InjectRequest(link=self.name, fault=fault_spec(kind, **kw)))

    # ---- byte and connection faults
    def latency(self, ms: int, jitter_ms: int = 0, *, duration: float | None = None, count: int | None = None,
                direction: str | None = None, seed: int = 0) -> R:
        """Deliveries late by ms ± jitter_ms (stream order kept)."""
        return self.inject("latency", ms=ms, jitter_ms=jitter_ms, duration=duration, count=count,
                           direction=direction, seed=seed)

    def bandwidth(self, bytes_per_second: int, *, duration: float | None = None, count: int | None = None,
                  direction: str | None = None) -> R:
        """Deliveries paced to a rate."""
        return self.inject("bandwidth", bytes_per_second=bytes_per_second, duration=duration, count=count,
                           direction=direction)

    def drop_connections(self, *, graceful: bool = False, count: int | None = None) -> R:
        """Reset (RST; or close with FIN when graceful) the open connections now."""
        return self.inject("drop_connections", graceful=graceful, count=count)

    def refuse(self, *, duration: float | None = None, count: int | None = None) -> R:
        """Refuse new connections: for a duration (listener closed) or the next `count` (accepted and reset)."""
        return self.inject("refuse_connections", duration=duration, count=count)

    def blackhole(self, *, duration: float | None = None, count: int | None = None,
                  direction: str | None = None) -> R:
        """Accept and never deliver."""
        return self.inject("blackhole", duration=duration, count=count, direction=direction)

    def half_open(self, duration: float, *, direction: str = "to_target", count: int | None = None) -> R:
        """Close the target's side (to_target) or the client's (to_client), leave the other hanging."""
        return self.inject("half_open", duration=duration, direction=direction, count=count)

    def reset_after(self, n_bytes: int, *, count: int | None = None, duration: float | None = None,
                    direction: str | None = None) -> R:
        """Reset each connection once n_bytes have been delivered (count: how many connections)."""
        return self.inject("reset_after", bytes=n_bytes, count=count, duration=duration, direction=direction)

    def slice(self, n_bytes: int, *, gap_ms: int = 0, duration: float | None = None, count: int | None = None,
              direction: str | None = None) -> R:
        """Write each delivery in n_bytes pieces, gap_ms apart."""
        return self.inject("slice", bytes=n_bytes, gap_ms=gap_ms, duration=duration, count=count,
                           direction=direction)

    def partition(self, seconds: float) -> R:
        """Cut both directions (connections reset, new ones refused), healed after `seconds`."""
        return self.inject("partition", duration=seconds)

    # ---- frame faults (default direction to_target; one frame unless bounded otherwise)
    def drop_frames(self, *, command: int | None = None, vin: str | None = None, ack: int | None = None,
                    nth: int | None = None, count: int | None = None, duration: float | None = None,
                    direction: str | None = None) -> R:
        return self.inject("drop_frames", command=command, vin=vin, ack=ack, nth=nth, count=count,
                           duration=duration, direction=direction)

    def duplicate_frames(self, *, copies: int = 1, command: int | None = None, vin: str | None = None,
                         ack: int | None = None, nth: int | None = None, count: int | None = None,
                         duration: float | None = None, direction: str | None = None) -> R:
        return self.inject("duplicate_frames", copies=copies, command=command, vin=vin, ack=ack, nth=nth,
                           count=count, duration=duration, direction=direction)

    def delay_frames(self, ms: int, *, command: int | None = None, vin: str | None = None, ack: int | None = None,
                     nth: int | None = None, count: int | None = None, duration: float | None = None,
                     direction: str | None = None) -> R:
        return self.inject("delay_frames", ms=ms, command=command, vin=vin, ack=ack, nth=nth, count=count,
                           duration=duration, direction=direction)

    def reorder_frames(self, *, max_hold_ms: int = 1000, command: int | None = None, vin: str | None = None,
                       ack: int | None = None, nth: int | None = None, count: int | None = None,
                       duration: float | None = None, direction: str | None = None) -> R:
        return self.inject("reorder_frames", max_hold_ms=max_hold_ms, command=command, vin=vin, ack=ack, nth=nth,
                           count=count, duration=duration, direction=direction)

    def flip_byte(self, offset: int, *, mask: int = 0xFF, fix_bcc: bool = False, command: int | None = None,
                  vin: str | None = None, ack: int | None = None, nth: int | None = None, count: int | None = None,
                  duration: float | None = None, direction: str | None = None) -> R:
        return self.inject("flip_byte", offset=offset, mask=mask, fix_bcc=fix_bcc, command=command, vin=vin, ack=ack,
                           nth=nth, count=count, duration=duration, direction=direction)

    def corrupt_bcc(self, *, command: int | None = None, vin: str | None = None, ack: int | None = None,
                    nth: int | None = None, count: int | None = None, duration: float | None = None,
                    direction: str | None = None) -> R:
        return self.inject("corrupt_bcc", command=command, vin=vin, ack=ack, nth=nth, count=count,
                           duration=duration, direction=direction)

    def replace_frame(self, data: bytes, *, command: int | None = None, vin: str | None = None,
                      ack: int | None = None, nth: int | None = None, count: int | None = None,
                      duration: float | None = None, direction: str | None = None) -> R:
        return self.inject("replace_frame", data=data, command=command, vin=vin, ack=ack, nth=nth, count=count,
                           duration=duration, direction=direction)


# ====================================================================== sync


class FaultHandle:
    """An injected fault (the `Fault` message's fields as attributes); a context manager that clears it."""

    def __init__(self, client: FaultsClient, fault: Any) -> None:
        self._client = client
        self.fault = fault

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fault, name)

    def __repr__(self) -> str:
        return f"<fault {self.fault.id} on {self.fault.link}: {self.fault.summary} ({self.fault.state})>"

    def clear(self) -> bool:
        """End the fault now; False when it had ended already."""
        return bool(self._client.link(self.fault.link).clear(self.fault.id))

    def refresh(self) -> FaultHandle:
        for f in self._client.faults(self.fault.link, include_ended=True):
            if f.id == self.fault.id:
                self.fault = f
        return self

    def __enter__(self) -> FaultHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.clear()
        except grpc.RpcError:  # the link or the proxy may be gone already
            pass


class LinkFaults(_LinkFaults[FaultHandle]):
    def __init__(self, client: FaultsClient, name: str) -> None:
        super().__init__(name, lambda req: FaultHandle(client, client._stub.Inject(req, timeout=client.timeout)))
        self._client = client

    def info(self) -> Any:
        """The `Link` message (listen port, counters)."""
        for ln in self._client.links():
            if ln.name == self.name:
                return ln
        raise LookupError(f"no link {self.name!r}")

    @property
    def port(self) -> int:
        """Where the client party should connect."""
        return int(self.info().listen.port)

    def clear(self, fault_id: int = 0) -> list[Any]:
        """End one fault, or all of the link's; returns the faults cleared."""
        c = self._client
        return list(c._stub.Clear(pb.ClearRequest(link=self.name, id=fault_id), timeout=c.timeout).cleared)

    def faults(self, include_ended: bool = False) -> list[Any]:
        return self._client.faults(self.name, include_ended)

    def evidence(self, **kw: Any) -> list[Any]:
        """`FaultsClient.evidence` for this link."""
        return self._client.evidence(self.name, **kw)

    def remove(self) -> Any:
        c = self._client
        return c._stub.RemoveLink(pb.RemoveLinkRequest(name=self.name), timeout=c.timeout).link


class FaultsClient:
    """Blocking client of a `Faults` service at `target` ("host:port")."""

    def __init__(self, target: str, *, timeout: float = 30.0) -> None:
        self.target = target
        self.timeout = timeout
        self._channel = grpc.insecure_channel(target, options=_OPTIONS)
        self._stub = pb_grpc.FaultsStub(self._channel)

    def wait_ready(self, timeout: float = 10.0) -> FaultsClient:
        grpc.channel_ready_future(self._channel).result(timeout=timeout)
        return self

    def create_link(self, name: str, target: str | tuple[str, int], *, listen_port: int = 0,
                    listen_host: str = "") -> LinkFaults:
        host, port = _split(target)
        self._stub.CreateLink(pb.CreateLinkRequest(name=name, listen_host=listen_host, listen_port=listen_port,
                                                   target_host=host, target_port=port), timeout=self.timeout)
        return self.link(name)

    def link(self, name: str) -> LinkFaults:
        return LinkFaults(self, name)

    def links(self) -> list[Any]:
        return list(self._stub.ListLinks(pb.ListLinksRequest(), timeout=self.timeout).links)

    def faults(self, link: str = "", include_ended: bool = False) -> list[Any]:
        return list(self._stub.ListFaults(pb.ListFaultsRequest(link=link, include_ended=include_ended),
                                          timeout=self.timeout).faults)

    def evidence(self, link: str = "", *, decode: bool = False, after_seq: int = 0, pcap: str | None = None,
                 jsonl: str | None = None) -> list[Any]:
        """Every record so far (paged), optionally written as pcap / JSON lines by the proxy (its paths)."""
        out: list[Any] = []
        first = True
        while True:
            req = pb.GetEvidenceRequest(link=link, after_seq=after_seq, decode=decode)
            if first:
                req.pcap_path, req.jsonl_path = pcap or "", jsonl or ""
            resp = self._stub.GetEvidence(req, timeout=self.timeout)
            out += resp.evidence
            first = False
            if not resp.more or not resp.evidence:
                return out
            after_seq = resp.evidence[-1].seq

    def export(self, link: str = "", *, pcap: str | None = None, jsonl: str | None = None) -> Any:
        """Only write the files (on the proxy's machine); returns the `GetEvidenceResponse` (counts, paths)."""
        return self._stub.GetEvidence(pb.GetEvidenceRequest(link=link, pcap_path=pcap or "", jsonl_path=jsonl or "",
                                                            files_only=True), timeout=self.timeout)

    def stream_evidence(self, link: str = "", *, replay: bool = False, decode: bool = False) -> Iterator[Any]:
        """Records as they come (a grpc stream: call .cancel() on it to stop)."""
        return self._stub.StreamEvidence(pb.StreamEvidenceRequest(link=link, replay=replay, decode=decode))

    def shutdown(self, reason: str = "") -> None:
        self._stub.Shutdown(pb.ShutdownRequest(reason=reason), timeout=self.timeout)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> FaultsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ====================================================================== async


class AsyncFaultHandle:
    """An injected fault (async client); `async with` clears it at the end of the block."""

    def __init__(self, client: AsyncFaultsClient, fault: Any) -> None:
        self._client = client
        self.fault = fault

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fault, name)

    def __repr__(self) -> str:
        return f"<fault {self.fault.id} on {self.fault.link}: {self.fault.summary} ({self.fault.state})>"

    async def clear(self) -> bool:
        return bool(await self._client.link(self.fault.link).clear(self.fault.id))

    async def refresh(self) -> AsyncFaultHandle:
        for f in await self._client.faults(self.fault.link, include_ended=True):
            if f.id == self.fault.id:
                self.fault = f
        return self

    async def __aenter__(self) -> AsyncFaultHandle:
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.clear()
        except grpc.RpcError:
            pass


class AsyncLinkFaults(_LinkFaults[Awaitable[AsyncFaultHandle]]):
    def __init__(self, client: AsyncFaultsClient, name: str) -> None:
        async def inject(req: Any) -> AsyncFaultHandle:
            return AsyncFaultHandle(client, await client._stub.Inject(req, timeout=client.timeout))

        super().__init__(name, inject)
        self._client = client

    async def info(self) -> Any:
        for ln in await self._client.links():
            if ln.name == self.name:
                return ln
        raise LookupError(f"no link {self.name!r}")

    async def port(self) -> int:
        return int((await self.info()).listen.port)

    async def clear(self, fault_id: int = 0) -> list[Any]:
        c = self._client
        return list((await c._stub.Clear(pb.ClearRequest(link=self.name, id=fault_id), timeout=c.timeout)).cleared)

    async def faults(self, include_ended: bool = False) -> list[Any]:
        return await self._client.faults(self.name, include_ended)

    async def evidence(self, **kw: Any) -> list[Any]:
        return await self._client.evidence(self.name, **kw)

    async def remove(self) -> Any:
        c = self._client
        return (await c._stub.RemoveLink(pb.RemoveLinkRequest(name=self.name), timeout=c.timeout)).link


class AsyncFaultsClient:
    """grpc.aio client of a `Faults` service at `target` ("host:port"); make it inside the running loop."""

    def __init__(self, target: str, *, timeout: float = 30.0) -> None:
        self.target = target
        self.timeout = timeout
        self._channel = grpc.aio.insecure_channel(target, options=_OPTIONS)
        self._stub = pb_grpc.FaultsStub(self._channel)

    async def wait_ready(self, timeout: float = 10.0) -> AsyncFaultsClient:
        import asyncio

        await asyncio.wait_for(self._channel.channel_ready(), timeout)
        return self

    async def create_link(self, name: str, target: str | tuple[str, int], *, listen_port: int = 0,
                          listen_host: str = "") -> AsyncLinkFaults:
        host, port = _split(target)
        await self._stub.CreateLink(pb.CreateLinkRequest(name=name, listen_host=listen_host, listen_port=listen_port,
                                                         target_host=host, target_port=port), timeout=self.timeout)
        return self.link(name)

    def link(self, name: str) -> AsyncLinkFaults:
        return AsyncLinkFaults(self, name)

    async def links(self) -> list[Any]:
        return list((await self._stub.ListLinks(pb.ListLinksRequest(), timeout=self.timeout)).links)

    async def faults(self, link: str = "", include_ended: bool = False) -> list[Any]:
        return list((await self._stub.ListFaults(pb.ListFaultsRequest(link=link, include_ended=include_ended),
                                                 timeout=self.timeout)).faults)

    async def evidence(self, link: str = "", *, decode: bool = False, after_seq: int = 0, pcap: str | None = None,
                       jsonl: str | None = None) -> list[Any]:
        out: list[Any] = []
        first = True
        while True:
            req = pb.GetEvidenceRequest(link=link, after_seq=after_seq, decode=decode)
            if first:
                req.pcap_path, req.jsonl_path = pcap or "", jsonl or ""
            resp = await self._stub.GetEvidence(req, timeout=self.timeout)
            out += resp.evidence
            first = False
            if not resp.more or not resp.evidence:
                return out
            after_seq = resp.evidence[-1].seq

    async def export(self, link: str = "", *, pcap: str | None = None, jsonl: str | None = None) -> Any:
        return await self._stub.GetEvidence(pb.GetEvidenceRequest(
            link=link, pcap_path=pcap or "", jsonl_path=jsonl or "", files_only=True), timeout=self.timeout)

    async def stream_evidence(self, link: str = "", *, replay: bool = False,
                              decode: bool = False) -> AsyncIterator[Any]:
        call = self._stub.StreamEvidence(pb.StreamEvidenceRequest(link=link, replay=replay, decode=decode))
        try:
            async for ev in call:
                yield ev
        finally:
            call.cancel()

    async def shutdown(self, reason: str = "") -> None:
        await self._stub.Shutdown(pb.ShutdownRequest(reason=reason), timeout=self.timeout)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncFaultsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _split(target: str | tuple[str, int]) -> tuple[str, int]:
    if isinstance(target, tuple):
        return target[0], int(target[1])
    host, _, port = target.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)
