"""The scripted enterprise platform the harness plays for a terminal SUT: it answers by its policy,
records both directions, and reports frames it could not read."""

from harness.protocol import crypto
from harness.protocol.codec import Frame, decode, encode
from harness.topology.base import VehicleSpec
from harness.topology.scripted import ScriptedPlatform
from harness.wire import RawLink, Wire
from scenarios.kit import login_frame, now_time

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


async def test_encrypted_frames_are_read_with_the_keys_it_knows():
    k1, k2, k3 = (crypto.generate_symmetric(crypto.SM4) for _ in range(3))
    v = VehicleSpec("LSCRIPT0000000025", False, "110000", 2025)

    def under(key: bytes, serial: int) -> bytes:
        return crypto.FrameCrypto(keys=crypto.Keys(sm4=key), encryption=crypto.SM4).seal(
            decode(login_frame(v, serial=serial)))

    platform, link = await _pair()
    platform.crypto = crypto.FrameCrypto(keys=crypto.Keys(sm4=k1), encryption=crypto.SM4)
    try:
        await link.send(under(k1, 1))
        assert (await link.receive(2)).ack == 0x01  # decrypted, so answered (in plaintext)
        platform.rekey(crypto.FrameCrypto(keys=crypto.Keys(sm4=k2), encryption=crypto.SM4))
        await link.send(under(k1, 2))  # the replaced key still reads
        await link.send(under(k2, 3))
        assert [(await link.receive(2)).ack for _ in range(2)] == [0x01, 0x01]
        await link.send(under(k3, 4))  # a key it does not know: kept undecoded, not answered
        assert await link.silent_for(0.3)
        got = platform.frames(0x01)
        assert [r.undecrypted for r in got] == [False, False, False, True]
        assert [r.frame.body["serial"] for r in got[:3]] == [1, 2, 3]
        assert isinstance(platform.problems[-1], crypto.DecryptionError)
        # what the platform sends is sealed under its current key, unless sent plain
        exchange = Frame(0x0B, 0xFE, v.vin, {"key_type": crypto.SM4, "key": k3, "valid_from": now_time(),
                                             "expires": now_time(3600)}, 2025)
        await platform.send(exchange)
        sealed = await link.receive_raw(2)
        assert sealed[21] == crypto.SM4 and k3 not in sealed
        assert decode(sealed, crypto=platform.crypto).body["key"] == k3
        await platform.send(exchange, plain=True)
        assert (await link.receive(2)).encryption == crypto.NONE
    finally:
        await link.close()
        await platform.close()
