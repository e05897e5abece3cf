"""NOTICE-2016 1.2/b and 1.2/g: public-service vehicles are relayed to the local platform of their
region, byte-identical and in order; private vehicles and other regions never are."""

import asyncio
import time

import pytest

from scenarios.gbt32960_3.builders import delivered_upstream, proxy_seq
from scenarios.kit import (
    arrivals,
    case,
    eventually,
    key,
    logged_in,
    realtime_frame,
    relay_deadline,
    role,
    stored_count,
    unexcused_copies,
)
from scenarios.notice.test_forwarding_faults import LINK, Tally, Vehicle, expect_in_order

FRAMES = 5


@role("enterprise")
@case("NOTICE-2016/1.2/b/01",
      requirement="The enterprise platform uploads the real-time data of public-service vehicles to the local "
                  "platform of their region, per GB/T 32960 (notice 1.2(2)); relayed frames equal what the "
                  "vehicle sent, in content and order (notice 3).")
async def test_public_service_vehicle_relayed_byte_identical(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=True, region=topology.region, edition=edition)
    link = await logged_in(fleet, v, timers)
    local = topology.local
    mark = {v.vin: stored_count(local, v.vin)}  # other cases relay this vehicle too: only what arrives from now on
    sent = [realtime_frame(v, s) for s in range(FRAMES)]
    for frame in sent:
        await link.send(frame)
    within = relay_deadline(timers)
    arrived = await eventually(lambda: len(arrivals(local, sent, mark)) >= FRAMES, within)
    # a second copy is a resend after a late answer (§5.5), which the standard allows: counted, not failed
    t = Tally(sent, arrivals(local, sent, mark), None)
    t.record(expect)
    expect.true(arrived, f"{len(t.copies)} of {FRAMES} frames reached the local platform within {within:g} s",
                path="local.frames", expected=FRAMES, actual=len(t.copies))
    expect.equal("local.frames[*].raw", [f.hex() for f in sent], [c[0].raw.hex() for c in t.copies.values()],
                 "relayed frames differ from what the vehicle sent (content or order)")
    expect.equal("local.frames[copies]", [], unexcused_copies(t.copies, timers),
                 "a resent copy differs from the first one, or a frame was resent more than data_tries times")


@role("enterprise")
@case("NOTICE-2016/1.2/g/01",
      requirement="Private vehicles are never relayed to a local platform, and no vehicle goes to the platform "
                  "of another region (notice 1.2(2), 1.2(7)).")
async def test_private_and_other_region_never_relayed(topology, fleet, timers, expect, edition):
    private = topology.vehicle(public=False, edition=edition)
    other = next(v for v in topology.vehicles if v.public_service and v.region != topology.region
                 and v.edition == edition)
    public = topology.vehicle(public=True, region=topology.region, edition=edition, index=1)
    for v in (private, other):
        link = await logged_in(fleet, v, timers)
        await link.send(realtime_frame(v, 0))
    # the control frame goes last, and it is this frame (not an earlier case's) whose arrival counts
    link = await logged_in(fleet, public, timers)
    control = realtime_frame(public, 0)
    await link.send(control)
    local = topology.local
    # the public vehicle's frame arriving shows the relay ran; only then is absence meaningful
    relayed = await eventually(lambda: any(f.raw == control for f in local.frames(vin=public.vin)),
                               relay_deadline(timers))
    expect.true(relayed, "the control vehicle's frame was not relayed either: cannot judge", path="local.frames")
    for v in (private, other):
        leaked = local.frames(vin=v.vin)
        expect.equal(f"local.frames[vin={v.vin}]", 0, len(leaked),
                     f"{'private' if v is private else 'other-region'} vehicle {v.vin} was relayed")


@role("enterprise")
@case("NOTICE-2016/1.2/b/02",
      requirement="Each real-time frame of a public-service vehicle reaches the local platform within one upload "
                  "period of its arrival at the enterprise platform (notice 1.2(2): real-time upload; GB/T 32960.3 "
                  "§5.2.3 upload period, at most 30 s; here the run's report period).")
async def test_relayed_within_one_upload_period(topology, fleet, timers, expect, edition):
    if topology.local is None:
        pytest.skip("N/A: needs the harness's local platform (enterprise SUT)")
    car = await Vehicle(fleet, topology.vehicle(public=True, region=topology.region, edition=edition, index=1),
                        timers).start()
    bound = timers.report_period
    delays: list[float | None] = []
    try:
        seq = await asyncio.to_thread(proxy_seq, topology.faults, LINK) if topology.faults else 0
        for _ in range(5):
            [raw] = await car.send()
            # bounded wait for this frame, then the next: each delay is measured alone
            await eventually(lambda r=raw: bool(arrivals(topology.local, [r])), bound * 4 + 1, step=0.02)
            await asyncio.sleep(timers.report_period / 2)
        if topology.faults is not None:  # the proxy's delivery times are exact
            seen: dict[tuple[bytes, bytes], float] = {}
            for at, r in await asyncio.to_thread(delivered_upstream, topology.faults, LINK, seq):
                seen.setdefault(key(r), at)  # the first copy: a resend after a late answer (§5.5) is not the relay
            delays = [round(seen[key(r)] - at, 3) if key(r) in seen else None for r, at in zip(car.sent, car.sent_at,
                                                                                                strict=True)]
    finally:
        await car.stop()
    got = await asyncio.to_thread(arrivals, topology.local, car.sent)
    expect.count("frames sent", len(car.sent))
    expect.count("frames relayed", len(got))
    known = [d for d in delays if d is not None]
    if known:
        expect.count("slowest relay (s)", max(known))
    if topology.faults is not None:
        expect.true(all(d is not None and d <= bound for d in delays),
                    f"relay delays {delays} s exceed one upload period ({bound:g} s)", path="relay.delay",
                    expected=f"<= {bound:g} s", actual=delays)
    expect.equal("local.frames[lost]", [], [r.hex() for r in car.sent if key(r) not in got],
                 "frames did not reach the local platform")
    if topology.faults is None:
        pytest.skip("INCONC: no proxy on the link to time the relay")


@role("enterprise")
@case("NOTICE-2016/1.2/b/03",
      requirement="Over a longer stream from two public-service vehicles, interleaved, the local platform receives "
                  "every frame, byte-identical and in each vehicle's order; a frame stored again is only an identical "
                  "resend after a late answer, at most data_tries times (notice 1.2(2), 3; GB/T 32960.3 §5.2 relay, "
                  "§5.2.2, §5.5).")
async def test_long_stream_complete_and_in_order(topology, fleet, timers, expect, edition):
    if topology.local is None:
        pytest.skip("N/A: needs the harness's local platform (enterprise SUT)")
    cars = [await Vehicle(fleet, topology.vehicle(public=True, region=topology.region, edition=edition, index=i),
                          timers).start() for i in (0, 1)]
    try:
        for _ in range(20):  # 40 frames each, 4 per report period
            for car in cars:
                await car.send(2)
            await asyncio.sleep(timers.report_period / 2)
        sent = [r for car in cars for r in car.sent]
        last_sent = time.monotonic()
        done = await eventually(lambda: len(arrivals(topology.local, sent)) == len(sent),
                                timers.report_period * 8 + 2, step=0.1)
        drain = time.monotonic() - last_sent  # after the last frame sent, until all had arrived
    finally:
        for car in cars:
            await car.stop()
    got = await asyncio.to_thread(arrivals, topology.local, sent)
    t = Tally(sent, got, drain if done else None)
    t.record(expect)
    expect.equal("local.frames[lost]", [], [r.hex() for r in sent if key(r) not in got],
                 f"{len(sent) - len(got)} of {len(sent)} frames never reached the local platform")
    expect_in_order(expect, t, sent)
    expect.equal("local.frames[altered]", [], t.altered(), "relayed frames differ from what the vehicles sent")
    # a late answer makes the SUT resend (§5.2.2, §5.5): identical copies, at most data_tries more, are no defect
    expect.equal("local.frames[copies]", [], unexcused_copies(t.copies, timers),
                 "a frame reached the local platform more often than resends allow, or a copy differs")
