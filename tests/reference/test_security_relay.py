"""The reference platform's confidentiality around answers and relays (reference_impl/security.py), sans-IO:
an encrypted key exchange 0x0B is answered without its key, a per-vehicle signing requirement, the BCC is
checked over the ciphertext, and a decrypted frame is relayed as its plaintext with the signature kept;
with the switches that break each (echo-key-exchange, bcc-over-plaintext, relay-ciphertext,
relay-without-signature)."""

from __future__ import annotations

import time

import pytest

from harness.protocol import crypto
from harness.protocol.codec import Frame, assemble, bcc, decode, encode
from reference_impl.config import Account, PlatformConfig, Upstream, from_dict
from reference_impl.core import PlatformCore, Send
from reference_impl.security import PlatformSecurity
from reference_impl.store import Store

from .test_security import SM2_PLATFORM, SM2_VEHICLE, SM4_KEY, VIN, Rig, fc, now_time, realtime_frame, settings


def _key_exchange(key: bytes) -> Frame:
    return Frame(0x0B, vin=VIN, edition=2025, body={"key_type": 0x05, "key": key, "valid_from": now_time(-10),
                                                     "expires": now_time(600)})


def test_encrypted_key_exchange_answered_without_the_key(tmp_path):
    for defects, leaks in ((frozenset(), False), (frozenset({"echo-key-exchange"}), True)):
        rig = Rig(tmp_path / str(len(defects)), defects=defects)
        rig.login()
        key = bytes(range(120, 136))
        answers = rig.send(fc(crypto.SM4, sm4=SM4_KEY).seal(_key_exchange(key)))
        assert [(a.command, a.ack, a.encryption) for a in answers] == [(0x0B, 0x01, 0x01)]
        answer = encode(answers[0])
        assert (key in answer) is leaks
        if not leaks:
            assert set(answers[0].body) == {"time"}  # 6.3.2: the platform's time only


def test_plaintext_key_exchange_still_repeated(tmp_path):
    rig = Rig(tmp_path)
    rig.login()
    sent = encode(_key_exchange(bytes(range(16))))
    answers = rig.send(sent)
    assert encode(answers[0])[24:-1] == sent[24:-1]  # Annex B style: nothing that was not in the clear


def _signing_settings() -> dict:
    point = crypto.public_key_bytes(SM2_VEHICLE).hex()
    return settings(vehicles={VIN: {"sm4": SM4_KEY.hex(), "sign_algorithm": "sm2", "sign_public_key": point,
                                    "require_signature": True}})


def test_vehicle_that_must_sign_gets_0x05_for_unsigned_data(tmp_path):
    rig = Rig(tmp_path, security=_signing_settings())
    rig.login()
    assert [(a.command, a.ack) for a in rig.send(encode(realtime_frame()))] == [(0x02, 0x05)]
    signer = crypto.FrameCrypto(keys=crypto.Keys(sm4=SM4_KEY), encryption=crypto.SM4, signing_key=SM2_VEHICLE)
    assert rig.send(signer.seal(realtime_frame(soc=70))) == []
    skip = Rig(tmp_path / "skip", security=_signing_settings(), defects=frozenset({"skip-signature-check"}))
    skip.login()
    assert skip.send(encode(realtime_frame())) == []


def test_bcc_checked_over_the_ciphertext(tmp_path):
    sealer = fc(crypto.SM4, sm4=SM4_KEY)
    frame = realtime_frame()
    while True:
        plain = sealer.unit(2025, 0x02, 0xFE, frame.body)
        good = assemble(2025, 0x02, 0xFE, VIN, crypto.encrypt_unit(crypto.SM4, plain, sealer.keys), crypto.SM4)
        over_plain = bcc(good[2:24] + plain)
        if over_plain != good[-1]:
            break
    bad = good[:-1] + bytes((over_plain,))
    rig = Rig(tmp_path / "clean")
    rig.login()
    assert rig.send(bad) == []  # the framer drops it: a BCC error is not answered
    assert rig.send(good) == []
    assert len(rig.core.store.frames(vin=VIN, commands=(0x02,))) == 1
    broken = Rig(tmp_path / "defect", defects=frozenset({"bcc-over-plaintext"}))
    broken.login()
    assert [(a.command, a.ack) for a in broken.send(good)] == [(0x02, 0x02)]
    assert broken.core.store.frames(vin=VIN, commands=(0x02,)) == []


def test_relay_bytes_plaintext_with_signature(tmp_path):
    signer = crypto.FrameCrypto(keys=crypto.Keys(sm2=SM2_PLATFORM.public_key()), encryption=crypto.SM2,
                                signing_key=SM2_VEHICLE)
    sent = signer.seal(realtime_frame())
    expected = {frozenset(): "plain", frozenset({"relay-ciphertext"}): "cipher",
                frozenset({"relay-without-signature"}): "unsigned"}
    for defects, kind in expected.items():
        rig = Rig(tmp_path / kind, defects=defects)
        frame = decode(sent)
        opened, raw, refusal = rig.core.security.inbound(frame, sent, 0.0)
        assert refusal is None
        out = rig.core.security.relay_bytes(opened, raw)
        if kind == "cipher":
            assert out == sent
            continue
        got = decode(out)
        assert got.encryption == crypto.NONE
        sig = crypto.signature_of(0x02, got.body)
        if kind == "unsigned":
            assert sig is None
            continue
        assert sig is not None
        crypto.verify(crypto.signed_bytes(0x02, out[24:-1], sig), sig, SM2_VEHICLE.public_key())


# ---------------------------------------------------------------------------------------- §5.2.5 re-encryption
PLATFORM_ID = "ENTERPRISE-01"
LOCAL_SM2 = crypto.SM2PrivateKey(bytes(31) + b"\x07")
PEER_AES = bytes(range(40, 56))


def _local(tmp_path, security: dict, defects: frozenset[str] = frozenset()) -> PlatformCore:
    cfg = PlatformConfig(role="local", storage=str(tmp_path / "local.sqlite"), security=security, defects=defects,
                         accounts={PLATFORM_ID: Account(PLATFORM_ID, "ent01", "secret", "110000")})
    core = PlatformCore(cfg, Store(cfg.storage))
    core.opened(1, "enterprise", time.time())
    body = {"time": now_time(), "serial": 1, "username": "ent01", "password": "secret", "encryption_rule": 4}
    answers = core.received(1, encode(Frame(0x05, vin=PLATFORM_ID, edition=2025, body=body)), time.time())
    assert [decode(a.data).ack for a in answers if isinstance(a, Send)] == [0x01]
    return core


def test_relay_reencrypted_under_the_agreed_rule(tmp_path):
    signer = crypto.FrameCrypto(signing_key=SM2_VEHICLE)
    plain = signer.seal(realtime_frame())
    cases = [(0x04, {"sm2_public_key": LOCAL_SM2.public_key().to_bytes().hex()},
              {"sm2_private_key": LOCAL_SM2.d.hex()}),
             (0x03, {"aes": PEER_AES.hex()}, {"peer_keys": {"aes": PEER_AES.hex()}})]
    for rule, ours, theirs in cases:
        enterprise = PlatformSecurity({"upstreams": {"local-110000": ours}}, set())
        out = enterprise.for_upstream(Upstream("local-110000", "127.0.0.1", 1, encryption_rule=rule), plain)
        assert out[21] == rule and plain[24:-1] not in out
        local = _local(tmp_path / str(rule), theirs)
        answers = [decode(a.data) for a in local.received(1, out, time.time()) if isinstance(a, Send)]
        assert [(a.command, a.ack) for a in answers] == [(0x02, 0x01)]  # §5.2.2: read and answered
        local.flush()
        stored = local.store.frames(vin=VIN, commands=(0x02,))
        assert [f.raw for f in stored] == [plain]  # decrypted: the vehicle's signed plaintext frame
        sig = crypto.signature_of(0x02, decode(plain).body)
        crypto.verify(crypto.signed_bytes(0x02, stored[0].raw[24:-1], sig), sig, SM2_VEHICLE.public_key())
    # no agreed rule: as it is
    assert PlatformSecurity({}, set()).for_upstream(Upstream("x", "h", 1), plain) == plain


def test_agreed_rule_without_its_key_is_a_configuration_error():
    up = {"name": "local-110000", "host": "127.0.0.1", "port": 1, "encryption_rule": 5}
    with pytest.raises(ValueError, match="security.upstreams.local-110000.sm4"):
        from_dict({"upstreams": [up]})
    from_dict({"upstreams": [up], "security": {"upstreams": {"local-110000": {"sm4": SM4_KEY.hex()}}}})


def test_relay_not_decrypted_switch_keeps_relays_unread(tmp_path):
    plain = crypto.FrameCrypto(signing_key=SM2_VEHICLE).seal(realtime_frame())
    relay = PlatformSecurity({"upstreams": {"local-110000": {"aes": PEER_AES.hex()}}}, set()).for_upstream(
        Upstream("local-110000", "127.0.0.1", 1, encryption_rule=0x03), plain)
    local = _local(tmp_path, {"peer_keys": {"aes": PEER_AES.hex()}}, frozenset({"relay-not-decrypted"}))
    answers = [decode(a.data) for a in local.received(1, relay, time.time()) if isinstance(a, Send)]
    assert [(a.command, a.ack) for a in answers] == [(0x02, 0x01)]
    local.flush()
    stored = local.store.frames(vin=VIN, commands=(0x02,))
    assert [(f.raw, f.collected_at) for f in stored] == [(relay, None)]  # kept as received, never read
