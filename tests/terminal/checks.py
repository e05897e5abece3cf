"""Behaviour checks of the sans-IO terminal, each runnable with defect switches on.

Every check raises AssertionError when the terminal misbehaves. The unit tests run them with no
defect; the meta-test (test_defects.py) runs each with the defect it must catch and expects the
AssertionError, which proves the check can fail.
"""

from __future__ import annotations

import datetime as _dt

from harness.protocol.schema import Timestamp
from harness.terminal.machine import DEFAULT_EPOCH, Close, Connect

from .helpers import ICCID, VIN, Bench, answer, bench, command, set_command


def ts(t: float) -> Timestamp:
    return Timestamp.from_datetime(DEFAULT_EPOCH + _dt.timedelta(seconds=t))


def check_login_flow(defects: frozenset[str] = frozenset(), edition: int = 2016) -> Bench:
    b = bench(edition, defects=defects).start()
    b.run(65)
    assert all(s.frame is not None for s in b.sent), "every frame the terminal sends must decode (BCC, layout)"
    login = b.frames(0x01)[0]
    assert login.now == 0 and login.raw[:2] == (b"##" if edition == 2016 else b"$$")
    body = login.frame.body
    assert body["serial"] == 1 and body["iccid"] == ICCID and body["time"] == ts(0)
    assert login.frame.vin == VIN
    assert b.terminal.online
    assert len(b.frames(0x08)) == 1, "one time sync 0x08 after login"
    assert b.times(0x02)[:3] == [0, 10, 20]
    return b


def check_login_retry_backoff(defects: frozenset[str] = frozenset()) -> Bench:
    """No answer: login at 0, retried every 60 s; after 3 failures close, wait 600 s, reconnect."""
    b = bench(answer_logins=False, defects=defects).start()
    b.run(780)
    logins = b.times(0x01)
    assert logins[:3] == [0, 60, 120], logins
    closes = [t for t, a in b.actions if isinstance(a, Close)]
    connects = [t for t, a in b.actions if isinstance(a, Connect)]
    assert closes and closes[0] == 125, "the third unanswered login (timeout 5 s) closes the link"
    assert connects == [0, 725], connects
    assert logins[3:] == [725], "no login while backing off, then login on the new link"
    # once the platform answers, the terminal is online and the failure count restarts
    b.answer_logins = True
    b.run(725 + 60 + 6)
    assert b.times(0x01)[-1] == 785
    assert b.terminal.online
    return b


def check_login_serials(defects: frozenset[str] = frozenset()) -> Bench:
    """+1 per login from 1; the cycle restarts daily; logout repeats the login serial."""
    b = bench(defects=defects).start()
    b.run(20)
    b.drop()
    b.run(40)  # reconnect after the reconnect delay (5 s)
    b.drop()
    b.run(60)
    serials = [s.frame.body["serial"] for s in b.frames(0x01)]
    assert serials == [1, 2, 3], serials
    # the next calendar day (GMT+8): 1 again
    midnight = (_dt.datetime(2025, 6, 2) - DEFAULT_EPOCH).total_seconds()
    b.run(midnight + 1)
    b.drop()
    b.run(midnight + 20)
    last = b.frames(0x01)[-1]
    assert last.frame.body["time"].day == 2 and last.frame.body["serial"] == 1
    return b


def check_periodic(defects: frozenset[str] = frozenset(), edition: int = 2016) -> Bench:
    b = bench(edition, defects=defects).start()
    b.run(300)
    rt = b.times(0x02)
    assert rt == [float(t) for t in range(0, 301, 10)], rt
    hb = b.times(0x07)
    assert hb == [30.0 * k for k in range(1, 11)], hb
    # every real-time frame carries its own collection time
    times = [s.frame.body["time"] for s in b.frames(0x02)]
    assert times == [ts(t) for t in range(0, 301, 10)]
    return b


def check_reissue(defects: frozenset[str] = frozenset()) -> Bench:
    """Link lost at 55 s and refused until 200 s: three failed connects, backoff, back at 780 s."""
    b = bench(defects=defects).start()
    b.run(55)
    b.refuse.add(("127.0.0.1", 32960))
    b.drop()
    b.run(200)
    b.refuse.clear()
    b.run(900)
    login_at = b.times(0x01)[-1]
    assert login_at == 780, b.times(0x01)
    stored = [ts(t) for t in range(60, 781, 10)]
    re = b.frames(0x03)
    re_times = [s.frame.body["time"] for s in re]
    assert len(re_times) == len(stored), (len(re_times), len(stored))
    assert re_times == stored, "each stored sample once, oldest first, with its original collection time"
    assert len(set(re_times)) == len(re_times)
    rt_times = {s.frame.body["time"] for s in b.frames(0x02)}
    assert not rt_times & set(re_times), "a stored sample is not also sent as real-time"
    rt_slots = set(b.times(0x02))
    assert all(s.now > login_at and s.now not in rt_slots for s in re), "reissue only in the idle time"
    assert all(s.now <= login_at + 60 for s in re), "the backlog drains within a minute"
    assert not b.terminal.backlog
    return b


def check_level3_alarm(defects: frozenset[str] = frozenset()) -> Bench:
    b = bench(defects=defects).start()
    b.run(105)
    b.do(b.terminal.raise_alarm, 3, 105.0)
    b.run(200)
    rt = b.times(0x02)
    during = [t for t in rt if 105 <= t <= 135]
    assert during == [float(t) for t in range(105, 136)], f"1 s period during the level-3 alarm: {during}"
    alarm_items = [i for i in b.frames(0x02)[rt.index(105.0)].frame.body["items"] if i["type"] == 0x07]
    assert alarm_items and alarm_items[0]["data"]["max_level"] == 3
    pre = b.frames(0x03)
    pre_times = [s.frame.body["time"] for s in pre]
    sent_rt = {s.frame.body["time"] for s in b.frames(0x02)}
    expected = [ts(t) for t in range(75, 105) if ts(t) not in sent_rt]
    assert pre_times == expected, "the 30 s before the fault go as 0x03, oldest first, none already sent"
    assert all(s.now == 105.0 for s in pre)
    # the alarm lasts 60 s (two windows); then the normal period again
    after = [t for t in rt if t > 170]
    assert after and all(y - x == 10 for x, y in zip(after, after[1:], strict=False)), after
    return b


def check_query(defects: frozenset[str] = frozenset(), edition: int = 2016) -> Bench:
    b = bench(edition, defects=defects).start()
    b.run(1)
    q = command(0x80, {"time": ts(1), "ids": [0x02, 0x05, 0x06, 0x07, 0x08, 0x09, 0x10, 0x99]}, edition)
    b.deliver(q)
    ans = [s for s in b.frames(0x80) if s.frame.ack == 0x01]
    assert len(ans) == 1, "a query gets exactly one answer"
    body = ans[0].frame.body
    assert body["time"] == ts(1)
    got = {p["id"]: p["value"] for p in body["params"]}
    assert got[0x02] == 10 and got[0x09] == 30 and got[0x06] == 32960 and got[0x10] == 2
    assert got[0x04] == 9 and got[0x05] == "127.0.0.1", "the domain comes with its length"
    assert got[0x07] == "H1.00" and got[0x08] == "F1.00"
    assert 0x99 not in got
    return b


def check_set_refusal(defects: frozenset[str] = frozenset()) -> Bench:
    """Read-only 0x07/0x08 in a set make the whole set fail (flag 0x02) and change nothing."""
    b = bench(defects=defects).start()
    b.run(1)
    body = {"time": ts(1), "params": [{"id": 0x02, "value": 20}, {"id": 0x08, "value": "F9.99"}]}
    b.deliver(set_command(body))
    ans = [s for s in b.frames(0x81) if s.frame.is_response]
    assert [a.frame.ack for a in ans] == [0x02], "refused as a whole"
    assert ans[0].frame.body == {"time": ts(1)}
    assert b.terminal.params[0x08] == "F1.00" and b.terminal.params[0x02] == 10
    b.run(41)
    assert b.times(0x02)[-2:] == [30, 40], "the report period did not change"
    return b


def check_set_ip_move_restore(defects: frozenset[str] = frozenset()) -> Bench:
    """Set 0x05/0x06 to a platform that refuses: ack, try it, restore, go back, say 'setting failed'."""
    b = bench(defects=defects).start()
    b.run(5)
    b.refuse.add(("127.0.0.2", 40000))
    body = {"time": ts(5), "params": [{"id": 0x04, "value": 9}, {"id": 0x05, "value": "127.0.0.2"},
                                      {"id": 0x06, "value": 40000}]}
    b.deliver(set_command(body))
    ack = [s for s in b.frames(0x81) if s.frame.is_response]
    assert ack[0].frame.ack == 0x01 and ack[0].now == 5
    connects = [(t, a.host, a.port) for t, a in b.actions if isinstance(a, Connect)]
    assert connects[1] == (5, "127.0.0.2", 40000)
    b.run(400)
    connects = [(t, a.host, a.port) for t, a in b.actions if isinstance(a, Connect)]
    back = [c for c in connects if c[1:] == ("127.0.0.1", 32960) and c[0] > 5]
    assert back, f"returns to the old platform: {connects}"
    assert b.terminal.params[0x05] == "127.0.0.1" and b.terminal.params[0x06] == 32960
    assert b.terminal.online and b.links["main"] == ("127.0.0.1", 32960)
    failed = [s for s in b.frames(0x81) if s.frame.is_response and s.frame.ack == 0x02]
    assert failed and failed[0].frame.body == {"time": ts(5)} and failed[0].now == back[0][0]
    return b


def check_power_off_logout(defects: frozenset[str] = frozenset()) -> Bench:
    b = bench(defects=defects).start()
    b.run(50)
    b.do(b.terminal.power_off, 50.0)
    b.run(400)
    rt = b.times(0x02)
    assert max(rt) >= 220 and 240 not in rt, "reports continue 180 s after power-off, then stop"
    logout = b.frames(0x04)
    assert len(logout) == 1 and logout[0].now == 230
    assert logout[0].frame.body["serial"] == b.frames(0x01)[-1].frame.body["serial"]
    assert b.terminal.state == "off" and "main" not in b.links
    return b


def check_data_error_resend(defects: frozenset[str] = frozenset()) -> Bench:
    """An error answer to real-time data: resend that frame every 60 s, at most 3 times."""
    b = bench(defects=defects).start()
    b.run(10)
    first = b.frames(0x02)[1]
    assert first.now == 10
    for _ in range(5):
        b.deliver(answer(first.frame, 0x02))
        b.run(b.now + 60)
    resent = [s for s in b.frames(0x02) if s.raw == first.raw]
    assert [s.now for s in resent] == [10, 70, 130, 190], [s.now for s in resent]
    return b


def check_data_consistency(defects: frozenset[str] = frozenset(), edition: int = 2016) -> None:
    """An hour of reports is physically consistent (harness.quality: cell sums, SOC vs current, stuck sensors)."""
    from harness.quality import records
    from harness.quality.assess import assess
    from harness.quality.terminal_run import run_terminal

    res = assess(records.from_frames(run_terminal(3600, edition=edition, defects=defects), records.SourceStats()))
    missed = [(c["check"], c["failed"], c["max_miss"]) for c in res["consistency"] if c["failed"]]
    assert not missed, missed


CHECKS = {
    "login_flow": check_login_flow,
    "login_retry_backoff": check_login_retry_backoff,
    "login_serials": check_login_serials,
    "periodic": check_periodic,
    "reissue": check_reissue,
    "level3_alarm": check_level3_alarm,
    "query": check_query,
    "set_refusal": check_set_refusal,
    "set_ip_move_restore": check_set_ip_move_restore,
    "power_off_logout": check_power_off_logout,
    "data_error_resend": check_data_error_resend,
    "data_consistency": check_data_consistency,
}
