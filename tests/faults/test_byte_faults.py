"""Byte faults, seen from the far side: late, paced, swallowed, cut, sliced; and normal again after clear."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from .conftest import frame, until


async def test_clean_link_passes_bytes_unchanged_both_ways(h):
    p = await h.party()
    data = b"".join(frame(s) for s in range(5)) + b"not a frame\r\n"
    await p.send(data)
    assert await p.expect(len(data)) == data  # echoed back through the proxy
    assert h.peer.last.data == data


async def test_latency_delays_each_delivery_then_clears(h):
    p = await h.party()
    await p.send(b"warm")
    await p.expect(4)
    await h.link().latency(300, 50, duration=10, direction="to_target")
    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    await p.send(frame(1))
    assert await until(lambda: frame(1) in h.peer.last.data, 3)
    late = h.peer.last.arrival_of(frame(1)) - sent_at
    assert 0.25 - 0.01 <= late <= 0.35 + 0.15, f"arrived {late * 1000:.0f} ms after sending"
    assert await p.expect(len(frame(1))) == frame(1)  # to_client is not delayed: same bytes back
    cleared = await h.link().clear()
    assert [f.kind for f in cleared] == ["latency"]
    t0 = time.monotonic()
    await p.send(frame(2))
    await p.expect(len(frame(2)))
    assert time.monotonic() - t0 < 0.1, "still delayed after clear"


async def test_latency_keeps_stream_order_despite_jitter(h):
    p = await h.party()
    await h.link().latency(50, 50, count=20, direction="to_target", seed=7)
    sent = [frame(s) for s in range(10)]
    for f in sent:
        await p.send(f)
        await asyncio.sleep(0.005)
    assert await until(lambda: len(h.peer.last.good_frames()) == 10, 3)
    assert h.peer.last.good_frames() == sent


async def test_bandwidth_paces_delivery_then_clears(h):
    p = await h.party()
    await h.link().bandwidth(20_000, duration=10, direction="to_target")
    payload = b"x" * 10_000
    t0 = asyncio.get_running_loop().time()
    await p.send(payload)
    assert await until(lambda: len(h.peer.last.data) == 10_000, 3)
    took = h.peer.last.chunks[-1][0] - t0
    assert 0.4 <= took <= 1.0, f"10,000 bytes at 20,000 B/s took {took:.2f} s"
    assert len(h.peer.last.chunks) >= 5, "the bytes should trickle, not jump"
    await p.expect(10_000)
    await h.link().clear()
    t0 = asyncio.get_running_loop().time()
    await p.send(payload)
    assert await until(lambda: len(h.peer.last.data) == 20_000, 3)
    assert h.peer.last.chunks[-1][0] - t0 < 0.1


async def test_blackhole_accepts_and_never_delivers_then_clears(h):
    p = await h.party()
    await p.send(b"before")
    assert await p.expect(6) == b"before"
    await h.link().blackhole(duration=10)
    await p.send(frame(1))
    assert await p.read_for(0.4) == b"" and not p.eof, "nothing comes back, the connection stays open"
    assert frame(1) not in h.peer.last.data
    q = await h.party()  # new connections are accepted, and swallowed too
    await q.send(b"hello?")
    assert await q.read_for(0.2) == b""
    await h.link().clear()
    await p.send(b"after")
    assert await p.expect(5) == b"after"
    assert h.peer.conns[0].data == b"beforeafter"


async def test_blackhole_one_direction(h):
    p = await h.party()
    await h.link().blackhole(duration=10, direction="to_client")
    await p.send(b"ping")
    assert await until(lambda: h.peer.last.data == b"ping")
    assert await p.read_for(0.3) == b"", "the echo must be swallowed"
    await h.link().clear()
    await p.send(b"pong")
    assert await p.expect(4) == b"pong"


async def test_reset_after_n_bytes_then_normal(h):
    p = await h.party()
    await h.link().reset_after(100, count=1, direction="to_target")
    await p.send(bytes(range(100)) + b"y" * 50)
    assert await p.closed_within(2), "the client should see its connection reset"
    assert await until(lambda: h.peer.conns[0].closed, 2)
    assert h.peer.conns[0].data == bytes(range(100)), "exactly 100 bytes should reach the far side"
    assert h.peer.conns[0].reset or h.peer.conns[0].eof
    faults = await h.faults.faults(include_ended=True)
    assert faults[-1].state == "spent"
    q = await h.party()  # count 1: the next connection is clean
    await q.send(b"z" * 300)
    assert await q.expect(300) == b"z" * 300


async def test_slice_writes_small_pieces_then_clears(h):
    p = await h.party()
    await h.link().slice(10, gap_ms=15, duration=10, direction="to_target")
    data = frame(1)
    await p.send(data)
    assert await until(lambda: h.peer.last.data == data, 3)
    sizes = [len(c) for _, c in h.peer.last.chunks]
    assert max(sizes) <= 10 and len(sizes) >= len(data) // 10 - 1, sizes
    await p.expect(len(data))
    await h.link().clear()
    before = len(h.peer.last.chunks)
    await p.send(data)
    assert await until(lambda: h.peer.last.data == data * 2, 2)
    assert len(h.peer.last.chunks) == before + 1, "after clear the frame arrives in one piece"


async def test_count_bounded_latency_ends_by_itself(h):
    p = await h.party()
    await h.link().latency(200, count=1, direction="to_target")
    t0 = time.monotonic()
    await p.send(b"a")
    await p.expect(1)
    assert time.monotonic() - t0 >= 0.18
    t0 = time.monotonic()
    await p.send(b"b")
    await p.expect(1)
    assert time.monotonic() - t0 < 0.1
    (f,) = await h.faults.faults(include_ended=True)
    assert (f.state, f.applied) == ("spent", 1)


async def test_duration_bounded_fault_expires_by_itself(h):
    p = await h.party()
    fault = await h.link().blackhole(duration=0.3)
    await p.send(b"lost")
    await asyncio.sleep(0.45)
    await p.send(b"kept")
    assert await p.expect(4) == b"kept"
    await fault.refresh()
    assert fault.state == "expired"


async def test_unbounded_fault_is_refused(h):
    with pytest.raises(grpc.RpcError) as err:
        await h.link().latency(100)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "bounded" in err.value.details()
