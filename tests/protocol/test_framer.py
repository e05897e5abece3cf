"""The stream framer: any chunking, garbage, bad frames; good frames come out once and in order."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.protocol import errors
from harness.protocol.codec import Frame, assemble, decode, encode
from harness.protocol.framer import Framer
from harness.protocol.schema import Timestamp

T = Timestamp(25, 11, 25, 8, 30, 0)


def _good(i: int) -> bytes:
    edition = 2016 if i % 2 else 2025
    if i % 3 == 0:
        return encode(Frame(0x07, vin=f"VIN{i:014d}", body={}, edition=edition))
    body = {"time": T, "serial": i % 65531 + 1}
    return encode(Frame(0x04, vin=f"VIN{i:014d}", body=body, edition=edition))


def _bad_bcc(i: int) -> bytes:
    b = bytearray(_good(i))
    b[-1] ^= 0x5A
    return bytes(b)


def _garbage(rng: random.Random) -> bytes:
    # no start characters: a '#' or '$' in garbage could legitimately look like a frame start
    return bytes(rng.choice([c for c in range(256) if c not in (0x23, 0x24)]) for _ in range(rng.randint(1, 40)))


def _stream(rng: random.Random, n: int) -> tuple[bytes, list[bytes], int]:
    parts, goods, bads = [], [], 0
    for i in range(n):
        kind = rng.random()
        if kind < 0.1:
            parts.append(_garbage(rng))
        elif kind < 0.18:
            parts.append(_bad_bcc(i))
            bads += 1
            continue
        frame = _good(i)
        goods.append(frame)
        parts.append(frame)
    return b"".join(parts), goods, bads


def _chunks(data: bytes, rng: random.Random) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        step = rng.choice([1, 2, 3, 7, 24, 25, 100, 4096])
        out.append(data[pos:pos + step])
        pos += step
    return out


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_chunkings_yield_every_good_frame_once_in_order(seed):
    rng = random.Random(seed)
    data, goods, bads = _stream(rng, 120)
    framer = Framer()
    frames, problems = [], []
    for chunk in _chunks(data, rng):
        for item in framer.feed(chunk):
            (problems if isinstance(item, errors.ProtocolError) else frames).append(item)
    problems += framer.close()
    assert frames == goods
    assert sum(isinstance(p, errors.BadChecksum) for p in problems) == bads
    for p in problems:
        assert 0 <= p.offset < len(data)
    for f in frames:
        decode(f)  # every frame the framer passes is decodable


def test_garbage_is_reported_once_per_run_with_stream_offset():
    frame = _good(1)
    items = Framer().feed(b"\x00\x01\x02" + frame + b"zz" + frame)
    kinds = [type(i).__name__ if isinstance(i, errors.ProtocolError) else "frame" for i in items]
    assert kinds == ["GarbageSkipped", "frame", "GarbageSkipped", "frame"]
    assert items[0].offset == 0 and items[0].count == 3
    assert items[2].offset == 3 + len(frame) and items[2].count == 2


def test_bad_bcc_reports_the_frame_start_and_framing_goes_on():
    good, bad = _good(2), _bad_bcc(5)
    items = Framer().feed(good + bad + good)
    assert items[0] == good and items[2] == good
    assert isinstance(items[1], errors.BadChecksum)
    assert items[1].offset == len(good)


def test_length_over_65531_is_a_typed_error_and_resyncs():
    header = bytearray(_good(1)[:24])
    header[22:24] = (65532).to_bytes(2, "big")
    good = _good(4)
    items = Framer().feed(bytes(header) + good)
    assert isinstance(items[0], errors.LengthOverflow)
    assert items[0].offset == 22
    assert items[-1] == good


def test_both_editions_share_one_stream():
    a, b = _good(1), _good(2)
    assert a[:2] == b"##" and b[:2] == b"$$"
    assert Framer().feed(a + b + a) == [a, b, a]


def test_triple_start_symbol_skips_one_byte():
    frame = _good(1)
    items = Framer().feed(b"#" + frame)
    assert isinstance(items[0], errors.GarbageSkipped) and items[0].count == 1
    assert items[1] == frame


def test_close_reports_a_frame_cut_short():
    frame = _good(3)
    framer = Framer()
    assert framer.feed(frame[:-3]) == []
    (err,) = framer.close()
    assert isinstance(err, errors.Truncated) and err.offset == 0


@pytest.mark.parametrize("size", [0, 1, 1000, 65531])
def test_largest_and_smallest_bodies_frame(size):
    frame = assemble(2016, 0xC0, 0xFE, "PLATFORM", bytes(size))
    framer = Framer()
    got = []
    for i in range(0, len(frame), 997):
        got += framer.feed(frame[i:i + 997])
    assert got == [frame]
    assert framer.buffered == 0
