"""Golden vectors: the verified public hex samples of spec §7 (gbt32960.md).

Each decodes to exactly the values the spec lists and re-encodes byte for byte; the byte walker
reads them without error.
"""

import datetime as dt

import pytest

from harness.protocol.codec import bcc, decode, encode
from harness.protocol.explain import explain
from harness.protocol.schema import Timestamp

S1 = "232301fe4c564256334a3042364a4539303032353201001e150410071d1b000138393836303331383334323030343237383037370100d9"
S2_HEARTBEAT = "232307FE3132333435363738390000000000000000010000C9"
S2_TIME_SYNC = "232308FE3132333435363738390000000000000000010000C6"
S3 = ("232305FE31323334353637383900000000000000000100291301171737381A0A536D616C6C43686935313800"
      "313233343536373839303132333435363738390001FF")
S6 = "23230101484155563442474e365335303032323139010006190a1b14020236"
S7 = ("242401fe484155563442474e365335303032323139010036190a1b140202000c383938363039323437393030323331363636"
      "3036010130524a50454130304841553041414631333130303139353596")

ID_123456789 = "123456789" + "\0" * 8  # zero-padded unique id (spec §1, [JTNE])

# sample -> (edition, command, ack, vin, encryption, data-unit length, bcc, body)
GOLDEN = {
    "S1-2016-vehicle-login": (S1, 2016, 0x01, 0xFE, "LVBV3J0B6JE900252", 0x01, 30, 0xD9, {
        "time": Timestamp.from_datetime(dt.datetime(2021, 4, 16, 7, 29, 27)),
        "serial": 1,
        "iccid": "89860318342004278077",
        "code_length": 0,  # m = 0: codes not sent ...
        "subsystem_codes": [""],  # ... so the n = 1 subsystem has an empty code
    }),
    "S2-2016-heartbeat": (S2_HEARTBEAT, 2016, 0x07, 0xFE, ID_123456789, 0x01, 0, 0xC9, {}),
    "S2-2016-time-sync": (S2_TIME_SYNC, 2016, 0x08, 0xFE, ID_123456789, 0x01, 0, 0xC6, {}),
    "S3-2016-platform-login": (S3, 2016, 0x05, 0xFE, ID_123456789, 0x01, 41, 0xFF, {
        "time": Timestamp.from_datetime(dt.datetime(2019, 1, 23, 23, 55, 56)),
        "serial": 0x1A0A,
        "username": "SmallChi518\0",
        "password": "1234567890123456789\0",
        "encryption_rule": 0x01,
    }),
    "S6-2016-login-response-time-only": (S6, 2016, 0x01, 0x01, "HAUV4BGN6S5002219", 0x01, 6, 0x36, {
        "time": Timestamp.from_datetime(dt.datetime(2025, 10, 27, 20, 2, 2)),
    }),
    "S7-2025-vehicle-login": (S7, 2025, 0x01, 0xFE, "HAUV4BGN6S5002219", 0x01, 54, 0x96, {
        "time": Timestamp.from_datetime(dt.datetime(2025, 10, 27, 20, 2, 2)),
        "serial": 12,
        "iccid": "89860924790023166606",
        "packs_per_bms": [1],  # 1 BMS with 1 pack
        "pack_codes": ["0RJPEA00HAU0AAF131001955"],  # one 24-byte code
    }),
}


@pytest.mark.parametrize("name", GOLDEN)
def test_sample_decodes_to_the_listed_values(name):
    hexstr, edition, command, ack, vin, encryption, length, check, body = GOLDEN[name]
    raw = bytes.fromhex(hexstr)
    assert len(raw) == 25 + length
    assert raw[-1] == check == bcc(raw[2:-1])  # the spec's BCC, and our XOR agrees
    frame = decode(raw)
    assert (frame.edition, frame.command, frame.ack, frame.vin, frame.encryption) == \
        (edition, command, ack, vin, encryption)
    assert frame.body == body


@pytest.mark.parametrize("name", GOLDEN)
def test_sample_reencodes_byte_for_byte(name):
    raw = bytes.fromhex(GOLDEN[name][0])
    assert encode(decode(raw)) == raw


@pytest.mark.parametrize("name", GOLDEN)
def test_sample_walks_without_error(name):
    raw = bytes.fromhex(GOLDEN[name][0])
    ex = explain(raw)
    assert ex.error is None
    assert ex.rows[-1].path == "bcc" and ex.rows[-1].offset == len(raw) - 1


def test_sample_times_are_calendar_times():
    assert decode(bytes.fromhex(S1)).body["time"].to_datetime() == dt.datetime(2021, 4, 16, 7, 29, 27)
    assert str(decode(bytes.fromhex(S3)).body["time"]) == "2019-01-23 23:55:56"
    assert decode(bytes.fromhex(S7)).body["time"].to_datetime() == dt.datetime(2025, 10, 27, 20, 2, 2)
