"""Frames the platform-as-SUT cases send, good and deliberately bad.

Every data frame gets its own collection time (a per-run counter from ten minutes ago), so two
cases never send the same (VIN, command, time) by accident: a platform is right to call that a
duplicate.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from typing import Any

from harness.protocol import samples
from harness.protocol.codec import Frame, assemble, bcc, encode
from harness.protocol.schema import Timestamp
from harness.protocol.timers import Timers
from harness.topology.base import VehicleSpec
from harness.wire import RawLink
from scenarios.kit import GMT8, answer_timeout

_BASE = dt.datetime.now(GMT8).replace(microsecond=0) - dt.timedelta(minutes=10)
_SECONDS = itertools.count(1)


def fresh_time() -> Timestamp:
    """A collection time no other frame of this run carries."""
    return Timestamp.from_datetime(_BASE + dt.timedelta(seconds=next(_SECONDS)))


def rebcc(frame_without_bcc: bytes) -> bytes:
    return frame_without_bcc + bytes((bcc(frame_without_bcc[2:]),))


def with_header(raw: bytes, *, encryption: int | None = None, length: int | None = None) -> bytes:
    """The frame with its encryption byte or length field replaced and the BCC made right again."""
    head = bytearray(raw[:-1])
    if encryption is not None:
        head[21] = encryption
    if length is not None:
        head[22:24] = length.to_bytes(2, "big")
    return rebcc(bytes(head))


def bad_bcc(raw: bytes) -> bytes:
    return raw[:-1] + bytes((raw[-1] ^ 0xFF,))


def realtime(v: VehicleSpec, *, command: int = 0x02, time: Timestamp | None = None,
             items: list[dict[str, Any]] | None = None) -> bytes:
    from scenarios.kit import vehicle_item

    body: dict[str, Any] = {"time": time or fresh_time(), "items": items or [vehicle_item(v.edition)]}
    return encode(Frame(command, vin=v.vin, edition=v.edition, body=body))


def _extra_2025_items() -> list[dict[str, Any]]:
    """2025 types the shared sample lacks: engine 0x04, stacks 0x30, supercap 0x31 and its extremes 0x32."""
    return [
        {"type": 0x04, "data": {"crankshaft_speed": 1800}},
        {"type": 0x30, "data": {"stacks": [{"no": 1, "voltage": 3205, "current": 850, "h2_inlet_pressure": 1500,
                                            "air_inlet_pressure": 1300, "air_inlet_temperature": 65,
                                            "coolant_outlet_temperatures": [100, 101, 99]}]}},
        {"type": 0x31, "data": {"system_no": 1, "total_voltage": 4800, "total_current": 30200,
                                "cell_voltages": [2700, 2701, 2699, 2702], "temperatures": [65, 66]}},
        {"type": 0x32, "data": {"max_voltage_system": 1, "max_voltage_cell": 4, "max_cell_voltage": 2702,
                                "min_voltage_system": 1, "min_voltage_cell": 3, "min_cell_voltage": 2699,
                                "max_temperature_system": 1, "max_temperature_probe": 2, "max_temperature": 66,
                                "min_temperature_system": 1, "min_temperature_probe": 1, "min_temperature": 65}},
    ]


def full_realtime(v: VehicleSpec, *, command: int = 0x02) -> tuple[bytes, list[int]]:
    """A data frame carrying every information type of the vehicle's edition (2025: with a custom
    item and a signature block); returns the bytes and the types it carries."""
    frame = samples.realtime_2016_full() if v.edition == 2016 else samples.realtime_2025_full()
    items = list(frame.body["items"])
    if v.edition == 2025:
        items = items[:-1] + _extra_2025_items() + items[-1:]
    body = dict(frame.body, time=fresh_time(), items=items)
    frame = dataclasses.replace(frame, command=command, vin=v.vin, body=body)
    return encode(frame), [i["type"] for i in items]


def login(v: VehicleSpec, serial: int = 1, codes: int = 0) -> bytes:
    """Vehicle login with `codes` battery codes (2016 subsystem codes, 2025 pack codes: 24 chars)."""
    code_list = [f"{samples.SAMPLE_PACK_CODE[:-2]}{k:02d}" for k in range(codes)]
    body: dict[str, Any] = {"time": fresh_time(), "serial": serial, "iccid": "89860318342004278077"}
    if v.edition == 2016:
        body |= {"code_length": 24 if codes else 0, "subsystem_codes": code_list}
    else:
        body |= {"packs_per_bms": [codes] if codes else [], "pack_codes": code_list}
    return encode(Frame(0x01, vin=v.vin, edition=v.edition, body=body))


def logout(v: VehicleSpec, serial: int = 1) -> bytes:
    return encode(Frame(0x04, vin=v.vin, edition=v.edition, body={"time": fresh_time(), "serial": serial}))


def empty(v: VehicleSpec, command: int, vin: str | None = None) -> bytes:
    """Heartbeat 0x07 or time sync 0x08: an empty data unit."""
    return assemble(v.edition, command, 0xFE, vin if vin is not None else v.vin, b"")


async def heartbeat_answered(link: RawLink, v: VehicleSpec, timers: Timers) -> Frame:
    """Send a heartbeat and return the next answer: the platform is still serving this link. Any
    answer that came before it (to an earlier frame) is returned instead, for the case to judge."""
    await link.send(empty(v, 0x07))
    return await link.receive(answer_timeout(timers))


# ---------------------------------------------------------------- query/set/control (Annex B.2.2-B.2.4)
def param_table(edition: int, host: str = "127.0.0.1", port: int = 32960) -> dict[int, tuple[Any, bytes]]:
    """Every parameter of T B.12 (2025: T B.8) with a value and its encoding written out by hand, so a
    platform's bytes are checked against the table, not against our own codec. 2025 made 0x02/0x03 BYTE."""
    word = 2 if edition == 2016 else 1
    domain, public = host.encode(), b"127.0.0.2"
    return {
        0x01: (1000, (1000).to_bytes(2, "big")),
        0x02: (10, (10).to_bytes(word, "big")),
        0x03: ((1000, (1000).to_bytes(2, "big")) if edition == 2016 else (1, b"\x01")),
        0x04: (len(domain), bytes((len(domain),))),
        0x05: (host, domain),
        0x06: (port, port.to_bytes(2, "big")),
        0x07: ("HW001", b"HW001"),
        0x08: ("FW001", b"FW001"),
        0x09: (30, b"\x1e"),
        0x0A: (60, (60).to_bytes(2, "big")),
        0x0B: (61, (61).to_bytes(2, "big")),
        0x0C: (30, b"\x1e"),
        0x0D: (len(public), bytes((len(public),))),
        0x0E: (public.decode(), public),
        0x0F: (32961, (32961).to_bytes(2, "big")),
        0x10: (2, b"\x02"),
    }


WRITABLE = tuple(i for i in range(0x01, 0x11) if i not in (0x07, 0x08))


def params_unit(table: dict[int, tuple[Any, bytes]], ids: tuple[int, ...]) -> bytes:
    """count B + (id B + value) for each id: a set's or a query answer's parameter list (T B.10/B.13)."""
    return bytes((len(ids),)) + b"".join(bytes((i,)) + table[i][1] for i in ids)


def params_json(table: dict[int, tuple[Any, bytes]], ids: tuple[int, ...]) -> list[dict[str, Any]]:
    return [{"id": i, "value": table[i][0]} for i in ids]


async def next_command(link: RawLink, command: int, timeout: float) -> bytes:
    """The next frame `command` the platform sends as a command (flag 0xFE) on this link; answers to the
    vehicle's own frames (heartbeats) are skipped."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        raw = await link.receive_raw(max(deadline - time.monotonic(), 0.001))
        if raw[2] == command and raw[3] == 0xFE:
            return raw


async def commands_within(link: RawLink, command: int, seconds: float, *, keepalive: bytes = b"",
                          every: float = 0.0) -> list[tuple[float, bytes]]:
    """Every command frame `command` the platform sends on this link within `seconds`, with the
    monotonic time it arrived; `keepalive` (a heartbeat) is sent every `every` s so the link is not idle."""
    import time

    out: list[tuple[float, bytes]] = []
    now = time.monotonic()
    deadline, beat = now + seconds, now + every
    while (left := deadline - time.monotonic()) > 0:
        if keepalive and time.monotonic() >= beat:
            await link.send(keepalive)
            beat = time.monotonic() + every
        try:
            raw = await link.receive_raw(min(left, beat - time.monotonic()) if keepalive else left)
        except TimeoutError:
            continue
        if raw[2] == command and raw[3] == 0xFE:
            out.append((time.monotonic(), raw))
    return out


def answer_to(raw: bytes, flag: int, unit: bytes | None = None) -> bytes:
    """The vehicle's answer to a platform command: same command, VIN and framing, `flag`, and the command's
    time (or `unit`, a whole data unit)."""
    edition = 2025 if raw[:2] == b"$$" else 2016
    return assemble(edition, raw[2], flag, raw[4:21], unit if unit is not None else raw[24:30])


# ---------------------------------------------------------------- level-3 alarm data (§5.2.4)
def time_block(seconds: int) -> list[Timestamp]:
    """`seconds` consecutive collection times, one second apart, that no other frame of this run carries."""
    return [fresh_time() for _ in range(seconds)]


def alarm_item(edition: int, level: int) -> dict[str, Any]:
    """The alarm information type (2016 0x07, 2025 0x06) at `level`, general flag bit 11 (insulation)."""
    data: dict[str, Any] = {"max_level": level, "flags": (1 << 11) if level else 0, "ress_fault_codes": [],
                            "motor_fault_codes": [], "engine_fault_codes": [], "other_fault_codes": []}
    if edition == 2025:
        data["general_levels"] = []
    return {"type": 0x07 if edition == 2016 else 0x06, "data": data}


def alarm_frame(v: VehicleSpec, level: int, time: Timestamp, *, command: int = 0x02,
                insulation: int | None = None) -> bytes:
    from scenarios.kit import vehicle_item

    vehicle = vehicle_item(v.edition)
    if insulation is not None:
        vehicle["data"]["insulation_resistance"] = insulation
    return realtime(v, command=command, time=time, items=[vehicle, alarm_item(v.edition, level)])


# ---------------------------------------------------------------- the proxied enterprise -> local link (§5)
def proxy_seq(faults: Any, link: str) -> int:
    """The last evidence record of the fault proxy so far (later reads start after it)."""
    records = faults.evidence(link)
    return int(records[-1].seq) if records else 0


def delivered_upstream(faults: Any, link: str, after_seq: int, flow: str = "to_target") -> list[tuple[float, bytes]]:
    """(time, frame) of every whole frame the proxy delivered to the upstream platform (flow "to_target") or
    back from it ("to_client") after `after_seq`."""
    out: list[tuple[float, bytes]] = []
    for r in faults.evidence(link, decode=True, after_seq=after_seq):
        if r.flow == flow and r.kind in ("write", "relay"):
            out += [(f.at or r.record.at, bytes(f.raw)) for f in r.frames]
    return out
