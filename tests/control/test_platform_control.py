"""The gRPC control API of the reference platforms, against a running trio (loopback, compressed timers).

The platforms serve gRPC on the test's own event loop, so blocking (sync) clients run in a thread."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from harness.control import AsyncControlClient, ControlClient, ControlError
from harness.protocol.codec import Frame, encode
from reference_impl.core import PlatformCore
from reference_impl.embedded import ENTERPRISE_ID
from reference_impl.server import PlatformServer
from scenarios.kit import arrivals, unexcused_copies

from ..reference.conftest import FAST, PRIVATE, PUBLIC, Client, login, realtime, until

ROOT = Path(__file__).resolve().parents[2]
NEW_VIN = "LNEWVEHICLE000001"


def heartbeat(vin: str) -> bytes:
    return encode(Frame(0x07, vin=vin, body={}))


async def logged_in(port: int, vin: str = PUBLIC) -> Client:
    c = await Client.connect(port)
    await c.send(login(vin))
    assert (await c.frame()).ack == 0x01, f"{vin} was not let in"
    return c


# ---------------------------------------------------------------------------------- serving


async def test_health_serving_and_reflection_lists_control(trio):
    target = f"127.0.0.1:{trio.enterprise.control_port}"

    def probe() -> tuple[str, list[str], list[str]]:
        with ControlClient(target, timeout=5) as c:
            c.wait_ready(5)
            status = c.health()
            assert c.health("gbt32960.control.v1.Control") == "SERVING"
            # grpc_reflection's own client, as grpcurl would use it
            db = ProtoReflectionDescriptorDatabase(c.channel)
            services = list(db.get_services())
            methods = [m.name for m in DescriptorPool(db).FindServiceByName("gbt32960.control.v1.Control").methods]
            return status, services, methods

    status, services, methods = await asyncio.to_thread(probe)
    assert status == "SERVING"
    assert {"gbt32960.control.v1.Control", "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection"} <= set(services)
    assert {"ListSessions", "StreamFrames", "SetDefect", "RaiseAlarm", "Stop"} <= set(methods)
    for server in trio.servers:  # every platform of the trio serves it
        async with AsyncControlClient(f"127.0.0.1:{server.control_port}", timeout=5) as c:
            assert await c.health() == "SERVING"
            info = await c.info()
            assert info["role"] == server.core.cfg.role and info["address"].endswith(f":{server.port}")


# ---------------------------------------------------------------------------------- inspect


async def test_sessions_frames_stats_and_stored_frames(trio, ent):
    async with await ent.frames(vins=[PUBLIC], timeout=5) as stream:  # live once this returns
        c = await logged_in(trio.enterprise.port)
        login_in = await stream.wait_for(lambda f: f["direction"] == "in" and f["command"] == 0x01)
        answer = await stream.wait_for(lambda f: f["direction"] == "out" and f["command"] == 0x01)
    assert login_in["link"] == answer["link"] == f"vehicle:{PUBLIC}"
    assert login_in["decoded"]["command"] == "0x01 vehicle_login" and login_in["raw"] == login(PUBLIC)
    assert answer["ack"] == 0x01 and answer["decoded"]["response"].startswith("0x01")

    sessions = await ent.sessions()
    assert [(s["id"], s["kind"], s["edition"], s["logged_in"]) for s in sessions] == [(PUBLIC, "vehicle", 2016, True)]
    assert sessions[0]["since"] > 0 and sessions[0]["last_frame_at"] >= sessions[0]["since"]
    assert await ent.sessions("platform") == []

    for second in (1, 2):
        await c.send(realtime(PUBLIC, second))
    assert await until(lambda: trio.enterprise.core.stats["stored"] >= 3)
    stats = await ent.stats()
    assert stats["counters"]["logins"] == 1 and stats["counters"]["online"] == 1

    stored = await ent.query_frames(PUBLIC, commands=[0x02])
    assert [f["raw"] for f in stored["frames"]] == [realtime(PUBLIC, 1), realtime(PUBLIC, 2)]
    assert stored["frames"][0]["collected_at"] and not stored["truncated"]
    window = await ent.query_frames(PUBLIC, start=stored["frames"][1]["collected_at"],
                                    end=stored["frames"][1]["collected_at"])
    assert [f["raw"] for f in window["frames"]] == [realtime(PUBLIC, 2)]
    with pytest.raises(ControlError) as bad:
        await ent.query_frames(PUBLIC, start="yesterday")
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT

    # replay: the stored frames first, then live ones, nothing twice
    async with await ent.frames(vins=[PUBLIC], replay=True, timeout=5) as stream:
        await c.send(realtime(PUBLIC, 3))
        seen = []
        async for f in stream:
            seen.append(f["raw"])
            if f["raw"] == realtime(PUBLIC, 3):
                break
    assert seen == [login(PUBLIC), realtime(PUBLIC, 1), realtime(PUBLIC, 2), realtime(PUBLIC, 3)]

    assert await until(lambda: not trio.enterprise.core.observers), "a closed stream left its observer behind"

    queue = await ent.queue()
    assert {q["name"] for q in queue["queues"]} == {"local-110000", "national"}
    assert all(q["state"] == "online" for q in queue["queues"])
    await c.close()


async def test_a_stream_that_falls_behind_ends_and_says_so(trio, ent, monkeypatch):
    import harness.rpc.service as service

    monkeypatch.setattr(service, "STREAM_BUFFER", 2)
    c = await logged_in(trio.enterprise.port)
    with pytest.raises(ControlError) as behind:
        async with await ent.frames(vins=[PUBLIC], timeout=5) as stream:
            await c.send(b"".join(realtime(PUBLIC, s) for s in range(5)))  # five frames in one turn
            await stream.wait_for(lambda f: False)
    assert behind.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "3 were not delivered" in behind.value.details
    assert trio.enterprise.core.stats["stored"] == 6, "the platform itself must not lose anything"
    await c.close()


async def test_platform_links_and_upstream_frames_are_named(trio, ent, national):
    # the enterprise's link to the national platform, seen from both ends
    sessions = await national.sessions("platform")
    assert [(s["id"], s["kind"]) for s in sessions] == [(ENTERPRISE_ID, "platform")]
    async with await ent.frames(links=["upstream:national"], timeout=5) as up, \
            await national.frames(links=[f"platform:{ENTERPRISE_ID}"], timeout=5) as down:
        call_id = await national.data_call(ENTERPRISE_ID, [PRIVATE], 1)
        sent = await down.wait_for(lambda f: f["direction"] == "out" and f["command"] == 0xC0)
        got = await up.wait_for(lambda f: f["direction"] == "in" and f["command"] == 0xC0)
        answer = await up.wait_for(lambda f: f["direction"] == "out" and f["command"] == 0xC0)
    assert got["raw"] == sent["raw"] and answer["ack"] == 0x01 and call_id >= 1


# ---------------------------------------------------------------------------------- act


async def test_register_vehicle_then_it_logs_in_and_remove_cuts_it_off(trio, ent):
    c = await Client.connect(trio.enterprise.port)
    await c.send(login(NEW_VIN))
    assert (await c.frame()).ack == 0x02, "an unregistered VIN was let in"
    assert await ent.register_vehicle(NEW_VIN, public_service=True, region="110000") is False
    await c.send(login(NEW_VIN, serial=2))
    assert (await c.frame()).ack == 0x01, "the registered VIN was refused"
    assert NEW_VIN in {s["id"] for s in await ent.sessions()}
    assert (await ent.info())["vehicles"] == 4

    assert await ent.remove_vehicle(NEW_VIN) is True  # it was online: disconnected
    assert await c.closed_within(2), "the deregistered vehicle's link stayed open"
    with pytest.raises(ControlError) as gone:
        await ent.remove_vehicle(NEW_VIN)
    assert gone.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(ControlError) as bad:
        await ent.register_vehicle("SHORT")
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_register_and_remove_platform(trio, national):
    assert await national.register_platform("ENTERPRISE-02", "ent02", "pw-02") is False
    assert "ENTERPRISE-02" in trio.national.core.cfg.accounts
    assert await national.remove_platform(ENTERPRISE_ID) is True  # logged in: cut off
    assert await until(lambda: ENTERPRISE_ID not in trio.national.core.online)
    assert await until(lambda: trio.enterprise.core.uplinks["national"].state != "online")


async def test_set_defect_on_then_off_changes_behaviour(trio, ent):
    c = await logged_in(trio.enterprise.port)
    await c.send(heartbeat(PUBLIC))
    assert (await c.frame()).command == 0x07, "heartbeat not answered with the switch off"

    switches = await ent.set_defect("no-heartbeat-answer", True)
    assert {d["name"]: d["on"] for d in switches}["no-heartbeat-answer"] is True
    await c.send(heartbeat(PUBLIC))
    assert await c.nothing_for(0.3), "heartbeat answered with no-heartbeat-answer on"

    await ent.set_defect("no-heartbeat-answer", False)
    assert not any(d["on"] for d in await ent.defects())
    await c.send(heartbeat(PUBLIC))
    assert (await c.frame()).command == 0x07, "heartbeat not answered after the switch went off"

    with pytest.raises(ControlError) as unknown:
        await ent.set_defect("no-such-defect")
    assert unknown.value.code == grpc.StatusCode.NOT_FOUND
    await c.close()


async def test_set_timers(trio, ent):
    c = await logged_in(trio.enterprise.port)
    timers = await ent.set_timers(idle_timeout=0.3, command_tries=2)
    assert timers["idle_timeout"] == 0.3 and timers["command_tries"] == 2
    assert trio.enterprise.core.timers.idle_timeout == trio.enterprise.core.cfg.timers.idle_timeout == 0.3
    assert (await ent.timers())["idle_timeout"] == 0.3
    # the platform applies it: a silent link is now closed well before the fixture's 1.5 s
    assert await c.closed_within(1.0), "the shorter idle timeout was not applied"
    for bad in ({"no_such_timer": 1}, {"command_tries": 1.5}, {"heartbeat": -1}):
        with pytest.raises(ControlError) as exc:
            await ent.set_timers(**bad)
        assert exc.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_data_call_and_spot_check_from_the_national_platform(trio, ent, national):
    c = await logged_in(trio.enterprise.port, PRIVATE)
    await c.send(realtime(PRIVATE, 0))
    call_id = await national.data_call(ENTERPRISE_ID, [PRIVATE, "LUNKNOWN000000001"], 2)
    call = await national.get_data_call(call_id, wait=3)
    assert call["answered"] and call["results"] == {PRIVATE: "accepted", "LUNKNOWN000000001": "unknown_vin"}
    assert call["peer"] == ENTERPRISE_ID

    await c.send(realtime(PRIVATE, 1))
    stored = await national.query_frames(PRIVATE, commands=[0x02])
    deadline = time.monotonic() + 3
    while not stored["frames"] and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        stored = await national.query_frames(PRIVATE, commands=[0x02])
    assert [f["raw"] for f in stored["frames"]] == [realtime(PRIVATE, 1)], "the called vehicle was not streamed"

    check = await national.spot_check(ENTERPRISE_ID, PRIVATE, wait=3)
    assert check["answered"] and check["ack"] == 0x01 and check["latest"] == realtime(PRIVATE, 1)[24:-1]
    assert check["latest_decoded"]["items"][0]["type"].startswith("0x01")

    for call in (ent.data_call(ENTERPRISE_ID, [PRIVATE], 1), ent.spot_check(ENTERPRISE_ID, PRIVATE)):
        with pytest.raises(ControlError) as wrong_role:
            await call
        assert wrong_role.value.code == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(ControlError) as offline:
        await national.data_call("NOBODY", [PRIVATE], 1)
    assert offline.value.code == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(ControlError) as unknown:
        await national.get_data_call(9999)
    assert unknown.value.code == grpc.StatusCode.NOT_FOUND
    await c.close()


async def test_send_command_to_a_raw_vehicle(trio, ent):
    c = await logged_in(trio.enterprise.port)
    result = await ent.send_command(PUBLIC, "query", {"ids": [1, 2]})
    sent = await c.frame()
    assert sent.command == 0x80 and sent.body["ids"] == [1, 2] and result["sent"] == encode(sent)
    assert not result["answered"] and result["tries"] == 1
    with pytest.raises(ControlError) as offline:
        await ent.send_command(PRIVATE, "query", {"ids": [1]})
    assert offline.value.code == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(ControlError) as bad:
        await ent.send_command(PUBLIC, "set", {"params": [{"id": 2, "value": "soon"}]})
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT
    await c.close()


async def test_warnings_listed(trio, ent):
    c = await logged_in(trio.enterprise.port)
    await c.send(realtime(PUBLIC, 0, soc=80))
    await c.send(realtime(PUBLIC, 1, soc=20))  # a SOC jump of 60 %
    deadline = time.monotonic() + 3
    warnings = []
    while not warnings and time.monotonic() < deadline:
        warnings = await ent.warnings(PUBLIC, "soc-jump")
        await asyncio.sleep(0.05)
    assert [w["kind"] for w in warnings] == ["soc-jump"] and "80" in warnings[0]["detail"]
    assert await ent.warnings(PRIVATE) == []
    await c.close()


async def test_drain_is_bounded_then_completes_after_recovery(trio, ent):
    c = await logged_in(trio.enterprise.port)
    cfg = dataclasses.replace(trio.local.core.cfg, listen=f"127.0.0.1:{trio.local.port}")
    await trio.local.stop()
    trio.local.core.store.close()
    assert await until(lambda: trio.enterprise.core.uplinks["local-110000"].state != "online")
    sent = [realtime(PUBLIC, second) for second in range(5)]
    for data in sent:
        await c.send(data)
        await c.send(heartbeat(PUBLIC))
    assert await until(lambda: trio.enterprise.core.store.queue_depth("local-110000") == 5)

    queue = {q["name"]: q for q in (await ent.queue())["queues"]}
    assert queue["local-110000"]["depth"] == 5 and queue["local-110000"]["oldest_collected_at"]
    started = time.monotonic()
    result = await ent.drain(timeout=0.3)
    assert not result["drained"] and result["remaining"] == 5 and time.monotonic() - started < 2

    trio.local = await PlatformServer(PlatformCore(cfg)).start()
    result = await ent.drain(timeout=8)
    assert result["drained"] and result["remaining"] == 0
    # a late answer makes the enterprise resend a reissued frame (§5.2.2, §5.5): each frame arrives, as 0x03;
    # extra copies are byte-identical and bounded
    copies = arrivals(trio.local.core.store, sent)
    assert len(copies) == 5 and all(f.command == 0x03 for c in copies.values() for f in c), \
        [[f.command for f in c] for c in copies.values()]
    assert not unexcused_copies(copies, FAST), unexcused_copies(copies, FAST)
    await c.close()


async def test_stop_stops_the_platform(trio):
    local = trio.local
    port = local.port
    async with AsyncControlClient(f"127.0.0.1:{local.control_port}", timeout=5) as c:
        assert await c.stop() is None
        await asyncio.wait_for(local.stopped.wait(), 5)
        with pytest.raises(ControlError):
            await c.health()
    with pytest.raises(OSError):
        await Client.connect(port)


async def test_fleet_only_calls_answer_unimplemented(ent):
    for call in (ent.raise_alarm(PUBLIC, 3), ent.go_offline(PUBLIC), ent.go_online(PUBLIC),
                 ent.set_edition(PUBLIC, 2025)):
        with pytest.raises(ControlError) as exc:
            await call
        assert exc.value.code == grpc.StatusCode.UNIMPLEMENTED and "fleet" in exc.value.details


# ---------------------------------------------------------------------------------- sync and gevent clients

GEVENT_CLIENT = """
from gevent import monkey
monkey.patch_all()
import sys
import gevent
from harness.control import ControlClient, init_gevent
init_gevent()
with ControlClient(sys.argv[1], timeout=5) as c:
    jobs = [gevent.spawn(c.health)] + [gevent.spawn(c.sessions) for _ in range(3)]
    gevent.joinall(jobs, timeout=10, raise_error=True)
    print([j.value for j in jobs])
"""


async def test_sync_client_under_gevent(trio):
    import gevent  # noqa: F401 - a dev dependency: tested, never skipped
    c = await logged_in(trio.enterprise.port)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", GEVENT_CLIENT, f"127.0.0.1:{trio.enterprise.control_port}", cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert out.decode().startswith("['SERVING', [{'id': 'LPUBLIC0000000001'"), out.decode()
    await c.close()


# ---------------------------------------------------------------------------------- the process


def test_command_line_control_port_and_stop(tmp_path):
    """`python -m reference_impl ... --control-port 0` serves the API; Stop ends the process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "reference_impl", "national", "--listen", "127.0.0.1:0", "--storage",
         str(tmp_path / "n.sqlite"), "--control-port", "0", "--timers", "compressed"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        lines = [proc.stdout.readline() for _ in range(2)]  # the platform line, then the control line
        assert lines[1].startswith("control (gRPC) on 127.0.0.1:"), lines
        port = int(lines[1].rsplit(":", 1)[1])
        with ControlClient(f"127.0.0.1:{port}", timeout=5) as c:
            c.wait_ready(5)
            assert c.health() == "SERVING"
            assert "gbt32960.control.v1.Control" in c.services()
            assert c.info()["role"] == "national"
            c.stop()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


async def test_exchange_key_is_refused_for_a_bad_key_type_or_an_offline_vehicle(trio, ent):
    # the happy path (the key reaches an online 2025 vehicle sealed for it) is case NOTICE-2016/1.2/g/28
    vin = PUBLIC  # registered, not logged in
    with pytest.raises(ControlError) as bad:
        await ent.exchange_key(vin, 0x07)
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT and "key_type" in bad.value.details
    with pytest.raises(ControlError) as offline:
        await ent.exchange_key(vin, 0x05)
    assert offline.value.code == grpc.StatusCode.FAILED_PRECONDITION and "not online" in offline.value.details
