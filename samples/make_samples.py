"""Regenerate the sample frames in this folder, deterministically, with the project's codec.

    python samples/make_samples.py           # rewrite realtime-2016.hex and session-mixed.hex
    python samples/make_samples.py --check   # exit 1 if the files differ from what the codec builds

Frames are written in the JSON short form (physical values; see harness/protocol/jsonview.py), so
this file doubles as an example of `gbt32960 encode` input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.protocol.codec import encode
from harness.protocol.jsonview import frame_from_json

HERE = Path(__file__).resolve().parent
VIN16 = "LVBV3J0B6JE900252"
VIN25 = "HAUV4BGN6S5002219"

VEHICLE_2016: dict[str, Any] = {
    "vehicle_state": "started", "charge_state": "not_charging", "run_mode": "ev",
    "speed": 60.0, "odometer": 12345.6, "total_voltage": 54.5, "total_current": 25.3, "soc": 78,
    "dcdc_state": "working", "gear": 0x2E,  # D (0b1110) with drive force (bit 5)
    "insulation_resistance": 5000, "accelerator_pedal": 20, "brake_pedal": 0,
}
POSITION_2016: dict[str, Any] = {"status": 0, "longitude": 116.397128, "latitude": 39.916527}

REALTIME_2016: dict[str, Any] = {
    "edition": 2016, "command": "realtime", "vin": VIN16,
    "body": {"time": "2021-04-16 07:30:00", "items": [
        {"type": "vehicle", "data": VEHICLE_2016},
        {"type": "drive_motors", "data": {"motors": [{
            "seq": 1, "state": "consuming", "controller_temperature": 45, "speed": 3000, "torque": 120.5,
            "temperature": 60, "controller_input_voltage": 54.4, "controller_dc_current": 20.0}]}},
        {"type": "fuel_cell", "data": {
            "voltage": 320.0, "current": 50.0, "consumption": 0.85, "probe_temperatures": [65, 66],
            "h2_max_temperature": 35.0, "h2_max_temperature_probe": 1, "h2_max_concentration": 120,
            "h2_max_concentration_sensor": 2, "h2_max_pressure": 35.0, "h2_max_pressure_sensor": 1,
            "hv_dcdc_state": "working"}},
        # engine off: the unknown fuel consumption is sent as the 'invalid' sentinel (spec §4)
        {"type": "engine", "data": {"state": "off", "crankshaft_speed": 0, "fuel_consumption": "invalid"}},
        {"type": "position", "data": POSITION_2016},
        {"type": "extremes", "data": {
            "max_voltage_subsystem": 1, "max_voltage_cell": 7, "max_cell_voltage": 3.412,
            "min_voltage_subsystem": 1, "min_voltage_cell": 12, "min_cell_voltage": 3.398,
            "max_temperature_subsystem": 1, "max_temperature_probe": 2, "max_temperature": 31,
            "min_temperature_subsystem": 1, "min_temperature_probe": 4, "min_temperature": 27}},
        {"type": "alarm", "data": {
            "max_level": 1, "flags": 0x00000001, "ress_fault_codes": [0x00001001], "motor_fault_codes": [],
            "engine_fault_codes": [], "other_fault_codes": []}},
        {"type": "ress_voltage", "data": {"subsystems": [{
            "no": 1, "voltage": 54.5, "current": 25.3, "total_cells": 16, "first_cell": 1,
            "cell_voltages": [3.405, 3.401, 3.410, 3.407, 3.399, 3.404, 3.412, 3.406,
                              3.403, 3.400, 3.409, 3.398, 3.402, 3.408, 3.405, 3.401]}]}},
        {"type": "ress_temperature", "data": {"subsystems": [{"no": 1, "temperatures": [30, 31, 29, 27]}]}},
    ]},
}

LOGIN_2016: dict[str, Any] = {
    "edition": 2016, "command": "vehicle_login", "vin": VIN16,
    "body": {"time": "2021-04-16 07:29:27", "serial": 1, "iccid": "89860318342004278077",
             "code_length": 0, "subsystem_codes": [""]},
}
LOGIN_ACK_2016: dict[str, Any] = {
    "edition": 2016, "command": "vehicle_login", "response": "success", "vin": VIN16,
    "body": {"time": "2021-04-16 07:29:28"},
}
SHORT_REALTIME_2016: dict[str, Any] = {
    "edition": 2016, "command": "realtime", "vin": VIN16,
    "body": {"time": "2021-04-16 07:29:40", "items": [
        {"type": "vehicle", "data": {**VEHICLE_2016, "speed": 58.2}},
        {"type": "position", "data": POSITION_2016},
    ]},
}
HEARTBEAT_2016: dict[str, Any] = {"edition": 2016, "command": "heartbeat", "vin": VIN16, "body": {}}
LOGOUT_2016: dict[str, Any] = {
    "edition": 2016, "command": "vehicle_logout", "vin": VIN16, "body": {"time": "2021-04-16 07:45:00", "serial": 1},
}
LOGIN_2025: dict[str, Any] = {  # the values of spec §7 S7
    "edition": 2025, "command": "vehicle_login", "vin": VIN25,
    "body": {"time": "2025-10-27 20:02:02", "serial": 12, "iccid": "89860924790023166606",
             "packs_per_bms": [1], "pack_codes": ["0RJPEA00HAU0AAF131001955"]},
}
REALTIME_2025: dict[str, Any] = {
    "edition": 2025, "command": "realtime", "vin": VIN25,
    "body": {"time": "2025-10-27 20:02:30", "items": [
        {"type": "vehicle", "data": {
            "vehicle_state": "started", "charge_state": "not_charging", "run_mode": "ev", "speed": 72.5,
            "odometer": 1520.3, "total_voltage": 402.6, "total_current": -12.4, "soc": 64,
            "dcdc_state": "working", "gear": 0x2E, "insulation_resistance": 8000}},
        {"type": "position", "data": {"status": 0, "datum": "wgs84", "longitude": 121.473701,
                                      "latitude": 31.230416}},
        {"type": "alarm", "data": {
            "max_level": 2, "flags": 0x00000010, "ress_fault_codes": [], "motor_fault_codes": [],
            "engine_fault_codes": [], "other_fault_codes": [], "general_levels": [{"bit": 4, "level": 2}]}},
        {"type": "battery_temperature", "data": {"subsystems": [{"no": 1, "temperatures": [25, 26, 25]}]}},
    ]},
}


def frame_hex(obj: dict[str, Any]) -> str:
    return encode(frame_from_json(obj)).hex()


def with_bad_bcc(hex_frame: str) -> str:
    # flip the low bit of the check code: a frame a platform must reject (spec §1)
    raw = bytearray.fromhex(hex_frame)
    raw[-1] ^= 0x01
    return raw.hex()


def build() -> dict[str, str]:
    """File name -> content."""
    header = "# regenerate with: python samples/make_samples.py\n"
    realtime = (
        "# GB/T 32960.3-2016 real-time report (0x02) carrying every information type 0x01-0x09\n"
        + header + frame_hex(REALTIME_2016) + "\n"
    )
    bad = with_bad_bcc(frame_hex(SHORT_REALTIME_2016 | {"body": {**SHORT_REALTIME_2016["body"],
                                                                   "time": "2021-04-16 07:29:50"}}))
    lines = [
        "# A terminal session in both editions, one frame per line; frame 5 has a wrong BCC on purpose",
        header.rstrip("\n"),
        "# 1. 2016 vehicle login (0x01)",
        frame_hex(LOGIN_2016),
        "# 2. 2016 platform answer: success, time only",
        frame_hex(LOGIN_ACK_2016),
        "# 3. 2016 real-time report: vehicle and position",
        frame_hex(SHORT_REALTIME_2016),
        "# 4. 2016 heartbeat (empty data unit)",
        frame_hex(HEARTBEAT_2016),
        "# 5. 2016 real-time report with a BAD BCC (last byte flipped): decode reports it, exit status 2",
        bad,
        "# 6. 2016 vehicle logout",
        frame_hex(LOGOUT_2016),
        "# 7. 2025 vehicle login ($$), one BMS with one pack code",
        frame_hex(LOGIN_2025),
        "# 8. 2025 real-time report: vehicle, position with datum, alarm with general levels, temperatures",
        frame_hex(REALTIME_2025),
    ]
    return {"realtime-2016.hex": realtime, "session-mixed.hex": "\n".join(lines) + "\n"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for name, text in build().items():
        path = HERE / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"stale: {', '.join(stale)} (run python samples/make_samples.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
