"""Behaviour checks of the reference platforms, each an async function of a running trio.

They raise AssertionError when the behaviour is wrong. `test_platform.py` runs each against
the clean platforms; `test_defect_switches.py` runs them with a defect switch on and requires the
named checks to fail, which proves both the check and the switch.
"""

from __future__ import annotations

import asyncio
import dataclasses

from harness.protocol.codec import Frame, decode, encode
from harness.protocol.schema import Timestamp
from reference_impl.core import PlatformCore
from reference_impl.embedded import Trio
from reference_impl.server import PlatformServer
from scenarios.kit import arrivals, key, unexcused_copies

from .conftest import FAST, PRIVATE, PUBLIC, PUBLIC_OTHER_REGION, Client, login, realtime, until


async def _logged_in(trio: Trio, vin: str = PUBLIC, edition: int = 2016) -> Client:
    c = await Client.connect(trio.enterprise.port)
    await c.send(login(vin, edition=edition))
    answer = await c.frame()
    assert (answer.command, answer.ack) == (0x01, 0x01), f"login answered 0x{answer.ack:02X}"
    return c


def _stored(core: PlatformCore, vin: str, command: int | None = None) -> list:
    return [f for f in core.store.frames(vin=vin) if command is None or f.command == command]


async def check_login_answered(trio: Trio) -> None:
    c = await _logged_in(trio)
    assert trio.enterprise.core.online.get(PUBLIC) is not None
    await c.close()


async def check_repeated_login_is_duplicate(trio: Trio) -> None:
    c = await _logged_in(trio)
    await c.send(login(PUBLIC))
    answer = await c.frame()
    assert answer.ack == 0x03, f"a repeated login on the same link answered 0x{answer.ack:02X}, not 0x03"


async def check_new_connection_replaces_old(trio: Trio) -> None:
    first = await _logged_in(trio)
    second = await Client.connect(trio.enterprise.port)
    await second.send(login(PUBLIC, serial=2))
    assert (await second.frame()).ack == 0x01
    assert await first.closed_within(FAST.idle_timeout / 3), "the old connection of the same VIN was not closed (B.2.7)"


async def check_unknown_vin_refused(trio: Trio) -> None:
    for edition, flag in ((2016, 0x02), (2025, 0x04)):
        c = await Client.connect(trio.enterprise.port)
        await c.send(login("LUNKNOWN000000001", edition=edition))
        answer = await c.frame()
        assert answer.ack == flag, f"{edition}: unknown VIN answered 0x{answer.ack:02X}, expected 0x{flag:02X}"
        await c.close()


async def check_data_before_login_refused(trio: Trio) -> None:
    c = await Client.connect(trio.enterprise.port)
    await c.send(realtime(PUBLIC, 1))
    answer = await c.frame()
    assert answer.ack == 0x02
    await asyncio.sleep(0)
    assert not _stored(trio.enterprise.core, PUBLIC, 0x02), "data stored before login"


async def check_realtime_not_acked(trio: Trio) -> None:
    c = await _logged_in(trio)
    await c.send(realtime(PUBLIC, 1))
    assert await c.nothing_for(FAST.report_period), "correct real-time data was answered (B.2.1: it must not be)"
    assert len(_stored(trio.enterprise.core, PUBLIC, 0x02)) == 1


async def check_bad_data_gets_error_flag_and_link_survives(trio: Trio) -> None:
    for edition, flag in ((2016, 0x02), (2025, 0x06)):
        c = await _logged_in(trio, edition=edition)
        good = realtime(PUBLIC, 2, edition=edition)
        bad = Frame(0x02, vin=PUBLIC, edition=edition, body=good[24:-5])  # data unit cut inside an item
        await c.send(encode(bad))
        answer = await c.frame()
        assert answer.ack == flag, f"{edition}: ill-formed data answered 0x{answer.ack:02X}, expected 0x{flag:02X}"
        await c.send(encode(Frame(0x07, vin=PUBLIC, body={}, edition=edition)))
        assert (await c.frame()).command == 0x07, "link did not survive a bad frame"
        await c.close()


async def check_heartbeat_answered(trio: Trio) -> None:
    c = await _logged_in(trio)
    await c.send(encode(Frame(0x07, vin=PUBLIC, body={})))
    answer = await c.frame()
    assert (answer.command, answer.ack) == (0x07, 0x01)


async def check_time_sync_answered_with_time(trio: Trio) -> None:
    c = await _logged_in(trio)
    await c.send(encode(Frame(0x08, vin=PUBLIC, body={})))
    answer = await c.frame()
    assert (answer.command, answer.ack) == (0x08, 0x01)
    answer.body["time"].to_datetime()


async def check_idle_link_closed(trio: Trio) -> None:
    c = await _logged_in(trio)
    assert await c.closed_within(FAST.idle_timeout * 3), "a silent link was not closed"


async def check_relay_public_only_byte_identical(trio: Trio) -> None:
    sent: dict[str, list[bytes]] = {}
    for vin in (PUBLIC, PUBLIC_OTHER_REGION, PRIVATE):
        c = await _logged_in(trio, vin)
        sent[vin] = [realtime(vin, s) for s in range(5)]
        for data in sent[vin]:
            await c.send(data)
    local = trio.local.core
    assert await until(lambda: len(arrivals(local.store, sent[PUBLIC])) >= 5), \
        "public frames did not reach the local platform"
    await asyncio.sleep(FAST.report_period)
    # a late answer makes the enterprise resend a frame (§5.2.2, §5.5): judge the first copy of each; the extra
    # copies must be byte-identical and bounded
    copies = arrivals(local.store, sent[PUBLIC])
    assert [c[0].raw for c in copies.values()] == sent[PUBLIC], "relayed bytes differ or are out of order"
    assert not unexcused_copies(copies, FAST), unexcused_copies(copies, FAST)
    assert not _stored(local, PRIVATE), "a private vehicle was relayed"
    assert not _stored(local, PUBLIC_OTHER_REGION), "a vehicle of another region was relayed"


async def _restart(server: PlatformServer) -> PlatformServer:
    """Stop a platform and start it again on the same port with the same store."""
    cfg = dataclasses.replace(server.core.cfg, listen=f"127.0.0.1:{server.port}")
    await server.stop()
    server.core.store.close()
    return await PlatformServer(PlatformCore(cfg)).start()


async def check_reissue_after_outage(trio: Trio) -> None:
    c = await _logged_in(trio)
    up = trio.enterprise.core.uplinks["local-110000"]
    await c.send(realtime(PUBLIC, 0))
    # answered, not only stored: an unanswered frame 0 would be reissued with the outage's frames
    assert await until(lambda: up.stats["acked"] >= 1)
    cfg = dataclasses.replace(trio.local.core.cfg, listen=f"127.0.0.1:{trio.local.port}")
    await trio.local.stop()
    trio.local.core.store.close()
    assert await until(lambda: up.state != "online")
    outage = [realtime(PUBLIC, s) for s in range(1, 21)]
    for data in outage:
        await c.send(data)
        await c.send(encode(Frame(0x07, vin=PUBLIC, body={})))  # keeps the vehicle link alive
    assert await until(lambda: trio.enterprise.core.store.queue_depth("local-110000") == 20)
    trio.local = await PlatformServer(PlatformCore(cfg)).start()
    local = trio.local.core
    assert await until(lambda: len(arrivals(local.store, outage)) >= 20, timeout=6), \
        f"reissued {len(arrivals(local.store, outage))} of 20 frames after the outage"
    await asyncio.sleep(FAST.report_period * 2)
    # a late answer makes the enterprise resend a reissued frame (§5.2.2, §5.5): judge the first copy of each;
    # the extra copies must be byte-identical (so 0x03 too) and bounded
    copies = arrivals(local.store, outage)
    assert all(f.command == 0x03 for c in copies.values() for f in c), "held data did not arrive as reissue 0x03"
    assert not unexcused_copies(copies, FAST), unexcused_copies(copies, FAST)
    assert [decode(c[0].raw).body for c in copies.values()] == [decode(d).body for d in outage], \
        "reissue changed content, order or collection time"
    assert await until(lambda: trio.enterprise.core.store.queue_depth("local-110000") == 0)


async def check_data_call_streams_then_stops(trio: Trio) -> None:
    national, ent = trio.national.core, trio.enterprise.core
    c = await _logged_in(trio, PRIVATE)
    duration = 1
    _, actions = national.data_call("ENTERPRISE-01", [PRIVATE, "LUNKNOWN000000001"], duration, _now())
    trio.national.run(actions)
    assert await until(lambda: any(call.answered for call in national.calls.values()))
    call = next(iter(national.calls.values()))
    assert call.results == {PRIVATE: "accepted", "LUNKNOWN000000001": "unknown_vin"}
    for s in range(3):
        await c.send(realtime(PRIVATE, s))
    # distinct collection times: a resend after a late answer (§5.2.2) is a second copy, not more data
    def samples() -> int:
        return len({key(f.raw) for f in _stored(national, PRIVATE, 0x02)})

    assert await until(lambda: samples() == 3), "called vehicle's data did not arrive"
    assert await until(lambda: not ent.calls, timeout=duration * 3)
    for s in range(3, 6):
        await c.send(realtime(PRIVATE, s))
    await asyncio.sleep(FAST.report_period * 2)
    assert samples() == 3, "data kept flowing after the call ended"


async def check_threshold_warning(trio: Trio) -> None:
    c = await _logged_in(trio)
    await c.send(realtime(PUBLIC, 1, soc=80))
    await c.send(realtime(PUBLIC, 2, soc=40))
    command = await c.frame()
    assert (command.command, command.body["command"]) == (0x82, 0x06), "no warning control sent"
    kinds = [w[2] for w in trio.enterprise.core.store.warnings(PUBLIC)]
    assert "soc-jump" in kinds


async def check_command_resent_three_times(trio: Trio) -> None:
    c = await _logged_in(trio)
    ent = trio.enterprise.core
    trio.enterprise.run(ent.command(PUBLIC, 0x80, {"ids": [0x01, 0x09]}, _now()))
    got = [await c.frame() for _ in range(3)]
    assert all(f.command == 0x80 for f in got)
    assert await c.nothing_for(FAST.response_timeout * 2), "more than 3 tries"
    assert await until(lambda: any(p.failed for p in ent.completed))


async def check_platform_login_refused_with_wrong_password(trio: Trio) -> None:
    c = await Client.connect(trio.local.port)
    body = {"time": Timestamp(25, 11, 25, 10, 0, 0), "serial": 1, "username": "ent01", "password": "wrong",
            "encryption_rule": 1}
    await c.send(encode(Frame(0x05, vin="ENTERPRISE-01", body=body)))
    assert (await c.frame()).ack == 0x02, "a wrong password was accepted"


async def check_unknown_platform_refused(trio: Trio) -> None:
    c = await Client.connect(trio.national.port)
    body = {"time": Timestamp(25, 11, 25, 10, 0, 0), "serial": 1, "username": "ent01", "password": "secret-01",
            "encryption_rule": 1}
    await c.send(encode(Frame(0x05, vin="NOBODY-PLATFORM", body=body)))
    assert (await c.frame()).ack == 0x02, "an unknown platform was accepted"


async def check_spot_check_returns_latest_state(trio: Trio) -> None:
    c = await _logged_in(trio, PRIVATE)
    frames = [realtime(PRIVATE, s, soc=50 + s) for s in range(3)]
    for data in frames:
        await c.send(data)
    assert await until(lambda: len(_stored(trio.enterprise.core, PRIVATE, 0x02)) == 3)
    national = trio.national.core
    trio.national.run(national.spot_check("ENTERPRISE-01", PRIVATE, _now()))
    assert await until(lambda: PRIVATE in national.spot_checks), "no answer to the spot check"
    flag, latest = national.spot_checks[PRIVATE]
    assert flag == 0x01 and latest == frames[-1][24:-1], "the spot check did not return the latest data unit"


async def check_upstream_login_backoff(trio: Trio) -> None:
    up = trio.enterprise.core.uplinks["local-110000"]
    up.cfg = dataclasses.replace(up.cfg, password="wrong")
    cfg = dataclasses.replace(trio.local.core.cfg, listen=f"127.0.0.1:{trio.local.port}")
    await trio.local.stop()
    trio.local.core.store.close()
    trio.local = await PlatformServer(PlatformCore(cfg)).start()
    local = trio.local.core
    window = FAST.platform_login_retry * 3 + FAST.login_backoff * 0.6
    await asyncio.sleep(window)
    logins = len(_stored(local, "ENTERPRISE-01", 0x05)) + local.stats["answered"]
    assert up.state == "backoff", f"after 3 refused logins the uplink is {up.state}, not backing off"
    assert logins <= 4, f"{logins} logins: kept logging in during the back-off"


def _now() -> float:
    import time

    return time.time()



async def check_level3_alarm_period_watched(trio: Trio) -> None:
    """A level-3 alarm puts the vehicle under the ≤1 s rule: a 3 s gap is warned."""
    from .conftest import alarm_realtime

    c = await _logged_in(trio)
    for second in (0, 1, 4):
        await c.send(alarm_realtime(PUBLIC, second, level=3))
    await until(lambda: len(_stored(trio.enterprise.core, PUBLIC, 0x02)) == 3)
    kinds = [w[2] for w in trio.enterprise.core.store.warnings(PUBLIC)]
    assert "level3-alarm" in kinds, kinds
    assert "alarm-period-exceeded" in kinds, kinds


CHECKS = {name: fn for name, fn in globals().items() if name.startswith("check_")}
