"""GB/T 32960.3 Annex B: vehicle login and heartbeat from the platform's side."""

from scenarios.kit import answer_timeout, case, heartbeat_frame, logged_in, login_frame, role


@role("enterprise")
@case("GBT32960.3-{edition}/B.1/01",
      requirement="The platform answers a well-formed vehicle login 0x01 of a registered vehicle with response "
                  "flag 0x01 (success) (Annex B.1, 6.3.2).")
async def test_login_answered_success(topology, fleet, timers, edition):
    v = topology.vehicle(public=True, edition=edition)
    await logged_in(fleet, v, timers)


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.6/01",
      requirement="The platform answers a terminal heartbeat 0x07 with response flag 0x01 (Annex B.2.6).")
async def test_heartbeat_answered(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    await link.send(heartbeat_frame(v))
    answer = await link.receive(answer_timeout(timers))
    expect.equal("answer.command", 0x07, answer.command)
    expect.equal("answer.ack", 0x01, answer.ack)


@role("enterprise")
@case("GBT32960.3-{edition}/B.1/02",
      requirement="A login for a VIN the platform does not know is refused: flag 0x02 (2016) or 0x04 "
                  "VIN does not exist (2025) (Annex B.1, T4).")
async def test_unknown_vin_refused(fleet, timers, expect, edition):
    from harness.topology.base import VehicleSpec

    stranger = VehicleSpec("LUNKNOWN" + "0" * 8 + str(edition)[-1], False, "", edition)
    link = await fleet.link(f"vehicle {stranger.vin}")
    await link.send(login_frame(stranger))
    answer = await link.receive(answer_timeout(timers))
    expect.equal("answer.ack", 0x02 if edition == 2016 else 0x04, answer.ack)
