"""One test per error type in harness.protocol.errors, each pinning the exact byte offset (from the
frame's first byte, or the stream's for the framer) and the field path. BadVin has no validator
in the library yet, so it is not raised and not tested here.
"""

import pytest

from harness.protocol import errors
from harness.protocol.codec import Frame, assemble, decode, encode
from harness.protocol.explain import explain
from harness.protocol.framer import Framer
from harness.protocol.schema import Timestamp

T = Timestamp(25, 11, 25, 8, 30, 0)
VIN = "LVBV3J0B6JE900252"
HEARTBEAT = assemble(2016, 0x07, 0xFE, VIN, b"")


def _vehicle_2016(**changes):
    value = dict(vehicle_state=1, charge_state=3, run_mode=1, speed=600, odometer=123456, total_voltage=3500,
                 total_current=10000, soc=80, dcdc_state=1, gear=0x2E, insulation_resistance=5000,
                 accelerator_pedal=10, brake_pedal=0)
    return value | changes


def _vehicle_2025(**changes):
    value = dict(vehicle_state=1, charge_state=3, run_mode=1, speed=600, odometer=123456, total_voltage=3500,
                 total_current=30000, soc=80, dcdc_state=1, gear=0x2E, insulation_resistance=5000)
    return value | changes


def _raises(exc_type, data):
    with pytest.raises(exc_type) as info:
        decode(data)
    assert type(info.value) is exc_type  # the precise class, not merely a subclass of it
    return info.value


# ------------------------------------------------------------------------------------ framing


def test_bad_start_symbol():
    err = _raises(errors.BadStartSymbol, b"@@" + HEARTBEAT[2:])
    assert (err.offset, err.path) == (0, "header.start")


def test_garbage_skipped_by_the_framer():
    items = Framer().feed(b"\x00\x01\x02" + HEARTBEAT)
    err = items[0]
    assert type(err) is errors.GarbageSkipped
    assert (err.offset, err.path, err.count) == (0, "stream", 3)
    assert items[1:] == [HEARTBEAT]


def test_length_overflow():
    data = bytearray(HEARTBEAT)
    data[22:24] = (65532).to_bytes(2, "big")  # 65531 is the largest valid length (spec §1)
    err = _raises(errors.LengthOverflow, bytes(data))
    assert (err.offset, err.path) == (22, "header.length")


def test_length_mismatch():
    data = assemble(2016, 0x04, 0xFE, VIN, bytes(T) + b"\x00\x01")
    err = _raises(errors.LengthMismatch, data[:-2] + data[-1:])  # one data-unit byte missing
    assert (err.offset, err.path) == (22, "header.length")


def test_bad_checksum():
    data = bytearray(HEARTBEAT)
    data[-1] ^= 0xFF
    err = _raises(errors.BadChecksum, bytes(data))
    assert (err.offset, err.path) == (24, "bcc")
    assert err.flag(2025) == 0x02


# ------------------------------------------------------------------------------------ header


def test_bad_encryption_sm2_in_a_2016_frame():
    err = _raises(errors.BadEncryption, assemble(2016, 0x07, 0xFE, VIN, b"", encryption=0x04))
    assert (err.offset, err.path) == (21, "header.encryption")
    assert err.flag(2025) == 0x07
    # SM2 is defined in 2025: the same byte is accepted there and the unit stays ciphertext
    assert decode(assemble(2025, 0x02, 0xFE, VIN, b"\x01\x02", encryption=0x04)).body == b"\x01\x02"


# ------------------------------------------------------------------------------------ data unit


def test_truncated():
    # vehicle logout = time 6 + serial WORD; one serial byte missing
    err = _raises(errors.Truncated, assemble(2016, 0x04, 0xFE, VIN, bytes(T) + b"\x00"))
    assert (err.offset, err.path) == (24 + 6, "vehicle_logout.serial")


def test_truncated_header():
    err = _raises(errors.Truncated, HEARTBEAT[:10])
    assert (err.offset, err.path) == (10, "header")


def test_trailing_bytes():
    err = _raises(errors.TrailingBytes, assemble(2016, 0x04, 0xFE, VIN, bytes(T) + b"\x00\x01\x99"))
    assert (err.offset, err.path) == (24 + 8, "vehicle_logout")


def test_unknown_info_type_0x0a_in_2016_real_time():
    position = b"\x05" + bytes(9)  # item 0: a 9-byte position
    err = _raises(errors.UnknownInfoType, assemble(2016, 0x02, 0xFE, VIN, bytes(T) + position + b"\x0a\x00"))
    assert (err.offset, err.path) == (24 + 6 + 10, "realtime.items[1].type")


def test_unknown_parameter():
    # set: time, count 2, (0x09 heartbeat period = 30), (0x11: reserved, no width)
    body = bytes(T) + b"\x02" + b"\x09\x1e" + b"\x11\x00"
    err = _raises(errors.UnknownParameter, assemble(2016, 0x81, 0xFE, VIN, body))
    assert (err.offset, err.path) == (24 + 6 + 1 + 2, "set.params[1].id")


def test_length_carried_parameter_without_its_length():
    # 0x05 (platform domain) takes its width from 0x04, which is missing
    body = bytes(T) + b"\x01" + b"\x05abc"
    err = _raises(errors.BodyError, assemble(2016, 0x81, 0xFE, VIN, body))
    assert (err.offset, err.path) == (24 + 6 + 1, "set.params[0].id")


def test_encode_error():
    with pytest.raises(errors.EncodeError) as info:
        encode(Frame(0x07, vin=VIN + "X", body={}))
    assert (info.value.offset, info.value.path) == (None, "header.vin")  # nothing written yet: no offset


def test_encode_error_names_the_field():
    """A value too wide for its field: the error should name the field, as decode errors do."""
    body = {"time": T, "items": [{"type": 0x01, "data": _vehicle_2016(speed=70000)}]}
    with pytest.raises(errors.EncodeError) as info:
        encode(Frame(0x02, vin=VIN, body=body))
    assert info.value.path == "realtime.items[0].data.speed"


# ------------------------------------------------------------------------------------ strict mode


def _findings(edition, items):
    ex = explain(encode(Frame(0x02, vin=VIN, body={"time": T, "items": items}, edition=edition)), strict=True)
    assert ex.error is None
    return {f.path: f for f in ex.findings}


def test_strict_soc_101_percent():
    found = _findings(2016, [{"type": 0x01, "data": _vehicle_2016(soc=101)}])
    assert list(found) == ["realtime.items[0].data.soc"]
    assert found["realtime.items[0].data.soc"].offset == 24 + 6 + 1 + 13
    # 2025: same rule; the vehicle item follows a 10-byte position item here
    found = _findings(2025, [{"type": 0x05, "data": {"status": 0, "datum": 1, "longitude": 1, "latitude": 2}},
                             {"type": 0x01, "data": _vehicle_2025(soc=101)}])
    assert list(found) == ["realtime.items[1].data.soc"]
    assert found["realtime.items[1].data.soc"].offset == 24 + 6 + 11 + 1 + 13


def test_strict_2016_speed_over_220_kmh():
    found = _findings(2016, [{"type": 0x01, "data": _vehicle_2016(speed=2201)}])
    assert list(found) == ["realtime.items[0].data.speed"]
    assert found["realtime.items[0].data.speed"].offset == 24 + 6 + 1 + 3
    assert _findings(2016, [{"type": 0x01, "data": _vehicle_2016(speed=2200)}]) == {}
    # 2025 raised the range to 500 km/h
    assert _findings(2025, [{"type": 0x01, "data": _vehicle_2025(speed=2201)}]) == {}


def test_strict_finding_cites_the_items_own_clause():
    """The vehicle data table is 2016 T9/T B.4 (messages.vehicle); the walker cites the enclosing
    real-time clause (2016 T7) for every field inside it."""
    found = _findings(2016, [{"type": 0x01, "data": _vehicle_2016(soc=101)}])
    assert found["realtime.items[0].data.soc"].clause == "2016 T9/T B.4"
