"""The asyncio driver and the fleet against a tiny in-test TCP platform on 127.0.0.1."""

from __future__ import annotations

import asyncio

from harness.protocol.timers import Timers
from harness.terminal.aio import AioDriver
from harness.terminal.fleet import Fleet, calendar_epoch, make_iccid, make_vin
from harness.terminal.generator import Generator
from harness.terminal.machine import Terminal

from .stub_platform import StubPlatform

K = 60
COMPRESSED = Timers().compressed(K)  # 10 s reports -> 1/6 s, 30 s heartbeat -> 0.5 s


def test_fleet_of_200_terminals_for_two_seconds():
    async def scenario():
        platform = StubPlatform()
        port = await platform.start()
        fleet = Fleet("127.0.0.1", port, 200, edition="mixed", timers=COMPRESSED, time_scale=1 / K, seed=3)
        await fleet.start()
        seen = []
        st = await fleet.run(2.0, progress=lambda s, fps: seen.append((s.online, fps)), interval=0.5)
        final = await fleet.stop()
        await asyncio.sleep(0.1)
        await platform.stop()
        return platform, st, final, seen

    platform, st, final, seen = asyncio.run(scenario())
    assert st.online == 200 and st.started == 200
    assert len(platform.logged_in) == 200 and platform.bad == 0
    assert st.errors == 0 and st.reconnects == 0 and st.backlog == 0
    # ~2 s of 1/6 s reports and 0.5 s heartbeats per vehicle (the start is ramped over 0.1 s)
    assert 200 * 10 <= platform.frames[0x02] <= 200 * 14
    assert 200 * 3 <= platform.frames[0x07] <= 200 * 5
    assert platform.frames[0x08] == 200
    assert platform.frames[0x04] == 200, "a clean stop logs every vehicle out"
    assert final.frames["realtime"] == platform.frames[0x02], "nothing sent is lost on loopback"
    assert seen and seen[-1][0] == 200 and seen[-1][1] > 500
    assert platform.open == 0


def test_reissue_over_tcp_after_platform_restart():
    timers = COMPRESSED.with_(terminal_login_retry=0.3, login_backoff=0.5)

    async def scenario():
        platform = StubPlatform()
        port = await platform.start()
        fleet = Fleet("127.0.0.1", port, 20, edition=2016, timers=timers, time_scale=1 / K, seed=5, alarm_rate=0)
        await fleet.start()
        await fleet.run(0.6)
        await platform.stop()  # outage: every link drops, reconnects are refused
        await asyncio.sleep(1.0)
        mid = fleet.stats()
        platform2 = StubPlatform()
        await platform2.start(port=port)
        st = await fleet.run(2.5)
        await fleet.stop()
        await platform2.stop()
        return mid, st, platform, platform2, fleet

    mid, st, platform, platform2, fleet = asyncio.run(scenario())
    assert mid.online == 0 and mid.backlog > 20 * 3, "data is stored while the platform is away"
    assert st.online == 20 and st.backlog == 0 and st.reconnects >= 20
    stored = sum(t.stats["stored"] for t in fleet.terminals)
    # a terminal whose first login was answered late (a busy machine) stores a sample or two and
    # reissues them to the first platform, before the outage
    reissued = platform.frames[0x03] + platform2.frames[0x03]
    assert reissued == stored, "every stored sample is reissued exactly once"


def test_driver_runs_terminals_with_one_timer_and_no_task_per_terminal():
    async def scenario():
        platform = StubPlatform()
        port = await platform.start()
        loop = asyncio.get_running_loop()
        driver = AioDriver(tick=0.02)
        epoch = calendar_epoch(loop.time(), 1 / K)
        for i in range(50):
            term = Terminal(make_vin(i), 2025, COMPRESSED, Generator(i, alarm_rate=0), iccid=make_iccid(i),
                            host="127.0.0.1", port=port, time_scale=1 / K, epoch=epoch)
            driver.add(term)
        for _ in range(400):  # wait (bounded, 20 s: the machine may be busy) until every terminal is logged in
            await asyncio.sleep(0.05)
            if all(t.online for t in driver.terminals):
                break
        online = sum(t.online for t in driver.terminals)
        tasks = len(asyncio.all_tasks())
        await asyncio.sleep(0.6)  # fill the 30 s (0.5 s compressed) pre-fault buffer
        fires = driver.counters["timer_fires"]
        t0 = loop.time()
        # an operator input through the driver: a level-3 alarm on one vehicle
        driver.call(0, driver.terminals[0].raise_alarm, 3)
        await asyncio.sleep(0.5)
        fired = (driver.counters["timer_fires"] - fires, loop.time() - t0)
        await driver.close()
        await platform.stop()
        return tasks, online, driver, platform, fired

    tasks, online, driver, platform, (fires, span) = asyncio.run(scenario())
    assert online == 50
    assert tasks == 1, f"no task per terminal ({tasks} tasks)"
    assert fires <= span / 0.02 + 2, "one shared timer, firing at most once per tick"
    assert driver.terminals[0].stats["level3_faults"] == 1
    assert platform.frames[0x03] >= 15, "pre-fault samples (1 s sampling, one per tick here) went as reissue"


def test_vin_and_iccid_generation():
    vins = {make_vin(i) for i in range(2000)}
    assert len(vins) == 2000 and all(len(v) == 17 and not set(v) & set("IOQ") for v in vins)
    assert make_vin(0) == make_vin(0)
    # ISO 3779 check digit of a known VIN
    assert make_vin(0, prefix="1M8GDM9A")[8] in "0123456789X"
    iccid = make_iccid(42, seed=1)
    assert len(iccid) == 20 and iccid.startswith("8986") and iccid.isdigit()
    digits = [int(c) for c in iccid]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
    assert total % 10 == 0, "Luhn check digit"
