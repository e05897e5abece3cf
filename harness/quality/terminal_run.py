"""Run a sans-IO terminal (our simulator, or any `Terminal` with defect switches) on a fake clock
against a scripted platform, and collect what it sends, for a data-quality assessment.

The platform answers login, heartbeat and time sync; every frame the terminal sends is kept with
its fake receive time (epoch seconds, the terminal's epoch being GMT+8 wall time at now == 0).
No sockets, no sleeps: an hour of reports runs in well under a second.
"""

from __future__ import annotations

import calendar
from typing import Any

from harness.protocol import codec
from harness.protocol.codec import assemble
from harness.protocol.timers import Timers
from harness.terminal.generator import Generator
from harness.terminal.machine import DEFAULT_EPOCH, Close, Connect, Send, Terminal

from .records import GMT8

TIMERS = Timers(report_period=10, alarm_period=1, alarm_window=30, heartbeat=30, response_timeout=5,
                terminal_login_retry=60, login_tries=3, login_backoff=600, after_power_off=180,
                post_drive_monitoring=3600, data_resend=60, data_tries=3)
VIN = "LQSUT000000000001"
ICCID = "89860012345678901234"


def _answer(frame: codec.Frame) -> bytes | None:
    if frame.is_response or frame.command not in (0x01, 0x07, 0x08):
        return None
    when = frame.body["time"] if isinstance(frame.body, dict) and "time" in frame.body else None
    body = bytes(when) if when is not None else b""
    return assemble(frame.edition, frame.command, 0x01, frame.vin.rstrip("\0"), body)


def run_terminal(duration: float = 3600.0, *, edition: int = 2016, defects: frozenset[str] = frozenset(),
                 seed: int = 7, timers: Timers = TIMERS, **terminal_kw: Any) -> list[tuple[float, bytes]]:
    """(receive time, raw frame) of everything the terminal sent during `duration` simulated seconds."""
    # a 96-cell (~360 V) pack: a 24-cell pack would need currents past the 2016 field range (±1000 A)
    gen = Generator(seed, cells=96, probes=32, alarm_rate=0, start_phase="drive")
    term = Terminal(VIN, edition, timers, gen, iccid=ICCID, defects=defects, **terminal_kw)
    base = calendar.timegm(DEFAULT_EPOCH.timetuple()) - GMT8
    sent: list[tuple[float, bytes]] = []
    now = 0.0
    online: set[str] = set()

    def apply(actions: list[Any]) -> None:
        queue = list(actions)
        while queue:
            a = queue.pop(0)
            if isinstance(a, Send):
                sent.append((base + now, a.data))
                if a.link in online:
                    try:
                        reply = _answer(codec.decode(a.data))
                    except Exception:  # noqa: BLE001 - a frame the platform cannot read gets no answer
                        reply = None
                    if reply is not None:
                        queue += term.data_received(reply, now, a.link)
            elif isinstance(a, Connect):
                online.add(a.link)
                queue += term.connected(now, a.link)
            elif isinstance(a, Close):
                online.discard(a.link)

    apply(term.start(now))
    steps = 0
    while True:
        d = term.next_deadline()
        if d is None or d > duration:
            break
        now = max(now, d)
        steps += 1
        if steps > 5_000_000:
            raise RuntimeError("runaway terminal timers")
        apply(term.tick(now))
    return sent
