"""The control API of the vehicle fleet, with the fleet reporting to the reference trio."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from harness.control import AsyncControlClient, ControlError
from harness.terminal.control import serve_control
from harness.terminal.fleet import Fleet, make_vin
from reference_impl.config import Vehicle
from reference_impl.embedded import start_trio

from ..reference.conftest import FAST, until

VINS = [make_vin(0), make_vin(1)]


async def eventually(probe, timeout: float = 5.0, step: float = 0.05):
    """Await `probe()` until it returns something truthy (returned) or the time is up (the last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(step)


@pytest.fixture
async def world(tmp_path):
    trio = await start_trio(tmp_path, [Vehicle(v, True, "110000") for v in VINS], timers=FAST, control_port=0)
    # alarm_rate 0: no alarm unless the test raises one
    fleet = Fleet("127.0.0.1", trio.enterprise.port, len(VINS), timers=FAST, report_period=0.1, heartbeat=0.2,
                  alarm_rate=0.0)
    control = await serve_control(fleet)  # before start: it sees every frame
    await fleet.start()
    ent = AsyncControlClient(f"127.0.0.1:{trio.enterprise.control_port}", timeout=10)
    vehicles = AsyncControlClient(f"127.0.0.1:{control.port}", timeout=10)
    try:
        assert await until(lambda: all(v in trio.enterprise.core.online for v in VINS), timeout=5), "fleet not online"
        yield trio, fleet, vehicles, ent, control
    finally:
        await vehicles.close()
        await ent.close()
        await control.stop()
        await fleet.stop(logout=False)
        await trio.stop()


async def test_fleet_inspect(world):
    trio, fleet, vehicles, ent, _ = world
    assert await vehicles.health() == "SERVING"
    assert "gbt32960.control.v1.Control" in await vehicles.services()
    info = await vehicles.info()
    assert info["role"] == "fleet" and info["vehicles"] == 2 and info["address"].endswith(f":{trio.enterprise.port}")

    sessions = await vehicles.sessions()
    assert [(s["id"], s["kind"], s["state"], s["logged_in"]) for s in sessions] == \
        [(v, "vehicle", "online", True) for v in VINS]
    assert all(s["since"] > 0 and s["last_frame_at"] > 0 for s in sessions)

    async with await vehicles.frames(vins=[VINS[0]], timeout=5) as stream:
        sent = await stream.wait_for(lambda f: f["direction"] == "out" and f["command"] == 0x02)
        heard = await stream.wait_for(lambda f: f["direction"] == "in")  # e.g. a heartbeat answer
    assert sent["link"] == f"vehicle:{VINS[0]}" and sent["decoded"]["vin"] == VINS[0]
    assert heard["ack"] == 0x01 and heard["vin"] == VINS[0]

    stats = await vehicles.stats()
    assert stats["counters"]["online"] == 2 and stats["frames_by_command"]["realtime"] > 0
    assert stats["counters"]["driver.frames_out"] > 0
    assert (await vehicles.timers())["report_period"] == 0.1
    assert (await vehicles.queue())["total_depth"] == 0
    assert (await vehicles.drain(timeout=2))["drained"]

    with pytest.raises(ControlError) as replay:
        async with await vehicles.frames(replay=True, timeout=2) as stream:
            await stream.wait_for(lambda f: True)
    assert replay.value.code == grpc.StatusCode.FAILED_PRECONDITION
    for call in (vehicles.register_vehicle(VINS[0]), vehicles.query_frames(VINS[0]),
                 vehicles.send_command(VINS[0], "query", {"ids": [1]})):
        with pytest.raises(ControlError) as exc:
            await call
        assert exc.value.code == grpc.StatusCode.UNIMPLEMENTED
    with pytest.raises(ControlError) as unknown:
        await vehicles.raise_alarm("LNOTINTHEFLEET001", 3)
    assert unknown.value.code == grpc.StatusCode.NOT_FOUND


async def test_raise_alarm_makes_the_platform_record_a_level3_alarm(world):
    trio, fleet, vehicles, ent, _ = world
    vin = VINS[0]
    assert await ent.warnings(vin, "level3-alarm") == []
    await vehicles.raise_alarm(vin, 3)
    warnings = await eventually(lambda: ent.warnings(vin, "level3-alarm"))
    assert warnings and "level 3" in warnings[0]["detail"], "the platform recorded no level-3 alarm"
    assert await ent.warnings(VINS[1], "level3-alarm") == []
    with pytest.raises(ControlError) as bad:
        await vehicles.raise_alarm(vin, 7)
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_go_offline_then_online(world):
    trio, fleet, vehicles, ent, _ = world
    vin = VINS[1]

    async def platform_sees(v: str) -> bool:
        return v in {s["id"] for s in await ent.sessions()}

    assert await platform_sees(vin)
    assert await vehicles.go_offline(vin) == "off"

    async def gone() -> bool:
        return not await platform_sees(vin)

    assert await eventually(gone), "the vehicle's session is still on the platform"
    assert vin not in {s["id"] for s in await vehicles.sessions()}
    assert [s["state"] for s in await vehicles.sessions(include_all=True) if s["id"] == vin] == ["off"]
    assert await platform_sees(VINS[0]), "the other vehicle went too"
    logouts = await ent.query_frames(vin, commands=[0x04])
    assert len(logouts["frames"]) == 1, "GoOffline did not log out"

    await vehicles.go_online(vin)
    assert await eventually(lambda: platform_sees(vin)), "the vehicle did not come back"


async def test_set_edition_and_platform_command_to_a_fleet_vehicle(world):
    trio, fleet, vehicles, ent, _ = world
    vin = VINS[0]
    await vehicles.set_edition(vin, 2025, reconnect=True)

    async def edition() -> int:
        return next((s["edition"] for s in await ent.sessions() if s["id"] == vin), 0)

    assert await eventually(lambda: _equals(edition, 2025)), "the vehicle did not log in again as 2025"
    with pytest.raises(ControlError) as bad:
        await vehicles.set_edition(vin, 2020)
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT

    # the platform's SendCommand reaches the simulated terminal, which answers
    result = await ent.send_command(VINS[1], "query", {"ids": [1, 2]}, wait=3)
    assert result["answered"] and result["ack"] == 0x01 and not result["failed"]
    assert result["answer_decoded"]["command"] == "0x80 query"


async def test_fleet_defects_per_vehicle(world):
    trio, fleet, vehicles, ent, _ = world
    vin = VINS[0]
    switches = {d["name"]: d for d in await vehicles.set_defect("no-heartbeat", True, vin=vin)}
    assert switches["no-heartbeat"]["on"] and switches["no-heartbeat"]["vehicles"] == 1
    assert "no-heartbeat" in fleet.terminals[0].defects and "no-heartbeat" not in fleet.terminals[1].defects
    switches = {d["name"]: d for d in await vehicles.set_defect("no-heartbeat", False)}
    assert not switches["no-heartbeat"]["on"]
    with pytest.raises(ControlError) as unknown:
        await vehicles.set_defect("no-such-defect")
    assert unknown.value.code == grpc.StatusCode.NOT_FOUND


async def test_stop_stops_the_fleet(world):
    trio, fleet, vehicles, ent, control = world
    await vehicles.stop()
    await asyncio.wait_for(control.stopped.wait(), 5)

    async def nobody() -> bool:
        return not await ent.sessions()

    assert await eventually(nobody), "vehicles still online after the fleet's Stop"


async def _equals(probe, expected) -> bool:
    return await probe() == expected
