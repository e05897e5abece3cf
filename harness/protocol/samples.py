"""Deterministic sample frames for benchmarks, docs and demos.

Every sample is a `codec.Frame` with a decoded body (raw values, Count fields omitted), built from
plausible physical values through the schema (`Scalar.raw_from_physical`), so a schema change in
scale or offset changes the raw bytes, not the meaning. The same call always returns the same
frame: no clock, no randomness. The 2025 signature is a fixed placeholder of RSA-2048 size, not a
verifiable signature (that needs a key; the crypto module owns keys).
"""

from __future__ import annotations

import hashlib
from typing import Any

from .codec import Frame
from .messages import command_body, info_types
from .schema import Scalar, Struct, Timestamp

SAMPLE_TIME = Timestamp(25, 6, 1, 12, 0, 0)
SAMPLE_VIN = "LGBH52E0XPY100032"
SAMPLE_ICCID = "89860321245678901234"
# a 24-character pack code in the GB/T 34014 shape
SAMPLE_PACK_CODE = "0RJPEA00HAU0AAF131001955"

CUSTOM_TYPE = 0x80
CUSTOM_SIZE = 35
SIGNATURE_SIZE = 256  # RSA-2048, the whole signature in R and an empty S


def _phys(body: Struct, values: dict[str, Any]) -> dict[str, Any]:
    """Raw values for `body` from physical ones; non-Scalar entries pass through unchanged."""
    fields = {f.name: f for f in body.fields}
    out: dict[str, Any] = {}
    for name, value in values.items():
        node = fields[name]  # KeyError here means the sample names a field the schema lacks
        out[name] = node.raw_from_physical(value) if isinstance(node, Scalar) else value
    return out


def _item_struct(body: Struct, list_name: str) -> Struct:
    for f in body.fields:
        if f.name == list_name:
            item = getattr(f, "item", None)
            assert isinstance(item, Struct), f"{body.name}.{list_name} is not a list of structs"
            return item
    raise KeyError(f"{body.name} has no list {list_name!r}")


def _cells(n: int, seed: int = 0) -> list[float]:
    # a healthy LFP/NMC pack: 3.2xx V with a few mV of spread, deterministic
    return [3.2 + ((i * 7 + seed) % 23) * 0.001 for i in range(n)]


def _probes(n: int, seed: int = 0) -> list[int]:
    return [25 + (i + seed) % 5 for i in range(n)]


def _raws(item: Scalar, values: list[float] | list[int]) -> list[int]:
    return [item.raw_from_physical(v) for v in values]


def _list_item_scalar(body: Struct, list_name: str) -> Scalar:
    for f in body.fields:
        if f.name == list_name:
            item = getattr(f, "item", None)
            assert isinstance(item, Scalar)
            return item
    raise KeyError(list_name)


def _signature_bytes(n: int = SIGNATURE_SIZE) -> bytes:
    return hashlib.shake_256(b"gbt32960 sample signature").digest(n)


def _custom_bytes(n: int = CUSTOM_SIZE) -> bytes:
    return bytes((i * 37 + 11) & 0xFF for i in range(n))


def _realtime_frame(edition: int, items: list[dict[str, Any]], signature: dict[str, Any] | None = None) -> Frame:
    body: dict[str, Any] = {"time": SAMPLE_TIME, "items": items}
    if signature is not None:
        body["signature"] = signature
    return Frame(0x02, vin=SAMPLE_VIN, body=body, edition=edition)


def _vehicle(edition: int, voltage: float, current: float) -> dict[str, Any]:
    node = info_types(edition).known[0x01]
    values: dict[str, Any] = {
        "vehicle_state": 1, "charge_state": 3, "run_mode": 1, "speed": 85.3, "odometer": 12345.6,
        "total_voltage": voltage, "total_current": current, "soc": 78, "dcdc_state": 1,
        "gear": 0x2E,  # drive force + D
        "insulation_resistance": 12000,
    }
    if edition == 2016:
        values |= {"accelerator_pedal": 23, "brake_pedal": 0}
    return _phys(node, values)


def _motors(edition: int) -> dict[str, Any]:
    node = info_types(edition).known[0x02]
    motor = _item_struct(node, "motors")
    specs = [(1, 6500, 120.5, 45, 62), (2, 6480, 118.0, 44, 60)]
    motors = []
    for seq, speed, torque, ctl_t, t in specs:
        values: dict[str, Any] = {"seq": seq, "state": 1, "controller_temperature": ctl_t, "speed": speed,
                                  "torque": torque, "temperature": t}
        if edition == 2016:
            values |= {"controller_input_voltage": 386.0, "controller_dc_current": 45.2}
        motors.append(_phys(motor, values))
    return {"motors": motors}


def _position(edition: int) -> dict[str, Any]:
    values: dict[str, Any] = {"status": 0, "longitude": 116.397128, "latitude": 39.916527}
    if edition == 2025:
        values["datum"] = 1
    return _phys(info_types(edition).known[0x05], values)


# ---------------------------------------------------------------- 2025


def realtime_2025_full() -> Frame:
    """A 2025 real-time frame of 829 bytes: vehicle, fuel cell, 2 drive motors, position, alarm,
    one pack of 180 cell voltages, 48 probe temperatures, a 35-byte user-defined item and a
    256-byte RSA signature block."""
    known = info_types(2025).known
    pack_node = _item_struct(known[0x07], "packs")
    cell = _list_item_scalar(pack_node, "cell_voltages")
    sub_node = _item_struct(known[0x08], "subsystems")
    probe = _list_item_scalar(sub_node, "temperatures")
    items = [
        {"type": 0x01, "data": _vehicle(2025, 386.2, 52.3)},
        {"type": 0x02, "data": _motors(2025)},
        # the fuel cell pads the frame to the ~830 bytes the benchmark target names
        {"type": 0x03, "data": _phys(known[0x03], {
            "h2_max_temperature": 35, "h2_max_temperature_probe": 3, "h2_max_concentration": 0.012,
            "h2_max_concentration_sensor": 2, "h2_max_pressure": 35.0, "h2_max_pressure_sensor": 1,
            "hv_dcdc_state": 1, "h2_remaining": 64, "dcdc_controller_temperature": 48})},
        {"type": 0x05, "data": _position(2025)},
        {"type": 0x06, "data": _phys(known[0x06], {
            "max_level": 0, "flags": 0, "ress_fault_codes": [], "motor_fault_codes": [],
            "engine_fault_codes": [], "other_fault_codes": [], "general_levels": []})},
        {"type": 0x07, "data": {"packs": [_phys(pack_node, {
            "no": 1, "voltage": 386.2, "current": 52.3, "cell_voltages": _raws(cell, _cells(180))})]}},
        {"type": 0x08, "data": {"subsystems": [{"no": 1, "temperatures": _raws(probe, _probes(48))}]}},
        {"type": CUSTOM_TYPE, "data": _custom_bytes()},
    ]
    return _realtime_frame(2025, items, {"algorithm": 2, "r": _signature_bytes(), "s": b""})


# ---------------------------------------------------------------- 2016


def realtime_2016_full(cells: int = 200) -> Frame:
    """A 2016 real-time frame with every information type 0x01–0x09 and `cells` cell voltages.

    A subsystem carries at most 200 cells per frame (T B.6), so more cells are spread over several
    subsystems of this one frame, each a pack of its own.
    """
    if not 1 <= cells <= 200 * 250:
        raise ValueError(f"cells must be 1…50000, got {cells}")
    known = info_types(2016).known
    sub_v = _item_struct(known[0x08], "subsystems")
    cell = _list_item_scalar(sub_v, "cell_voltages")
    sub_t = _item_struct(known[0x09], "subsystems")
    probe = _list_item_scalar(sub_t, "temperatures")
    fc_probe = _list_item_scalar(known[0x03], "probe_temperatures")

    volts = _cells(cells)
    chunks = [volts[i:i + 200] for i in range(0, cells, 200)]
    subsystems = []
    temps = []
    for k, chunk in enumerate(chunks, start=1):
        subsystems.append(_phys(sub_v, {
            "no": k, "voltage": round(sum(chunk), 1), "current": 45.2, "total_cells": len(chunk), "first_cell": 1,
            "cell_voltages": _raws(cell, chunk)}))
        temps.append({"no": k, "temperatures": _raws(probe, _probes(32, seed=k))})
    # the extremes point at real cells and probes of the first subsystem
    first = chunks[0]
    hi_cell = max(range(len(first)), key=first.__getitem__)
    lo_cell = min(range(len(first)), key=first.__getitem__)
    probes = _probes(32, seed=1)
    hi_probe = max(range(len(probes)), key=probes.__getitem__)
    lo_probe = min(range(len(probes)), key=probes.__getitem__)
    items = [
        {"type": 0x01, "data": _vehicle(2016, 386.2, 45.2)},
        {"type": 0x02, "data": _motors(2016)},
        {"type": 0x03, "data": _phys(known[0x03], {
            "voltage": 320.5, "current": 85.0, "consumption": 0.85,
            "probe_temperatures": _raws(fc_probe, [60, 61, 62, 61]),
            "h2_max_temperature": 35.5, "h2_max_temperature_probe": 2, "h2_max_concentration": 120,
            "h2_max_concentration_sensor": 1, "h2_max_pressure": 35.0, "h2_max_pressure_sensor": 1,
            "hv_dcdc_state": 1})},
        {"type": 0x04, "data": _phys(known[0x04], {"state": 1, "crankshaft_speed": 1800, "fuel_consumption": 5.6})},
        {"type": 0x05, "data": _position(2016)},
        {"type": 0x06, "data": _phys(known[0x06], {
            "max_voltage_subsystem": 1, "max_voltage_cell": hi_cell + 1, "max_cell_voltage": first[hi_cell],
            "min_voltage_subsystem": 1, "min_voltage_cell": lo_cell + 1, "min_cell_voltage": first[lo_cell],
            "max_temperature_subsystem": 1, "max_temperature_probe": hi_probe + 1, "max_temperature": probes[hi_probe],
            "min_temperature_subsystem": 1, "min_temperature_probe": lo_probe + 1,
            "min_temperature": probes[lo_probe]})},
        {"type": 0x07, "data": _phys(known[0x07], {
            "max_level": 1, "flags": 1 << 12,  # DC-DC temperature, level 1
            "ress_fault_codes": [], "motor_fault_codes": [], "engine_fault_codes": [],
            "other_fault_codes": [0x00001A2B]})},
        {"type": 0x08, "data": {"subsystems": subsystems}},
        {"type": 0x09, "data": {"subsystems": temps}},
    ]
    return _realtime_frame(2016, items)


# ---------------------------------------------------------------- session frames


def login(edition: int) -> Frame:
    """Vehicle login 0x01 with one battery pack code (24 characters)."""
    node = command_body(edition, 0x01)
    assert node is not None
    values: dict[str, Any] = {"time": SAMPLE_TIME, "serial": 1, "iccid": SAMPLE_ICCID}
    if edition == 2016:
        values |= {"code_length": len(SAMPLE_PACK_CODE), "subsystem_codes": [SAMPLE_PACK_CODE]}
    else:
        values |= {"packs_per_bms": [1], "pack_codes": [SAMPLE_PACK_CODE]}
    return Frame(0x01, vin=SAMPLE_VIN, body=_phys(node, values), edition=edition)


def heartbeat(edition: int) -> Frame:
    """Heartbeat 0x07: an empty data unit, 25 bytes on the wire."""
    return Frame(0x07, vin=SAMPLE_VIN, body={}, edition=edition)


ALL = {
    "realtime_2025_full": realtime_2025_full,
    "realtime_2016_full": realtime_2016_full,
    "login_2016": lambda: login(2016),
    "login_2025": lambda: login(2025),
    "heartbeat_2016": lambda: heartbeat(2016),
    "heartbeat_2025": lambda: heartbeat(2025),
}
