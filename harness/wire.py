"""The evidence recorder and the harness's own raw links.

Every frame on a link the harness controls goes through a `Wire`: the raw vehicle and platform
links below record what they send and receive, and the fault proxy's evidence is merged in. A
case's verdict carries these frames (pcap, decoded log, JSON).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

from harness.protocol import errors
from harness.protocol.codec import Frame, decode, encode
from harness.protocol.framer import Framer


@dataclass(frozen=True)
class WireFrame:
    at: float
    link: str
    direction: str  # "->" from the harness's party towards the SUT, "<-" back
    raw: bytes


class Wire:
    """Thread-safe list of frames seen, in order."""

    def __init__(self) -> None:
        self._frames: list[WireFrame] = []
        self._lock = threading.Lock()

    def record(self, link: str, direction: str, raw: bytes, at: float | None = None) -> None:
        with self._lock:
            self._frames.append(WireFrame(at or time.time(), link, direction, bytes(raw)))

    @property
    def frames(self) -> list[WireFrame]:
        with self._lock:
            return list(self._frames)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()


class LinkClosed(ConnectionError):
    """The SUT closed the link."""


class RawLink:
    """A raw TCP link to the SUT that sends and reads whole frames, recording both ways.

    Waits are bounded by `timeout` (seconds); a frame that does not arrive raises TimeoutError.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, wire: Wire, name: str) -> None:
        self.reader, self.writer = reader, writer
        self.wire, self.name = wire, name
        self.framer = Framer()
        self.inbox: list[bytes] = []
        self.problems: list[errors.ProtocolError] = []

    @classmethod
    async def open(cls, host: str, port: int, wire: Wire, name: str, timeout: float = 5.0) -> RawLink:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        return cls(reader, writer, wire, name)

    async def send(self, data: bytes | Frame) -> None:
        raw = encode(data) if isinstance(data, Frame) else data
        self.wire.record(self.name, "->", raw)
        self.writer.write(raw)
        await self.writer.drain()

    async def receive(self, timeout: float) -> Frame:
        """The next whole frame from the SUT, decoded. A frame that does not decode raises the
        protocol error (the raw bytes are in the evidence either way)."""
        raw = await self.receive_raw(timeout)
        return decode(raw)

    async def receive_raw(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while not self.inbox:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no frame within {timeout:g} s")
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), left)
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise LinkClosed(f"{self.name}: link reset by the SUT") from exc
            if not chunk:
                raise LinkClosed(f"{self.name}: link closed by the SUT")
            for item in self.framer.feed(chunk):
                if isinstance(item, errors.ProtocolError):
                    self.problems.append(item)
                else:
                    self.wire.record(self.name, "<-", item)
                    self.inbox.append(item)
        return self.inbox.pop(0)

    async def silent_for(self, seconds: float) -> bool:
        """True when no frame arrives within `seconds` (the link may stay open)."""
        try:
            await self.receive_raw(seconds)
        except TimeoutError:
            return True
        return False

    async def closed_within(self, seconds: float) -> bool:
        try:
            while True:
                await self.receive_raw(seconds)
        except LinkClosed:
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
