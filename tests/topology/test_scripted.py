"""The scripted enterprise platform the harness plays for a terminal SUT: it answers by its policy,
records both directions, and reports frames it could not read."""

from harness.protocol.codec import Frame, encode
from harness.topology.base import VehicleSpec
from harness.topology.scripted import ScriptedPlatform
from harness.wire import RawLink, Wire
from scenarios.kit import login_frame

V = VehicleSpec("LSCRIPT0000000001", False, "110000", 2016)


async def _pair():
    wire = Wire()
    platform = await ScriptedPlatform(wire).listen()
    link = await RawLink.open(platform.host, platform.port, wire, "terminal")
    return platform, link


async def test_login_answered_by_policy():
    platform, link = await _pair()
    try:
        await link.send(login_frame(V))
        assert (await link.receive(2)).ack == 0x01
        platform.policy.login = "refuse"
        await link.send(login_frame(V, serial=2))
        assert (await link.receive(2)).ack == 0x02
        platform.policy.login = "ignore"
        await link.send(login_frame(V, serial=3))
        assert await link.silent_for(0.3)
        assert [r.frame.body["serial"] for r in platform.frames(0x01)] == [1, 2, 3]
    finally:
        await link.close()
        await platform.close()


async def test_time_sync_answer_carries_the_platform_time_and_data_is_not_acked():
    platform, link = await _pair()
    try:
        await link.send(encode(Frame(0x08, vin=V.vin, edition=2016, body=None)))
        answer = await link.receive(2)
        assert answer.ack == 0x01 and answer.body["time"].year >= 25
        await link.send(encode(Frame(0x07, vin=V.vin, edition=2016, body=None)))
        assert (await link.receive(2)).command == 0x07
        directions = [f.direction for f in platform.wire.frames if f.link == "platform"]
        assert directions.count("<-") == 2 and directions.count("->") == 2
    finally:
        await link.close()
        await platform.close()


async def test_unreadable_frame_is_reported_and_serving_goes_on():
    platform, link = await _pair()
    try:
        bad = bytearray(login_frame(V))
        bad[-1] ^= 0xFF
        await link.send(bytes(bad) + login_frame(V, serial=2))
        assert (await link.receive(2)).ack == 0x01
        assert len(platform.problems) == 1 and [r.frame.body["serial"] for r in platform.frames(0x01)] == [2]
    finally:
        await link.close()
        await platform.close()
