"""SAE J1939-21 connection-mode transport (RTS/CTS) as GB/T 27930 uses it, sans-IO.

`TpSender` and `TpReceiver` consume frames and the time (`on_frame`, `on_time`) and return the
frames to send; nothing here reads a clock or a bus. Timers T1-T4 and Tr come from `Timers`.

Every step passes through a fault hook `hook(step, frame) -> frame | None` (None drops it), so a
case can drop a DT, send a wrong sequence number, never answer with CTS or abort at any point;
`Faults` builds the common ones. Abort frames use the 2006 form (no reason byte, spec §1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.charging.can import PGN_TP_CM, PGN_TP_DT, Frame, can_id
from harness.protocol.timers import Timers

RTS, CTS, EOMA, ABORT = 0x10, 0x11, 0x13, 0xFF
TP_PRIORITY = 7
Hook = Callable[[str, Frame], "Frame | None"]


def _cm(src: int, dst: int, data: bytes) -> Frame:
    return Frame(can_id(TP_PRIORITY, PGN_TP_CM, dst, src), data)


def _pgn3(pgn: int) -> bytes:
    return pgn.to_bytes(3, "little")


def packets(size: int) -> int:
    return (size + 6) // 7


def rts(src: int, dst: int, pgn: int, size: int) -> Frame:
    return _cm(src, dst, bytes([RTS, size & 0xFF, size >> 8, packets(size), 0xFF]) + _pgn3(pgn))


def cts(src: int, dst: int, pgn: int, count: int, next_seq: int) -> Frame:
    return _cm(src, dst, bytes([CTS, count, next_seq, 0xFF, 0xFF]) + _pgn3(pgn))


def eoma(src: int, dst: int, pgn: int, size: int) -> Frame:
    return _cm(src, dst, bytes([EOMA, size & 0xFF, size >> 8, packets(size), 0xFF]) + _pgn3(pgn))


def abort(src: int, dst: int, pgn: int) -> Frame:
    return _cm(src, dst, bytes([ABORT, 0xFF, 0xFF, 0xFF, 0xFF]) + _pgn3(pgn))


def dt(src: int, dst: int, seq: int, chunk: bytes) -> Frame:
    return Frame(can_id(TP_PRIORITY, PGN_TP_DT, dst, src), bytes([seq]) + chunk.ljust(7, b"\xff"))


def is_cm(fr: Frame) -> bool:
    return fr.pgn == PGN_TP_CM


def is_dt(fr: Frame) -> bool:
    return fr.pgn == PGN_TP_DT


def cm_pgn(fr: Frame) -> int:
    return int.from_bytes(fr.data[5:8], "little")


def no_fault(step: str, fr: Frame) -> Frame | None:
    return fr


@dataclass
class Faults:
    """Common transport faults as a hook: each counts the steps it has seen so it can pick the n-th."""

    drop_dt: set[int] = field(default_factory=set)  # sequence numbers never sent
    wrong_seq: set[int] = field(default_factory=set)  # sent with the sequence number + 1
    never_cts: bool = False  # a receiver that never answers the RTS
    no_eoma: bool = False
    abort_at: str = ""  # "rts", "cts", "dt": send an Abort instead of that step
    wrong_size: int = 0  # RTS announces this many extra bytes

    def __call__(self, step: str, fr: Frame) -> Frame | None:
        if step == self.abort_at:
            return abort(fr.src, fr.dst, cm_pgn(fr) if is_cm(fr) else 0)
        if step == "cts" and self.never_cts or step == "eoma" and self.no_eoma:
            return None
        if step == "dt":
            if fr.data[0] in self.drop_dt:
                return None
            if fr.data[0] in self.wrong_seq:
                return Frame(fr.can_id, bytes([fr.data[0] + 1]) + fr.data[1:])
        if step == "rts" and self.wrong_size:
            size = int.from_bytes(fr.data[1:3], "little") + self.wrong_size
            return rts(fr.src, fr.dst, cm_pgn(fr), size)
        return fr


def _hooked(hook: Hook, step: str, fr: Frame) -> list[Frame]:
    out = hook(step, fr)
    return [] if out is None else [out]


@dataclass
class TpSender:
    """Sends one message of 9..1785 bytes from `src` to `dst`: RTS, then DTs as CTS allows, then EOMA."""

    src: int
    dst: int
    pgn: int
    data: bytes
    timers: Timers
    hook: Hook = no_fault
    state: str = "idle"  # idle, wait_cts, wait_eoma, done, aborted
    deadline: float = float("inf")
    reason: str = ""

    def start(self, now: float) -> list[Frame]:
        self.state, self.deadline = "wait_cts", now + self.timers.j1939_t3
        return _hooked(self.hook, "rts", rts(self.src, self.dst, self.pgn, len(self.data)))

    def on_frame(self, fr: Frame, now: float) -> list[Frame]:
        if not is_cm(fr) or fr.src != self.dst or fr.dst != self.src or cm_pgn(fr) != self.pgn:
            return []
        kind = fr.data[0]
        if kind == ABORT:
            self.state, self.reason, self.deadline = "aborted", "aborted by the receiver", float("inf")
        elif kind == CTS and self.state in ("wait_cts", "wait_eoma"):
            count, first = fr.data[1], fr.data[2]
            if count == 0:  # hold: the receiver asks us to wait (T4)
                self.deadline = now + self.timers.j1939_t4
                return []
            out: list[Frame] = []
            for seq in range(first, min(first + count, packets(len(self.data)) + 1)):
                out += _hooked(self.hook, "dt", dt(self.src, self.dst, seq, self.data[7 * (seq - 1): 7 * seq]))
            self.state, self.deadline = "wait_eoma", now + self.timers.j1939_t3
            return out
        elif kind == EOMA and self.state == "wait_eoma":
            self.state, self.deadline = "done", float("inf")
        return []

    def on_time(self, now: float) -> list[Frame]:
        if now < self.deadline:
            return []
        what = "CTS" if self.state == "wait_cts" else "EndOfMsgAck"
        self.state, self.reason, self.deadline = "aborted", f"no {what} within T3", float("inf")
        return _hooked(self.hook, "abort", abort(self.src, self.dst, self.pgn))


@dataclass
class TpReceiver:
    """Receives connection-mode transfers addressed to `me`; `completed` collects (pgn, data)."""

    me: int
    timers: Timers
    hook: Hook = no_fault
    max_per_cts: int = 0xFF
    state: str = "idle"  # idle, receiving
    pgn: int = 0
    size: int = 0
    peer: int = 0
    expected_seq: int = 1
    buffer: bytearray = field(default_factory=bytearray)
    deadline: float = float("inf")
    completed: list[tuple[int, bytes]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_frame(self, fr: Frame, now: float) -> list[Frame]:
        if fr.dst != self.me:
            return []
        if is_cm(fr):
            kind = fr.data[0]
            if kind == RTS:
                # a new RTS replaces an unfinished transfer (J1939-21 allows the sender to restart)
                self.pgn, self.size, self.peer = cm_pgn(fr), int.from_bytes(fr.data[1:3], "little"), fr.src
                self.buffer, self.expected_seq, self.state = bytearray(), 1, "receiving"
                self.deadline = now + self.timers.j1939_t1
                n = min(packets(self.size), self.max_per_cts)
                out = _hooked(self.hook, "cts", cts(self.me, self.peer, self.pgn, n, 1))
                if not out:  # a receiver that never answers has not taken the transfer on either
                    self.state, self.deadline = "idle", float("inf")
                return out
            if kind == ABORT and self.state == "receiving":
                self._fail("transfer aborted by the sender")
            return []
        if is_dt(fr) and self.state == "receiving" and fr.src == self.peer:
            seq = fr.data[0]
            if seq != self.expected_seq:
                self._fail(f"DT sequence {seq}, expected {self.expected_seq}")
                return _hooked(self.hook, "abort", abort(self.me, self.peer, self.pgn))
            self.buffer += fr.data[1:8]
            self.expected_seq += 1
            self.deadline = now + self.timers.j1939_t2
            if self.expected_seq > packets(self.size):
                data = bytes(self.buffer[: self.size])
                self.completed.append((self.pgn, data))
                self.state, self.deadline = "idle", float("inf")
                return _hooked(self.hook, "eoma", eoma(self.me, self.peer, self.pgn, self.size))
            if (self.expected_seq - 1) % self.max_per_cts == 0:
                n = min(packets(self.size) - self.expected_seq + 1, self.max_per_cts)
                return _hooked(self.hook, "cts", cts(self.me, self.peer, self.pgn, n, self.expected_seq))
        return []

    def on_time(self, now: float) -> list[Frame]:
        if self.state != "receiving" or now < self.deadline:
            return []
        self._fail("DT missing within " + ("T1" if self.expected_seq == 1 else "T2"))
        return _hooked(self.hook, "abort", abort(self.me, self.peer, self.pgn))

    def _fail(self, why: str) -> None:
        self.errors.append(why)
        self.state, self.deadline = "idle", float("inf")
