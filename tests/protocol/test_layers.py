"""The scapy layers (harness.protocol.layers) against the fast codec, byte for byte.

(a) bytes(to_layer(frame)) == codec.encode(frame) for the spec's golden samples and for a frame of
    every command, response form and information type of both editions;
(b) dissecting and rebuilding gives the same bytes, and from_layer() gives codec.decode()'s frame;
(c) wrong BCC, length, start symbol and encryption byte can be crafted and the codec then raises the
    matching typed error;
(d) a pcap of TCP segments splitting frames anyhow is reassembled by scapy's TCPSession;
(e) hypothesis: fast codec and scapy agree on frames from harness.protocol.strategies.
"""

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.packet import Raw
from scapy.sendrecv import sniff
from scapy.sessions import TCPSession
from scapy.utils import wrpcap

from harness.protocol import codec, errors
from harness.protocol.codec import COMMAND_FLAG, HEADER_SIZE, Frame, bcc
from harness.protocol.layers import (
    DEFAULT_PORT,
    GBT32960,
    SchemaPacket,
    bind_port,
    body_class,
    fname,
    frames_in,
    from_layer,
    item_class,
    to_layer,
    unbind_port,
)
from harness.protocol.messages import (
    COMMANDS,
    EDITIONS,
    command_body,
    info_types,
    parameters,
    realtime,
    response_bodies,
)
from harness.protocol.schema import (
    Count,
    InfoTypes,
    List,
    Params,
    Scalar,
    Sentinel,
    Str,
    Struct,
    Switch,
    Time,
    Timestamp,
)
from harness.protocol.schema import (
    Raw as RawNode,
)

VIN = "LVBV3J0B6JE900252"
T = Timestamp(25, 10, 27, 20, 2, 2)

# spec §7, hex checked there with an XOR script
GOLDEN = {
    "S1-2016-login": "232301fe4c564256334a3042364a4539303032353201001e150410071d1b00013839383630333138333432303034"
                     "3237383037370100d9",
    "S2-2016-heartbeat": "232307FE3132333435363738390000000000000000010000C9",
    "S2-2016-time-sync": "232308FE3132333435363738390000000000000000010000C6",
    "S3-2016-platform-login": "232305FE31323334353637383900000000000000000100291301171737381A0A536D616C6C4368693531"
                              "3800313233343536373839303132333435363738390001FF",
    "S6-2016-login-response": "23230101484155563442474e365335303032323139010006190a1b14020236",
    "S7-2025-login": "242401fe484155563442474e365335303032323139010036190a1b140202000c38393836303932343739303032"
                     "3331363636303601013052 4a50454130304841553041414631333130303139353596".replace(" ", ""),
}


# ------------------------------------------------------------------------------------ sample values
# A deterministic value for any description node, shaped as the codec decodes it (raw ints,
# full-width strings, Count fields absent). Written from the node types, not per message.


def _scalar(node, k=0):
    if node.enum:
        codes = sorted(node.enum)
        return codes[k % len(codes)]
    if node.bits:
        return 0b10110 & ((1 << (8 * node.size)) - 1)
    lo = node.lo or 0
    hi = node.hi if node.hi is not None else 0xF0
    return lo + (k * 7 + 3) % (hi - lo + 1)


def _text(n, seed="GBT32960-"):
    return (seed * (n // len(seed) + 1))[:n]


def sample(node, k=0, scope=None):
    if isinstance(node, Struct):
        d = {}
        for f in node.fields:
            if isinstance(f, Count):
                continue
            if isinstance(f, InfoTypes):
                d.update(sample_items(f))
            else:
                d[f.name] = sample(f, k, d)
        return d
    if isinstance(node, Scalar):
        return _scalar(node, k)
    if isinstance(node, Time):
        return Timestamp(T.year, T.month, T.day, T.hour, T.minute, (T.second + k) % 60)
    if isinstance(node, (Str, RawNode)):
        if node.length is not None:
            n = node.length
        elif node.length_ref and scope is not None and node.length_ref in scope:
            ref = scope[node.length_ref]
            n = sum(ref) if isinstance(ref, list) else ref
        else:
            n = 5 + k
        return _text(n) if isinstance(node, Str) else bytes(range(0xA0, 0xA0 + n))
    if isinstance(node, List):
        ref = scope.get(node.count) if scope else None
        n = (sum(ref) if isinstance(ref, list) else ref) if ref is not None else 2
        return [sample(node.item, k + j, scope) for j in range(n)]
    if isinstance(node, Params):
        out = []
        carried_by = {v: pid for pid, v in node.length_of.items()}
        for pid, p in node.table.items():
            if pid in node.length_of:
                continue  # written right before the value it sizes
            if pid in carried_by:
                text = "tsp.example.cn"
                out += [{"id": carried_by[pid], "value": len(text)}, {"id": pid, "value": text}]
            else:
                out.append({"id": pid, "value": sample(p, pid)})
        return out
    if isinstance(node, Switch):
        case = node.cases.get(scope[node.on], node.default)
        return sample(case, k, scope)
    raise TypeError(node)


def sample_items(node, codes=None):
    items = []
    for code in codes if codes is not None else sorted(node.known):
        if code in node.known:
            items.append({"type": code, "data": sample(node.known[code], code)})
        else:
            items.append({"type": code, "data": bytes(range(code % 7))})
    out = {"items": items}
    if node.signature is not None:
        out["signature"] = sample(node.signature, 1)
    return out


def realtime_frame(edition, codes, command=0x02, ack=COMMAND_FLAG, signature=True):
    body = {"time": T, **sample_items(info_types(edition), codes)}
    if not signature:
        body.pop("signature", None)
    return Frame(command, ack, VIN, body, edition)


def _control_frames(edition):
    node = command_body(edition, 0x82)
    out = []
    for cmd in (0x01, 0x02, 0x06, 0x07, 0x80):
        body = {"time": T, "command": cmd}
        switch = node.fields[2]
        body["params"] = sample(switch.cases.get(cmd, switch.default), 0, body)
        out.append((f"control-0x{cmd:02X}", Frame(0x82, COMMAND_FLAG, VIN, body, edition)))
    return out


def hand_built():
    """(id, frame) for every command, response form and information type of both editions."""
    cases = []
    for ed in EDITIONS:
        for cmd in sorted(COMMANDS):
            node = command_body(ed, cmd)
            if node is None:
                continue
            if cmd in (0x02, 0x03):
                cases.append((f"{ed}-{COMMANDS[cmd]}-all-items", realtime_frame(ed, None, cmd)))
                continue
            if cmd == 0x82:
                cases += [(f"{ed}-{n}", f) for n, f in _control_frames(ed)]
                continue
            cases.append((f"{ed}-{COMMANDS[cmd]}", Frame(cmd, COMMAND_FLAG, VIN, sample(node), ed)))
            for form in response_bodies(ed, cmd):
                if form.fields and form is not node:
                    name = f"{ed}-{COMMANDS[cmd]}-response-{form.name}"
                    cases.append((name, Frame(cmd, 0x01, VIN, sample(form), ed)))
        items = info_types(ed)
        for code in sorted(items.known):
            cases.append((f"{ed}-item-0x{code:02X}-{items.known[code].name}",
                          realtime_frame(ed, [code], signature=False)))
        cases.append((f"{ed}-item-custom", realtime_frame(ed, [0x80, 0xFE, 0x01], signature=False)))
        if items.signature is not None:
            cases.append((f"{ed}-item-signature-only", realtime_frame(ed, [])))
        cases.append((f"{ed}-reissue-response-echo", realtime_frame(ed, [0x01, 0x05], 0x03, 0x01)))
        cases.append((f"{ed}-heartbeat-response-time", Frame(0x07, 0x01, VIN, {"time": T}, ed)))
        cases.append((f"{ed}-time-sync-response-empty", Frame(0x08, 0x01, VIN, {}, ed)))
        platform_id = "PLATFORM01".ljust(17, "\0")  # the codec keeps the zero padding of a short id
        cases.append((f"{ed}-custom-command", Frame(0xC0, COMMAND_FLAG, platform_id, b"\x01\x02\x03", ed)))
        cases.append((f"{ed}-encrypted", Frame(0x02, COMMAND_FLAG, VIN, bytes(range(32)), ed, 0x03)))
        cases.append((f"{ed}-sentinel-count", _sentinel_frame(ed)))
    return cases


def _sentinel_frame(edition):
    # alarm fault counts 0xFE/0xFF: no list follows (spec §4)
    node = info_types(edition).known[0x07 if edition == 2016 else 0x06]
    data = sample(node)
    data["ress_fault_codes"] = Sentinel(0xFE)
    data["other_fault_codes"] = Sentinel(0xFF)
    code = 0x07 if edition == 2016 else 0x06
    return Frame(0x02, COMMAND_FLAG, VIN, {"time": T, "items": [{"type": code, "data": data}]}, edition)


CASES = hand_built()


def reference_bytes(frame):
    return codec.encode(frame)


# ------------------------------------------------------------------------------------ (a) and (b)


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_samples(name):
    raw = bytes.fromhex(GOLDEN[name])
    frame = codec.decode(raw)
    assert bytes(to_layer(frame)) == raw == codec.encode(frame)
    pkt = GBT32960(raw)
    assert bytes(pkt) == raw
    assert from_layer(pkt) == frame
    if raw[22:24] != b"\0\0":
        assert isinstance(pkt.payload, SchemaPacket)


def test_golden_fields_read_as_the_spec_says():
    s1 = GBT32960(bytes.fromhex(GOLDEN["S1-2016-login"]))
    assert (s1.start, s1.cmd, s1.ack, s1.vin, s1.encryption, s1.length, s1.bcc) == \
        (b"##", 0x01, 0xFE, b"LVBV3J0B6JE900252", 0x01, 30, 0xD9)
    body = s1.payload
    assert body.getfieldval("time_") == Timestamp(21, 4, 16, 7, 29, 27)
    assert (body.serial, body.iccid, body.subsystem_count, body.code_length, body.subsystem_codes) == \
        (1, b"89860318342004278077", 1, 0, [b""])
    s7 = GBT32960(bytes.fromhex(GOLDEN["S7-2025-login"]))
    assert s7.edition == 2025 and s7.payload.pack_codes == [b"0RJPEA00HAU0AAF131001955"]
    s6 = GBT32960(bytes.fromhex(GOLDEN["S6-2016-login-response"]))
    assert type(s6.payload).schema_node is response_bodies(2016, 0x01)[0]  # time only


def test_hand_written_realtime_2016():
    """A frame typed in from the spec tables (vehicle 20 bytes + position 9 bytes), built field by
    field through the generated classes, not through the codec."""
    raw = bytes.fromhex(
        "232302fe" "4c564256334a3042364a45393030323532" "01" "0025"
        "190a1b140202"
        "01" "030101" "0258" "000186a0" "0dac" "2710" "50" "01" "0e" "2710" "00" "00"
        "05" "00" "06f01448" "026113ef"
        "4c")
    raw = raw[:-1] + bytes((bcc(raw[2:-1]),))
    items = info_types(2016)
    vehicle = body_class(2016, items.known[0x01])(
        vehicle_state=3, charge_state=1, run_mode=1, speed=600, odometer=100000, total_voltage=3500,
        total_current=10000, soc=80, dcdc_state=1, gear=0x0E, insulation_resistance=10000, accelerator_pedal=0,
        brake_pedal=0)
    position = body_class(2016, items.known[0x05])(status=0, longitude=116397128, latitude=39916527)
    pkt = GBT32960(cmd=0x02, vin=VIN) / body_class(2016, realtime(2016))(
        time_=T, items=[item_class(2016, 0x01)(data=vehicle), item_class(2016, 0x05)(data=position)])
    assert bytes(pkt) == raw
    frame = codec.decode(raw)
    assert frame.body["items"][1]["data"]["longitude"] == 116397128
    assert from_layer(GBT32960(raw)) == frame
    shown = GBT32960(raw).show(dump=True)
    assert "speed     = 600 (60.0 km/h)" in shown  # the physical value next to the raw one
    assert "soc       = 80 (80 %)" in shown


def test_position_shows_micro_degrees():
    # fixed in a27445f: Scalar.physical rounded 1e-06 scales to whole degrees
    frame = realtime_frame(2016, [0x05])
    frame.body["items"][0]["data"].update(longitude=116397128, latitude=38)
    shown = GBT32960(codec.encode(frame)).show(dump=True)
    assert "longitude = 116397128 (116.397128 °)" in shown
    assert "latitude  = 38 (0.000038 °)" in shown


@pytest.mark.parametrize("name,frame", CASES, ids=[c[0] for c in CASES])
def test_layer_bytes_equal_codec(name, frame):
    raw = reference_bytes(frame)
    assert bytes(to_layer(frame)) == raw
    assert codec.decode(raw) == frame  # the sample is shaped exactly as the codec reads it


@pytest.mark.parametrize("name,frame", CASES, ids=[c[0] for c in CASES])
def test_dissect_and_rebuild(name, frame):
    raw = reference_bytes(frame)
    pkt = GBT32960(raw)
    assert bytes(pkt) == raw
    assert from_layer(pkt) == codec.decode(raw)
    structured = frame.encryption == 0x01 and isinstance(frame.body, dict) and raw[22:24] != b"\0\0"
    assert isinstance(pkt.payload, SchemaPacket) == structured
    if not structured and len(raw) > HEADER_SIZE + 1:
        assert isinstance(pkt.payload, Raw)
    # recomputing length and BCC gives the same frame; so does a rebuild of every layer
    pkt.length = None
    pkt.bcc = None
    pkt.clear_cache()
    assert bytes(pkt) == raw


def test_every_info_type_and_node_kind_is_covered():
    names = {n for n, _ in CASES}
    for ed in EDITIONS:
        for code in info_types(ed).known:
            assert any(n.startswith(f"{ed}-item-0x{code:02X}") for n in names)
    assert any("set" in n for n in names) and any("query_answer" in n for n in names)
    assert any("control-0x06" in n for n in names)  # Switch to a Struct


def test_parameters_read_with_widths_from_earlier_items():
    for ed in EDITIONS:
        body = {"time": T, "params": sample(command_body(ed, 0x81).fields[2])}
        raw = bytes(to_layer(Frame(0x81, COMMAND_FLAG, VIN, body, ed)))
        pkt = GBT32960(raw)
        params = pkt.payload.params
        assert [p.id for p in params] == [p["id"] for p in body["params"]]
        domain = next(p for p in params if p.id == 0x05)
        assert domain.value == b"tsp.example.cn"
        widths = {pid: len(bytes(p)) - 1 for pid, p in zip([p.id for p in params], params, strict=True)}
        assert widths[0x02] == (2 if ed == 2016 else 1)  # 2025 makes 0x02/0x03 a BYTE
        assert len(parameters(ed)) == 16


def test_switch_dispatches_on_the_control_command():
    frames = dict(_control_frames(2025))
    warning = GBT32960(codec.encode(frames["control-0x06"])).payload
    assert isinstance(warning.getfieldval(fname("params")), SchemaPacket)
    upgrade = GBT32960(codec.encode(frames["control-0x01"])).payload
    assert isinstance(upgrade.getfieldval("params"), bytes)


def test_reserved_names_are_renamed():
    assert fname("time") == "time_" and fname("command") == "command_" and fname("speed") == "speed"


def test_codec_encodes_parameter_bodies():
    # fixed in a27445f: compiler._refs_of ignored Params.count (KeyError 'count' on 0x81 / 0x80 answers)
    for name in ("2016-set", "2025-set", "2016-query-response-query_answer", "2025-query-response-query_answer"):
        frame = next(f for n, f in CASES if n == name)
        assert codec.encode(frame) == bytes(to_layer(frame))


# ------------------------------------------------------------------------------------ (c) crafted errors


def _login(edition=2016):
    return to_layer(next(f for n, f in CASES if n == f"{edition}-vehicle_login"))


def test_wrong_bcc():
    good = bytes(_login())
    pkt = _login()
    pkt.bcc = good[-1] ^ 0xFF
    raw = bytes(pkt)
    assert raw[:-1] == good[:-1] and raw[-1] == good[-1] ^ 0xFF
    with pytest.raises(errors.BadChecksum) as exc:
        codec.decode(raw)
    assert exc.value.offset == len(raw) - 1
    back = GBT32960(raw)
    assert back.bcc == good[-1] ^ 0xFF and bytes(back) == raw  # kept, not recomputed


@pytest.mark.parametrize("delta", [-3, -1, 1, 7])
def test_wrong_length(delta):
    good = bytes(_login())
    pkt = _login()
    pkt.length = len(good) - 25 + delta
    raw = bytes(pkt)
    assert raw[22:24] == (len(good) - 25 + delta).to_bytes(2, "big")
    assert raw[24:-1] == good[24:-1]  # the data unit itself is unchanged
    with pytest.raises(errors.LengthMismatch):
        codec.decode(raw)
    assert bytes(GBT32960(raw)) == raw  # dissecting a lying length keeps every byte


def test_length_overflow():
    pkt = _login()
    pkt.length = 0xFFFF
    with pytest.raises(errors.LengthOverflow):
        codec.decode(bytes(pkt))


@pytest.mark.parametrize("start", [b"#$", b"@@", b"\0\0"])
def test_wrong_start_symbol(start):
    pkt = _login()
    pkt.start = start
    raw = bytes(pkt)
    assert raw[:2] == start and raw[-1] == bcc(raw[2:-1])  # the BCC excludes the start symbol
    with pytest.raises(errors.BadStartSymbol):
        codec.decode(raw)
    back = GBT32960(raw)
    assert isinstance(back.payload, Raw) and bytes(back) == raw
    with pytest.raises(errors.BadStartSymbol):
        from_layer(back)


@pytest.mark.parametrize("edition,enc", [(2016, 0x00), (2016, 0x04), (2016, 0x05), (2025, 0x06), (2025, 0x80)])
def test_reserved_encryption_byte(edition, enc):
    pkt = _login(edition)
    pkt.encryption = enc
    with pytest.raises(errors.BadEncryption):
        codec.decode(bytes(pkt))


def test_2025_sm4_is_ciphertext_not_an_error():
    pkt = _login(2025)
    pkt.encryption = 0x05
    raw = bytes(pkt)
    frame = codec.decode(raw)
    assert isinstance(frame.body, bytes)
    back = GBT32960(raw)
    assert isinstance(back.payload, Raw) and from_layer(back) == frame


def test_edition_switch_keeps_the_body_bytes():
    """'$$' on a 2016 body: the BCC is still right (it skips the start), the body no longer fits."""
    pkt = _login(2016)
    pkt.start = b"$$"
    raw = bytes(pkt)
    with pytest.raises(errors.ProtocolError):
        codec.decode(raw)
    assert isinstance(GBT32960(raw).payload, Raw)


# ------------------------------------------------------------------------------------ (d) TCP streams


def _big_frame():
    ress = info_types(2025).known[0x07]
    data = sample(ress)
    cells = [3300 + i % 200 for i in range(3000)]
    data["packs"] = [{"no": 1, "voltage": 3500, "current": 30000, "cell_voltages": cells}]
    return Frame(0x02, COMMAND_FLAG, VIN, {"time": T, "items": [{"type": 0x07, "data": data}]}, 2025)


def _segments(stream, sizes):
    out, pos, k = [], 0, 0
    while pos < len(stream):
        n = sizes[k % len(sizes)]
        out.append(stream[pos:pos + n])
        pos += n
        k += 1
    return out


def _tcp(segments, src, dst, sport, dport, isn=1000):
    pkts, seq = [], isn
    for seg in segments:
        pkts.append(IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="PA", seq=seq, ack=1) / Raw(seg))
        seq += len(seg)
    return pkts


def _sniffed_frames(path):
    out = []
    for pkt in sniff(offline=str(path), session=TCPSession):
        out += frames_in(pkt)
    return out


def _uplink_frames():
    return [bytes.fromhex(GOLDEN[k]) for k in GOLDEN] + [
        codec.encode(realtime_frame(2016, None)),
        codec.encode(_big_frame()),  # about 6 kB: many segments
        codec.encode(realtime_frame(2025, [0x01, 0x80])),
    ]


def test_pcap_frames_split_across_segments(tmp_path):
    up = _uplink_frames()
    down = [codec.encode(Frame(0x07, 0x01, VIN, {"time": T}, 2025)), bytes.fromhex(GOLDEN["S6-2016-login-response"])]
    # odd sizes: frames split mid-header, several frames in one segment, a 1-byte segment
    c2s = _tcp(_segments(b"".join(up), [7, 13, 1, 60, 200, 1460]), "127.0.0.1", "127.0.0.2", 50123, DEFAULT_PORT)
    s2c = _tcp(_segments(b"".join(down), [5, 40]), "127.0.0.2", "127.0.0.1", DEFAULT_PORT, 50123, isn=9000)
    merged = [p for pair in zip(c2s, s2c + [None] * len(c2s), strict=False) for p in pair if p is not None]
    path = tmp_path / "split.pcap"
    wrpcap(str(path), merged)
    got_up, got_down = [], []
    for pkt in sniff(offline=str(path), session=TCPSession):
        (got_up if pkt[TCP].dport == DEFAULT_PORT else got_down).extend(frames_in(pkt))
    assert [bytes(f) for f in got_up] == up
    assert [bytes(f) for f in got_down] == down
    for f in got_up + got_down:
        assert from_layer(f) == codec.decode(bytes(f))


def test_pcap_on_a_configured_port_with_garbage(tmp_path):
    port = 19007
    frames = [bytes.fromhex(GOLDEN["S2-2016-heartbeat"]), codec.encode(realtime_frame(2016, [0x01, 0x05]))]
    stream = b"\x00garbage" + frames[0] + frames[1]
    pkts = _tcp(_segments(stream, [3, 11]), "127.0.0.1", "127.0.0.1", 40000, port)
    path = tmp_path / "port.pcap"
    wrpcap(str(path), pkts)
    assert _sniffed_frames(path) == []  # not bound yet: plain TCP
    bind_port(port)
    try:
        sniffed = sniff(offline=str(path), session=TCPSession)
        got = [bytes(f) for p in sniffed for f in frames_in(p)]
        assert got == frames
        # garbage comes out as Raw layers (one per call of tcp_reassemble), never as a frame
        garbage = b"".join(layer.load for p in sniffed for layer in p.iterpayloads() if isinstance(layer, Raw)
                           and not isinstance(layer.underlayer, SchemaPacket))
        assert garbage == b"\x00garbage"
    finally:
        unbind_port(port)


def test_tcp_reassemble_waits_for_the_whole_frame():
    raw = codec.encode(realtime_frame(2016, [0x01]))
    meta = {}
    assert GBT32960.tcp_reassemble(raw[:10], meta, {}) is None
    assert GBT32960.tcp_reassemble(raw[:-1], meta, {}) is None
    assert meta["tcp_min_len"] == len(raw)
    pkt = GBT32960.tcp_reassemble(raw + raw[:5], {}, {})
    assert bytes(frames_in(pkt)[0]) == raw
    assert pkt.lastlayer().load == raw[:5]  # the next frame's start comes back as Padding


def test_stacked_frames_build_as_a_stream():
    a, b = bytes.fromhex(GOLDEN["S2-2016-heartbeat"]), bytes.fromhex(GOLDEN["S1-2016-login"])
    pkt = GBT32960(a)
    pkt.add_payload(GBT32960(b))  # what TCPSession does with two frames in one segment
    assert bytes(pkt) == a + b
    assert [bytes(f) for f in frames_in(pkt)] == [a, b]


def test_import_cost_avoids_scapy_all():
    code = "import sys, harness.protocol.layers; print('scapy.all' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------------ (e) hypothesis


@pytest.mark.parametrize("edition", EDITIONS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_codec_and_scapy_agree(edition, data):
    # imported here, not at module level, so the other tests run while strategies.py is missing
    from harness.protocol import strategies
    _agree(data.draw(strategies.frames(edition=edition)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_fast_codec_and_scapy_agree_on_big_frames(data):
    from harness.protocol import strategies
    _agree(data.draw(strategies.frames(limits=strategies.BIG, kinds=("command", "response"))))


def _agree(frame):
    layer_bytes = bytes(to_layer(frame))
    assert codec.encode(frame) == layer_bytes
    pkt = GBT32960(layer_bytes)
    assert bytes(pkt) == layer_bytes
    try:
        decoded = codec.decode(layer_bytes)
    except errors.ProtocolError:
        # the codec rejects a few frames it writes (a 2025 login with a sentinel BMS count, see the
        # report); no layout reads them here either, so the data unit stays bytes
        assert from_layer(pkt).body == layer_bytes[HEADER_SIZE:-1]
    else:
        assert from_layer(pkt) == decoded


def test_a_response_answers_its_command():
    request = GBT32960(bytes.fromhex(GOLDEN["S1-2016-login"]))
    response = to_layer(Frame(0x01, 0x01, VIN, {"time": T}, 2016))
    assert response.answers(request) and not request.answers(response)
    assert response.hashret() == request.hashret()
    assert "vehicle_login" in request.summary()
