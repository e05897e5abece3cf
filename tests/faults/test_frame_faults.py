"""Frame faults, seen from the far side: frames missing, doubled, late, swapped, altered or replaced; non-frame
bytes untouched; and frames as sent again after clear."""

from __future__ import annotations

import asyncio

from harness.protocol import errors
from harness.protocol.codec import bcc, decode
from harness.protocol.framer import Framer

from .conftest import OTHER_VIN, frame, heartbeat, until


async def _send_all(p, frames, gap: float = 0.0) -> None:
    for f in frames:
        await p.send(f)
        if gap:
            await asyncio.sleep(gap)


async def _arrived(h, n: int, timeout: float = 3.0) -> list[bytes]:
    assert await until(lambda: len(h.peer.last.good_frames()) >= n, timeout), \
        f"{len(h.peer.last.good_frames())} of {n} frames arrived"
    await asyncio.sleep(0.05)  # nothing more should come
    return h.peer.last.good_frames()


async def test_drop_frames_by_command_then_clears(h):
    p = await h.party()
    await h.link().drop_frames(command=0x02, count=2)
    sent = [frame(1), heartbeat(), frame(2), frame(3)]
    await _send_all(p, sent)
    assert await _arrived(h, 2) == [heartbeat(), frame(3)], "the first two 0x02 frames should be missing"
    (f,) = await h.faults.faults(include_ended=True)
    assert (f.state, f.applied) == ("spent", 2)
    await p.send(frame(4))
    assert (await _arrived(h, 3))[-1] == frame(4)


async def test_drop_frames_by_vin(h):
    p = await h.party()
    fault = await h.link().drop_frames(vin=OTHER_VIN, duration=10)
    sent = [frame(1), frame(2, vin=OTHER_VIN), frame(3), frame(4, vin=OTHER_VIN)]
    await _send_all(p, sent)
    assert await _arrived(h, 2) == [frame(1), frame(3)]
    await fault.clear()
    await p.send(frame(5, vin=OTHER_VIN))
    assert (await _arrived(h, 3))[-1] == frame(5, vin=OTHER_VIN)


async def test_drop_nth_frame_only(h):
    p = await h.party()
    await h.link().drop_frames(nth=3)
    sent = [frame(s) for s in range(1, 6)]
    await _send_all(p, sent)
    assert await _arrived(h, 4) == [sent[0], sent[1], sent[3], sent[4]]


async def test_duplicate_frame(h):
    p = await h.party()
    await h.link().duplicate_frames(nth=2, copies=2)
    sent = [frame(s) for s in range(1, 4)]
    await _send_all(p, sent)
    assert await _arrived(h, 5) == [sent[0], sent[1], sent[1], sent[1], sent[2]]
    await h.link().clear()  # nothing left to clear: it was spent
    await p.send(frame(9))
    assert (await _arrived(h, 6))[-2:] == [sent[2], frame(9)]


async def test_delay_frame_is_overtaken(h):
    p = await h.party()
    await h.link().delay_frames(300, nth=1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await _send_all(p, [frame(1), frame(2)])
    got = await _arrived(h, 2)
    assert got == [frame(2), frame(1)], "the delayed frame should arrive after the next one"
    late = h.peer.last.arrival_of(frame(1)) - t0
    assert 0.28 <= late <= 0.6, f"delayed {late:.3f} s"
    await p.send(frame(3))
    assert (await _arrived(h, 3))[-1] == frame(3)


async def test_reorder_swaps_with_next_frame(h):
    p = await h.party()
    await h.link().reorder_frames(nth=2)
    sent = [frame(s) for s in range(1, 5)]
    await _send_all(p, sent, gap=0.02)
    assert await _arrived(h, 4) == [sent[0], sent[2], sent[1], sent[3]]


async def test_reorder_without_next_frame_releases_after_hold(h):
    p = await h.party()
    await h.link().reorder_frames(nth=1, max_hold_ms=200)
    t0 = asyncio.get_running_loop().time()
    await p.send(frame(1))
    assert await _arrived(h, 1) == [frame(1)]
    assert h.peer.last.arrival_of(frame(1)) - t0 >= 0.18


async def test_flip_byte_breaks_the_bcc_then_clears(h):
    p = await h.party()
    await h.link().flip_byte(30, mask=0x01, nth=1)
    await p.send(frame(1))
    assert await until(lambda: len(h.peer.last.data) == len(frame(1)))
    got = h.peer.last.data
    diff = [i for i in range(len(got)) if got[i] != frame(1)[i]]
    assert diff == [30] and got[30] == frame(1)[30] ^ 0x01
    assert isinstance(Framer().feed(got)[0], errors.BadChecksum)
    await p.send(frame(2))
    assert await until(lambda: h.peer.last.good_frames() == [frame(2)])


async def test_flip_byte_with_fixed_bcc_changes_only_content(h):
    p = await h.party()
    await h.link().flip_byte(-2, mask=0x04, fix_bcc=True, nth=1)
    await p.send(frame(1))
    assert await until(lambda: len(h.peer.last.good_frames()) == 1)
    (got,) = h.peer.last.good_frames()
    assert got != frame(1) and got[-1] == bcc(got[2:-1])
    decode(got)  # still a frame, with a different value


async def test_corrupt_bcc_of_nth_frame(h):
    p = await h.party()
    await h.link().corrupt_bcc(nth=2)
    sent = [frame(s) for s in range(1, 4)]
    await _send_all(p, sent)
    assert await until(lambda: len(h.peer.last.data) == sum(map(len, sent)))
    items = h.peer.last.frames()
    assert items[0] == sent[0] and isinstance(items[1], errors.BadChecksum) and items[2] == sent[2]
    assert h.peer.last.data[len(sent[0]) + len(sent[1]) - 1] == sent[1][-1] ^ 0xFF


async def test_replace_frame(h):
    p = await h.party()
    await h.link().replace_frame(heartbeat(), command=0x02, count=1)
    await _send_all(p, [frame(1), frame(2)])
    assert await _arrived(h, 2) == [heartbeat(), frame(2)]


async def test_frame_faults_only_act_in_their_direction(h):
    p = await h.party()
    await h.link().drop_frames(command=0x02, duration=10, direction="to_client")
    await p.send(frame(1))
    assert await until(lambda: h.peer.last.good_frames() == [frame(1)]), "to_target must be untouched"
    assert await p.read_for(0.3) == b"", "the echoed frame must be dropped on its way back"


async def test_non_frame_bytes_pass_while_frame_faults_are_active(h):
    p = await h.party()
    await h.link().drop_frames(command=0x02, duration=10)
    await p.send(b"hello, not a frame\n" + frame(1) + b"\x00\x01 more bytes" + heartbeat())
    expected = b"hello, not a frame\n\x00\x01 more bytes" + heartbeat()
    assert await until(lambda: h.peer.last.data == expected), h.peer.last.data


async def test_frames_split_across_writes_are_still_faulted(h):
    p = await h.party()
    await h.link().drop_frames(nth=2)
    stream = frame(1) + frame(2) + frame(3)
    for i in range(0, len(stream), 7):
        await p.send(stream[i:i + 7])
        await asyncio.sleep(0.002)
    assert await _arrived(h, 2) == [frame(1), frame(3)]


async def test_incomplete_frame_is_not_held_for_ever(h):
    p = await h.party()
    await h.link().drop_frames(command=0x55, duration=10)  # frame mode on; matches nothing sent here
    part = frame(1)[:40]
    await p.send(part)
    assert await until(lambda: h.peer.last.data == part, 2), "the proxy's hold (0.3 s) should let it through"
    await p.send(frame(1)[40:])
    assert await until(lambda: h.peer.last.data == frame(1), 2)
