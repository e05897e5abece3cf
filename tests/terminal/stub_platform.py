"""A tiny platform for driver tests: answers logins, heartbeats and time syncs; counts everything.

Written with the protocol library's Framer only (not the reference platform), so a driver test does
not depend on the platform under construction. Also runs alone for scale measurements:

    python -m tests.terminal.stub_platform --port 32960
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import time
from collections import Counter

from harness.protocol.codec import assemble
from harness.protocol.framer import Framer
from harness.protocol.schema import Timestamp

ANSWERED = {0x01, 0x07, 0x08}


class StubPlatform:
    def __init__(self, *, answer_logins: bool = True) -> None:
        self.answer_logins = answer_logins
        self.frames: Counter[int] = Counter()
        self.vins: set[bytes] = set()
        self.logged_in: set[bytes] = set()
        self.bad = 0
        self.connections = 0
        self.open = 0
        self.server: asyncio.AbstractServer | None = None
        self.transports: set[asyncio.Transport] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _Conn(self), host, port, backlog=4096)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for t in list(self.transports):
                t.close()
            await self.server.wait_closed()


class _Conn(asyncio.Protocol):
    def __init__(self, platform: StubPlatform) -> None:
        self.p = platform
        self.framer = Framer()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.p.connections += 1
        self.p.open += 1
        self.p.transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.p.open -= 1
        if self.transport is not None:
            self.p.transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        p = self.p
        for item in self.framer.feed(data):
            if not isinstance(item, bytes):
                p.bad += 1
                continue
            cmd, ack, vin = item[2], item[3], item[4:21]
            p.frames[cmd] += 1
            p.vins.add(vin)
            if ack != 0xFE or cmd not in ANSWERED:
                continue
            if cmd == 0x01:
                if not p.answer_logins:
                    continue
                p.logged_in.add(vin)
            edition = 2016 if item[:2] == b"##" else 2025
            when = item[24:30] if cmd == 0x01 else bytes(
                Timestamp.from_datetime(_dt.datetime.now(_dt.timezone(_dt.timedelta(hours=8)))))
            assert self.transport is not None
            self.transport.write(assemble(edition, cmd, 0x01, vin.rstrip(b"\0"), when))


async def _main(port: int, report: float) -> None:
    p = StubPlatform()
    await p.start("127.0.0.1", port)
    last, t0 = 0, time.monotonic()
    while True:
        await asyncio.sleep(report)
        n = sum(p.frames.values())
        print(f"[{time.monotonic() - t0:7.1f}s] open {p.open} vins {len(p.vins)} frames {n} "
              f"({(n - last) / report:.0f}/s) bad {p.bad} by cmd {dict(sorted(p.frames.items()))}", flush=True)
        last = n


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=32960)
    ap.add_argument("--report", type=float, default=5.0)
    a = ap.parse_args()
    asyncio.run(_main(a.port, a.report))
