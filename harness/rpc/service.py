"""Helpers shared by the Control services of the reference platforms and of the vehicle fleet.

Hand-written (the stubs beside it are generated): the frame record, the StreamFrames subscriber
with its bounded buffer, and the grpc.aio server with health and reflection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import deque
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from harness.protocol.codec import decode
from harness.protocol.jsonview import frame_to_json
from harness.protocol.timers import Timers

from . import load

pb = load("gbt32960.control.v1.control_pb2")
pb_grpc = load("gbt32960.control.v1.control_pb2_grpc")
common = load("gbt32960.common.v1.common_pb2")

SERVICE = pb.DESCRIPTOR.services_by_name["Control"].full_name
STREAM_BUFFER = 100_000  # frames a StreamFrames client may fall behind before its stream is ended
SUBSCRIBED_KEY = "gbt32960-subscribed"  # initial metadata of StreamFrames: the subscription is live




def vin_of(raw: bytes) -> str:
    """The VIN field of a frame (bytes 4-20), without padding."""
    return raw[4:21].decode("ascii", "replace").rstrip("\0 ")


def frame_record(at: float, direction: str, link: str, raw: bytes, decoded: bool = True) -> Any:
    """A FrameRecord; with `decoded`, the frame as JSON or why it did not decode."""
    record = common.FrameRecord(at=at, link=link, direction=direction, raw=raw)
    if decoded:
        try:
            record.decoded_json = json.dumps(frame_to_json(decode(raw)), ensure_ascii=False)
        except Exception as exc:  # evidence: a frame that does not decode is shown, not fatal
            record.error = str(exc) or type(exc).__name__
    return record


class Subscriber:
    """One StreamFrames client: a filter and a bounded buffer, filled by the platform core's or the
    fleet driver's frame observer."""

    def __init__(self, vins: set[str], links: set[str]) -> None:
        self.vins, self.links = vins, links
        self.items: deque[tuple[float, str, str, bytes] | None] = deque()
        self.ready = asyncio.Event()
        self.dropped = 0

    def wants(self, link: str, raw: bytes) -> bool:
        return (not self.links or link in self.links) and (not self.vins or vin_of(raw) in self.vins)

    def offer(self, item: tuple[float, str, str, bytes] | None) -> None:
        if item is not None and len(self.items) >= STREAM_BUFFER:
            self.dropped += 1  # never block the party for a slow watcher; the stream ends and says so
        else:
            self.items.append(item)
        self.ready.set()

    async def next(self) -> tuple[float, str, str, bytes] | None:
        while not self.items:
            self.ready.clear()
            await self.ready.wait()
        return self.items.popleft()


async def abort(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("unreachable: abort raises")


def bounded_wait(requested: float, default: float, cap: float, context: grpc.aio.ServicerContext) -> float:
    """Seconds a handler may wait: the request's (or `default`), at most `cap`, within the call's deadline."""
    wait = min(requested if requested > 0 else default, cap)
    remaining = context.time_remaining()
    if remaining is not None:
        wait = min(wait, max(remaining - 0.05, 0.0))
    return wait


async def start_grpc(servicer: Any, host: str, port: int) -> tuple[grpc.aio.Server, int, Any]:
    """A grpc.aio server with the Control servicer, health (SERVING) and reflection; (server, port, health)."""
    server = grpc.aio.server()
    pb_grpc.add_ControlServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"control port {host}:{port} could not be bound")
    await server.start()
    for name in ("", SERVICE):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, bound, health_servicer


def timers_message(timers: Timers) -> Any:
    return pb.Timers(**{f.name: getattr(timers, f.name) for f in dataclasses.fields(timers)})
