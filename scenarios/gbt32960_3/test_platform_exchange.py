"""GB/T 32960.3 §5 platform exchange, the enterprise platform (SUT) as the client of the local platform
(played by the harness): relayed data is answered by the server and then not sent again (§5.2.2), and data
held while the link was down goes up afterwards as reissue 0x03 with its original bytes (§5.5)."""

import asyncio

from harness.topology.base import StimulusUnavailable
from scenarios.gbt32960_3 import builders as b
from scenarios.kit import (
    arrivals,
    case,
    eventually,
    key,
    logged_in,
    relay_deadline,
    role,
    settled_copies,
    stored_count,
    unexcused_copies,
)

LINK = "enterprise->local"


@role("enterprise")
@case("GBT32960.3-{edition}/5.2.2/01",
      requirement="Relayed real-time data that the server platform answers with 0x01 is done: it is not sent "
                  "again, and nothing stays waiting for it (§5.2.2: the server answers correct data; resend only "
                  "on an error answer).")
async def test_acked_relay_not_resent(topology, fleet, timers, expect, edition):
    local = topology.local
    if local is None:
        raise StimulusUnavailable("INCONC: no harness local platform in this topology")
    v = topology.vehicle(public=True, region=topology.region, edition=edition)
    link = await logged_in(fleet, v, timers)
    mark = {v.vin: stored_count(local, v.vin)}
    sent = [b.realtime(v) for _ in range(3)]
    for data in sent:
        await link.send(data)
    within = relay_deadline(timers)
    await eventually(lambda: len(arrivals(local, sent, mark)) == len(sent), within)
    drained = await eventually(lambda: topology.sut.queue_depth() == 0, within)
    at_drain = await asyncio.to_thread(arrivals, local, sent, mark)
    copies = await settled_copies(local, sent, mark, timers)
    expect.count("frames duplicated", sum(len(c) - 1 for c in copies.values()))
    expect.equal("local.frames[first].raw", [d.hex() for d in sent],
                 [copies[key(d)][0].raw.hex() if key(d) in copies else None for d in sent],
                 "relayed data did not reach the local platform unchanged")
    # an ack later than the response timeout makes the SUT resend (§5.2.2, §5.5): identical copies, bounded
    expect.equal("local.frames[resent]", [], unexcused_copies(copies, timers), "relayed data was resent beyond §5.2.2")
    if drained:
        # one resend per frame may be on its way when the SUT takes the late ack; more after the queue drained
        # were sent for data already acknowledged
        after = [len(copies.get(key(d), [])) - len(at_drain.get(key(d), [])) for d in sent]
        expect.true(max(after) <= 1, f"acknowledged relayed data was sent again: {after} copies per frame after "
                    "the queue drained", path="local copies after drain", expected="<= 1 each", actual=after)
    expect.true(drained, f"{topology.sut.queue_depth()} relayed frames still queued after their acks",
                path="sut.queue_depth", expected=0, actual=topology.sut.queue_depth())


@role("enterprise")
@case("GBT32960.3-{edition}/5.5/01",
      requirement="Data of a public-service vehicle that arrives while the link to the local platform is down is "
                  "kept and, after the platform logs in again, sent as reissue 0x03 with the original collection "
                  "time and content (§5.5, §5.1).")
async def test_outage_data_reissued(topology, fleet, timers, expect, edition):
    local, faults = topology.local, topology.faults
    if local is None or faults is None:
        raise StimulusUnavailable("INCONC: no harness local platform behind the fault proxy in this topology")
    v = topology.vehicle(public=True, region=topology.region, edition=edition, index=1)
    link = await logged_in(fleet, v, timers)
    cut = timers.login_backoff + 1
    fault = await asyncio.to_thread(lambda: faults.link(LINK).partition(cut))
    try:
        gone = await eventually(lambda: topology.platform_id not in local.online(), cut)
        expect.true(gone, "the partition did not take the enterprise platform off the local platform",
                    path="local.online")
        held = [b.realtime(v) for _ in range(3)]
        for data in held:
            await link.send(data)
            await link.send(b.empty(v, 0x07))  # keeps the vehicle's own link alive
        within = cut + timers.login_backoff + timers.report_period * 4 + 4
        back = await eventually(lambda: all(any(f.raw[4:-1] == d[4:-1] for f in local.frames(vin=v.vin))
                                            for d in held), within)
        got = [f.raw for f in local.frames(vin=v.vin)][-3:]
        expect.true(back, "data held during the outage did not reach the local platform", path="local.frames",
                    expected=len(held), actual=len(got))
        relayed = [next(f.raw for f in local.frames(vin=v.vin) if f.raw[4:-1] == d[4:-1]) for d in held]
        expect.equal("relayed.command", [0x03] * 3, [r[2] for r in relayed],
                     "data held during the outage was not sent as reissue 0x03")
    finally:
        await asyncio.to_thread(fault.clear)
