"""The sans-IO engine and the fault model, with a fake clock: no sockets, no sleeps."""

from __future__ import annotations

import pytest

from harness.faults.engine import Cut, DirectionEngine, Discard, Send
from harness.faults.model import TO_CLIENT, TO_TARGET, Fault, FaultError, FaultSpec, FaultTable, Match

from .conftest import frame, heartbeat


class Rig:
    """A table, an engine per direction and a fake clock."""

    def __init__(self, hold: float = 0.5) -> None:
        self.now = 100.0
        self.table = FaultTable()
        self.ids = 0
        self.up = DirectionEngine(self.table, TO_TARGET, hold=hold)
        self.down = DirectionEngine(self.table, TO_CLIENT, hold=hold)

    def inject(self, kind: str, params: dict | None = None, **kw) -> Fault:
        self.ids += 1
        f = Fault(self.ids, "l", FaultSpec(kind, params or {}, **kw).validated(), self.now,
                  on_spent=lambda f: self.table.rebuild())
        self.table.add(f)
        return f

    def feed(self, data: bytes, engine: DirectionEngine | None = None) -> list:
        return (engine or self.up).feed(data, self.now)


def sent(actions) -> bytes:
    return b"".join(a.data for a in actions if isinstance(a, Send))


def test_fast_path_returns_the_very_bytes_read():
    r = Rig()
    data = frame(1)
    (a,) = r.feed(data)
    assert isinstance(a, Send) and a.data is data and a.at == r.now and a.action == "passed"


def test_incomplete_frame_passes_at_once_without_frame_faults():
    r = Rig()
    assert sent(r.feed(frame(1)[:10])) == frame(1)[:10]
    assert sent(r.feed(frame(1)[10:])) == frame(1)[10:]


def test_frame_fault_holds_an_incomplete_frame_until_complete():
    r = Rig()
    r.inject("drop_frames", count=1, match=Match(command=0x07))
    assert r.feed(frame(1)[:10]) == []
    assert r.up.deadline() == r.now + 0.5
    assert sent(r.feed(frame(1)[10:])) == frame(1)
    acts = r.feed(heartbeat())
    assert [type(a) for a in acts] == [Discard] and acts[0].action == "dropped"


def test_held_incomplete_frame_is_let_through_after_the_hold():
    r = Rig(hold=0.5)
    r.inject("drop_frames", duration=60, match=Match(command=0x55))
    assert r.feed(b"##" + b"\x02" * 30) == []  # looks like a frame start whose body (514 bytes) never comes
    r.now += 0.6
    assert sent(r.up.tick(r.now)) == b"##" + b"\x02" * 30
    assert sent(r.feed(b"more")) == b"more", "the same stalled frame: later bytes flow at once"


def test_fault_starting_mid_frame_leaves_that_frame_alone():
    r = Rig()
    r.feed(frame(1)[:30])  # already passed on
    r.inject("drop_frames", duration=60)
    out = r.feed(frame(1)[30:] + frame(2))
    assert sent(out) == frame(1)[30:], "the rest of the begun frame passes; the next frame is dropped"
    assert [a.data for a in out if isinstance(a, Discard)] == [frame(2)]


def test_nth_counts_matching_frames_only():
    r = Rig()
    f = r.inject("drop_frames", match=Match(nth=2, command=0x02))
    out = r.feed(heartbeat() + frame(1) + heartbeat() + frame(2) + frame(3))
    assert [a.data for a in out if isinstance(a, Discard)] == [frame(2)]
    assert sent(out) == heartbeat() + frame(1) + heartbeat() + frame(3)
    assert f.state == "spent" and f.applied == 1 and f.seen == 2, "a spent fault looks at no more frames"


def test_latency_and_jitter_are_repeatable_with_a_seed():
    def delays(seed: int) -> list[float]:
        r = Rig()
        r.inject("latency", {"ms": 100, "jitter_ms": 40}, duration=60, seed=seed)
        return [r.feed(bytes([i]))[0].at - r.now for i in range(5)]

    a, b, c = delays(1), delays(1), delays(2)
    assert a == b != c
    assert all(0.06 - 1e-9 <= d <= 0.14 + 1e-9 for d in a)


def test_latency_never_reorders_the_stream():
    r = Rig()
    r.inject("latency", {"ms": 100, "jitter_ms": 100}, duration=60, seed=3)
    times = []
    for i in range(50):
        (a,) = r.feed(bytes([i]))
        times.append(a.at)
        r.now += 0.001
    assert times == sorted(times)


def test_bandwidth_spreads_bytes_over_time():
    r = Rig()
    r.inject("bandwidth", {"bytes_per_second": 1000}, duration=60)
    out = r.feed(b"x" * 500)
    assert len(out) == 25 and sent(out) == b"x" * 500  # 20-byte pieces, 20 ms apart
    assert out[-1].at == pytest.approx(r.now + 0.5)
    assert r.feed(b"y" * 100)[-1].at == pytest.approx(r.now + 0.6), "the pipe stays busy"


def test_slice_with_gap():
    r = Rig()
    r.inject("slice", {"bytes": 4, "gap_ms": 10}, count=1)
    out = r.feed(b"abcdefghij")
    assert [a.data for a in out] == [b"abcd", b"efgh", b"ij"]
    assert [round(a.at - r.now, 3) for a in out] == [0.0, 0.01, 0.02]
    assert r.feed(b"k")[0].action == "passed", "count 1: only one delivery sliced"


def test_reset_after_cuts_at_exactly_n_bytes():
    r = Rig()
    r.inject("reset_after", {"bytes": 10}, count=1, direction="to_target")
    out = r.feed(b"12345") + r.feed(b"67890abc")
    assert sent(out) == b"1234567890"
    assert [a.data for a in out if isinstance(a, Discard)] == [b"abc"]
    assert isinstance(out[-1], Cut)
    assert r.feed(b"later")[0].action == "discarded"


def test_blackhole_discards_in_its_direction_only():
    r = Rig()
    r.inject("blackhole", duration=60, direction="to_client")
    assert sent(r.feed(b"up")) == b"up"
    (a,) = r.feed(b"down", r.down)
    assert isinstance(a, Discard) and a.action == "blackholed"


def test_reorder_and_release_on_hold_timeout():
    r = Rig()
    r.inject("reorder_frames", {"max_hold_ms": 200}, match=Match(nth=1))
    assert r.feed(frame(1)) == []
    assert r.up.deadline() == pytest.approx(r.now + 0.2)
    r.now += 0.25
    (a,) = r.up.tick(r.now)
    assert a.data == frame(1) and a.action == "reordered"


def test_duplicate_then_reorder_labels():
    r = Rig()
    r.inject("duplicate_frames", {"copies": 1}, match=Match(nth=1))
    out = r.feed(frame(1))
    assert [(a.data, a.action) for a in out] == [(frame(1), "passed"), (frame(1), "duplicated")]


def test_close_releases_everything_held():
    r = Rig()
    r.inject("reorder_frames", duration=60)
    r.feed(frame(1) + frame(2)[:20])
    out = r.up.close(r.now)
    assert sent(out) == frame(1) + frame(2)[:20]


def test_spec_validation():
    with pytest.raises(FaultError, match="bounded"):
        FaultSpec("latency", {"ms": 1}).validated()
    with pytest.raises(FaultError, match="unknown fault kind"):
        FaultSpec("explode", duration=1).validated()
    with pytest.raises(FaultError, match="no parameter"):
        FaultSpec("latency", {"seconds": 1}, duration=1).validated()
    with pytest.raises(FaultError, match="not on frames"):
        FaultSpec("latency", {"ms": 1}, duration=1, match=Match(command=2)).validated()
    with pytest.raises(FaultError, match="partition cuts both"):
        FaultSpec("partition", duration=1, direction="to_target").validated()
    with pytest.raises(FaultError, match="takes no duration"):
        FaultSpec("drop_connections", duration=1).validated()
    spec = FaultSpec("corrupt_bcc", match=Match(nth=5)).validated()
    assert (spec.count, spec.direction) == (1, "to_target"), "the n-th frame alone: count 1, client -> target"
    assert FaultSpec("latency", {"ms": 5}, count=3).validated().direction == "both"


def test_frame_fault_starting_when_a_header_straddles_two_reads():
    r = Rig()
    r.feed(frame(1) + frame(2)[:10])  # frame 2 begun, its header incomplete
    r.inject("drop_frames", match=Match(nth=1))
    out = r.feed(frame(2)[10:] + frame(3))
    assert sent(out) == frame(2)[10:], "frame 2 had begun: its rest passes; frame 3 is the first one faulted"
    assert [a.data for a in out if isinstance(a, Discard)] == [frame(3)]


def test_frame_fault_after_non_frame_bytes_resyncs_on_the_next_frame():
    r = Rig()
    assert sent(r.feed(b"hello, there are no frames here")) == b"hello, there are no frames here"
    assert not r.up.bounds.synced
    r.inject("drop_frames", match=Match(nth=1))
    out = r.feed(b"junk" + frame(1) + frame(2))
    assert sent(out) == b"junk" + frame(2)
    assert [a.data for a in out if isinstance(a, Discard)] == [frame(1)]


def test_leaving_frame_mode_mid_frame_keeps_the_walker_in_step():
    r = Rig()
    f = r.inject("drop_frames", duration=60, match=Match(command=0x55))
    assert r.feed(frame(1)[:30]) == []  # held: frame mode
    r.table.end(f, "cleared")
    assert sent(r.up.tick(r.now)) == frame(1)[:30], "clearing lets the held bytes go"
    assert sent(r.feed(frame(1)[30:] + frame(2)[:5])) == frame(1)[30:] + frame(2)[:5]
    r.inject("drop_frames", match=Match(nth=1))
    out = r.feed(frame(2)[5:] + frame(3))
    assert [a.data for a in out if isinstance(a, Discard)] == [frame(3)], "in step: frame 3 is the next whole one"
