"""The `gbt32960` command line and the JSON view behind `decode --json` / `encode`."""

from __future__ import annotations

import importlib.util
import io
import json
import random
import shutil
import string
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.protocol import errors
from harness.protocol.codec import Frame, bcc, decode, encode
from harness.protocol.jsonview import frame_from_json, frame_to_json, frames_from_json
from harness.protocol.messages import EDITIONS, command_body, info_types, response_bodies
from harness.protocol.schema import (
    ABNORMAL,
    INVALID,
    Count,
    InfoTypes,
    List,
    Node,
    Params,
    Raw,
    Scalar,
    Sentinel,
    Str,
    Struct,
    Switch,
    Time,
    Timestamp,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"

# spec §7, verified hex samples
S1 = "232301fe4c564256334a3042364a4539303032353201001e150410071d1b000138393836303331383334323030343237383037370100d9"
S2_HEARTBEAT = "232307FE3132333435363738390000000000000000010000C9"
S2_TIMESYNC = "232308FE3132333435363738390000000000000000010000C6"
S3 = ("232305FE31323334353637383900000000000000000100291301171737381A0A536D616C6C436869353138003132333435363738"
      "39303132333435363738390001FF")
S6 = "23230101484155563442474e365335303032323139010006190a1b14020236"
S7 = ("242401fe484155563442474e365335303032323139010036190a1b140202000c38393836303932343739303032333136363630360101"
      "30524a50454130304841553041414631333130303139353596")
SPEC_SAMPLES = {"S1": S1, "S2-heartbeat": S2_HEARTBEAT, "S2-time-sync": S2_TIMESYNC, "S3": S3, "S6": S6, "S7": S7}


def via_json_text(frame: Frame) -> Frame:
    """frame -> JSON text -> frame: what `decode --json | encode` does."""
    return frame_from_json(json.loads(json.dumps(frame_to_json(frame), ensure_ascii=False)))


def short_form(obj):
    """The hand-written form: every scalar as its physical value (or sentinel name), no raw."""
    if isinstance(obj, dict):
        if "raw" in obj and "sentinel" in obj:
            return obj["sentinel"]
        if "raw" in obj and "value" in obj:
            return obj["value"]
        return {k: short_form(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [short_form(x) for x in obj]
    return obj


# ------------------------------------------------------------ a deterministic example generator
# Walks the description like the hypothesis strategies would, with a seeded RNG; sentinels in
# scalars and counts, padding, user-defined types and signatures all appear.


def _scalar(node: Scalar, rng: random.Random) -> int:
    r = rng.random()
    if node.sentinels and r < 0.1:
        return ABNORMAL[node.fmt] if r < 0.05 else INVALID[node.fmt]
    if node.enum and r < 0.8:
        return rng.choice(sorted(node.enum))
    lo = node.lo if node.lo is not None else 0
    hi = node.hi if node.hi is not None else ABNORMAL[node.fmt] - 1
    return rng.randint(lo, hi)


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(n))


def _value(node: Node, rng: random.Random, d: dict):
    if isinstance(node, Scalar):
        return _scalar(node, rng)
    if isinstance(node, Time):
        return Timestamp(rng.randint(0, 99), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                         rng.randint(0, 59), rng.randint(0, 59))
    if isinstance(node, Str):
        if node.length is not None:
            return _text(rng, rng.randint(0, node.length))
        if node.length_ref:
            return _text(rng, d[node.length_ref])
        return _text(rng, rng.randint(0, 30))
    if isinstance(node, Raw):
        return rng.randbytes(rng.randint(0, 20))
    if isinstance(node, Struct):
        return example(node, rng)
    raise TypeError(node)


def _list(node: List, rng: random.Random, d: dict, counts: dict) -> list | Sentinel:
    if node.count in counts:
        if rng.random() < 0.1:
            return Sentinel(ABNORMAL[counts[node.count]] if rng.random() < 0.5 else INVALID[counts[node.count]])
        n = rng.randint(0, 3)
    else:
        ref = d[node.count]
        # a sentinel list sizes its dependant as empty
        n = 0 if isinstance(ref, Sentinel) else sum(ref) if isinstance(ref, list) else ref
    item = node.item
    if isinstance(item, Str):
        width = d[item.length_ref] if item.length_ref else item.length
        return [_text(rng, width) for _ in range(n)]
    return [_value(item, rng, d) for _ in range(n)]


def _params(node: Params, rng: random.Random) -> list[dict]:
    out: list[dict] = []
    ids = sorted(node.table)
    rng.shuffle(ids)
    for pid in ids[:rng.randint(0, 6)]:
        if pid in node.length_of.values():
            continue  # written right after its length parameter
        spec = node.table[pid]
        if pid in node.length_of:
            text = _text(rng, rng.randint(0, 15))
            out += [{"id": pid, "value": len(text)}, {"id": node.length_of[pid], "value": text}]
        elif isinstance(spec, Scalar):
            out.append({"id": pid, "value": _scalar(spec, rng)})
        else:
            out.append({"id": pid, "value": _text(rng, spec.length or 0)})
    return out


def example(node: Struct, rng: random.Random, only_types: list[int] | None = None) -> dict:
    d: dict = {}
    counts: dict[str, str] = {}
    for f in node.fields:
        if isinstance(f, Count):
            counts[f.name] = f.fmt
        elif isinstance(f, List):
            d[f.name] = _list(f, rng, d, counts)
        elif isinstance(f, InfoTypes):
            codes = only_types or rng.sample([*sorted(f.known), 0x80, 0xFE], rng.randint(1, len(f.known) + 2))
            d["items"] = [{"type": c, "data": example(f.known[c], rng) if c in f.known else rng.randbytes(6)}
                          for c in codes]
            if f.signature is not None and rng.random() < 0.5:
                d["signature"] = example(f.signature, rng)
        elif isinstance(f, Params):
            d[f.name] = _params(f, rng)
        elif isinstance(f, Switch):
            case = f.cases.get(d[f.on], f.default)
            d[f.name] = _text(rng, 20) if isinstance(case, Str) else rng.randbytes(5) if isinstance(case, Raw) \
                else example(case, rng)  # type: ignore[arg-type]
        else:
            d[f.name] = _value(f, rng, d)
    return d


def _info_type_cases() -> list:
    return [pytest.param(ed, code, id=f"{ed}-0x{code:02X}-{body.name}")
            for ed in EDITIONS for code, body in info_types(ed).known.items()]


def _body_cases() -> list:
    cases = []
    for ed in EDITIONS:
        for cmd in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x80, 0x81, 0x82):
            layouts = []
            if command_body(ed, cmd) is not None:
                layouts.append((0xFE, command_body(ed, cmd)))
            layouts += [(0x01, node) for node in response_bodies(ed, cmd)] if layouts else []
            for ack, node in layouts:
                case_id = f"{ed}-0x{cmd:02X}-{ack:02X}-{node.name}"
                cases.append(pytest.param(ed, cmd, ack, node.name, id=case_id))
    return cases


def _layout(ed: int, cmd: int, ack: int, name: str) -> Struct:
    nodes = (command_body(ed, cmd),) if ack == 0xFE else response_bodies(ed, cmd)
    return next(n for n in nodes if n is not None and n.name == name)


# ------------------------------------------------------------------------------------ jsonview


@pytest.mark.parametrize("hex_frame", SPEC_SAMPLES.values(), ids=SPEC_SAMPLES.keys())
def test_spec_samples_round_trip_through_json(hex_frame):
    raw = bytes.fromhex(hex_frame)
    frame = decode(raw)
    again = via_json_text(frame)
    assert encode(again) == raw
    assert decode(encode(again)) == frame  # the JSON drops NUL padding; the bytes keep it
    # the short form (physical values only) gives the same bytes too
    assert encode(frame_from_json(short_form(frame_to_json(frame)))) == raw


def test_json_form_of_s1():
    doc = frame_to_json(decode(bytes.fromhex(S1)))
    assert doc["edition"] == 2016
    assert doc["command"] == "0x01 vehicle_login"
    assert doc["response"] == "0xFE command"
    assert doc["vin"] == "LVBV3J0B6JE900252"
    assert doc["encryption"] == "none"
    assert doc["body"]["time"] == "2021-04-16 07:29:27"
    assert doc["body"]["serial"] == {"value": 1, "raw": 1}
    assert doc["body"]["iccid"] == "89860318342004278077"
    assert "subsystem_count" not in doc["body"]  # counts are derived on encode


@pytest.mark.parametrize(("edition", "code"), _info_type_cases())
def test_every_info_type_round_trips(edition, code):
    rng = random.Random(f"{edition}-{code}")
    node = command_body(edition, 0x02)
    for _ in range(40):
        frame = Frame(0x02, 0xFE, "LVBV3J0B6JE900252", example(node, rng, only_types=[code]), edition)
        raw = encode(frame)
        decoded = decode(raw)
        assert encode(via_json_text(decoded)) == raw
        assert encode(frame_from_json(short_form(frame_to_json(decoded)))) == raw


@pytest.mark.parametrize("edition", EDITIONS)
def test_mixed_realtime_and_reissue_round_trip(edition):
    rng = random.Random(edition)
    for command in (0x02, 0x03):
        for _ in range(60):
            frame = Frame(command, 0xFE, "LVBV3J0B6JE900252", example(command_body(edition, command), rng), edition)
            raw = encode(frame)
            assert encode(via_json_text(decode(raw))) == raw


@pytest.mark.parametrize(("edition", "command", "ack", "layout"), _body_cases())
def test_every_command_body_round_trips(edition, command, ack, layout):
    rng = random.Random(f"{edition}-{command}-{ack}-{layout}")
    node = _layout(edition, command, ack, layout)
    for _ in range(30):
        raw = encode(Frame(command, ack, "LVBV3J0B6JE900252", example(node, rng), edition))
        assert encode(via_json_text(decode(raw))) == raw


def test_values_units_and_sentinels():
    body = {"time": Timestamp(21, 4, 16, 7, 29, 27), "items": [
        {"type": 0x01, "data": {"vehicle_state": 1, "charge_state": 3, "run_mode": 1, "speed": 600, "odometer": 123456,
                                "total_voltage": 3502, "total_current": 10253, "soc": 0xFE, "dcdc_state": 1,
                                "gear": 0x2E, "insulation_resistance": 0xFFFF, "accelerator_pedal": 20,
                                "brake_pedal": 0}},
        {"type": 0x05, "data": {"status": 0, "longitude": 116397128, "latitude": 39916527}},
    ]}
    doc = frame_to_json(Frame(0x02, 0xFE, "LVBV3J0B6JE900252", body, 2016))
    vehicle = doc["body"]["items"][0]
    assert vehicle["type"] == "0x01 vehicle"
    assert vehicle["data"]["speed"] == {"value": 60.0, "unit": "km/h", "raw": 600}
    assert vehicle["data"]["total_current"] == {"value": 25.3, "unit": "A", "raw": 10253}
    assert vehicle["data"]["soc"] == {"sentinel": "abnormal", "raw": 254}
    # 2016 insulation resistance has no sentinel (spec §4): 0xFFFF is a number
    assert vehicle["data"]["insulation_resistance"]["value"] == 65535
    assert vehicle["data"]["vehicle_state"]["label"] == "started"
    assert vehicle["data"]["gear"]["flags"] == ["drive_force"]
    position = doc["body"]["items"][1]["data"]
    assert position["longitude"] == {"value": 116.397128, "unit": "°", "raw": 116397128}
    assert position["latitude"]["value"] == 39.916527


def test_raw_wins_and_short_forms():
    doc = {"edition": 2016, "command": "realtime", "vin": "LVBV3J0B6JE900252", "body": {
        "time": "2021-04-16 07:29:27", "items": [
            {"type": "engine", "data": {"state": "off", "crankshaft_speed": {"value": 1, "raw": 2},
                                        "fuel_consumption": "invalid"}},
            {"type": "0x09", "data": {"subsystems": "abnormal"}},
            {"type": "0x80 user-defined", "data": "0102"},
        ]}}
    frame = frame_from_json(doc)
    items = frame.body["items"]
    assert items[0]["data"] == {"state": 2, "crankshaft_speed": 2, "fuel_consumption": 0xFFFF}
    assert isinstance(items[1]["data"]["subsystems"], Sentinel) and items[1]["data"]["subsystems"] == 0xFE
    assert items[2] == {"type": 0x80, "data": b"\x01\x02"}
    assert frame.ack == 0xFE and frame.encryption == 0x01
    assert decode(encode(frame)) == frame


def test_bytes_bodies_and_non_ascii_text():
    ciphertext = Frame(0x02, 0xFE, "LVBV3J0B6JE900252", b"\x00\x01\xfe\xff", 2025, 0x05)
    assert frame_to_json(ciphertext)["body"] == "0001feff"
    assert frame_to_json(ciphertext)["encryption"] == "sm4"
    assert via_json_text(ciphertext) == ciphertext
    custom = Frame(0xC0, 0xFE, "LVBV3J0B6JE900252", b"vendor", 2016)
    assert frame_to_json(custom)["command"] == "0xC0 platform_custom"
    assert encode(via_json_text(custom)) == encode(custom)
    # a GB 18030 user name cannot be a JSON string faithfully: hex plus readable text
    login = Frame(0x05, 0xFE, "PLATFORM01", {"time": Timestamp(24, 1, 2, 3, 4, 5), "serial": 1,
                                             "username": "京".encode("gb18030").decode("ascii", "surrogateescape"),
                                             "password": "pw", "encryption_rule": 1}, 2016)
    doc = frame_to_json(login)
    assert doc["body"]["username"]["text"] == "京"
    assert encode(via_json_text(login)) == encode(login)
    doc["body"]["username"] = "京"  # the short form encodes Chinese as GB 18030 (spec §1)
    assert encode(frame_from_json(doc)) == encode(login)


def test_json_errors_name_the_path():
    doc = frame_to_json(decode(bytes.fromhex(S1)))
    doc["body"]["serail"] = 1
    with pytest.raises(errors.EncodeError, match="serail") as info:
        frame_from_json(doc)
    assert info.value.path == "body"
    bad = {"edition": 2016, "command": "realtime", "body": {"time": "2021-04-16 07:29:27", "items": [
        {"type": "vehicle", "data": {"vehicle_state": "flying"}}]}}
    with pytest.raises(errors.EncodeError, match="flying") as info:
        frame_from_json(bad)
    assert info.value.path == "body.items[0].data.vehicle_state"
    with pytest.raises(errors.EncodeError) as info:
        frames_from_json([doc])
    assert info.value.path.startswith("[0]")
    with pytest.raises(errors.EncodeError, match="counts are derived"):
        frame_from_json({**frame_to_json(decode(bytes.fromhex(S1))), "body": {
            **frame_to_json(decode(bytes.fromhex(S1)))["body"], "subsystem_count": 3}})


def test_hypothesis_frames_round_trip():
    from hypothesis import HealthCheck, given, settings

    from harness.protocol import strategies

    @settings(max_examples=300, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(strategies.frames())
    def check(frame):
        raw = encode(frame)
        assert encode(via_json_text(frame)) == raw
        assert encode(frame_from_json(short_form(frame_to_json(frame)))) == raw

    check()


# ------------------------------------------------------------------------------------ decode


def test_decode_table_of_s1(capsys):
    assert main(["decode", S1]) == 0
    out = capsys.readouterr().out
    assert "offset" in out and "field" in out and "value" in out and "unit" in out
    row = next(line for line in out.splitlines() if "header.length" in line)
    assert row.split() == ["22", "00", "1e", "header.length", "30", "bytes"]
    row = next(line for line in out.splitlines() if "vehicle_login.time" in line)
    assert row.split()[0] == "24" and "2021-04-16 07:29:27" in row
    row = next(line for line in out.splitlines() if "vehicle_login.iccid" in line)
    assert row.split()[0] == "32" and "89860318342004278077" in row
    assert "LVBV3J0B6JE900252" in out and "0xD9" in out


def test_decode_table_shows_units(capsys):
    assert main(["decode", "-f", str(SAMPLES / "realtime-2016.hex")]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "items[0].data.speed" in line)
    assert row.split()[0] == "34" and "60.0" in row and row.rstrip().endswith("km/h")
    assert "INVALID" in next(line for line in out.splitlines() if "fuel_consumption" in line)


def test_decode_table_shows_position_decimals(capsys):
    main(["decode", "-f", str(SAMPLES / "realtime-2016.hex")])
    assert "116.397128" in capsys.readouterr().out


def test_decode_json_round_trips_through_encode(capsys):
    assert main(["decode", "--json", S1]) == 0
    text = capsys.readouterr().out
    doc = json.loads(text)
    assert doc["command"] == "0x01 vehicle_login" and doc["stream_offset"] == 0
    assert main(["encode", text]) == 0
    assert capsys.readouterr().out.strip() == S1.lower()


def test_decode_json_of_a_session_and_encode_back(capsys):
    assert main(["decode", "--json", "-f", str(SAMPLES / "session-mixed.hex")]) == 2  # frame 5 has a bad BCC
    captured = capsys.readouterr()
    docs = json.loads(captured.out)
    assert [d["edition"] for d in docs] == [2016] * 5 + [2025] * 2
    assert "frame 5" in captured.err and "BCC" in captured.err
    assert main(["encode", captured.out]) == 0
    lines = [line for line in (SAMPLES / "session-mixed.hex").read_text().splitlines() if not line.startswith("#")]
    assert capsys.readouterr().out.split() == lines[:4] + lines[5:]


def test_bad_bcc_is_an_error_with_its_offset(capsys):
    bad = S1[:-2] + "d8"
    status = main(["decode", S2_HEARTBEAT, bad])
    captured = capsys.readouterr()
    assert status == 2
    assert "BCC 0xD8 should be 0xD9 at byte 54" in captured.err
    assert "stream offset 25" in captured.err and "stream byte 79" in captured.err
    # the good frame is still printed, and so are the rejected frame's fields
    assert "0x07 heartbeat" in captured.out and "REJECTED" in captured.out


def test_body_error_names_offset_and_field(capsys):
    frame = bytearray(bytes.fromhex(S1))
    frame[24 + 6 + 2 + 20 + 1] = 5  # code length 5: the subsystem code is missing
    frame[-1] = bcc(frame[2:-1])  # keep the BCC right, so the body walker finds the problem
    assert main(["decode", frame.hex()]) == 2
    err = capsys.readouterr().err
    assert "vehicle_login.subsystem_codes" in err and "at byte" in err


def test_strict_findings(capsys):
    doc = frame_to_json(decode(bytes.fromhex(S1)))
    doc["body"]["code_length"] = 60  # the standard allows 0-50
    doc["body"]["subsystem_codes"] = ["A" * 60]
    assert main(["encode", json.dumps(doc)]) == 0
    hex_frame = capsys.readouterr().out.strip()
    assert main(["decode", "--strict", hex_frame]) == 0
    assert "finding: code_length = 60" in capsys.readouterr().out
    assert main(["decode", "--strict", "--json", hex_frame]) == 0
    assert any("code_length" in f for f in json.loads(capsys.readouterr().out)["findings"])


def test_decode_reads_stdin_and_binary_files(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(f"{S2_HEARTBEAT}\n{S2_TIMESYNC}\n".encode())))
    assert main(["decode", "-"]) == 0
    out = capsys.readouterr().out
    assert "0x07 heartbeat" in out and "0x08 time_sync" in out
    binary = tmp_path / "frames.bin"
    binary.write_bytes(b"junk" + bytes.fromhex(S7))
    assert main(["decode", "--json", "-f", str(binary)]) == 2  # the junk is reported ...
    captured = capsys.readouterr()
    assert "4 byte(s) of garbage" in captured.err
    assert json.loads(captured.out)["stream_offset"] == 4  # ... and the frame after it decoded


def test_unreadable_input(capsys, tmp_path):
    assert main(["decode", "2323zz"]) == 2
    assert "not hex" in capsys.readouterr().err
    assert main(["decode", "-f", str(tmp_path / "missing.hex")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["encode", "{not json"]) == 2
    assert "not JSON" in capsys.readouterr().err
    assert main(["encode", json.dumps({"edition": 2016, "command": "heartbeat", "body": {"x": 1}})]) == 2
    assert "unknown key" in capsys.readouterr().err


def test_encode_binary_and_short_form(tmp_path, capsys):
    doc = {"edition": 2016, "command": "heartbeat", "vin": "123456789", "body": {}}
    out = tmp_path / "hb.bin"
    assert main(["encode", json.dumps(doc), "--binary", "-o", str(out)]) == 0
    assert out.read_bytes() == bytes.fromhex(S2_HEARTBEAT)
    json_file = tmp_path / "hb.json"
    json_file.write_text(json.dumps([doc, {**doc, "command": "0x08"}]))
    assert main(["encode", "-f", str(json_file)]) == 0
    assert capsys.readouterr().out.split() == [S2_HEARTBEAT.lower(), S2_TIMESYNC.lower()]


def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and "gbt32960" in capsys.readouterr().out
    for command in ("decode", "encode", "pcap"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "examples:" in capsys.readouterr().out
    assert main([]) == 2


# ------------------------------------------------------------------------------------ pcap


def _write_capture(path: Path, stream: bytes, *, other: bytes) -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    chunks = [stream[i:i + 40] for i in range(0, len(stream), 40)]  # frames split across segments
    seq = 4_294_967_000  # sequence numbers wrap inside the flow
    segments = []
    for chunk in chunks:
        segments.append((seq % (1 << 32), chunk))
        seq += len(chunk)
    segments[1], segments[2] = segments[2], segments[1]  # captured out of order
    segments.insert(4, segments[3])  # and one retransmission
    packets = []
    for k, (s, chunk) in enumerate(segments):
        p = Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / TCP(sport=40001, dport=32960, seq=s, flags="PA") / chunk
        p.time = 1_700_000_000 + k / 100
        packets.append(p)
    p = Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / TCP(sport=40002, dport=8080, seq=1, flags="PA") / other
    p.time = 1_700_000_001
    packets.append(p)
    wrpcap(str(path), packets)


def test_pcap_prints_frames_per_flow(tmp_path, capsys):
    stream = bytes.fromhex(S1) + bytes.fromhex(S6) + bytes.fromhex(S2_HEARTBEAT) + bytes.fromhex(S7)
    capture = tmp_path / "session.pcap"
    _write_capture(capture, stream, other=bytes.fromhex(S3))
    assert main(["pcap", str(capture)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert "127.0.0.1:40001 -> 127.0.0.1:32960" in lines[0]
    assert "2016" in lines[0] and "0x01 vehicle_login" in lines[0] and "VIN=LVBV3J0B6JE900252" in lines[0]
    assert "len=55" in lines[0]
    assert "0x01 success" in lines[1] and "0x07 heartbeat" in lines[2]
    assert "2025" in lines[3] and "VIN=HAUV4BGN6S5002219" in lines[3] and "len=79" in lines[3]
    assert "127.0.0.1:40002 -> 127.0.0.1:8080" in lines[4] and "0x05 platform_login" in lines[4]

    assert main(["pcap", str(capture), "--port", "32960", "--json"]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert [d["command"] for d in docs] == ["0x01 vehicle_login", "0x01 vehicle_login", "0x07 heartbeat",
                                            "0x01 vehicle_login"]
    assert docs[0]["flow"] == "127.0.0.1:40001 -> 127.0.0.1:32960" and docs[0]["capture_time"].endswith("Z")
    assert [encode(f) for f in frames_from_json(docs)] == [bytes.fromhex(h) for h in (S1, S6, S2_HEARTBEAT, S7)]

    assert main(["pcap", str(capture), "--port", "8080", "--table"]) == 0
    out = capsys.readouterr().out
    assert "platform_login.username" in out and "SmallChi518" in out


def test_pcap_reports_bad_frames_and_bad_files(tmp_path, capsys):
    capture = tmp_path / "bad.pcap"
    _write_capture(capture, bytes.fromhex(S1)[:-1] + b"\x00" + bytes.fromhex(S7), other=b"")
    assert main(["pcap", str(capture)]) == 2
    captured = capsys.readouterr()
    assert "BCC" in captured.err and "127.0.0.1:40001 -> 127.0.0.1:32960" in captured.err
    assert "0x01 vehicle_login" in captured.out and "2025" in captured.out
    assert main(["pcap", str(tmp_path / "none.pcap")]) == 2
    assert "cannot read capture" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ samples, console script


def test_samples_are_up_to_date():
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, text in module.build().items():
        assert (SAMPLES / name).read_text() == text, f"{name} is stale: run python samples/make_samples.py"


def test_installed_console_script():
    exe = shutil.which("gbt32960")
    if exe is None:
        pytest.fail("the gbt32960 console script is not installed: run pip install -e .")
    done = subprocess.run([exe, "decode", "-f", str(SAMPLES / "realtime-2016.hex")], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "realtime.items[8].data.subsystems[0].temperatures[3]" in done.stdout
    done = subprocess.run([exe, "decode", "-"], input=S1[:-2] + "00", capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2 and "at byte 54" in done.stderr
