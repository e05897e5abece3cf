"""Property tests over data generated from the description (harness.protocol.strategies).

For every command of both editions: frames survive encode -> decode -> encode; the compiled decoder
and the byte walker read the same bytes to the same value; the compiled encoder writes what the
naive reference serializer writes; and a data unit cut short gives a typed error that points into
the frame and names a field.
"""

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from harness.protocol import errors
from harness.protocol.codec import (
    COMMAND_FLAG,
    HEADER_SIZE,
    assemble,
    body_candidates,
    decode,
    decode_body,
    encode,
    encode_body,
)
from harness.protocol.explain import walk_body
from harness.protocol.messages import COMMANDS, EDITIONS, RESPONSE_FLAGS
from harness.protocol.schema import Count, Sentinel, Timestamp
from harness.protocol.strategies import BIG, CUSTOM_COMMANDS, defined_commands, frames, to_bytes, value_of

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T = Timestamp(25, 11, 25, 8, 30, 0)

CASES = [(ed, (cmd,)) for ed in EDITIONS for cmd in defined_commands(ed)] + \
        [(ed, tuple(CUSTOM_COMMANDS)) for ed in EDITIONS]


def _id(case):
    edition, commands = case
    name = COMMANDS[commands[0]] if len(commands) == 1 else "custom"
    return f"{edition}-{name}"


by_case = pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
# platform-custom units are opaque bytes: no layout to walk, serialize or truncate
LAID_OUT = [c for c in CASES if len(c[1]) == 1]
by_layout = pytest.mark.parametrize("case", LAID_OUT, ids=[_id(c) for c in LAID_OUT])


def _walk(edition, command, ack, raw):
    """The walker's reading, trying the response forms in the codec's order."""
    for node in body_candidates(edition, command, ack):
        try:
            value, _ = walk_body(edition, node, raw, base=0)
        except errors.ProtocolError:
            continue
        return node, value
    return None, None


@st.composite
def units(draw, edition, commands):
    """(command, ack, node, value, bytes) for a plaintext data unit that reads back as `node`."""
    command = draw(st.sampled_from(commands))
    ack = draw(st.sampled_from(sorted(RESPONSE_FLAGS[edition])))
    candidates = body_candidates(edition, command, ack)
    node = draw(st.sampled_from(candidates))
    value = draw(value_of(node))
    raw = to_bytes(node, value)
    # the decoder takes the first response form that fits the bytes (messages.response_bodies),
    # so skip an echo that an earlier form also reads (a real-time echo with no items is time-only)
    assume(not any(_walks(edition, other, raw) for other in candidates[:candidates.index(node)]))
    return command, ack, node, value, raw


def _walks(edition, node, raw):
    try:
        walk_body(edition, node, raw, base=0)
    except errors.ProtocolError:
        return False
    return True


# ------------------------------------------------------------------------------------ frame round trip


@by_case
@SETTINGS
@given(data=st.data())
def test_command_frames_round_trip(case, data):
    edition, commands = case
    frame = data.draw(frames(edition, commands, kinds=("command",)))
    raw = encode(frame)
    back = decode(raw)
    assert back == frame
    assert encode(back) == raw


@by_case
@SETTINGS
@given(data=st.data())
def test_response_frames_round_trip(case, data):
    edition, commands = case
    frame = data.draw(frames(edition, commands, kinds=("response",)))
    raw = encode(frame)
    back = decode(raw)
    assert back == frame
    assert encode(back) == raw


@SETTINGS
@given(frame=frames(kinds=("encrypted",)))
def test_encrypted_frames_keep_the_ciphertext(frame):
    raw = encode(frame)
    back = decode(raw)
    assert back == frame and isinstance(back.body, bytes)
    assert encode(back) == raw


@SETTINGS
@given(frame=frames())
def test_any_frame_bytes_round_trip(frame):
    """encode(decode(b)) == b on bytes made by the reference serializer (not the fast encoder)."""
    if isinstance(frame.body, bytes):
        body = frame.body
    else:
        node = _node_for(frame)
        body = to_bytes(node, frame.body)
    raw = assemble(frame.edition, frame.command, frame.ack, frame.vin, body, frame.encryption)
    assert encode(decode(raw)) == raw


def _node_for(frame):
    # the form a generated response body came from: the one whose fields its keys name
    for node in body_candidates(frame.edition, frame.command, frame.ack):
        names = {f.name for f in node.fields if not isinstance(f, Count)}
        if names == frame.body.keys() - {"signature"}:
            return node
    raise AssertionError(f"no body form for {frame.body!r}")


# ------------------------------------------------------------------------------------ fast vs slow


@by_layout
@SETTINGS
@given(data=st.data())
def test_fast_decoder_and_walker_agree(case, data):
    edition, commands = case
    command, ack, node, value, raw = data.draw(units(edition, commands))
    fast = decode_body(edition, command, ack, raw)
    _, slow = _walk(edition, command, ack, raw)
    assert fast == slow == value


@by_layout
@SETTINGS
@given(data=st.data())
def test_fast_encoder_matches_reference_serializer(case, data):
    edition, commands = case
    command, ack, node, value, raw = data.draw(units(edition, commands))
    assert encode_body(edition, command, ack, value) == raw


# ------------------------------------------------------------------------------------ truncation


@by_layout
@SETTINGS
@given(data=st.data())
def test_truncated_data_unit_gives_a_typed_error(case, data):
    edition, commands = case
    command, ack, node, value, raw = data.draw(units(edition, commands))
    assume(raw)
    k = data.draw(st.integers(0, len(raw) - 1))
    cut = assemble(edition, command, ack, "LVBV3J0B6JE900252", raw[:k])
    try:
        shorter = decode(cut)
    except errors.BodyError as exc:  # length and BCC are right, so the data unit is to blame
        assert exc.offset is not None, exc
        assert HEADER_SIZE <= exc.offset <= HEADER_SIZE + k < len(cut), exc
        names = {n.name for n in body_candidates(edition, command, ack)}
        assert exc.path.split(".")[0].split("[")[0] in names, exc
        if isinstance(exc, errors.Truncated):
            assert "." in exc.path, exc  # the field that ran short, not just the message
    else:
        # a shorter unit may still be whole: one info item fewer, a shorter raw tail
        assert encode(shorter) == cut


# ------------------------------------------------------------------------------------ bigger data, coverage


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frame=frames(commands=[0x01, 0x02, 0x03, 0x81], kinds=("command", "response"), limits=BIG))
def test_big_frames_round_trip(frame):
    raw = encode(frame)
    assert decode(raw) == frame
    assert encode(decode(raw)) == raw


_SAMPLES = {}


def _sample(key, strategy):
    """300 generated values, derandomized so the coverage checks below are deterministic."""
    if key not in _SAMPLES:
        seen = []

        @settings(max_examples=300, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def collect(value):
            seen.append(value)

        collect()
        _SAMPLES[key] = seen
    return _SAMPLES[key]


def _has_type(t):
    return lambda f: any(i["type"] == t for i in f.body["items"])


def _sentinel_in_item(f):
    return any(isinstance(v, Sentinel) for i in f.body["items"] if isinstance(i["data"], dict)
               for v in i["data"].values())


def _carried_param(f):
    ids = [] if isinstance(f.body["params"], Sentinel) else [p["id"] for p in f.body["params"]]
    return any(ids[j:j + 2] == [0x0D, 0x0E] for j in range(len(ids)))


CONTROL = ("control", frames(2025, [0x82], kinds=("command",)))
REALTIME = {ed: (f"{ed}-realtime", frames(ed, [0x02], kinds=("command",))) for ed in EDITIONS}
REACHABLE = [
    *[(f"2016-info-0x{t:02X}", REALTIME[2016], _has_type(t)) for t in range(0x01, 0x0A)],
    *[(f"2025-info-0x{t:02X}", REALTIME[2025], _has_type(t)) for t in [*range(0x01, 0x09), 0x30, 0x31, 0x32]],
    ("custom-info-type", REALTIME[2016], lambda f: any(i["type"] >= 0x80 for i in f.body["items"])),
    ("2025-signature", REALTIME[2025], lambda f: "signature" in f.body),
    ("sentinel-count", REALTIME[2016], _sentinel_in_item),
    ("sentinel-scalar", ("logout", frames(2016, [0x04], kinds=("command",))),
     lambda f: f.body["serial"] in (0xFFFE, 0xFFFF)),
    ("length-carried-param", ("set", frames(2016, [0x81], kinds=("command",))), _carried_param),
    ("query-answer", ("query-response", frames(2025, [0x80], kinds=("response",))), lambda f: "params" in f.body),
    ("time-only-response", ("rt-response", frames(2016, [0x02], kinds=("response",))),
     lambda f: f.body.keys() == {"time"}),
    ("annex-b-echo", ("rt-response", frames(2016, [0x02], kinds=("response",))), lambda f: "items" in f.body),
    ("sm4-ciphertext", ("encrypted", frames(2025, kinds=("encrypted",))), lambda f: f.encryption == 0x05),
    ("platform-custom", ("custom", frames(2016, CUSTOM_COMMANDS, kinds=("command",))),
     lambda f: isinstance(f.body, bytes)),
    ("remote-upgrade", CONTROL, lambda f: isinstance(f.body["params"], str)),
    ("alarm-warning", CONTROL, lambda f: isinstance(f.body["params"], dict)),
]


@pytest.mark.parametrize("name,source,condition", REACHABLE, ids=[r[0] for r in REACHABLE])
def test_strategies_reach_every_layout(name, source, condition):
    """The generators do produce every info type, form and encoding the properties rely on."""
    assert any(condition(f) for f in _sample(*source))


# ------------------------------------------------------------------------------------ regressions


def test_2025_login_with_sentinel_bms_count_has_no_pack_codes():
    """bms_count 0xFE means no list follows (spec §4): neither packs_per_bms nor pack codes. Found by
    the properties above: the codec once took Sentinel(0xFE) = 254 as the number of pack codes."""
    raw = assemble(2025, 0x01, COMMAND_FLAG, "LVBV3J0B6JE900252",
                   bytes(T) + b"\x00\x01" + b"8986".ljust(20, b"0") + b"\xfe")
    body = decode(raw).body
    assert isinstance(body["packs_per_bms"], Sentinel) and body["packs_per_bms"] == 0xFE
    assert body["pack_codes"] == []
    assert encode(decode(raw)) == raw
