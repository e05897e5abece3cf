"""The enterprise platform as the harness plays it when a terminal (T-Box) is the SUT.

A `ScriptedPlatform` listens where the terminal is told to connect, records every frame both ways
in the case's `Wire`, answers by a policy the case sets (accept, refuse or ignore logins; answer
heartbeats and time syncs with its own time; error-answer real-time data) and lets the case send
query, set and control frames. It runs on the case's own event loop, so each case starts clean.

With `crypto` (a case of an encrypting terminal, docs/crypto.md) it decodes encrypted data units with the
keys it knows (the current ones, then those `rekey` replaced: a key stays usable until it expires) and
seals the frames it sends; a frame no key decrypts is recorded undecoded (`Received.undecrypted`) and not
answered. Its own answers go in plaintext, as the reference platform's do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.protocol import errors
from harness.protocol.codec import Frame, assemble, decode, encode
from harness.protocol.crypto import DecryptionError, FrameCrypto
from harness.protocol.framer import Framer
from harness.protocol.schema import Timestamp
from harness.wire import Wire

GMT8 = dt.timezone(dt.timedelta(hours=8))


def platform_time() -> Timestamp:
    """The platform's clock (Beijing time), as time-sync answers carry it."""
    return Timestamp.from_datetime(dt.datetime.now(GMT8))


@dataclass
class Policy:
    """How the scripted platform answers the terminal; cases change it mid-case."""

    login: str = "accept"  # accept | refuse (flag 0x02) | ignore (no answer)
    heartbeat: bool = True
    time_sync: bool = True
    data_error: bool = False  # answer real-time/reissue with the error flag 0x02
    activation: str = "accept"  # 2025 0x09: accept | refuse | ignore


@dataclass(frozen=True)
class Received:
    """A frame from the terminal: when it arrived (loop time), on which connection, decoded."""

    at: float
    conn: int
    frame: Frame
    raw: bytes
    undecrypted: bool = False  # encrypted under no key the platform knows: the body is the ciphertext


@dataclass
class _Conn:
    number: int
    writer: asyncio.StreamWriter
    opened: float
    closed: float | None = None


@dataclass
class ScriptedPlatform:
    wire: Wire
    name: str = "platform"
    policy: Policy = field(default_factory=Policy)
    received: list[Received] = field(default_factory=list)
    problems: list[errors.ProtocolError] = field(default_factory=list)
    conns: list[_Conn] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0
    crypto: FrameCrypto | None = None  # keys and encryption byte of the terminal's data units (None: plaintext)
    _retired: list[FrameCrypto] = field(default_factory=list)
    _server: asyncio.base_events.Server | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    # ------------------------------------------------------------------ life

    async def listen(self, host: str = "127.0.0.1", port: int = 0) -> ScriptedPlatform:
        server = await asyncio.start_server(self._serve, host, port, reuse_address=True)
        self._server = server
        self.host, self.port = host, server.sockets[0].getsockname()[1]
        return self

    async def stop_listening(self) -> None:
        """Refuse new connections (the terminal's connects fail), keep the address for `listen()`."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def close(self) -> None:
        await self.stop_listening()
        await self.drop_links()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def drop_links(self) -> None:
        for c in self.conns:
            if c.closed is None:
                c.writer.close()
        await asyncio.sleep(0)  # let the transports close

    # ------------------------------------------------------------------ what arrived

    @property
    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def frames(self, command: int | None = None, *, since: float = 0.0, responses: bool = False) -> list[Received]:
        """Frames from the terminal (commands it sent, not answers unless `responses`)."""
        return [r for r in self.received if r.at >= since and (command is None or r.frame.command == command)
                and (responses or not r.frame.is_response or r.frame.command in (0x80, 0x81, 0x82))]

    async def wait_for(self, predicate: Callable[[], bool], within: float) -> bool:
        """Wait until `predicate()` holds (re-checked on every frame, connect and close) or time runs out."""
        async def waiting() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        try:
            await asyncio.wait_for(waiting(), within)
        except TimeoutError:
            return predicate()
        return True

    async def observe(self, seconds: float) -> None:
        """Let the terminal run for a window the case derives from its timers, recording all it sends."""
        await self.wait_for(lambda: False, seconds)

    async def next(self, command: int, within: float, *, since: float | None = None,
                   where: Callable[[Received], bool] | None = None) -> Received:
        """The first frame of `command` from the terminal at or after `since` (default: now)."""
        start = self.now if since is None else since

        def found() -> Received | None:
            for r in self.received:
                if r.at >= start and r.frame.command == command and (where is None or where(r)):
                    return r
            return None

        await self.wait_for(lambda: found() is not None, within)
        hit = found()
        if hit is None:
            raise TimeoutError(f"{self.name}: no 0x{command:02X} frame from the terminal within {within:g} s")
        return hit

    async def silent(self, command: int, seconds: float, *, since: float | None = None) -> bool:
        """True when no `command` frame arrives within `seconds`."""
        try:
            await self.next(command, seconds, since=since)
        except TimeoutError:
            return True
        return False

    @property
    def open_conns(self) -> list[_Conn]:
        return [c for c in self.conns if c.closed is None]

    # ------------------------------------------------------------------ what the case sends

    def rekey(self, crypto: FrameCrypto) -> None:
        """New keys (after a key exchange): they seal what follows; the old ones still decode."""
        if self.crypto is not None:
            self._retired.insert(0, self.crypto)
        self.crypto = crypto

    async def send(self, data: bytes | Frame, conn: int | None = None, *, plain: bool = False) -> None:
        """Send raw bytes, or a frame (sealed with `crypto` unless `plain`)."""
        raw = encode(data, crypto=None if plain else self.crypto) if isinstance(data, Frame) else data
        target = self.conns[conn] if conn is not None else (self.open_conns or [None])[-1]
        if target is None or target.closed is not None:
            raise ConnectionError(f"{self.name}: the terminal has no open link to send on")
        self.wire.record(self.name, "->", raw)
        target.writer.write(raw)
        await target.writer.drain()

    # ------------------------------------------------------------------ serving

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        conn = _Conn(len(self.conns), writer, self.now)
        self.conns.append(conn)
        await self._notify()
        framer = Framer()
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                for item in framer.feed(chunk):
                    if isinstance(item, errors.ProtocolError):
                        self.problems.append(item)
                        continue
                    self.wire.record(self.name, "<-", item)
                    await self._on_frame(conn, item)
        except (ConnectionError, OSError):
            pass
        finally:
            conn.closed = self.now
            writer.close()
            if task is not None:
                self._tasks.discard(task)
            await self._notify()

    def _decode(self, raw: bytes) -> tuple[Frame, bool]:
        """The frame decrypted by the first known key that reads it, else undecoded (and a problem)."""
        failure: DecryptionError | None = None
        for keys in [self.crypto, *self._retired] if self.crypto is not None else [None]:
            try:
                return decode(raw, crypto=keys), False
            except DecryptionError as exc:
                failure = exc
        assert failure is not None
        self.problems.append(failure)
        return decode(raw), True

    async def _on_frame(self, conn: _Conn, raw: bytes) -> None:
        try:
            frame, undecrypted = self._decode(raw)
        except errors.ProtocolError as exc:
            self.problems.append(exc)
            await self._notify()
            return
        self.received.append(Received(self.now, conn.number, frame, raw, undecrypted))
        answer = None if undecrypted else self._answer(frame)
        if answer is not None and conn.closed is None:
            self.wire.record(self.name, "->", answer)
            conn.writer.write(answer)
        await self._notify()

    def _answer(self, f: Frame) -> bytes | None:
        if f.is_response:
            return None
        p = self.policy
        vin = f.vin.rstrip("\0")
        if f.command == 0x01:
            if p.login == "ignore":
                return None
            return assemble(f.edition, 0x01, 0x01 if p.login == "accept" else 0x02, vin, bytes(f.body["time"]))
        if f.command == 0x09:
            if p.activation == "ignore":
                return None
            ok = p.activation == "accept"
            return encode(Frame(0x0A, 0xFE, vin, {"status": 0x01 if ok else 0x02, "info": 0x00 if ok else 0x02},
                                f.edition))
        if f.command == 0x07 and p.heartbeat:
            return assemble(f.edition, 0x07, 0x01, vin, b"")
        if f.command == 0x08 and p.time_sync:
            return assemble(f.edition, 0x08, 0x01, vin, bytes(platform_time()))
        if f.command in (0x02, 0x03) and p.data_error:
            return assemble(f.edition, f.command, 0x02, vin, bytes(f.body["time"]))
        return None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
