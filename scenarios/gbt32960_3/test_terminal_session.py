"""The terminal (T-Box) as the SUT, Annex B from the vehicle's side: login and its retries, logout,
real-time data and its periods, level-3 alarms, reissue after an outage, heartbeat, time sync.

The harness plays the enterprise platform (`platform`); `tbox` is the terminal under test. Case
numbers 51 and up are the terminal-side cases of a clause (1-49 are the platform-side ones).
"""

from __future__ import annotations

import statistics

from scenarios.kit import case, role, stall_slack
from scenarios.terminal_kit import (
    collected,
    gaps,
    login_window,
    online,
    power_off_window,
    query,
    within,
)

pytestmark = role("terminal")


@case("GBT32960.3-{edition}/B.1/51",
      requirement="B.1/T B.2-B.3: after connecting, the terminal logs in with a well-formed 0x01: its VIN, a "
                  "login serial of 1-65531, a 20-digit ICCID, and (2016) as many subsystem codes of the declared "
                  "length as it says / (2025) one pack code per declared pack.")
async def test_login_frame(platform, tbox, timers, expect, edition):
    login = await online(platform, tbox, timers)
    f = login.frame
    expect.equal("login.vin", tbox.vin, f.identity)
    expect.equal("login.ack", 0xFE, f.ack)
    b = f.body
    expect.true(1 <= b["serial"] <= 65531, f"login serial {b['serial']} outside 1-65531", path="login.serial",
                expected="1-65531", actual=b["serial"])
    iccid = str(b["iccid"])
    expect.true(len(iccid) == 20 and iccid.isdigit(), f"ICCID {iccid!r} is not 20 digits", path="login.iccid",
                expected="20 digits", actual=iccid)
    if edition == 2016:
        expect.true(all(len(c) == b["code_length"] for c in b["subsystem_codes"]),
                    "subsystem codes differ from the declared code length", path="login.subsystem_codes",
                    expected=b["code_length"], actual=[len(c) for c in b["subsystem_codes"]])
    else:
        expect.equal("login.pack_codes (count)", sum(b["packs_per_bms"]), len(b["pack_codes"]))


@case("GBT32960.3-{edition}/B.1/52",
      requirement="B.1/T B.2: the login serial starts at 1 each day and goes up by one with every login.")
async def test_login_serial_advances(platform, tbox, timers, expect, edition):
    first = await online(platform, tbox, timers)
    await platform.drop_links()  # the terminal reconnects and logs in again
    second = await platform.next(0x01, login_window(timers) + timers.login_backoff, since=first.at + 1e-6)
    s1, s2 = first.frame.body["serial"], second.frame.body["serial"]
    expect.count("first serial", s1)
    expect.count("second serial", s2)
    expect.equal("second login.serial", s1 % 65531 + 1, s2)


@case("GBT32960.3-{edition}/B.1/53",
      requirement="B.1: a login the platform does not answer is sent again after the login retry interval "
                  "(2016 1 min / 3 min, 2025 3 min; compressed here), not sooner.")
async def test_login_retry_interval(platform, tbox, timers, expect, edition):
    platform.policy.login = "ignore"
    platform.policy.activation = "accept"
    since = platform.now
    await tbox.power_on()
    ok = await platform.wait_for(lambda: len(platform.frames(0x01, since=since)) >= 2,
                                 login_window(timers) + 2 * timers.terminal_login_retry)
    logins = platform.frames(0x01, since=since)
    expect.true(ok, f"{len(logins)} login(s), expected a retry", path="logins", expected=">= 2", actual=len(logins))
    interval = logins[1].at - logins[0].at
    expect.count("retry interval s", round(interval, 3))
    expect.true(interval >= 0.8 * timers.terminal_login_retry,
                f"login retried after {interval:.2f} s; the retry interval is {timers.terminal_login_retry:g} s",
                path="retry interval", expected=f">= {timers.terminal_login_retry:g}", actual=round(interval, 3))
    expect.true(interval <= 2 * timers.terminal_login_retry + timers.response_timeout,
                f"login retried only after {interval:.2f} s", path="retry interval",
                expected=f"about {timers.terminal_login_retry:g}", actual=round(interval, 3))


@case("GBT32960.3-{edition}/B.1/54",
      requirement="B.1: after 3 unanswered logins the terminal waits the login interval of parameter 0x0C "
                  "(30 min by default; compressed here) before it logs in again.")
async def test_login_backoff_after_three_failures(platform, tbox, timers, expect, edition):
    platform.policy.login = "ignore"
    since = platform.now
    await tbox.power_on()
    tries = timers.login_tries
    bound = login_window(timers) + tries * (timers.terminal_login_retry + timers.response_timeout) \
        + 2 * timers.login_backoff
    await platform.wait_for(lambda: len(platform.frames(0x01, since=since)) > tries, bound)
    logins = platform.frames(0x01, since=since)
    expect.count("logins", len(logins))
    expect.true(len(logins) > tries, f"only {len(logins)} logins: no login after the back-off", path="logins",
                expected=f"> {tries}", actual=len(logins))
    pause = logins[tries].at - logins[tries - 1].at
    expect.count("pause after the third failure s", round(pause, 3))
    expect.true(pause >= 0.8 * timers.login_backoff,
                f"login {tries + 1} came {pause:.2f} s after login {tries}; the back-off is {timers.login_backoff:g} s",
                path="pause", expected=f">= {timers.login_backoff:g}", actual=round(pause, 3))


@case("GBT32960.3-{edition}/B.1/55",
      requirement="B.1/T B.18: when the vehicle is switched off the terminal logs out with 0x04, carrying the "
                  "serial of its login.")
async def test_logout_on_power_off(platform, tbox, timers, expect, edition):
    login = await online(platform, tbox, timers)
    off = platform.now
    await tbox.power_off()
    logout = await platform.next(0x04, power_off_window(timers, edition) + within(timers), since=off)
    expect.equal("logout.serial", login.frame.body["serial"], logout.frame.body["serial"])


@case("GBT32960.3-{edition}/B.2.1/55",
      requirement="B.2.1: after power-off the terminal keeps reporting for 3 min before it logs out (2016), or "
                  "monitors for 1 h after HV-off, reporting at its end, before it logs out (2025).")
async def test_data_after_power_off(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    off = platform.now
    await tbox.power_off()
    window = power_off_window(timers, edition)
    logout = await platform.next(0x04, window + within(timers), since=off)
    after = [r for r in platform.frames(0x02, since=off) if r.at <= logout.at]
    expect.count("real-time frames after power-off", len(after))
    expect.count("logout after s", round(logout.at - off, 3))
    expect.true(logout.at - off >= 0.8 * window,
                f"logged out {logout.at - off:.2f} s after power-off; the window is {window:g} s",
                path="logout delay", expected=f">= {window:g}", actual=round(logout.at - off, 3))
    expect.true(bool(after) and after[-1].at - off >= 0.5 * window,
                "no real-time report in the second half of the after-power-off window", path="reports after off",
                expected="a report near the end", actual=[round(r.at - off, 3) for r in after])


async def _period_of(platform, tbox, timers, param: int) -> float:
    """A period parameter as seconds of the terminal's clock."""
    value = (await query(platform, tbox, timers, [param]))[param]
    return value / 1000 if param in (0x01, 0x03) and tbox.edition == 2016 else float(value)


@case("GBT32960.3-{edition}/B.2.1/51",
      requirement="B.2.1/T B.12: real-time data 0x02 comes at the report period of parameter 0x02 (at most "
                  "30 s): consecutive collection times are one period apart.")
async def test_report_period(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    period = await _period_of(platform, tbox, timers, 0x02)
    since = platform.now
    await platform.wait_for(lambda: len(platform.frames(0x02, since=since)) >= 5,
                            max(within(timers, 10), 6 * period * tbox.time_scale))
    reports = platform.frames(0x02, since=since)
    expect.true(len(reports) >= 5, f"{len(reports)} real-time reports", path="reports", expected=">= 5",
                actual=len(reports))
    g = gaps(reports)
    mid = statistics.median(g)
    expect.count("period (param 0x02) s", period)
    expect.count("median gap s", mid)
    expect.note(f"collection-time gaps: {g}")
    # collection times have 1 s resolution: each gap is the period +-1 s; a stall of the harness's loop makes
    # our simulator's report late and the next one early (it keeps its schedule), so one gap pair may stray
    # by the stall, never the median
    slack = 1.0 + stall_slack(tbox.time_scale)
    bad = [x for x in g if abs(x - period) > slack]
    expect.true(abs(mid - period) <= 1.0 and not bad,
                f"gaps {g} (median {mid:g} s) differ from the report period {period:g} s", path="gaps",
                expected=f"{period:g} (each within {slack:g})", actual=g)


def _level(r) -> int:
    for item in r.frame.body["items"]:
        if item["type"] in (0x07, 0x06) and "max_level" in item["data"]:
            return int(item["data"]["max_level"])
    return 0


async def _alarm(platform, tbox, timers):
    """Online long enough for a full pre-fault window, then a level-3 alarm: (the fault frame, raise time)."""
    await online(platform, tbox, timers)
    await platform.observe(timers.alarm_window * 1.2)  # fill the terminal's pre-fault buffer
    raised = platform.now
    await tbox.raise_alarm(3, 4 * timers.alarm_window)
    fault = await platform.next(0x02, within(timers), since=raised, where=lambda r: _level(r) >= 3)
    return fault, raised


@case("GBT32960.3-{edition}/B.2.1/52",
      requirement="B.2.1/§5.2.4: during a level-3 alarm the terminal reports at least every second (the alarm "
                  "period, parameter 0x03), from the fault on.")
async def test_level3_alarm_period(platform, tbox, timers, expect, edition):
    fault, _ = await _alarm(platform, tbox, timers)
    await platform.observe(timers.alarm_window * 0.8)
    during = [r for r in platform.frames(0x02, since=fault.at)]
    g = gaps(during)
    expect.count("real-time frames in the alarm", len(during))
    # collection times have 1 s resolution: a 1 s period truncates to gaps of 0, 1 or 2 s, median 1; a stall of
    # the harness's loop holds up our simulator's reports (its clock is that loop's): the slots it spans are
    # lost, so one gap may grow by the stall, never the median
    mean = sum(g) / len(g) if g else float("inf")
    mid = statistics.median(g) if g else float("inf")
    largest = max(g, default=float("inf"))
    bound = 2.0 + stall_slack(tbox.time_scale)
    expect.count("mean gap s", round(mean, 3))
    expect.count("median gap s", mid)
    expect.count("largest gap s", largest)
    expect.true(len(during) >= 5 and mid <= 1.0 and largest <= bound,
                f"{len(during)} reports, median gap {mid:g} s, largest {largest:g} s during a level-3 alarm (at "
                f"most 1 s; largest {bound:g})", path="alarm gaps", expected="<= 1 s", actual=g[:30])


@case("GBT32960.3-{edition}/B.2.1/53",
      requirement="B.2.1/§5.2.4: on a level-3 alarm the terminal also sends the 30 s before the fault, at 1 s "
                  "sampling, as reissue 0x03 with their own collection times.")
async def test_level3_prefault_reissue(platform, tbox, timers, expect, edition):
    fault, raised = await _alarm(platform, tbox, timers)
    t0 = collected(fault)
    await platform.wait_for(lambda: len(platform.frames(0x03, since=raised)) >= 20, within(timers))
    pre = [r for r in platform.frames(0x03, since=raised) if -31 <= (collected(r) - t0).total_seconds() < 0]
    expect.count("pre-fault reissue frames", len(pre))
    earliest = min(((collected(r) - t0).total_seconds() for r in pre), default=0.0)
    expect.true(len(pre) >= 20 and earliest <= -25,
                f"{len(pre)} reissue frames from the 30 s before the fault, earliest {earliest:g} s",
                path="pre-fault reissue", expected=">= 20 frames back to -30 s", actual=len(pre))


@case("GBT32960.3-{edition}/B.2.1/54",
      requirement="B.2.1: real-time data answered with an error flag is sent again (every 1 min, at most 3 "
                  "times; compressed here) with the same collection time.")
async def test_resend_after_error_answer(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    since = platform.now
    platform.policy.data_error = True
    first = await platform.next(0x02, within(timers), since=since)
    t = first.frame.body["time"]
    bound = timers.data_tries * timers.data_resend + within(timers)
    await platform.wait_for(lambda: len([r for r in platform.frames(0x02, since=since)
                                         if r.frame.body["time"] == t]) > timers.data_tries, bound)
    same = [r for r in platform.frames(0x02, since=since) if r.frame.body["time"] == t]
    expect.count("sends of the first frame", len(same))
    expect.true(2 <= len(same) <= 1 + timers.data_tries,
                f"the frame answered with an error went {len(same)} time(s); expected 2 to {1 + timers.data_tries}",
                path="sends", expected=f"2-{1 + timers.data_tries}", actual=len(same))
    interval = same[1].at - same[0].at
    expect.true(interval >= 0.8 * timers.data_resend, f"resent after {interval:.2f} s", path="resend interval",
                expected=f">= {timers.data_resend:g}", actual=round(interval, 3))


async def _outage(platform, tbox, timers, periods: int = 5):
    """Online, then the platform is unreachable for `periods` report periods; back when it logged in again."""
    await online(platform, tbox, timers)
    await platform.observe(timers.report_period)
    start = platform.now
    await platform.stop_listening()
    await platform.drop_links()
    dropped = platform.now  # a login before this (a retry after a late answer) is not the one after the outage
    await platform.observe(periods * timers.report_period)
    await platform.listen(platform.host, platform.port)
    back = await platform.next(0x01, timers.login_backoff + login_window(timers) * 2, since=dropped)
    await platform.observe(within(timers, 6))  # reissue goes between the real-time uploads
    return start, back


@case("GBT32960.3-{edition}/B.2.8/51",
      requirement="B.2.8: data collected while the link was down is stored and sent after recovery as reissue "
                  "0x03 with its original collection times: nothing is missing.")
async def test_reissue_after_outage(platform, tbox, timers, expect, edition):
    start, _ = await _outage(platform, tbox, timers)
    frames = sorted(platform.frames(0x02) + platform.frames(0x03), key=collected)
    reissued = platform.frames(0x03, since=start)
    expect.count("reissued", len(reissued))
    g = gaps(frames)
    period = await _period_of(platform, tbox, timers, 0x02)
    holes = [x for x in g if x > 1.5 * period]
    expect.true(bool(reissued), "nothing was reissued after the outage", path="reissued", expected="> 0", actual=0)
    expect.true(not holes, f"collection-time holes {holes} s (period {period:g} s): data of the outage is missing",
                path="holes", expected=[], actual=holes)


@case("GBT32960.3-{edition}/B.2.8/52",
      requirement="B.2.8: each stored frame is reissued once: no collection time arrives twice.")
async def test_reissue_once(platform, tbox, timers, expect, edition):
    await _outage(platform, tbox, timers)
    times = [r.frame.body["time"] for r in platform.frames(0x02) + platform.frames(0x03)]
    dupes = sorted({str(t) for t in times if times.count(t) > 1})
    expect.count("frames", len(times))
    expect.true(not dupes, f"{len(dupes)} collection times arrived more than once", path="duplicates",
                expected=[], actual=dupes[:10])


@case("GBT32960.3-{edition}/B.2.6/51",
      requirement="B.2.6/T B.12: the terminal sends heartbeat 0x07 at the period of parameter 0x09.")
async def test_heartbeat_period(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    period = (await query(platform, tbox, timers, [0x09]))[0x09] * tbox.time_scale
    since = platform.now
    await platform.wait_for(lambda: len(platform.frames(0x07, since=since)) >= 3, 5 * period + within(timers))
    beats = platform.frames(0x07, since=since)
    intervals = [round(b.at - a.at, 3) for a, b in zip(beats, beats[1:], strict=False)]
    expect.count("heartbeat period s", period)
    expect.true(len(beats) >= 3, f"{len(beats)} heartbeats in {5 * period:g} s", path="heartbeats",
                expected=">= 3", actual=len(beats))
    expect.true(all(0.5 * period <= i <= 1.5 * period for i in intervals),
                f"heartbeat intervals {intervals} s, period {period:g} s", path="intervals", expected=period,
                actual=intervals)


@case("GBT32960.3-{edition}/B.2.5/51",
      requirement="B.2.5: after login the terminal calibrates its clock with time sync 0x08, and takes the time "
                  "the platform answers.")
async def test_time_sync(platform, tbox, timers, expect, edition):
    login = await online(platform, tbox, timers)
    sync = await platform.next(0x08, within(timers), since=login.at)
    expect.equal("time sync.ack", 0xFE, sync.frame.ack)


@case("GBT32960.3-{edition}/6.2/51",
      requirement="6.2/T 2: every frame the terminal sends is well formed: its edition's start symbol, a length "
                  "that matches, a correct BCC, a data unit that decodes.")
async def test_frames_well_formed(platform, tbox, timers, expect, edition):
    since = platform.now
    await tbox.power_on()
    await platform.wait_for(lambda: len(platform.frames(0x02, since=since)) >= 3 or bool(platform.problems),
                            login_window(timers) + within(timers))
    expect.count("frames", len(platform.received))
    expect.true(not platform.problems, f"{len(platform.problems)} ill-formed frames: {platform.problems[:2]}",
                path="frames", expected="no error", actual=[str(p) for p in platform.problems[:5]])
    expect.true(len(platform.frames(0x02, since=since)) >= 3, "fewer than 3 real-time reports arrived",
                path="reports", expected=">= 3", actual=len(platform.frames(0x02, since=since)))
    wrong = [r for r in platform.received if r.frame.edition != edition]
    expect.true(not wrong, f"{len(wrong)} frames in the other edition's framing", path="edition",
                expected=edition, actual=[r.frame.edition for r in wrong][:5])


@case("GBT32960.3-2025/B.3/51",
      requirement="2025 B.3: a terminal not yet activated sends activation 0x09 (chip id, public key, its VIN) "
                  "and logs in only after the platform's activation result 0x0A.")
async def test_activation_before_login(platform, tbox, timers, expect):
    platform.policy.activation = "ignore"
    since = platform.now
    await tbox.power_on()
    got = await platform.wait_for(lambda: bool(platform.frames(0x09, since=since) or platform.frames(0x01)),
                                  login_window(timers))
    expect.true(got, "neither activation nor login arrived", path="first frame", expected="0x09", actual=None)
    first = platform.received[0].frame
    expect.equal("first frame.command", 0x09, first.command)
    expect.equal("activation.vin", tbox.vin, str(first.body["vin"]).rstrip("\0 "))
    expect.true(await platform.silent(0x01, 2 * timers.response_timeout, since=since),
                "the terminal logged in without an activation result", path="login", expected="none", actual="0x01")
    platform.policy.activation = "accept"
    await platform.next(0x01, login_window(timers) + timers.login_backoff, since=since)

