"""NOTICE-2016 1.2/b and 1.2/g: public-service vehicles are relayed to the local platform of their
region, byte-identical and in order; private vehicles and other regions never are."""

from harness.protocol.codec import decode
from scenarios.kit import case, eventually, logged_in, realtime_frame, role

FRAMES = 5


@role("enterprise")
@case("NOTICE-2016/1.2/b/01",
      requirement="The enterprise platform uploads the real-time data of public-service vehicles to the local "
                  "platform of their region, per GB/T 32960 (notice 1.2(2)); relayed frames equal what the "
                  "vehicle sent, in content and order (notice 3).")
async def test_public_service_vehicle_relayed_byte_identical(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=True, region=topology.region, edition=edition)
    link = await logged_in(fleet, v, timers)
    sent = [realtime_frame(v, s) for s in range(FRAMES)]
    for frame in sent:
        await link.send(frame)
    local = topology.local
    within = timers.report_period * 4 + 2
    # other cases relay this vehicle too: wait for the collection times of these very frames
    times = {str(decode(f).body["time"]) for f in sent}

    def mine() -> list[bytes]:
        return [f.raw for f in local.frames(vin=v.vin, commands=(0x02, 0x03)) if f.collected_at in times]

    arrived = await eventually(lambda: len(mine()) >= FRAMES, within)
    got = mine()
    expect.count("frames sent", FRAMES)
    expect.count("frames relayed", len(got))
    expect.true(arrived, f"{len(got)} of {FRAMES} frames reached the local platform within {within:g} s",
                path="local.frames", expected=FRAMES, actual=len(got))
    expect.equal("local.frames[*].raw", [f.hex() for f in sent], [f.hex() for f in got[-FRAMES:]],
                 "relayed frames differ from what the vehicle sent (content or order)")


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
                               timers.report_period * 4 + 2)
    expect.true(relayed, "the control vehicle's frame was not relayed either: cannot judge", path="local.frames")
    for v in (private, other):
        leaked = local.frames(vin=v.vin)
        expect.equal(f"local.frames[vin={v.vin}]", 0, len(leaked),
                     f"{'private' if v is private else 'other-region'} vehicle {v.vin} was relayed")
