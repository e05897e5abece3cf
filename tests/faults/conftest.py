"""Fixtures for the fault proxy's tests: a recording peer server, a raw TCP party, the proxy behind gRPC.

Every wait is bounded (`until`, `Party.read_for`, `Party.expect`): a fault that breaks the proxy itself makes a
test fail within seconds, never hang.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from harness.faults.client import AsyncFaultsClient
from harness.faults.proxy import FaultProxy
from harness.faults.service import start_grpc
from harness.protocol.codec import Frame, encode
from harness.protocol.framer import Framer
from tests.reference.conftest import realtime

VIN = "LFAULTS0000000001"
OTHER_VIN = "LFAULTS0000000002"
LINK = "client->peer"


def frame(second: int, vin: str = VIN, command: int = 0x02) -> bytes:
    """A 2016 real-time frame (or reissue 0x03) whose collection time is BASE + second: each one distinct."""
    return realtime(vin, second, command=command)


def heartbeat(vin: str = VIN) -> bytes:
    return encode(Frame(0x07, vin=vin, body={}))


async def until(predicate: Callable[[], bool], timeout: float = 3.0, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


@dataclass
class PeerConn:
    """What the peer saw on one accepted connection."""

    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    eof: bool = False
    reset: bool = False
    closed: bool = False
    writer: asyncio.StreamWriter | None = None

    @property
    def data(self) -> bytes:
        return b"".join(c for _, c in self.chunks)

    def frames(self) -> list[bytes | Exception]:
        return Framer().feed(self.data)

    def good_frames(self) -> list[bytes]:
        return [f for f in self.frames() if isinstance(f, bytes)]

    def arrival_of(self, needle: bytes) -> float | None:
        """When the chunk completing `needle` arrived (loop time)."""
        seen = b""
        for at, chunk in self.chunks:
            seen += chunk
            if needle in seen:
                return at
        return None


class Peer:
    """The far side: an asyncio server on 127.0.0.1 that records what it receives (and echoes it, if asked)."""

    def __init__(self, echo: bool = True) -> None:
        self.echo = echo
        self.conns: list[PeerConn] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> Peer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = PeerConn(writer=writer)
        self.conns.append(conn)
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    conn.eof = True
                    break
                conn.chunks.append((loop.time(), data))
                if self.echo:
                    writer.write(data)
                    await writer.drain()
        except ConnectionError:
            conn.reset = True
        finally:
            conn.closed = True
            writer.close()

    @property
    def last(self) -> PeerConn:
        return self.conns[-1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for c in self.conns:
            if c.writer is not None:
                c.writer.close()


class Party:
    """The near side: a raw TCP client of the proxy, reading with bounded waits."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.received = b""
        self.eof = False
        self.reset = False

    @classmethod
    async def connect(cls, port: int) -> Party:
        return cls(*await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 3))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_for(self, seconds: float) -> bytes:
        """Whatever arrives within `seconds` (stops early at EOF or reset)."""
        deadline = time.monotonic() + seconds
        got = b""
        while not (self.eof or self.reset):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), left)
            except TimeoutError:
                break
            except ConnectionError:
                self.reset = True
                break
            if not chunk:
                self.eof = True
                break
            got += chunk
        self.received += got
        return got

    async def expect(self, n: int, timeout: float = 3.0) -> bytes:
        """Exactly the next n bytes (fails after `timeout`)."""
        deadline = time.monotonic() + timeout
        got = b""
        while len(got) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(got)} of {n} bytes within {timeout} s")
            chunk = await asyncio.wait_for(self.reader.read(n - len(got)), left)
            if not chunk:
                raise ConnectionError(f"closed after {len(got)} of {n} bytes")
            got += chunk
        self.received += got
        return got

    async def closed_within(self, seconds: float) -> bool:
        await self.read_for(seconds)
        return self.eof or self.reset

    def close(self) -> None:
        self.writer.close()


@dataclass
class Harness:
    proxy: FaultProxy
    faults: AsyncFaultsClient
    peer: Peer
    port: int  # the proxy's listen port for LINK

    async def party(self) -> Party:
        return await Party.connect(self.port)

    def link(self):  # noqa: ANN201 - the async fluent handle
        return self.faults.link(LINK)


@pytest.fixture
async def peer():
    p = await Peer().start()
    yield p
    await p.stop()


@pytest.fixture
async def proxy():
    p = FaultProxy(hold=0.3)
    yield p
    await p.stop()
    p.evidence.close()


@pytest.fixture
async def control(proxy):
    """The proxy's gRPC service on a free port, and an async client of it."""
    server, port = await start_grpc(proxy)
    client = AsyncFaultsClient(f"127.0.0.1:{port}", timeout=10)
    yield client
    await client.close()
    await server.stop(grace=0)


@pytest.fixture
async def h(proxy, control, peer) -> Harness:
    link = await control.create_link(LINK, ("127.0.0.1", peer.port))
    return Harness(proxy, control, peer, await link.port())
