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
