"""J1939-21 RTS/CTS transport: the traces of the spec notes, the timers, and every fault hook."""

import pytest

from harness.charging import j1939
from harness.charging.can import BMS, CHARGER
from harness.protocol.timers import Timers

T = Timers()
BRM = bytes(range(49))


def pump(sender, receiver, now=0.0):
    """Deliver frames back and forth at one instant until both are quiet; returns every frame."""
    log = []
    queue = sender.start(now)
    while queue:
        log += queue
        nxt = []
        for fr in queue:
            if fr.dst == CHARGER:
                nxt += receiver.on_frame(fr, now)
            else:
                nxt += sender.on_frame(fr, now)
        queue = nxt
    return log


def pair(data=BRM, pgn=0x0200, s_hook=j1939.no_fault, r_hook=j1939.no_fault, **kw):
    return (j1939.TpSender(BMS, CHARGER, pgn, data, T, s_hook),
            j1939.TpReceiver(CHARGER, T, r_hook, **kw))


def test_brm_2015_trace_from_the_notes():
    s, r = pair()
    log = pump(s, r)
    assert log[0].data.hex(" ") == "10 31 00 07 ff 00 02 00" and log[0].can_id == 0x1CEC56F4
    assert log[1].data.hex(" ") == "11 07 01 ff ff 00 02 00" and log[1].can_id == 0x1CECF456
    assert [f.data[0] for f in log[2:9]] == list(range(1, 8)) and all(f.can_id == 0x1CEB56F4 for f in log[2:9])
    assert log[9].data.hex(" ") == "13 31 00 07 ff 00 02 00"
    assert s.state == "done" and r.completed == [(0x0200, BRM)]


@pytest.mark.parametrize("size,pgn,rts", [(41, 0x0200, "10 29 00 06 ff 00 02 00"),
                                          (13, 0x0600, "10 0d 00 02 ff 00 06 00"),
                                          (9, 0x1100, "10 09 00 02 ff 00 11 00")])
def test_rts_of_brm_2011_bcp_bcs(size, pgn, rts):
    assert j1939.rts(BMS, CHARGER, pgn, size).data.hex(" ") == rts


def test_last_dt_padded_with_ff():
    s, r = pair(data=bytes(9), pgn=0x1100)
    log = pump(s, r)
    assert log[3].data == bytes([2, 0, 0]) + b"\xff" * 5


def test_cts_windows_of_two():
    s, r = pair(max_per_cts=2)
    log = pump(s, r)
    ctss = [f for f in log if j1939.is_cm(f) and f.data[0] == j1939.CTS]
    assert [(f.data[1], f.data[2]) for f in ctss] == [(2, 1), (2, 3), (2, 5), (1, 7)]
    assert r.completed == [(0x0200, BRM)]


def test_dropped_middle_dt_is_a_sequence_error():
    s, r = pair(s_hook=j1939.Faults(drop_dt={4}))
    pump(s, r)
    assert r.errors == ["DT sequence 5, expected 4"] and not r.completed and s.state == "aborted"


def test_drop_last_dt_receiver_aborts_after_t2():
    s, r = pair(s_hook=j1939.Faults(drop_dt={7}))
    log = pump(s, r)
    assert r.state == "receiving" and not r.completed
    assert r.deadline == pytest.approx(T.j1939_t2)
    assert r.on_time(T.j1939_t2 - 0.01) == []
    out = r.on_time(T.j1939_t2)
    assert out[0].data[0] == j1939.ABORT and "T2" in r.errors[0]
    assert len(log) == 1 + 1 + 6  # RTS, CTS, 6 of 7 DTs


def test_no_dt_at_all_is_t1():
    s, r = pair(s_hook=j1939.Faults(drop_dt=set(range(1, 8))))
    pump(s, r)
    assert r.deadline == pytest.approx(T.j1939_t1)
    r.on_time(T.j1939_t1)
    assert "T1" in r.errors[0]


def test_wrong_sequence_aborts_at_once():
    s, r = pair(s_hook=j1939.Faults(wrong_seq={3}))
    log = pump(s, r)
    assert r.errors == ["DT sequence 4, expected 3"]
    assert any(j1939.is_cm(f) and f.data[0] == j1939.ABORT and f.src == CHARGER for f in log)
    assert s.state == "aborted" and not r.completed


def test_never_cts_sender_aborts_after_t3():
    s, r = pair(r_hook=j1939.Faults(never_cts=True))
    pump(s, r)
    assert s.state == "wait_cts" and s.deadline == pytest.approx(T.j1939_t3)
    out = s.on_time(T.j1939_t3)
    assert s.state == "aborted" and s.reason == "no CTS within T3" and out[0].data[0] == j1939.ABORT


def test_no_eoma_sender_aborts_after_t3():
    s, r = pair(r_hook=j1939.Faults(no_eoma=True))
    pump(s, r)
    assert r.completed and s.state == "wait_eoma"
    s.on_time(T.j1939_t3)
    assert s.reason == "no EndOfMsgAck within T3"


@pytest.mark.parametrize("step,who", [("rts", "receiver"), ("cts", "sender"), ("dt", "receiver")])
def test_abort_at_every_step(step, who):
    hook = j1939.Faults(abort_at=step)
    s, r = pair(s_hook=hook if step in ("rts", "dt") else j1939.no_fault,
                r_hook=hook if step == "cts" else j1939.no_fault)
    pump(s, r)
    assert not r.completed
    if who == "sender":
        assert s.state == "aborted" and s.reason == "aborted by the receiver"
    else:
        assert s.state != "done"


def test_wrong_size_announced_never_completes():
    s, r = pair(s_hook=j1939.Faults(wrong_size=10))
    pump(s, r)
    assert not r.completed and r.state == "receiving"


def test_cts_hold_uses_t4():
    s, _ = pair()
    s.start(0.0)
    s.on_frame(j1939.cts(CHARGER, BMS, 0x0200, 0, 1), 0.1)
    assert s.deadline == pytest.approx(0.1 + T.j1939_t4)


def test_timers_come_from_timers():
    fast = T.compressed(10)
    s = j1939.TpSender(BMS, CHARGER, 0x0200, BRM, fast)
    s.start(0.0)
    assert s.deadline == pytest.approx(0.125)
    assert fast.j1939_t1 == pytest.approx(0.075) and fast.j1939_tr == pytest.approx(0.02)


def test_frames_for_others_are_ignored():
    r = j1939.TpReceiver(CHARGER, T)
    assert r.on_frame(j1939.rts(CHARGER, BMS, 0x0200, 49), 0.0) == []  # addressed to the BMS
