"""Connection and link faults, seen from both parties: cut, refused, half-open, partitioned; and healed."""

from __future__ import annotations

import asyncio

import pytest

from .conftest import Party, until


async def _works(h) -> None:
    """A new connection through the proxy carries bytes both ways."""
    p = await h.party()
    await p.send(b"are you there")
    assert await p.expect(13) == b"are you there"
    p.close()


async def test_drop_connections_resets_both_sides_now(h):
    p = await h.party()
    await p.send(b"hi")
    await p.expect(2)
    fault = await h.link().drop_connections()
    assert fault.state == "done" and fault.applied == 1
    assert await p.closed_within(1) and p.reset, "the client should see a reset"
    assert await until(lambda: h.peer.conns[0].closed, 2)
    assert h.peer.conns[0].reset, "the far side should see a reset too"
    await _works(h)


async def test_drop_connections_gracefully_closes_with_fin(h):
    p = await h.party()
    await p.send(b"hi")
    await p.expect(2)
    await h.link().drop_connections(graceful=True)
    assert await p.closed_within(1) and p.eof and not p.reset
    assert await until(lambda: h.peer.conns[0].closed, 2) and h.peer.conns[0].eof
    await _works(h)


async def test_refuse_new_connections_for_a_while_then_clears(h):
    existing = await h.party()
    await h.link().refuse(duration=10)
    with pytest.raises(ConnectionRefusedError):
        await Party.connect(h.port)
    await existing.send(b"still here")  # refusing new connections leaves open ones alone
    assert await existing.expect(10) == b"still here"
    await h.link().clear()
    await _works(h)


async def test_refuse_next_connections_by_count(h):
    await h.link().refuse(count=2)
    for _ in range(2):
        p = await h.party()  # accepted by the kernel, then reset by the proxy
        assert await p.closed_within(1)
    assert len(h.peer.conns) == 0, "a refused connection must never reach the target"
    await _works(h)
    (f,) = await h.faults.faults(include_ended=True)
    assert (f.state, f.applied) == ("spent", 2)


async def test_half_open_target_side_closed_client_unaware_then_reset(h):
    p = await h.party()
    await p.send(b"one")
    await p.expect(3)
    fault = await h.link().half_open(10, direction="to_target")
    assert await until(lambda: h.peer.conns[0].closed and h.peer.conns[0].eof, 2), "the target sees a close"
    await p.send(b"two")  # the client's writes still succeed ...
    assert await p.read_for(0.4) == b"" and not (p.eof or p.reset), "... and the client is none the wiser"
    assert h.peer.conns[0].data == b"one"
    q = await h.party()  # a new connection is accepted but never reaches the target
    await q.send(b"three")
    assert await q.read_for(0.2) == b""
    assert len(h.peer.conns) == 1
    await fault.clear()
    assert await p.closed_within(1), "at the end, the hanging connection is reset so the client reconnects"
    assert await q.closed_within(1)
    await _works(h)


async def test_half_open_client_side_closed_target_unaware(h):
    p = await h.party()
    await p.send(b"one")
    await p.expect(3)
    await h.link().half_open(10, direction="to_client")
    assert await p.closed_within(1) and p.eof, "the client sees a close"
    await asyncio.sleep(0.2)
    assert not h.peer.conns[0].closed, "the target is none the wiser"
    h.peer.conns[0].writer.write(b"anyone?")  # its writes go nowhere
    await h.link().clear()
    assert await until(lambda: h.peer.conns[0].closed, 2), "at the end the hanging side is reset"
    await _works(h)


async def test_partition_cuts_refuses_and_heals_by_itself(h):
    p = await h.party()
    await p.send(b"x")
    await p.expect(1)
    await h.link().partition(0.6)
    assert await p.closed_within(1) and p.reset, "open connections are reset"
    assert await until(lambda: h.peer.conns[0].closed, 1) and h.peer.conns[0].reset
    with pytest.raises(ConnectionRefusedError):
        await Party.connect(h.port)
    assert await until(lambda: h.proxy.get("client->peer").listening, 2), "healed after 0.6 s"
    await _works(h)
    (f,) = await h.faults.faults(include_ended=True)
    assert f.state == "expired"


async def test_partition_cleared_early(h):
    await h.link().partition(30)
    with pytest.raises(ConnectionRefusedError):
        await Party.connect(h.port)
    await h.link().clear()
    await _works(h)


async def test_target_down_resets_the_client(h):
    await h.peer.stop()
    h.peer.server = None
    await asyncio.sleep(0.05)
    p = await h.party()
    assert await p.closed_within(2) and p.reset
