"""A fake clock and a scripted platform around the sans-IO Terminal (no sockets, no sleeps)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.protocol import Frame, decode, encode
from harness.protocol.codec import assemble
from harness.protocol.messages import parameters
from harness.protocol.schema import Scalar, Timestamp
from harness.protocol.timers import Timers
from harness.terminal.generator import Generator
from harness.terminal.machine import Close, Connect, Send, Terminal, Upgrade

VIN = "LSIMTEST000000001"
ICCID = "89860012345678901234"
T0 = Timestamp(25, 6, 1, 8, 0, 0)

# uncompressed but short timers, so that one fake second is one simulated second and every frame has
# a distinct collection time
FAST = Timers(report_period=10, alarm_period=1, alarm_window=30, heartbeat=30, response_timeout=5,
              terminal_login_retry=60, login_tries=3, login_backoff=600, after_power_off=180,
              post_drive_monitoring=3600, data_resend=60, data_tries=3)


@dataclass
class Sent:
    now: float
    link: str
    raw: bytes
    frame: Frame | None

    @property
    def command(self) -> int:
        return self.raw[2]


Policy = Callable[[Frame, "Bench"], list[bytes] | None]


def answer(frame: Frame, ack: int = 0x01, body: Any = None, edition: int | None = None) -> bytes:
    """The platform's time-only answer to `frame`."""
    when = frame.body["time"] if isinstance(frame.body, dict) and "time" in frame.body else T0
    return assemble(edition or frame.edition, frame.command, ack, frame.vin.rstrip("\0"),
                    bytes(when) if body is None else body)


def default_policy(frame: Frame, bench: Bench) -> list[bytes] | None:
    if frame.is_response:
        return None
    if frame.command == 0x01:
        return [answer(frame, bench.login_flag)] if bench.answer_logins else []
    if frame.command == 0x07 and bench.answer_heartbeats:
        return [answer(frame)]
    if frame.command == 0x08:
        return [answer(frame, body=bytes(T0))]
    if frame.command == 0x09:
        return [encode(Frame(0x0A, 0xFE, frame.vin.rstrip("\0"), {"status": 1, "info": 0}, 2025))]
    return None


@dataclass
class Bench:
    """Drives one Terminal with a fake clock; a scripted platform answers on every link."""

    terminal: Terminal
    now: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)
    links: dict[str, tuple[str, int]] = field(default_factory=dict)
    refuse: set[tuple[str, int]] = field(default_factory=set)
    policy: Policy = default_policy
    answer_logins: bool = True
    answer_heartbeats: bool = True
    login_flag: int = 0x01
    ticks: int = 0

    def start(self) -> Bench:
        self._apply(self.terminal.start(self.now))
        return self

    def _apply(self, actions: list[Any]) -> None:
        queue = list(actions)
        while queue:
            a = queue.pop(0)
            self.actions.append((self.now, a))
            if isinstance(a, Send):
                try:
                    frame: Frame | None = decode(a.data)
                except Exception:
                    frame = None
                self.sent.append(Sent(self.now, a.link, a.data, frame))
                if frame is not None and a.link in self.links:
                    for reply in self.policy(frame, self) or []:
                        queue += self.terminal.data_received(reply, self.now, a.link)
            elif isinstance(a, Connect):
                assert a.host.startswith("127.") or a.host == "localhost", "loopback only"
                if (a.host, a.port) in self.refuse:
                    queue += self.terminal.connection_lost(self.now, a.link)
                else:
                    self.links[a.link] = (a.host, a.port)
                    queue += self.terminal.connected(self.now, a.link)
            elif isinstance(a, Close):
                self.links.pop(a.link, None)
            elif isinstance(a, Upgrade):
                pass

    def deliver(self, data: bytes, link: str = "main") -> None:
        self._apply(self.terminal.data_received(data, self.now, link))

    def drop(self, link: str = "main") -> None:
        """The platform side closes the link."""
        self.links.pop(link, None)
        self._apply(self.terminal.connection_lost(self.now, link))

    def run(self, until: float) -> None:
        """Jump from deadline to deadline until `until` (inclusive)."""
        while True:
            d = self.terminal.next_deadline()
            if d is None or d > until:
                break
            self.now = max(self.now, d)
            self.ticks += 1
            assert self.ticks < 2_000_000, "runaway timers"
            self._apply(self.terminal.tick(self.now))
        self.now = max(self.now, until)

    def do(self, fn: Callable[..., list[Any]], *args: Any) -> None:
        self._apply(fn(*args))

    # views
    def frames(self, command: int | None = None, link: str | None = None, since: float = -1.0) -> list[Sent]:
        return [s for s in self.sent if (command is None or s.command == command)
                and (link is None or s.link == link) and s.now >= since]

    def times(self, command: int, link: str | None = None, since: float = -1.0) -> list[float]:
        return [s.now for s in self.frames(command, link, since)]


def make_terminal(edition: int = 2016, *, timers: Timers = FAST, defects: frozenset[str] = frozenset(),
                  seed: int = 7, generator: Generator | None = None, **kw: Any) -> Terminal:
    gen = generator or Generator(seed, cells=24, probes=8, alarm_rate=0, start_phase="drive")
    return Terminal(VIN, edition, timers, gen, iccid=ICCID, defects=defects, **kw)


def bench(edition: int = 2016, *, defects: frozenset[str] = frozenset(), **kw: Any) -> Bench:
    bench_kw = {k: kw.pop(k) for k in ("answer_logins", "answer_heartbeats", "login_flag", "policy", "refuse")
                if k in kw}
    return Bench(make_terminal(edition, defects=defects, **kw), **bench_kw)


def command(cmd: int, body: dict[str, Any], edition: int = 2016, vin: str = VIN) -> bytes:
    return encode(Frame(cmd, 0xFE, vin, body, edition))


def set_command(body: dict[str, Any], edition: int = 2016, vin: str = VIN, ack: int = 0xFE) -> bytes:
    """A set 0x81 frame; parameter ids the edition does not define (raw bytes values) are spliced by hand,
    since the codec rightly refuses to encode them."""
    table = parameters(edition)
    if all(p["id"] in table for p in body["params"]):
        return encode(Frame(0x81, ack, vin, body, edition))
    out = bytearray(bytes(body["time"]))
    out.append(len(body["params"]))
    for p in body["params"]:
        out.append(p["id"])
        node = table.get(p["id"])
        out += struct.pack(">" + node.fmt, p["value"]) if isinstance(node, Scalar) else bytes(p["value"])
    return assemble(edition, 0x81, ack, vin, bytes(out))
