"""Run a charger and a BMS against each other over a CAN bus, on a fake clock.

The two sans-IO nodes exchange every frame through a real python-can bus (the `virtual`
interface by default: no hardware, no kernel module; `socketcan` on a vcan or a lab interface).
Time is simulated: the driver jumps to the next timer of either node, so a session with the
standard's timers (5 s timeouts, a 10-minute pause) runs in milliseconds and is deterministic.

`Trace` keeps every frame with its time and sender; `annotate` renders it like candump with
decoded fields, and `Trace.candump()` writes a log that `read_candump` reads back.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.charging import messages as m
from harness.charging.can import BMS, CHARGER, Frame, candump_line, parse_candump_line
from harness.charging.j1939 import ABORT, CTS, EOMA, RTS, cm_pgn, is_cm, is_dt
from harness.charging.machine import Bms, Charger

_channels = itertools.count(1)


@dataclass(frozen=True)
class Record:
    at: float
    frame: Frame

    @property
    def sender(self) -> str:
        return "charger" if self.frame.src == CHARGER else "BMS" if self.frame.src == BMS else f"0x{self.frame.src:02X}"


@dataclass
class Trace:
    records: list[Record] = field(default_factory=list)

    def frames(self, name: str | None = None, sender: int | None = None) -> list[Record]:
        """Records of single-frame message `name` (or all), optionally from one sender."""
        out = []
        for r in self.records:
            if sender is not None and r.frame.src != sender:
                continue
            if name is None:
                out.append(r)
                continue
            msg = m.identify(r.frame)
            if msg is not None and msg.name == name:
                out.append(r)
        return out

    def first(self, name: str, after: float = -1.0) -> Record | None:
        return next((r for r in self.frames(name) if r.at > after), None)

    def transfers(self) -> list[tuple[float, str, bytes]]:
        """Completed TP transfers (time of the EndOfMsgAck, message name, data), reassembled from DTs."""
        return [(at, name, data) for at, name, data, _ in _reassemble(self.records) if data is not None]

    def candump(self, channel: str = "vcan0") -> str:
        return "".join(candump_line(r.at, r.frame, channel) + "\n" for r in self.records)


def read_candump(text: str) -> Trace:
    """A trace from a candump -l log (blank lines and comments skipped)."""
    trace = Trace()
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            at, fr = parse_candump_line(line)
            trace.records.append(Record(at, fr))
    return trace


def _reassemble(records: Iterable[Record]) -> Iterator[tuple[float, str, bytes | None, Record]]:
    buffers: dict[tuple[int, int], bytearray] = {}
    for r in records:
        fr = r.frame
        key = (fr.src, fr.dst)
        if is_cm(fr) and fr.data[0] == RTS:
            buffers[key] = bytearray()
        elif is_dt(fr) and key in buffers:
            buffers[key] += fr.data[1:8]
        elif is_cm(fr) and fr.data[0] == EOMA:
            buf = buffers.pop((fr.dst, fr.src), None)
            msg = m.BY_KEY.get((cm_pgn(fr) >> 8, fr.dst))
            size = int.from_bytes(fr.data[1:3], "little")
            if buf is not None and msg is not None:
                yield r.at, msg.name, bytes(buf[:size]), r


def describe(fr: Frame, version: str = "2015") -> str:
    """One frame's meaning: the message and its decoded fields, or the TP step."""
    if is_cm(fr):
        msg = m.BY_KEY.get((cm_pgn(fr) >> 8, fr.src)) or m.BY_KEY.get((cm_pgn(fr) >> 8, fr.dst))
        name = msg.name if msg else f"PGN 0x{cm_pgn(fr):04X}"
        kind = fr.data[0]
        if kind == RTS:
            return f"TP.CM RTS {name} {int.from_bytes(fr.data[1:3], 'little')} B, {fr.data[3]} packets"
        if kind == CTS:
            return f"TP.CM CTS {name} {fr.data[1]} packets from {fr.data[2]}"
        if kind == EOMA:
            return f"TP.CM EndOfMsgAck {name} {int.from_bytes(fr.data[1:3], 'little')} B"
        if kind == ABORT:
            return f"TP.CM Abort {name}"
        return f"TP.CM 0x{kind:02X}"
    if is_dt(fr):
        return f"TP.DT {fr.data[0]}"
    msg = m.identify(fr)
    if msg is None:
        return "?"
    return f"{msg.name} " + _fields(msg, fr.data, version)


def _fields(msg: m.Message, data: bytes, version: str) -> str:
    versions = [v for v in (version, "2011", "2015") if v in msg.layouts]
    for v in dict.fromkeys(versions):
        try:
            values = m.decode(msg.name, v, data)
        except m.DecodeError:
            continue
        shown = m.physical(msg.name, v, values)
        return " ".join(f"{k}={val}" for k, val in shown.items() if val not in ("invalid", None, "", {}))
    return f"({len(data)} B: no layout of this length)"


def annotate(trace: Trace, version: str = "2015") -> list[str]:
    """candump-like lines with the decoded fields; reassembled TP messages follow their EndOfMsgAck."""
    done = {id(rec): (name, data) for _, name, data, rec in _reassemble(trace.records) if data is not None}
    lines = []
    for r in trace.records:
        lines.append(f"({r.at:10.4f}) {r.sender:>7}  {r.frame.can_id:08X}  [{len(r.frame.data)}] "
                     f"{r.frame.data.hex(' ').upper():<23}  {describe(r.frame, version)}")
        if id(r) in done:
            name, data = done[id(r)]
            lines.append(f"{'':>33}= {name} ({len(data)} B) {_fields(m.MESSAGES[name], data, version)}")
    return lines


class _MemoryBus:
    """Frames handed straight across: the sans-IO path with no bus at all (unit tests, benchmarks)."""

    def __init__(self) -> None:
        self.queue: list[Frame] = []

    def send(self, fr: Frame, at: float) -> None:
        self.queue.append(fr)

    def receive(self) -> list[Frame]:
        out, self.queue = self.queue, []
        return out

    def close(self) -> None:
        pass


class _CanBus:
    """Two python-can buses on one channel: the charger's end sends, the BMS's end receives, and back."""

    def __init__(self, interface: str, channel: str | None) -> None:
        import can

        chan = channel or f"gbt27930-{next(_channels)}"
        kw: dict[str, Any] = {"preserve_timestamps": True} if interface == "virtual" else {}
        self.a = can.Bus(interface=interface, channel=chan, **kw)
        self.b = can.Bus(interface=interface, channel=chan, **kw)
        self._can = can

    def send(self, fr: Frame, at: float) -> None:
        self.a.send(self._can.Message(arbitration_id=fr.can_id, data=fr.data, is_extended_id=True, timestamp=at))

    def receive(self) -> list[Frame]:
        out = []
        while (msg := self.b.recv(0)) is not None:
            out.append(Frame(msg.arbitration_id, bytes(msg.data)))
        return out

    def close(self) -> None:
        self.a.shutdown()
        self.b.shutdown()


@dataclass
class Outcome:
    charger: Charger
    bms: Bms
    trace: Trace
    end: float

    @property
    def completed(self) -> bool:
        return self.charger.state == "done" and self.bms.state == "done"


def run(charger: Charger, bms: Bms, *, bus: str = "virtual", channel: str | None = None,
        limit: float = 900.0, until: Callable[[], bool] | None = None) -> Outcome:
    """Run both nodes until both finish (or `limit` simulated seconds); every frame crosses `bus`.

    bus: "virtual" (python-can's virtual interface, default), "socketcan" (with `channel`, e.g.
    vcan0 or a lab interface) or "memory" (no bus: the sans-IO nodes back to back).
    `until` ends the run early (a case's test system stops once the SUT has finished).
    """
    link: _MemoryBus | _CanBus = _MemoryBus() if bus == "memory" else _CanBus(bus, channel)
    trace = Trace()
    now = 0.0
    try:
        pending = [*charger.start(now), *bms.start(now)]
        while True:
            # every frame sent at `now` reaches the other node at `now`; answers go out the same instant
            while pending:
                for fr in pending:
                    trace.records.append(Record(now, fr))
                    link.send(fr, now)
                pending = []
                for fr in link.receive():
                    node = charger if fr.dst == CHARGER else bms
                    pending += node.on_frame(fr, now)
            if charger.finished and bms.finished or (until is not None and until()):
                break
            nxt = min(charger.next_time(), bms.next_time())
            if nxt > limit:
                break
            now = max(now, nxt)
            pending = [*charger.on_time(now), *bms.on_time(now)]
    finally:
        link.close()
    return Outcome(charger, bms, trace, now)
