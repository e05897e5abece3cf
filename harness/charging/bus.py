"""GB/T 27930 in real time on a python-can bus, against a party we do not run.

`session.run` puts both nodes on a simulated clock. Here one node is ours and the other is out of
our hands (a lab's BMS or charger, or our simulator in another thread or process), so time is the
wall clock and the bus is a real python-can interface (`virtual`, `socketcan` on vcan0 or can0, or
any other python-can interface):

- `Server` runs our BMS or charger as a SUT until stopped (`gbt32960 charging serve`);
- `run_external` runs the harness's tester node against an external SUT and returns the `Trace`.

How sessions begin and end without a plug line (the CAN bus carries no CC1/auxiliary-power signal),
from `gaps(timers)`:
- `quiet`: the longest a party stays silent inside a session, plus 2 periods (the retry wait after
  BEM/CEM, or a J1939 T1-T4 wait; at least 4 periods). A session is over once the SUT has been
  silent this long.
- `session_gap`: the silence between sessions (2 x quiet + 4 periods). Our charger SUT waits this
  long before it starts its next session; the harness keeps the bus silent this long before it
  starts a session with a BMS SUT, and our BMS SUT powers down (its auxiliary supply is the charger)
  once the bus has been silent for `quiet`.
Both come from `Timers`; a PIXIT may override them for a device with other habits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.charging.can import BMS, CHARGER, Frame
from harness.charging.machine import Bms, Charger, Node
from harness.charging.session import Record, Trace, describe
from harness.protocol.timers import Timers

POLL = 0.1  # longest a loop blocks in recv, so a stop request is noticed quickly
INTERFACES = ("virtual", "socketcan", "slcan", "pcan", "kvaser", "vector", "ixxat", "udp_multicast")


@dataclass(frozen=True)
class Gaps:
    quiet: float
    session_gap: float


def gaps(timers: Timers, quiet: float | None = None, session_gap: float | None = None) -> Gaps:
    """Silences that end a session and separate sessions (see the module docstring)."""
    period = timers.charge_period
    # silent stretches inside a session: the charger's retry wait after BEM/CEM, and a TP sender (a BMS
    # with only BRM to send) waiting T3 for a CTS that does not come, or T4 after a hold
    longest = max(timers.charge_retry_wait, timers.j1939_t1, timers.j1939_t2, timers.j1939_t3, timers.j1939_t4)
    q = quiet if quiet is not None else max(4 * period, longest + 2 * period)
    g = session_gap if session_gap is not None else 2 * q + 4 * timers.charge_period
    return Gaps(q, g)


def external_limit(timers: Timers) -> float:
    """Longest real-time run of one case: every timer of a session that can run out, once each, and
    never less than the simulated rig's limit (a tester may charge for 130 s, as DP.3007 does)."""
    every = (2 * timers.charge_pause_limit + 2 * timers.charge_crm_wait + timers.charge_reconnect_wait
             + (timers.charge_retries + 1) * (timers.charge_ready_timeout + timers.charge_retry_wait)
             + timers.charge_end_timeout + timers.charge_fallback)
    return max(every, 2 * timers.charge_pause_limit + 300)


def open_bus(interface: str, channel: str | None, **kwargs: Any) -> Any:
    """A python-can bus; on `virtual`, our frames keep the time the node decided to send them."""
    import can

    if interface == "virtual":
        kwargs.setdefault("preserve_timestamps", True)
    if interface == "socketcan" and not channel:
        raise ValueError("socketcan needs a channel, e.g. vcan0 or can0")
    return can.Bus(interface=interface, channel=channel, **kwargs)


def _to_can(fr: Frame, at: float) -> Any:
    import can

    return can.Message(arbitration_id=fr.can_id, data=fr.data, is_extended_id=True, timestamp=at)


def _frame(msg: Any) -> Frame | None:
    if msg is None or not msg.is_extended_id or msg.is_error_frame or msg.is_remote_frame:
        return None  # GB/T 27930 is 29-bit data frames only
    return Frame(msg.arbitration_id, bytes(msg.data))


def _stamp(msg: Any, now: float) -> float:
    """The frame's bus timestamp when it is a plausible wall-clock time (kernel or sender), else now."""
    ts = float(getattr(msg, "timestamp", 0.0) or 0.0)
    return ts if abs(ts - now) < 1.0 else now


class NoSession(Exception):
    """The external SUT did not become ready for (or did not start) a session in time: no verdict."""


# ---------------------------------------------------------------------------------- our node as the SUT


class Server:
    """Our BMS or charger as a SUT on a bus: session after session until stopped.

    A charger starts a session, and once it has finished stays silent for `session_gap` before the
    next. A BMS is powered by the first frame the charger sends it and powers down once the bus has
    been silent for `quiet` (a finished BMS is silent: then the charger's silence counts), ready for
    the next session.
    """

    def __init__(self, role: str, version: str, timers: Timers, bus: Any, defects: frozenset[str] = frozenset(),
                 *, out: Callable[[str], None] | None = None, log: Callable[[str], None] | None = None,
                 quiet: float | None = None, session_gap: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if role not in ("bms", "charger"):
            raise ValueError(f"role {role!r}: bms or charger")
        self.role, self.version, self.timers, self.bus, self.defects = role, version, timers, bus, defects
        self.addr, self.peer = (BMS, CHARGER) if role == "bms" else (CHARGER, BMS)
        self.gaps = gaps(timers, quiet, session_gap)
        self.out = out or (lambda line: None)
        self.log = log  # candump -l lines, when asked for
        self.clock = clock
        self.node: Node | None = None
        self.last_sent = float("-inf")  # our last frame, in run() time
        self.sessions = 0
        self.outcomes: list[str] = []  # terminal state of each finished session
        self._new(self.version)  # validates version and defects before anything runs

    def _new(self, version: str) -> Node:
        cls = Bms if self.role == "bms" else Charger
        return cls(version, self.timers, self.defects)

    def run(self, stop: threading.Event | None = None, duration: float | None = None) -> int:
        """Serve until `stop` is set or `duration` seconds have passed; returns the sessions started."""
        t0 = self.clock()
        end = duration if duration is not None else float("inf")
        idle_since = 0.0  # no session (or a finished one) since then
        peer_seen = float("-inf")  # last frame from the counterpart
        reported = True
        while not (stop is not None and stop.is_set()):
            now = self.clock() - t0
            if now >= end:
                break
            if self.node is not None and self.node.finished and not reported:
                self._finished(self.node, now)
                reported, idle_since = True, now
            if self.node is not None and self.role == "charger" and self.node.finished:
                self.node = None  # the charger unplugs at once
            elif self.node is not None and self.role == "bms" and \
                    now - max(peer_seen, self.last_sent) >= self.gaps.quiet:
                # a silent bus means the charger has cut the auxiliary supply: finished or not, the next
                # charger frame powers a fresh BMS (no session is silent that long, see `gaps`)
                if not reported:
                    self.out(f"# session {self.sessions} powered off at {now:.3f} in state {self.node.state}")
                    reported, idle_since = True, now
                self.node = None
            if self.node is None and self.role == "charger" and now - idle_since >= self.gaps.session_gap:
                self._start(now, t0, None)
                reported = False
            node = self.node
            due = node.next_time() if node is not None and not node.finished else float("inf")
            msg = self.bus.recv(timeout=max(0.0, min(due - now, end - now, POLL)))
            now = self.clock() - t0
            fr = _frame(msg)
            if fr is not None:
                self._print(_stamp(msg, now + t0) - t0, fr)
                if fr.src == self.peer:
                    peer_seen = now
                if fr.dst == self.addr and fr.src == self.peer:
                    if node is None and self.role == "bms":
                        node = self._start(now, t0, fr)  # the charger's first frame powers the BMS
                        reported = False
                    elif node is not None and not node.finished:
                        self._send(node.on_frame(fr, now), now, t0)
            if node is not None and not node.finished and node.next_time() <= now:
                self._send(node.on_time(now), now, t0)
        if self.node is not None and not self.node.finished:
            self.out(f"# stopped during session {self.sessions}: {self.role} {self.node.state}")
        elif self.node is not None and not reported:
            self._finished(self.node, self.clock() - t0)
        return self.sessions

    def _start(self, now: float, t0: float, first: Frame | None) -> Node:
        self.sessions += 1
        node = self.node = self._new(self.version)
        self.out(f"# session {self.sessions}: {self.role} {self.version} starts at {now:.3f}"
                 + (f" (defects {', '.join(sorted(self.defects))})" if self.defects else ""))
        self._send(node.start(now), now, t0)
        if first is not None:
            self._send(node.on_frame(first, now), now, t0)
        return node

    def _finished(self, node: Node, now: float) -> None:
        for at, text in node.log:
            self.out(f"# {self.role} {at:9.3f} {text}")
        self.outcomes.append(node.state)
        self.out(f"# session {self.sessions} over at {now:.3f}: {self.role} {node.state}")

    def _send(self, frames: list[Frame], now: float, t0: float) -> None:
        if frames:
            self.last_sent = now
        for fr in frames:
            self.bus.send(_to_can(fr, t0 + now))
            self._print(now, fr)

    def _print(self, at: float, fr: Frame) -> None:
        wire = self.node.wire if self.node is not None else "2015"
        who = "charger" if fr.src == CHARGER else "BMS" if fr.src == BMS else f"0x{fr.src:02X}"
        self.out(f"({at:10.4f}) {who:>7}  {fr.can_id:08X}  [{len(fr.data)}] {fr.data.hex(' ').upper():<23}  "
                 f"{describe(fr, wire)}")
        if self.log is not None:
            self.log(f"({at:.6f}) can0 {fr}")


# ---------------------------------------------------------------------------------- the harness's tester


@dataclass
class ExternalSide:
    """The SUT's side of an `Outcome` when it is a device on the bus: judged only by its frames."""

    role: str
    version: str
    state: str
    wire: str
    peer_version: str = ""

    @property
    def finished(self) -> bool:
        return self.state in ("done", "silent")


def run_external(tester: Charger | Bms, bus: Any, *, timers: Timers, limit: float | None = None,
                 quiet: float | None = None, session_gap: float | None = None, start_wait: float | None = None,
                 clock: Callable[[], float] = time.time) -> tuple[Trace, float, str]:
    """Run `tester` against the SUT across `bus` in real time; returns (trace, end, SUT state as seen).

    With a BMS SUT the tester (a charger) opens the session after `session_gap` of silence on the bus.
    With a charger SUT the session is the SUT's: the tester waits for `quiet` of silence and then the
    charger's first frame, which is t=0. The run ends once the SUT has been silent for `quiet` (after it
    has spoken, or after the tester finished), or at `limit`. Raises `NoSession` when the bus never
    falls silent, or a charger never starts, within `start_wait`.
    """
    g = gaps(timers, quiet, session_gap)
    limit = external_limit(timers) if limit is None else limit
    start_wait = limit + g.session_gap if start_wait is None else start_wait
    sut = BMS if isinstance(tester, Charger) else CHARGER
    trace = Trace()
    begin = clock()
    silent_since = begin
    first: tuple[float, Frame] | None = None
    heard = False
    # ---- before the session: silence, then (charger SUT) the charger's first frame
    need = g.session_gap if sut == BMS else g.quiet
    while True:
        now = clock()
        if now - begin > start_wait:
            if sut == BMS:
                raise NoSession(f"the bus was not silent for {need:g} s within {start_wait:g} s (the external BMS "
                                "is still in a session), so no new session could start")
            raise NoSession(f"the external charger did not start a session within {start_wait:g} s "
                            + ("(it sent nothing)" if not heard else f"after {need:g} s of silence"))
        if sut == BMS and now - silent_since >= need:
            break
        msg = bus.recv(timeout=POLL if sut == CHARGER else max(0.0, min(POLL, need - (now - silent_since))))
        fr = _frame(msg)
        if fr is None:
            continue
        at = _stamp(msg, clock())
        heard = heard or fr.src == sut
        if sut == CHARGER and fr.src == CHARGER and at - silent_since >= need:
            first = (at, fr)
            break
        silent_since = at
    t0 = first[0] if first is not None else clock()
    out: list[Frame] = list(tester.start(0.0))
    if first is not None:
        trace.records.append(Record(0.0, first[1]))
        out += tester.on_frame(first[1], clock() - t0)
    last_sut = 0.0 if first is not None else None
    now = clock() - t0
    while True:
        for fr in out:
            bus.send(_to_can(fr, t0 + now))
            trace.records.append(Record(now, fr))
        out = []
        now = clock() - t0
        spoke_or_done = last_sut is not None or tester.finished
        if spoke_or_done and now - (last_sut or 0.0) >= g.quiet or now >= limit:
            break
        due = tester.next_time()
        msg = bus.recv(timeout=max(0.0, min(due - now, limit - now, POLL, g.quiet)))
        now = clock() - t0
        fr = _frame(msg)
        if fr is not None:
            at = _stamp(msg, now + t0) - t0
            trace.records.append(Record(at, fr))
            if fr.src == sut:
                last_sut = at
            if fr.dst == tester.addr and fr.src == sut:
                out += tester.on_frame(fr, now)
        if tester.next_time() <= now:
            out += tester.on_time(now)
    trace.records.sort(key=lambda r: r.at)  # received frames carry the sender's time
    return trace, now, _sut_state(trace, tester, sut)


def _sut_state(trace: Trace, tester: Charger | Bms, sut: int) -> str:
    """"done" when the session ended normally as far as the bus shows: the tester finished normally,
    the SUT sent its statistics (BSD/CSD) and no error message after them; "silent" otherwise."""
    stats, err = ("BSD", "BEM") if sut == BMS else ("CSD", "CEM")
    last_stats = max((r.at for r in trace.frames(stats, sut)), default=None)
    errors_after = [r for r in trace.frames(err, sut) if last_stats is not None and r.at > last_stats]
    return "done" if tester.state == "done" and last_stats is not None and not errors_after else "silent"

