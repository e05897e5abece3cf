"""NOTICE-2016 1.2/f: free upgrade of sold vehicles' terminals and protocol, brought back onto the platform.

- remote upgrade, control 0x82/0x01 (GB/T 32960.3-2016 T B.14-B.16): the platform (SUT, through
  Control SendCommand) sends the upgrade string (T B.16 order, docs/upgrade.md); the harness serves
  the firmware over HTTP on loopback; our simulated T-Box really fetches it, reconnects and reports
  the new firmware in param 0x08. The platform records each outcome (Control ListWarnings kinds
  upgrade-done / upgrade-failed, reference_impl/upgrades.py): failure paths are an unreachable URL
  and a missed deadline;
- edition upgrade: one vehicle moves from `##` (2016) to `$$` (2025), activation 0x09 first;
- the campaign view (harness.upgrade.campaign) over a fleet of mixed firmware and editions.

A minute of a deadline is the run's minute (`timers.control_resend`: 1 s compressed).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from harness.protocol.codec import Frame, decode, encode
from harness.protocol.upgrade import build_upgrade, parse_upgrade
from harness.upgrade import FirmwareServer, SimVehicles, campaign, closed_port_url, fetching_hook
from scenarios.kit import (
    answer_timeout,
    arrivals,
    case,
    eventually,
    login_frame,
    needs,
    now_time,
    realtime_frame,
    relay_deadline,
    role,
    stored_count,
    unexcused_copies,
)

OLD, NEW = "F1.00", "F2.01"
IMAGE = b"\x7fFW" + bytes(range(256)) * 16


def minute(timers: Any) -> float:
    return timers.control_resend


def order(server_url: str, deadline_min: int, *, url_first: bool = False, firmware: str = NEW) -> str:
    return build_upgrade(url=server_url, firmware_version=firmware, hardware_version="H1.00", maker_id="HRNS",
                         address="127.0.0.1", port=80, connect_deadline_min=deadline_min, url_first=url_first)


async def online(topology: Any, vin: str, timers: Any) -> bool:
    return await eventually(lambda: vin in topology.sut.online(), answer_timeout(timers) * 3)


def outcomes(control: Any, vin: str, since: float) -> list[tuple[str, str]]:
    return [(w["kind"], w["detail"]) for w in control.warnings(vin=vin)
            if w["kind"] in ("upgrade-done", "upgrade-failed") and w["at"] >= since]


async def command(control: Any, vin: str, kind: str, body: dict, *, wait: float) -> dict:
    """Control SendCommand off the case's loop: the simulated vehicles answer on that loop."""
    return await asyncio.to_thread(control.send_command, vin, kind, body, wait=wait)


def firmware_of(control: Any, vin: str, timers: Any) -> str | None:
    """Param 0x08 as the vehicle answers the platform's query 0x80 (through the SUT)."""
    answer = control.send_command(vin, "query", {"ids": [0x08]}, wait=answer_timeout(timers))
    if not answer.get("answered"):
        return None
    params = {p["id"]: p["value"] for p in decode(bytes(answer["answer"])).body["params"]}
    return str(params.get(0x08, "")).strip()


async def upgrade_case(topology: Any, control: Any, timers: Any, expect: Any, edition: int, *,
                       url_first: bool = False) -> None:
    v = topology.vehicle(public=False, edition=edition, index=0)
    fetched: list[Any] = []
    with FirmwareServer({f"/fw/{NEW}.bin": IMAGE}) as server:
        async with SimVehicles(topology.sut.host, topology.sut.port, timers, [(v.vin, edition)],
                               hook=fetching_hook(fetched), firmware=OLD):
            expect.true(await online(topology, v.vin, timers), "the simulated vehicle did not log in: cannot judge",
                        path="sut.online")
            since = time.time()
            text = order(server.url(f"/fw/{NEW}.bin"), 5, url_first=url_first)
            sent = await command(control, v.vin, "control", {"command": 0x01, "params": text},
                                        wait=answer_timeout(timers))
            body = decode(bytes(sent["sent"])).body
            fields = parse_upgrade(body.get("params") or "") if body.get("command") == 0x01 else None
            expect.true(fields is not None, "the control 0x82/0x01 the platform sent is not a valid upgrade string",
                        path="0x82.params", expected=text, actual=body.get("params"))
            expect.equal("0x82.params", text, body["params"], "the platform changed the upgrade string")
            expect.true(sent.get("answered") and sent.get("ack") == 0x01, "the vehicle did not accept the upgrade",
                        path="0x82 answer", expected=0x01, actual=sent.get("ack"))
            deadline = 5 * minute(timers)
            done = await eventually(lambda: bool(outcomes(control, v.vin, since)), deadline + answer_timeout(timers))
            expect.true(any(f.status == 200 for f in server.fetches), "the firmware was never fetched",
                        path="firmware server", expected="GET 200", actual=[(f.path, f.status) for f in server.fetches])
            got = outcomes(control, v.vin, since)
            expect.true(done, "the platform recorded no outcome of the upgrade", path="warnings[upgrade-*]")
            expect.equal("upgrade outcome", "upgrade-done", got[0][0], f"the upgrade was reported {got[0]}")
            expect.equal("param 0x08", NEW, await asyncio.to_thread(firmware_of, control, v.vin, timers),
                         "the vehicle does not report the new firmware through the platform")


@role("enterprise")
@needs(pics="control")
@case("NOTICE-2016/1.2/f/01",
      requirement="A remote upgrade sent by the platform (control 0x82/0x01, T B.16 field order) reaches the "
                  "terminal well-formed; the terminal fetches the firmware, reconnects before the deadline and "
                  "reports it in param 0x08; the platform records the upgrade as done (notice 1.2(6); GB/T 32960.3 "
                  "T B.14-B.16, B.2.4).")
async def test_remote_upgrade(topology, control, timers, expect, edition):
    await upgrade_case(topology, control, timers, expect, edition)


@role("enterprise")
@needs(pics="control")
@case("NOTICE-2016/1.2/f/02",
      requirement="The other field order of the 2016 text (T B.15: URL first) is carried and followed as well: the "
                  "upgrade completes and is recorded as done (notice 1.2(6); GB/T 32960.3 T B.15).")
async def test_remote_upgrade_url_first(topology, control, timers, expect):
    await upgrade_case(topology, control, timers, expect, 2016, url_first=True)


@role("enterprise")
@needs(pics="control")
@case("NOTICE-2016/1.2/f/03",
      requirement="A remote upgrade whose URL cannot be reached leaves the terminal on its old firmware and online; "
                  "the platform reports the upgrade failed when the deadline passes, not done (notice 1.2(6): "
                  "bring sold vehicles onto the platform; GB/T 32960.3 T B.16 time limit).")
async def test_upgrade_unreachable_url(topology, control, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition, index=0)
    fetched: list[Any] = []
    async with SimVehicles(topology.sut.host, topology.sut.port, timers, [(v.vin, edition)],
                           hook=fetching_hook(fetched, timeout=minute(timers)), firmware=OLD):
        expect.true(await online(topology, v.vin, timers), "the simulated vehicle did not log in: cannot judge",
                    path="sut.online")
        since = time.time()
        sent = await command(control, v.vin, "control", {"command": 0x01, "params": order(closed_port_url(), 1)},
                                    wait=answer_timeout(timers))
        expect.true(sent.get("answered"), "the vehicle did not answer the upgrade order", path="0x82 answer")
        settled = await eventually(lambda: bool(outcomes(control, v.vin, since)),
                                   minute(timers) + answer_timeout(timers) * 2)
        expect.true(bool(fetched) and not fetched[0].ok, "the terminal's fetch did not fail: cannot judge",
                    path="terminal fetch", actual=[f.detail for f in fetched])
        got = outcomes(control, v.vin, since)
        expect.true(settled, "the platform recorded no outcome of the failed upgrade", path="warnings[upgrade-*]")
        expect.equal("upgrade outcome", "upgrade-failed", got[0][0], f"a failed upgrade was reported {got[0]}")
        expect.true(v.vin in topology.sut.online(), "the vehicle is no longer online after the failed upgrade",
                    path="sut.online")
        expect.equal("param 0x08", OLD, await asyncio.to_thread(firmware_of, control, v.vin, timers),
                     "the firmware changed though the download failed")


@role("enterprise")
@needs(pics="control")
@case("NOTICE-2016/1.2/f/04",
      requirement="A terminal that reconnects only after the upgrade's time limit has missed it: the platform "
                  "reports the upgrade failed at the deadline, even if the vehicle later reports the new firmware "
                  "(notice 1.2(6); GB/T 32960.3 T B.16: reconnect before the limit expires).")
async def test_upgrade_missed_deadline(topology, control, timers, expect):
    v = topology.vehicle(public=False, edition=2016, index=0)
    fetched: list[Any] = []
    late = 2.5 * minute(timers)  # the server answers after 2.5 min; the limit is 1 min
    with FirmwareServer({f"/fw/{NEW}.bin": IMAGE}, delay=late) as server:
        async with SimVehicles(topology.sut.host, topology.sut.port, timers, [(v.vin, 2016)],
                               hook=fetching_hook(fetched), firmware=OLD):
            expect.true(await online(topology, v.vin, timers), "the simulated vehicle did not log in: cannot judge",
                        path="sut.online")
            since = time.time()
            text = order(server.url(f"/fw/{NEW}.bin"), 1)
            await command(control, v.vin, "control", {"command": 0x01, "params": text}, wait=answer_timeout(timers))
            came_back = await eventually(lambda: bool(fetched) and fetched[0].ok, late + answer_timeout(timers) * 2)
            expect.true(came_back, "the slow download never completed: cannot judge", path="terminal fetch")
            relogged = await online(topology, v.vin, timers)
            expect.true(relogged, "the vehicle did not come back after its late upgrade", path="sut.online")
            now_fw = await eventually(lambda: firmware_of(control, v.vin, timers) == NEW, answer_timeout(timers) * 3)
            expect.true(now_fw, "the vehicle does not report the new firmware after the late upgrade: cannot judge",
                        path="param 0x08")
            got = outcomes(control, v.vin, since)
            expect.true(bool(got), "the platform recorded no outcome of the late upgrade", path="warnings[upgrade-*]")
            expect.equal("upgrade outcome", "upgrade-failed", got[0][0],
                         f"an upgrade that missed its deadline was reported {got[0]}")


def activation(vin: str) -> bytes:
    body = {"time": now_time(), "chip_id": "T" + vin[-15:], "public_key": bytes(range(64)), "vin": vin,
            "algorithm": 2, "r": bytes(256), "s": b""}
    return encode(Frame(0x09, vin=vin, edition=2025, body=body))


@role("enterprise")
@case("NOTICE-2016/1.2/f/05",
      requirement="A vehicle moving from the 2016 edition (##) to 2025 ($$) activates first (0x09/0x0A), then logs in "
                  "in 2025; the platform accepts both, keeps one continuous history for the VIN (every frame of "
                  "both editions returned in order) and relays both editions' frames, unchanged, to the local "
                  "platform that accepts both (notice 1.2(6); GB/T 32960.3-2025 T B.3/B.4, §5).")
async def test_edition_upgrade_keeps_one_history(topology, fleet, timers, expect, control):
    from harness.topology.base import VehicleSpec

    spec = topology.vehicle(public=True, region=topology.region, edition=2016, index=1)
    old = VehicleSpec(spec.vin, spec.public_service, spec.region, 2016)
    new = VehicleSpec(spec.vin, spec.public_service, spec.region, 2025)
    base = now_time(3000)
    link = await fleet.link(f"vehicle {spec.vin} (2016)")
    await link.send(login_frame(old))
    answer = await link.receive(answer_timeout(timers))
    expect.equal("2016 login answer", (0x01, 0x01), (answer.command, answer.ack))
    local = topology.local
    mark = {spec.vin: stored_count(local, spec.vin)}  # other cases relay this vehicle too: only what arrives now
    sent = [realtime_frame(old, s, base=base) for s in range(3)]
    for f in sent:
        await link.send(f)
    await link.close()
    link = await fleet.link(f"vehicle {spec.vin} (2025)")
    await link.send(activation(spec.vin))
    answer = await link.receive(answer_timeout(timers))
    expect.equal("activation answer", (0x0A, 1), (answer.command, answer.body.get("status")),
                 "the 2025 activation of a vehicle moving from 2016 was not a success")
    await link.send(login_frame(new))
    answer = await link.receive(answer_timeout(timers))
    expect.equal("2025 login answer", (0x01, 0x01), (answer.command, answer.ack), "the 2025 login was refused")
    sent += [realtime_frame(new, s, base=base) for s in range(3, 6)]
    for f in sent[3:]:
        await link.send(f)
    mine = set(sent)

    def history() -> list[bytes]:
        rows = control.query_frames(vin=spec.vin, commands=(0x02,), decode=False)["frames"]
        return [bytes(r["raw"]) for r in rows if bytes(r["raw"]) in mine]

    whole = await eventually(lambda: len(history()) == len(sent), answer_timeout(timers) * 3)
    expect.true(whole, "the platform's history of the vehicle lacks frames of one edition", path="QueryFrames",
                expected=len(sent), actual=len(history()))
    expect.equal("QueryFrames editions", ["##"] * 3 + ["$$"] * 3, [f[:2].decode() for f in history()],
                 "the vehicle's history is not one sequence across the edition change")
    relayed = await eventually(lambda: len(arrivals(local, sent, mark)) == len(sent), relay_deadline(timers))
    copies = arrivals(local, sent, mark)
    expect.count("frames duplicated", sum(len(c) - 1 for c in copies.values()))
    expect.true(relayed, "not every frame of both editions reached the local platform", path="local.frames",
                expected=len(sent), actual=len(copies))
    # the first copy of each: a resend after a late answer (§5.2.2, §5.5) may come later, identical and bounded
    expect.equal("local.frames order", [f.hex() for f in sent], [c[0].raw.hex() for c in copies.values()],
                 "the relay changed the frames or their order across the edition change")
    expect.equal("local.frames[copies]", [], unexcused_copies(copies, timers),
                 "a resent copy differs from the first one, or a frame was resent more than data_tries times")


@role("enterprise")
@needs(pics="control")
@case("NOTICE-2016/1.2/f/06",
      requirement="An upgrade campaign over a fleet of mixed firmware and editions can be followed from the "
                  "platform: which vehicles still speak the 2016 protocol and which upgrades failed (campaign view "
                  "over the platform's query and upgrade outcomes; notice 1.2(6)).")
async def test_campaign_view(topology, control, timers, expect):
    moving = topology.vehicle(public=False, edition=2016)  # gets firmware that speaks 2025
    failing = topology.vehicle(public=True, region="310000", edition=2016)  # its URL is unreachable
    current = topology.vehicle(public=False, edition=2025)  # already on 2025, not ordered
    fetched: list[Any] = []
    hook = fetching_hook(fetched, timeout=minute(timers), editions={"F3.00": 2025})
    with FirmwareServer({"/fw/F3.00.bin": IMAGE}) as server:
        fleet_spec = [(moving.vin, 2016), (failing.vin, 2016), (current.vin, 2025)]
        async with SimVehicles(topology.sut.host, topology.sut.port, timers, fleet_spec, hook=hook, firmware=OLD):
            ok = await eventually(lambda: {v for v, _ in fleet_spec} <= set(topology.sut.online()),
                                  answer_timeout(timers) * 3)
            expect.true(ok, "the simulated fleet did not log in: cannot judge", path="sut.online")
            since = time.time()
            await command(control, moving.vin, "control", {"command": 1, "params": order(
                server.url("/fw/F3.00.bin"), 3, firmware="F3.00")}, wait=answer_timeout(timers))
            await command(control, failing.vin, "control", {"command": 1, "params": order(closed_port_url(), 1)},
                                 wait=answer_timeout(timers))
            settled = await eventually(lambda: all(outcomes(control, v, since) for v in (moving.vin, failing.vin)),
                                       3 * minute(timers) + answer_timeout(timers) * 2)
            expect.true(settled, "the platform recorded no outcome for every ordered upgrade",
                        path="warnings[upgrade-*]")
            view = campaign(control, [v for v, _ in fleet_spec], since=since)
    expect.note(view.text())
    expect.equal("campaign.old_protocol", [failing.vin], view.old_protocol,
                 "the campaign view does not show exactly the vehicle left on the 2016 protocol")
    expect.equal("campaign.failed", [failing.vin], view.failed,
                 "the campaign view does not show exactly the failed upgrade")
