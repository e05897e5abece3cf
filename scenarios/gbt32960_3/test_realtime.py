"""GB/T 32960.3 Annex B.2.1 real-time data and B.2.8 reissue, from the platform's side: every information
type kept exactly, correct data not answered, wrong data answered with the error flag, custom types kept,
reissue kept with its original time and told apart from live data, duplicates recognised."""

from scenarios.gbt32960_3 import builders as b
from scenarios.kit import (
    answer_timeout,
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

STRUCTURE_FLAG = {2016: 0x02, 2025: 0x06}


def _stored(topology, v, raw: bytes) -> list:
    return [f for f in topology.sut.frames(vin=v.vin) if f.raw == raw]


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.1/01",
      requirement="Real-time data 0x02 carrying every information type of the edition (2016 0x01-0x09; 2025 "
                  "0x01-0x08, 0x30-0x32, a custom type and the signature block) is kept byte for byte "
                  "(B.2.1, 7.2 T7/T8; notice: nothing accepted is lost).")
async def test_every_info_type_kept_exactly(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    data, types = b.full_realtime(v)
    expect.note("information types: " + ", ".join(f"0x{t:02X}" for t in types))
    await link.send(data)
    kept = await eventually(lambda: bool(_stored(topology, v, data)), answer_timeout(timers))
    got = [f.raw for f in topology.sut.frames(vin=v.vin, commands=(0x02,))][-1:]
    expect.true(kept, "the full real-time frame is not kept byte for byte", path="sut.frames[-1].raw",
                expected=data.hex(), actual=[g.hex() for g in got])


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.1/02",
      requirement="Correct real-time data is not answered: the platform answers errors only (B.2.1).")
async def test_correct_data_not_answered(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    await link.send(b.realtime(v))
    # the heartbeat's answer must be the next thing on the link: an ack of the data would come first
    answer = await b.heartbeat_answered(link, v, timers)
    expect.equal("next answer", (0x07, 0x01), (answer.command, answer.ack), "correct real-time data was answered")


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.1/03",
      requirement="Real-time data with an undefined information type whose length cannot be known is a format "
                  "error: answered with the error flag (2016 0x02, 2025 0x06), with its time, and not stored; the "
                  "link survives (B.2.1, 6.3.2 T4).")
async def test_wrong_data_error_flag(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    good = b.realtime(v)
    # the trailing zero stands in for the BCC that with_header recomputes
    bad = b.with_header(good[:-1] + bytes((0x2A if edition == 2016 else 0x40, 1, 2, 3, 0)), length=len(good) - 25 + 4)
    await link.send(bad)
    raw = await link.receive_raw(answer_timeout(timers))
    expect.equal("answer.command", 0x02, raw[2])
    expect.equal("answer.ack", STRUCTURE_FLAG[edition], raw[3], "ill-formed data not answered with the error flag")
    expect.equal("answer.time", bad[24:30], raw[24:30])
    expect.equal("stored", 0, len(_stored(topology, v, bad)))
    expect.equal("heartbeat.ack", 0x01, (await b.heartbeat_answered(link, v, timers)).ack)


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.1/04",
      requirement="Custom information types (0x80-0xFE, length-prefixed) are accepted and kept with the rest of "
                  "the frame, not stripped (7.2 T7 custom data; B.2.1).")
async def test_custom_types_kept(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    from scenarios.kit import vehicle_item

    items = [vehicle_item(edition), {"type": 0x80, "data": b"\x01\x02custom-payload\xfe"},
             {"type": 0xFE, "data": b"\x00\x00"}]
    data = b.realtime(v, items=items)
    await link.send(data)
    answer = await b.heartbeat_answered(link, v, timers)
    expect.equal("next answer", (0x07, 0x01), (answer.command, answer.ack))
    kept = await eventually(lambda: bool(_stored(topology, v, data)), answer_timeout(timers))
    expect.true(kept, "data with custom types is not kept byte for byte", path="sut.frames.raw")


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.8/01",
      requirement="Reissue 0x03 is accepted with its original collection time and kept as reissue, exactly as "
                  "sent; it is not answered (B.2.8, §5.5).")
async def test_reissue_kept_with_original_time(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    old = b.fresh_time()
    data = b.realtime(v, command=0x03, time=old)
    await link.send(data)
    answer = await b.heartbeat_answered(link, v, timers)
    expect.equal("next answer", (0x07, 0x01), (answer.command, answer.ack), "the reissue was answered")
    kept = await eventually(lambda: bool(_stored(topology, v, data)), answer_timeout(timers))
    rows = topology.sut.frames(vin=v.vin, commands=(0x02, 0x03))
    expect.true(kept, "the reissue is not kept byte for byte as 0x03", path="sut.frames.raw",
                expected=data.hex(), actual=[r.raw.hex() for r in rows[-1:]])
    row = _stored(topology, v, data)[0]
    expect.equal("stored.collected_at", str(old), row.collected_at)


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.8/02",
      requirement="Reissue is not confused with live data: live 0x02 and reissue 0x03 of one vehicle, sent "
                  "interleaved, are kept with their own command and time, and relayed upstream as such "
                  "(B.2.8, §5.5: marked 0x03).")
async def test_reissue_not_confused_with_live(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=True, region=topology.region, edition=edition)
    link = await logged_in(fleet, v, timers)
    sent = [b.realtime(v, command=0x03), b.realtime(v, command=0x02), b.realtime(v, command=0x03)]
    for data in sent:
        await link.send(data)
    kept = await eventually(lambda: all(_stored(topology, v, d) for d in sent), answer_timeout(timers))
    expect.true(kept, "live and reissue frames are not all kept with their own command", path="sut.frames")
    local = topology.local
    if local is not None:
        within = relay_deadline(timers)
        arrived = await eventually(lambda: {d for d in sent} <= {f.raw for f in local.frames(vin=v.vin)}, within)
        got = [f.raw.hex() for f in local.frames(vin=v.vin)][-3:]
        expect.true(arrived, "live and reissue frames did not reach the local platform unchanged",
                    path="local.frames.raw", expected=[d.hex() for d in sent], actual=got)


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.8/03",
      requirement="A reissue frame received twice (same VIN, command and collection time) is recognised as a "
                  "duplicate: kept once as new and relayed upstream once (B.2.8, §5.5).")
async def test_duplicate_reissue_detected(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=True, region=topology.region, edition=edition, index=1)
    link = await logged_in(fleet, v, timers)
    data = b.realtime(v, command=0x03)
    control = b.realtime(v, command=0x03)
    local = topology.local
    within = relay_deadline(timers)
    mark = {v.vin: stored_count(local, v.vin)} if local is not None else {}
    await link.send(data)
    relayed = 0
    if local is not None:  # the repeat comes once the first copy went upstream, as a late reissue would
        await eventually(lambda: bool(arrivals(local, [data], mark)), within)
        # a late ack makes the SUT resend that first copy (§5.2.2, §5.5): those resends land before the
        # repeat goes in, so only copies after this point are the repeat relayed
        await eventually(lambda: topology.sut.queue_depth() == 0, within)
        before = await settled_copies(local, [data], mark, timers)
        relayed = len(before.get(key(data), []))
        expect.true(relayed >= 1, "the reissue frame did not reach the local platform", path="local copies",
                    expected=1, actual=0)
        expect.count("frames duplicated", relayed - 1)
        expect.equal("local.frames[first relay].raw", data.hex(), before[key(data)][0].raw.hex(),
                     "the reissue frame was not relayed unchanged")
        expect.equal("local.frames[first relay]", [], unexcused_copies(before, timers),
                     "the first relay was resent beyond §5.2.2")
    link = await logged_in(fleet, v, timers)  # the wait may outlast the idle time: a new link, same vehicle
    await link.send(data)
    await link.send(control)  # relayed after the duplicate would be: its arrival bounds the wait
    rows = await _wait_rows(topology, v, data, 2, answer_timeout(timers))
    expect.equal("sut.frames[dup].duplicate", [False, True], [r.duplicate for r in rows])
    if local is not None:
        await eventually(lambda: any(f.raw == control for f in local.frames(vin=v.vin)), within)
        copies = arrivals(local, [data], mark).get(key(data), [])
        expect.equal("local copies", relayed, len(copies), "a duplicate reissue was relayed again")


async def _wait_rows(topology, v, data, n, within):
    await eventually(lambda: len(_stored(topology, v, data)) >= n, within)
    return _stored(topology, v, data)
