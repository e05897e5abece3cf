"""What conformance cases share: frame builders, logged-in vehicles, bounded polling.

Waits come from the run's `Timers` (so a suite runs with compressed timers) and always end.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from harness.protocol.codec import Frame, encode
from harness.protocol.schema import Timestamp
from harness.protocol.timers import Timers
from harness.topology.base import StoredFrameView, VehicleSpec
from harness.wire import RawLink

GMT8 = dt.timezone(dt.timedelta(hours=8))
case = __import__("pytest").mark.case
needs = __import__("pytest").mark.needs
role = __import__("pytest").mark.role


def now_time(offset: float = 0.0) -> Timestamp:
    """A collection time near now (Beijing time): platforms drop data older than 7 days."""
    return Timestamp.from_datetime(dt.datetime.now(GMT8) + dt.timedelta(seconds=offset))


def login_frame(v: VehicleSpec, serial: int = 1) -> bytes:
    body: dict[str, Any] = {"time": now_time(), "serial": serial, "iccid": "89860318342004278077"}
    if v.edition == 2016:
        body |= {"code_length": 0, "subsystem_codes": []}
    else:
        body |= {"packs_per_bms": [], "pack_codes": []}
    return encode(Frame(0x01, vin=v.vin, edition=v.edition, body=body))


def vehicle_item(edition: int, soc: int = 80) -> dict[str, Any]:
    data = {"vehicle_state": 1, "charge_state": 3, "run_mode": 1, "speed": 450, "odometer": 152340,
            "total_voltage": 3520, "total_current": 10120 if edition == 2016 else 30120, "soc": soc,
            "dcdc_state": 1, "gear": 0x2E, "insulation_resistance": 4800}
    if edition == 2016:
        data |= {"accelerator_pedal": 12, "brake_pedal": 0}
    return {"type": 0x01, "data": data}


def realtime_frame(v: VehicleSpec, second: int = 0, command: int = 0x02, base: Timestamp | None = None) -> bytes:
    start = (base or now_time()).to_datetime()
    t = Timestamp.from_datetime(start + dt.timedelta(seconds=second))
    return encode(Frame(command, vin=v.vin, edition=v.edition, body={"time": t, "items": [vehicle_item(v.edition)]}))


def heartbeat_frame(v: VehicleSpec) -> bytes:
    return encode(Frame(0x07, vin=v.vin, edition=v.edition, body={}))


async def logged_in(fleet: Any, v: VehicleSpec, timers: Timers) -> RawLink:
    """A vehicle link that logged in successfully (a failed login fails the case)."""
    link = await fleet.link(f"vehicle {v.vin}")
    await link.send(login_frame(v))
    answer = await link.receive(answer_timeout(timers))
    assert (answer.command, answer.ack) == (0x01, 0x01), \
        f"login of {v.vin} answered command 0x{answer.command:02X} flag 0x{answer.ack:02X}, expected 0x01/0x01"
    return link


def answer_timeout(timers: Timers) -> float:
    """How long a party may take to answer: the response timeout, at least a second."""
    return max(timers.response_timeout * 3, 1.0)


def relay_deadline(timers: Timers) -> float:
    """How long a relayed frame may take to reach the upstream platform before a case gives up on it: the
    upload period (at most 30 s, §5.2.3) four times for the queue's round trip, and room for a loaded machine.
    Cases that judge the relay delay itself (NOTICE-2016/1.2/b/02) measure it instead."""
    return timers.report_period * 4 + 8


async def eventually(predicate: Callable[[], bool], within: float, step: float = 0.05) -> bool:
    """Poll a condition until it holds or `within` seconds pass (queries run off the case's loop)."""
    deadline = time.monotonic() + within
    while True:
        ok = await asyncio.to_thread(predicate)
        if ok or time.monotonic() >= deadline:
            return ok
        await asyncio.sleep(step)


# ---------------------------------------------------------------- relayed copies of data frames
def key(raw: bytes) -> tuple[bytes, bytes]:
    """A data frame's identity: VIN and collection time (the same in 0x02 and its reissue 0x03)."""
    return raw[4:21], raw[24:30]


def same_content(got: bytes, sent: bytes) -> bool:
    """Equal except the command byte (0x02 may become 0x03) and the check code that follows from it."""
    return got[:2] == sent[:2] and got[3:-1] == sent[3:-1]


Copies = dict[tuple[bytes, bytes], list[StoredFrameView]]


def stored_count(local: Any, vin: str) -> int:
    """How many data frames the local platform holds for a VIN: a mark to read `arrivals` from."""
    return len(local.frames(vin=vin, commands=(0x02, 0x03)))


def arrivals(local: Any, sent: list[bytes], since: dict[str, int] | None = None) -> Copies:
    """Every copy the local platform stored of each sent frame, by frame identity; the dict's order is the
    order of the first copies (per VIN, the platform's store order). `since` skips, per VIN, the frames
    stored before a `stored_count` mark (an earlier case may have sent the same collection times)."""
    wanted = {key(raw) for raw in sent}
    out: Copies = {}
    for vin in sorted({raw[4:21].decode() for raw in sent}):
        for f in local.frames(vin=vin, commands=(0x02, 0x03))[(since or {}).get(vin, 0):]:
            k = key(f.raw)
            if k in wanted:
                out.setdefault(k, []).append(f)
    return out


def most_copies(timers: Timers) -> int:
    """Copies of one frame an upstream may legitimately store: the first send and up to `data_tries` resends
    when an answer is late or an error (§5.2.2, §5.5). More is a defect; fewer is not a case's business."""
    return 1 + timers.data_tries


def unexcused_copies(copies: Copies, timers: Timers) -> list[str]:
    """Copies the standard does not excuse: more than `most_copies` of one frame, or a later copy that is not
    byte-identical to the first (a resend after a late answer repeats the frame, §5.2.2, §5.5). One line per
    such frame; empty when every extra copy is a legitimate resend."""
    most = most_copies(timers)
    out: list[str] = []
    for c in copies.values():
        first = c[0].raw
        if len(c) > most:
            out.append(f"{first.hex()}: {len(c)} copies, at most {most}")
        out += [f"{first.hex()}: copy {f.raw.hex()} differs" for f in c[1:] if f.raw != first]
    return out


async def settled_copies(local: Any, sent: list[bytes], since: dict[str, int] | None, timers: Timers) -> Copies:
    """`arrivals` once the SUT's resends have landed: a resend it wrote before it took a late answer
    (§5.2.2, §5.5) is still on its way when its queue reads empty. Waits until no new copy comes for longer
    than the response timeout (resends are that far apart), at most `most_copies` times."""
    def total() -> int:
        return sum(len(c) for c in arrivals(local, sent, since).values())

    seen = await asyncio.to_thread(total)
    for _ in range(most_copies(timers)):
        if not await eventually(lambda n=seen: total() > n, timers.response_timeout * 1.5):
            break
        seen = await asyncio.to_thread(total)
    return await asyncio.to_thread(arrivals, local, sent, since)


# ---------------------------------------------------------------- a terminal's collection times on a loaded machine
LOOP_STALL = 0.25  # real seconds a loaded machine may hold up the harness's event loop


def stall_slack(time_scale: float) -> float:
    """Terminal-clock seconds a collection time may slip when the harness's loop stalls `LOOP_STALL`: our
    simulator runs on that loop and stamps from its clock, 1/time_scale times fast (5 s at 0.05). A T-Box on
    its own clock (time_scale 1) gets 0.25 s, below the 1 s resolution of collection times: nothing."""
    return LOOP_STALL / time_scale
