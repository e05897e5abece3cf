"""GB/T 32960.3 §5.2.4 (and Annex B.2.1) level-3 alarms from the platform's side: the ≤1 s data of a
level-3 alarm is kept frame by frame, the 30 s before the fault arrives as reissue 0x03 and is kept too,
the platform records the alarm, and its own threshold monitoring warns the vehicle by control 0x82/0x06
(notice 1.2/e)."""

from __future__ import annotations

import asyncio

from scenarios.gbt32960_3 import builders as b
from scenarios.kit import answer_timeout, case, eventually, logged_in, needs, role


def _kept(topology, vin: str, frames: list[bytes]) -> list[bytes]:
    """The frames of `frames` the platform stored byte for byte (each once at least)."""
    stored = {f.raw for f in topology.sut.frames(vin=vin)}
    return [f for f in frames if f in stored]


async def _clear_alarm(link, v) -> None:
    """A level-0 frame: the alarm is over (the next case's alarm starts afresh)."""
    await link.send(b.alarm_frame(v, 0, b.fresh_time()))


@role("enterprise")
@case("GBT32960.3-{edition}/5.2.4/01",
      requirement="During a level-3 alarm the vehicle reports at ≤1 s sampling: every frame, one second apart in "
                  "collection time, is kept byte for byte; none is dropped as too frequent (§5.2.4; B.2.1; "
                  "param 0x03).")
async def test_level3_second_by_second_kept(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    live = [b.alarm_frame(v, 3, t) for t in b.time_block(10)]
    for data in live:
        await link.send(data)
    await _clear_alarm(link, v)
    done = await eventually(lambda: len(_kept(topology, v.vin, live)) == len(live), answer_timeout(timers))
    kept = await asyncio.to_thread(_kept, topology, v.vin, live)
    expect.true(done, f"{len(live) - len(kept)} of {len(live)} one-second alarm frames were not kept",
                path="sut.frames", expected=len(live), actual=len(kept))


@role("enterprise")
@case("GBT32960.3-{edition}/5.2.4/02",
      requirement="The data of the 30 s before a level-3 fault, sent as reissue 0x03 after the live alarm frames, "
                  "is accepted and kept as 0x03 with its original collection time, not taken as stale or as a "
                  "duplicate of the live data (§5.2.4: the pre-fault part goes as reissue; §5.5).")
async def test_prefault_reissue_kept(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    times = b.time_block(33)
    before, after = times[:30], times[30:]
    live = [b.alarm_frame(v, 3, t) for t in after]  # the fault time and the two seconds after it
    for data in live:
        await link.send(data)
    reissue = [b.alarm_frame(v, 3, t, command=0x03) for t in before]  # 30 s before the fault, oldest first
    for data in reissue:
        await link.send(data)
    await _clear_alarm(link, v)
    done = await eventually(lambda: len(_kept(topology, v.vin, reissue)) == len(reissue), answer_timeout(timers))
    rows = [f for f in await asyncio.to_thread(topology.sut.frames, v.vin, (0x03,)) if f.raw in set(reissue)]
    expect.true(done, "pre-fault reissue frames were not kept", path="sut.frames[0x03]", expected=len(reissue),
                actual=len(rows))
    expect.equal("reissue.duplicate", [False] * len(rows), [f.duplicate for f in rows],
                 "pre-fault reissue was taken as a duplicate")
    expect.equal("reissue.collected_at", [str(t) for t in before], sorted(f.collected_at for f in rows),
                 "pre-fault reissue does not keep its original collection times")


@role("enterprise")
@case("GBT32960.3-{edition}/5.2.4/03",
      requirement="A level-3 alarm reported by a vehicle (max alarm level 3, T17/T18) is recorded by the platform "
                  "for that vehicle, so the fault can be handled and reported (§5.2.4; GB/T 32960.1 5.2: graded "
                  "alarms; notice 1.2/e).")
async def test_level3_alarm_recorded(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    await _clear_alarm(link, v)  # a fresh alarm (records are made when an alarm starts)
    before = len([w for w in await asyncio.to_thread(topology.sut.warnings, v.vin) if w[1] == "level3-alarm"])
    await link.send(b.alarm_frame(v, 3, b.fresh_time()))
    await _clear_alarm(link, v)

    def recorded() -> bool:
        return len([w for w in topology.sut.warnings(v.vin) if w[1] == "level3-alarm"]) > before

    expect.true(await eventually(recorded, answer_timeout(timers)), "the level-3 alarm was not recorded",
                path="sut.records[level3-alarm]", expected=before + 1, actual=before)


@role("enterprise")
@needs(pics="control")
@case("GBT32960.3-{edition}/B.2.4/03",
      requirement="When the platform's own threshold monitoring finds a hazard (insulation resistance below its "
                  "threshold), it warns the vehicle with terminal control 0x82/0x06 carrying a warning level "
                  "01-03 (2025: 01-04) (T B.17; notice 1.2/e: monitor, warn and act).")
async def test_threshold_warns_vehicle(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    await link.send(b.alarm_frame(v, 0, b.fresh_time(), insulation=4800))  # healthy first: the warning is an edge
    await link.send(b.alarm_frame(v, 0, b.fresh_time(), insulation=20))  # 20 kΩ: far below any sane threshold
    raw = await b.next_command(link, 0x82, answer_timeout(timers))
    await link.send(b.answer_to(raw, 0x01))
    expect.equal("control.command", 0x06, raw[30], "the warning is not control 0x06")
    top = 3 if edition == 2016 else 4
    expect.true(len(raw) > 32 and 1 <= raw[31] <= top, f"the warning carries no level 01-0{top}",
                path="control.level", expected=f"1..{top}", actual=raw[31:-1].hex())
    await link.send(b.alarm_frame(v, 0, b.fresh_time(), insulation=4800))  # healthy again
