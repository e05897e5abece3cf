"""NOTICE-2016 1.2/c and 1.2/d: the national platform's supervision spot checks and real-time data calls
answered by the enterprise platform (the SUT), platform-forward mode (docs/datacall.md).

The harness plays the national platform; it makes its calls through the national party's Control
API (StartDataCall, GetDataCall, SpotCheck) and judges what reaches it. GB/T 32960.3 defines no
procedure: the calls use the platform-exchange custom ids 0xC0/0xC1 (T 1 reserves 0xC0-0xFE) on the
enterprise -> national link of §5 (platform login 0x05).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from harness.topology.base import StimulusUnavailable
from scenarios.kit import (
    answer_timeout,
    case,
    eventually,
    heartbeat_frame,
    logged_in,
    most_copies,
    needs,
    realtime_frame,
    relay_deadline,
    role,
)

UNKNOWN_VIN = "LUNKNOWN000000009"


def national_control(topology: Any) -> Any:
    """The Control client of the harness's national platform (the caller of spot checks and data calls)."""
    party = topology.national
    if party is None:
        raise StimulusUnavailable("this topology has no national platform to make the call")
    control = getattr(party, "control", None)  # container parties carry their client
    if control is not None:
        return control
    server = getattr(party, "server", None)  # the embedded party: the reference national platform in-process
    if server is None or server.control_port is None:
        raise StimulusUnavailable("the national platform offers no Control API to make the call")
    from harness.control import ControlClient

    return ControlClient(f"127.0.0.1:{server.control_port}")


def arrived(national: Any, frames: list[bytes], vin: str) -> list[bytes]:
    """Which of `frames` (by bytes) the national platform holds for `vin`."""
    got = {f.raw for f in national.frames(vin=vin, commands=(0x02, 0x03))}
    return [f for f in frames if f in got]



async def start_call(topology: Any, timers: Any, vins: list[str], duration: int) -> tuple[Any, dict]:
    nat = national_control(topology)
    call_id = nat.data_call(topology.platform_id, vins, duration)
    call = nat.get_data_call(call_id, wait=answer_timeout(timers))
    return nat, call


async def until_elapsed(start: float, seconds: float, timers: Any, links: list[Any]) -> None:
    """Wait until `seconds` have passed since `start` (time.monotonic); the vehicles keep their links
    up meanwhile with heartbeats (the platform closes a silent link)."""
    end = start + seconds
    while time.monotonic() < end:
        for link, vehicle in links:
            await link.send(heartbeat_frame(vehicle))
        step = min(end, time.monotonic() + timers.heartbeat / 2)
        await eventually(lambda s=step: time.monotonic() >= s, timers.heartbeat)


@role("enterprise")
@case("NOTICE-2016/1.2/d/01",
      requirement="On a national real-time data call for N vehicles and D seconds, the enterprise platform uploads "
                  "exactly those vehicles' real-time data, unchanged, within the upload period, and stops after D "
                  "(notice 1.2(4); platform exchange per GB/T 32960.3 §5.2, call per docs/datacall.md).")
async def test_data_call_streams_exactly_the_called_vehicles_then_stops(topology, fleet, timers, expect, edition):
    called = [topology.vehicle(public=True, region=topology.region, edition=edition),
              topology.vehicle(public=False, edition=edition)]
    bystander = topology.vehicle(public=True, region=topology.region, edition=edition, index=1)
    links = {v.vin: await logged_in(fleet, v, timers) for v in [*called, bystander]}
    duration = max(2, round(timers.report_period * 4))
    started = time.monotonic()
    _, call = await start_call(topology, timers, [v.vin for v in called], duration)
    expect.true(call["answered"], "the enterprise platform did not answer the data call", path="call.answered")
    expect.equal("call.results", {v.vin: "accepted" for v in called}, dict(call["results"]))
    during = {v.vin: [realtime_frame(v, s) for s in range(3)] for v in [*called, bystander]}
    for v in [*called, bystander]:
        for f in during[v.vin]:
            await links[v.vin].send(f)
    national = topology.national
    ok = await eventually(lambda: all(len(arrived(national, during[v.vin], v.vin)) == 3 for v in called),
                          relay_deadline(timers))
    for v in called:
        got = arrived(national, during[v.vin], v.vin)
        expect.count(f"frames relayed for {v.vin}", len(got))
        expect.true(ok, f"{len(got)} of 3 frames of called vehicle {v.vin} reached the national platform "
                        f"within {relay_deadline(timers):g} s", path=f"national.frames[{v.vin}]", expected=3,
                    actual=len(got))
    expect.equal(f"national.frames[{bystander.vin}]", [], arrived(national, during[bystander.vin], bystander.vin),
                 "a vehicle that was not called reached the national platform")
    await until_elapsed(started, duration + timers.report_period * 2, timers,
                        [(links[v.vin], v) for v in called])
    after = {v.vin: [realtime_frame(v, s) for s in range(10, 13)] for v in called}
    for v in called:
        for f in after[v.vin]:
            await links[v.vin].send(f)
    # absence is judged over four upload periods: a relay running would have delivered by then
    leaked = await eventually(lambda: any(arrived(national, after[v.vin], v.vin) for v in called),
                              timers.report_period * 4)
    expect.true(not leaked, f"data kept reaching the national platform after the {duration} s call ended",
                path="national.frames(after the call)", expected=0,
                actual=sum(len(arrived(national, after[v.vin], v.vin)) for v in called))


@role("enterprise")
@case("NOTICE-2016/1.2/d/02",
      requirement="A data call naming a VIN the enterprise platform does not hold gets a defined error: status 02 "
                  "(unknown VIN) for it and flag 0x02 on the answer, while known VINs are accepted (notice 1.2(4); "
                  "docs/datacall.md).")
async def test_data_call_unknown_vin_gets_an_error(topology, timers, expect):
    known = topology.vehicle(public=False, edition=2016)
    nat, call = await start_call(topology, timers, [known.vin, UNKNOWN_VIN], 1)
    expect.true(call["answered"], "the enterprise platform did not answer the data call", path="call.answered")
    expect.equal("call.results", {known.vin: "accepted", UNKNOWN_VIN: "unknown_vin"}, dict(call["results"]))
    answers = [f for f in topology.national.frames(commands=(0xC0,)) if f.ack != 0xFE]
    expect.true(bool(answers), "no data-call answer is stored at the national platform", path="national.frames[0xC0]")
    expect.equal("answer.ack", 0x02, answers[-1].ack, "a call with an unknown VIN was answered as fully accepted")


@role("enterprise")
@case("NOTICE-2016/1.2/d/03",
      requirement="Overlapping data calls are served each for its own vehicles and duration: a second call does "
                  "not end the first, and the first ending does not end the second (notice 1.2(4)).")
async def test_overlapping_data_calls(topology, fleet, timers, expect):
    first = topology.vehicle(public=False, edition=2016)
    second = topology.vehicle(public=False, edition=2025)
    links = {v.vin: await logged_in(fleet, v, timers) for v in (first, second)}
    short = max(2, round(timers.report_period * 4))
    started = time.monotonic()
    _, a = await start_call(topology, timers, [first.vin], short)
    _, b = await start_call(topology, timers, [second.vin], short * 4)
    expect.true(a["answered"] and b["answered"], "a data call was not answered", path="call.answered")
    national = topology.national
    batch = {v.vin: [realtime_frame(v, s) for s in range(2)] for v in (first, second)}
    for v in (first, second):
        for f in batch[v.vin]:
            await links[v.vin].send(f)
    ok = await eventually(lambda: all(len(arrived(national, batch[v.vin], v.vin)) == 2 for v in (first, second)),
                          relay_deadline(timers))
    expect.true(ok, "both calls running: not every called vehicle's frames reached the national platform",
                path="national.frames", expected={v.vin: 2 for v in (first, second)},
                actual={v.vin: len(arrived(national, batch[v.vin], v.vin)) for v in (first, second)})
    await until_elapsed(started, short + timers.report_period * 2, timers,
                        [(links[v.vin], v) for v in (first, second)])
    later = {v.vin: [realtime_frame(v, s) for s in range(10, 12)] for v in (first, second)}
    for v in (first, second):
        for f in later[v.vin]:
            await links[v.vin].send(f)
    ok = await eventually(lambda: len(arrived(national, later[second.vin], second.vin)) == 2, relay_deadline(timers))
    expect.true(ok, "the longer call stopped when the shorter one ended", path=f"national.frames[{second.vin}]",
                expected=2, actual=len(arrived(national, later[second.vin], second.vin)))
    expect.equal(f"national.frames[{first.vin}](after its call)", [], arrived(national, later[first.vin], first.vin),
                 "the shorter call kept streaming after its duration")


@role("enterprise")
@case("NOTICE-2016/1.2/c/01",
      requirement="A national spot check of a named vehicle returns its latest state: the data unit of the latest "
                  "real-time frame the enterprise platform received, unchanged (notice 1.2(3); docs/datacall.md "
                  "0xC1).")
async def test_spot_check_returns_latest_state(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    # collection times after any earlier case's frames of this vehicle, so these are its latest
    frames = [realtime_frame(v, 600 + s) for s in range(3)]
    for f in frames:
        await link.send(f)
    stored = await eventually(lambda: {f.raw for f in topology.sut.frames(vin=v.vin, commands=(0x02,))} >= set(frames),
                              relay_deadline(timers))
    expect.true(stored, "the enterprise platform did not store the vehicle's frames: cannot judge",
                path="sut.frames")
    check = national_control(topology).spot_check(topology.platform_id, v.vin, wait=answer_timeout(timers))
    expect.true(check["answered"], "the spot check was not answered", path="spot_check.answered")
    expect.equal("spot_check.ack", 0x01, check["ack"])
    expect.equal("spot_check.latest", frames[-1][24:-1].hex(), bytes(check["latest"]).hex(),
                 "the spot check did not return the vehicle's latest data unit")


@role("enterprise")
@case("NOTICE-2016/1.2/c/02",
      requirement="A spot check of a vehicle the enterprise platform holds no real-time data for is answered with "
                  "flag 0x02 and no data (notice 1.2(3); docs/datacall.md 0xC1).")
async def test_spot_check_without_data_is_an_error(topology, timers, expect):
    check = national_control(topology).spot_check(topology.platform_id, UNKNOWN_VIN, wait=answer_timeout(timers))
    expect.true(check["answered"], "the spot check was not answered", path="spot_check.answered")
    expect.equal("spot_check.ack", 0x02, check["ack"], "a spot check of a vehicle without data was answered 0x01")
    expect.equal("spot_check.latest", "", bytes(check["latest"]).hex())


def end_call(topology: Any, call_id: int) -> None:
    """The national platform ends a call early (0xC2, docs/datacall.md): sent from the harness's
    in-process national platform (the Control API has no EndDataCall)."""
    server = getattr(topology.national, "server", None)
    if server is None:
        raise StimulusUnavailable("ending a data call early needs the embedded national platform")
    from harness.protocol import datacall
    from harness.protocol.codec import COMMAND_FLAG, assemble
    from reference_impl.core import Send, now_timestamp

    def send() -> None:
        core = server.core
        conn = core.online[topology.platform_id]
        body = {"time": now_timestamp(time.time()), "call_id": call_id}
        data = assemble(core.links[conn].edition, datacall.END_CALL, COMMAND_FLAG, topology.platform_id,
                        datacall.encode_body(datacall.END_CALL, False, body))
        server.run([Send(conn, data)])

    topology.national._on_loop(send)


@role("enterprise")
@case("NOTICE-2016/1.2/d/04",
      requirement="A data call the national platform ends early (0xC2) stops at once: the called vehicle's later "
                  "frames no longer reach the national platform, though the call's duration has not passed "
                  "(notice 1.2(4): as instructed; docs/datacall.md 0xC2).")
async def test_data_call_ended_early(topology, fleet, timers, expect):
    v = topology.vehicle(public=False, edition=2016)
    link = await logged_in(fleet, v, timers)
    nat, call = await start_call(topology, timers, [v.vin], 600)
    expect.true(call["answered"], "the enterprise platform did not answer the data call", path="call.answered")
    first = [realtime_frame(v, 1500)]
    await link.send(first[0])
    ok = await eventually(lambda: bool(arrived(topology.national, first, v.vin)), relay_deadline(timers))
    expect.true(ok, "the called vehicle's frame did not reach the national platform: cannot judge",
                path="national.frames")
    end_call(topology, call["call_id"])
    ended = await eventually(lambda: any(f.ack == 0x01 for f in topology.national.frames(commands=(0xC2,))),
                             answer_timeout(timers))
    expect.true(ended, "the end of the call was not answered 0x01", path="national.frames[0xC2]")
    later = [realtime_frame(v, 1501 + s) for s in range(3)]
    for f in later:
        await link.send(f)
    leaked = await eventually(lambda: bool(arrived(topology.national, later, v.vin)), relay_deadline(timers))
    expect.true(not leaked, "the call kept streaming after the national platform ended it",
                path="national.frames(after 0xC2)", expected=0, actual=len(arrived(topology.national, later, v.vin)))


@role("enterprise")
@case("NOTICE-2016/1.2/d/05",
      requirement="A data call running while the enterprise -> national link is down is served after recovery "
                  "(PICS data_call.outage, default serve-after-recovery): every frame of the called vehicle "
                  "reaches the national platform, those of the outage as reissue 0x03 with their original bytes apart "
                  "from the command; a frame stored again is only a bounded resend after a late answer (notice "
                  "1.2(4); GB/T 32960.3 §5.1, §5.2.2, §5.5).")
async def test_data_call_served_after_outage(topology, fleet, timers, expect, pics):
    from harness.plugin import pics_claims

    if pics_claims(pics, "data_call.outage=report"):
        import pytest

        pytest.skip("N/A: the PICS says a call during an outage is reported, not served after recovery")
    restart = topology.extra.get("restart")
    if restart is None:
        raise StimulusUnavailable(f"the {topology.backend} topology cannot take the national platform down")
    v = topology.vehicle(public=False, edition=2016)
    link = await logged_in(fleet, v, timers)
    nat, call = await start_call(topology, timers, [v.vin], 600)
    expect.true(call["answered"], "the enterprise platform did not answer the data call", path="call.answered")
    before = [realtime_frame(v, 2400)]
    await link.send(before[0])
    ok = await eventually(lambda: bool(arrived(topology.national, before, v.vin)), relay_deadline(timers))
    expect.true(ok, "the called vehicle's frame did not reach the national platform: cannot judge",
                path="national.frames")
    # the outage: the national platform dies (kill -9) and comes back on the same port; the enterprise
    # notices the lost link at once and logs in again after its retry interval (§5.1)
    await asyncio.to_thread(restart, "national", True)
    outage = [realtime_frame(v, 2401 + s) for s in range(4)]
    for f in outage:
        await link.send(f)
    national = topology.national
    want = before + outage

    def served() -> dict[bytes, list[int]]:
        rows = national.frames(vin=v.vin, commands=(0x02, 0x03))
        out: dict[bytes, list[int]] = {}
        for r in rows:
            key = r.raw[:2] + b"\x02" + r.raw[3:-1]  # the frame as sent, whatever command it came as
            out.setdefault(key, []).append(r.command)
        return out

    keys = [f[:-1] for f in want]
    drained = await eventually(lambda: all(k in served() for k in keys),
                               timers.platform_login_retry * 3 + relay_deadline(timers) * 2)
    got = served()
    expect.count("frames sent during the call", len(want))
    expect.count("frames served", sum(1 for k in keys if k in got))
    expect.true(drained, "frames of the call sent around the outage never reached the national platform",
                path="national.frames", expected=len(want), actual=sum(1 for k in keys if k in got))
    expect.count("frames duplicated", sum(max(len(got.get(k, [])) - 1, 0) for k in keys))
    # a slow answer makes the SUT resend (§5.2.2, §5.5), so up to `most` copies of a frame; `before` was only
    # seen stored, not answered: killed before answering, the national platform gets it again as reissue 0x03
    most = most_copies(timers)
    early = got.get(before[0][:-1], [])  # commands of its copies (0x02 or 0x03), in store order
    expect.true(early == sorted(early) and 1 <= early.count(0x02) <= most and early.count(0x03) <= most,
                f"the frame sent before the outage arrived as {early}: expected 0x02 first, at most {most} times, "
                f"then at most {most} reissues 0x03", path="national.frames[before].command",
                expected=f"[0x02] x 1..{most} + [0x03] x 0..{most}", actual=early)
    wrong = {f.hex(): got.get(f[:-1]) for f in outage
             if got.get(f[:-1]) and (set(got[f[:-1]]) != {0x03} or len(got[f[:-1]]) > most)}
    expect.equal("national.frames[outage].command", {}, wrong,
                 f"frames of the outage were not served as reissue 0x03 (or more than {most} times)")


def _reference_mode(topology: Any, mode: str) -> str | None:
    """Put the embedded reference SUT in the data-call mode the PICS claims (an operator's
    configuration); returns the mode it had, None when the SUT is not ours to configure."""
    server = getattr(topology.sut, "server", None)
    if server is None:
        return None

    def swap() -> str:
        old = server.core.cfg.data_call_mode
        server.core.cfg.data_call_mode = mode
        return old

    return topology.sut._on_loop(swap)


@role("enterprise")
@needs(pics="data_call.mode=terminal-link")
@case("NOTICE-2016/1.2/d/06",
      requirement="terminal-link data call: the enterprise platform points the called vehicle at the public platform "
                  "(set 0x81 params 0x0D-0x0F, 0x10 = 01) and sends control 0x82/0x07; the vehicle opens its own "
                  "link to the national platform, its data flows there while its enterprise link stays up, and "
                  "both stop after the call's duration (notice 1.2(4); GB/T 32960.3 T B.10, T B.15 0x07).")
async def test_terminal_link_data_call(topology, timers, expect, pics):
    from harness.upgrade import SimVehicles

    v = topology.vehicle(public=False, edition=2016)
    restore = _reference_mode(topology, "terminal-link")
    try:
        async with SimVehicles(topology.sut.host, topology.sut.port, timers, [(v.vin, 2016)]):
            ok = await eventually(lambda: v.vin in topology.sut.online(), answer_timeout(timers) * 3)
            expect.true(ok, "the simulated vehicle did not log in: cannot judge", path="sut.online")
            national = topology.national
            own_link = v.vin  # the national platform files frames under the link's identity

            def direct() -> list[Any]:
                return [f for f in national.frames(vin=v.vin, commands=(0x02,)) if f.link == own_link]

            already = len(direct())
            duration = max(2, round(timers.report_period * 8))
            started = time.monotonic()
            _, call = await asyncio.to_thread(_call, topology, timers, [v.vin], duration)
            expect.true(call["answered"], "the enterprise platform did not answer the data call",
                        path="call.answered")
            flowing = await eventually(lambda: len(direct()) >= already + 2, duration)
            expect.true(flowing, "the vehicle's data did not reach the national platform over its own link",
                        path="national.frames[vehicle link]", expected=">= 2 new", actual=len(direct()) - already)
            expect.true(v.vin in topology.sut.online(), "the vehicle's enterprise link did not stay up",
                        path="sut.online")
            closed = await eventually(lambda: v.vin not in national.online(),
                                      duration + answer_timeout(timers) * 3 - (time.monotonic() - started))
            expect.true(closed, "the vehicle's link to the national platform did not end after the call",
                        path="national.online")
            settled = len(direct())
            more = await eventually(lambda: len(direct()) > settled, timers.report_period * 4)
            expect.true(not more, "data kept flowing to the national platform after the call ended",
                        path="national.frames[vehicle link]", expected=settled, actual=len(direct()))
    finally:
        if restore is not None:
            _reference_mode(topology, restore)


def _call(topology: Any, timers: Any, vins: list[str], duration: int) -> tuple[Any, dict]:
    nat = national_control(topology)
    call_id = nat.data_call(topology.platform_id, vins, duration)
    return nat, nat.get_data_call(call_id, wait=answer_timeout(timers))
