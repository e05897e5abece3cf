"""The reference platform's confidentiality and integrity (reference_impl/security.py), sans-IO:
decryption of every encryption byte, flag 0x07 for a wrong key and 0x05 for a bad signature (2025),
activation binding, key exchange 0x0B with its validity window, and the defect switches that break them."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.protocol import crypto
from harness.protocol.codec import Frame, assemble, bcc, decode, encode
from harness.protocol.schema import Timestamp
from reference_impl.config import PlatformConfig, Vehicle
from reference_impl.core import PlatformCore, Send
from reference_impl.store import Store

VIN = "LSECURE0000000001"
AES_KEY = bytes(range(16))
SM4_KEY = bytes(range(16, 32))
SM2_VEHICLE = crypto.SM2PrivateKey(bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"))
SM2_PLATFORM = crypto.SM2PrivateKey(bytes(31) + b"\x2a")
_RSA: list[rsa.RSAPrivateKey] = []


def rsa_platform() -> rsa.RSAPrivateKey:
    if not _RSA:
        _RSA.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _RSA[0]


def settings(**extra) -> dict:
    pem = rsa_platform().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()).decode()
    return {"rsa_private_key": pem, "sm2_private_key": SM2_PLATFORM.d.hex(),
            "vehicles": {VIN: {"aes": AES_KEY.hex(), "sm4": SM4_KEY.hex()}}, **extra}


class Rig:
    """One platform core and one vehicle link, on the real clock (0x0B windows are calendar times)."""

    def __init__(self, tmp_path, security: dict | None = None, defects: frozenset[str] = frozenset()) -> None:
        cfg = PlatformConfig(storage=str(tmp_path / "p.sqlite"), vehicles={VIN: Vehicle(VIN, True, "110000")},
                             defects=defects, security=settings() if security is None else security)
        self.core = PlatformCore(cfg, Store(cfg.storage))
        self.core.opened(1, "vehicle", time.time())

    def send(self, data: bytes, now: float | None = None) -> list[Frame]:
        actions = self.core.received(1, data, time.time() if now is None else now)
        self.core.flush()
        return [decode(a.data) for a in actions if isinstance(a, Send)]

    def login(self, edition: int = 2025, fc: crypto.FrameCrypto | None = None) -> Frame:
        answers = self.send(encode(login_frame(edition), crypto=fc))
        assert len(answers) == 1
        return answers[0]


def now_time(delta: float = 0) -> Timestamp:
    return Timestamp.from_datetime(dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)
                                   + dt.timedelta(seconds=delta))


def login_frame(edition: int) -> Frame:
    body = {"time": now_time(), "serial": 1, "iccid": "89860318342004278077"}
    body |= {"code_length": 0, "subsystem_codes": []} if edition == 2016 else {"packs_per_bms": [], "pack_codes": []}
    return Frame(0x01, vin=VIN, edition=edition, body=body)


def realtime_frame(edition: int = 2025, soc: int = 80) -> Frame:
    veh = {"vehicle_state": 1, "charge_state": 3, "run_mode": 1, "speed": 600, "odometer": 123456,
           "total_voltage": 3500, "total_current": 30100 if edition == 2025 else 10100, "soc": soc, "dcdc_state": 1,
           "gear": 0x2E, "insulation_resistance": 5000}
    if edition == 2016:
        veh |= {"accelerator_pedal": 10, "brake_pedal": 0}
    return Frame(0x02, vin=VIN, edition=edition, body={"time": now_time(), "items": [{"type": 1, "data": veh}]})


def activation_frame() -> Frame:
    body = {"time": now_time(), "chip_id": "CHIP000000000001",
            "public_key": crypto.public_key_bytes(SM2_VEHICLE), "vin": VIN}
    return Frame(0x09, vin=VIN, edition=2025, body=body)


def fc(encryption: int, **keys) -> crypto.FrameCrypto:
    return crypto.FrameCrypto(keys=crypto.Keys(**keys), encryption=encryption)


# ---------------------------------------------------------------------------------------- decryption
ACCEPTED = [(2016, crypto.AES, {"aes": AES_KEY}), (2016, crypto.RSA, {"rsa": None}),
            (2025, crypto.AES, {"aes": AES_KEY}), (2025, crypto.SM4, {"sm4": SM4_KEY}),
            (2025, crypto.RSA, {"rsa": None}), (2025, crypto.SM2, {"sm2": SM2_PLATFORM.public_key()})]


@pytest.mark.parametrize(("edition", "encryption", "key"), ACCEPTED, ids=lambda v: str(v) if isinstance(v, int) else "")
def test_encrypted_login_and_data_accepted(tmp_path, edition, encryption, key):
    key = {k: (rsa_platform().public_key() if v is None else v) for k, v in key.items()}
    rig = Rig(tmp_path)
    sender = fc(encryption, **key)
    frame = login_frame(edition)
    answer = rig.login(edition, sender)
    assert answer.ack == 0x01
    assert answer.body["time"] == frame.body["time"]  # the answer keeps the plaintext time, not ciphertext
    assert rig.send(encode(realtime_frame(edition), crypto=sender)) == []  # correct data is not answered
    stored = rig.core.store.frames(vin=VIN, commands=(0x02,))
    assert len(stored) == 1 and decode(stored[0].raw).body["items"][0]["data"]["soc"] == 80
    assert rig.core.security.stats["decrypted"] == 2


@pytest.mark.parametrize(("edition", "encryption", "flag"), [(2025, crypto.SM4, 0x07), (2025, crypto.AES, 0x07),
                                                             (2025, crypto.SM2, 0x07), (2016, crypto.AES, 0x02)])
def test_wrong_key_gets_decryption_flag(tmp_path, edition, encryption, flag):
    rig = Rig(tmp_path)
    wrong = fc(encryption, aes=bytes(16), sm4=bytes(16), sm2=crypto.SM2PrivateKey(bytes(31) + b"\x07").public_key())
    answer = rig.send(wrong.seal(login_frame(edition)))
    assert [(a.command, a.ack) for a in answer] == [(0x01, flag)]
    assert VIN not in rig.core.online
    assert rig.core.store.frames(vin=VIN) == []


def test_no_key_at_all_is_a_decryption_error(tmp_path):
    rig = Rig(tmp_path, security={})
    answer = rig.send(fc(crypto.SM4, sm4=SM4_KEY).seal(login_frame(2025)))
    assert [(a.command, a.ack) for a in answer] == [(0x01, 0x07)]


def test_accept_wrong_key_switch_breaks_it(tmp_path):
    rig = Rig(tmp_path, defects=frozenset({"accept-wrong-key"}))
    rig.login()
    answer = rig.send(fc(crypto.SM4, sm4=bytes(16)).seal(realtime_frame()))
    assert [a.ack for a in answer] == [0x01]  # a broken platform acknowledges what it could not read
    assert len(rig.core.store.frames(vin=VIN, commands=(0x02,))) == 1


# ---------------------------------------------------------------------------------------- signatures
def _activated(tmp_path, **kw) -> Rig:
    rig = Rig(tmp_path, **kw)
    assert rig.login().ack == 0x01
    answers = rig.send(encode(activation_frame(), crypto=crypto.FrameCrypto(signing_key=SM2_VEHICLE)))
    assert [(a.command, a.body["status"]) for a in answers] == [(0x0A, 1)]
    return rig


def _tampered_signed_realtime() -> bytes:
    data = bytearray(encode(realtime_frame(), crypto=crypto.FrameCrypto(signing_key=SM2_VEHICLE)))
    data[24 + 6 + 1 + 13] ^= 0x01  # the SOC byte of the vehicle item: signed, so the signature fails
    data[-1] = bcc(data[2:-1])
    return bytes(data)


def test_activation_binds_key_and_signed_data_verifies(tmp_path):
    rig = _activated(tmp_path)
    bound = rig.core.security.vehicles[VIN]
    assert bound.sign_key == SM2_VEHICLE.public_key() and bound.chip_id == "CHIP000000000001"
    good = encode(realtime_frame(), crypto=crypto.FrameCrypto(signing_key=SM2_VEHICLE))
    assert rig.send(good) == []
    assert rig.core.security.stats["verified"] == 2  # activation and the real-time frame
    # the stored (and relayed) bytes keep the signature verifiable end to end
    stored = decode(rig.core.store.frames(vin=VIN, commands=(0x02,))[0].raw)
    crypto.FrameCrypto().check_signature(dataclass_plain(stored), SM2_VEHICLE.public_key())


def dataclass_plain(frame: Frame) -> Frame:
    frame.extra["plaintext"] = encode(frame)[24:-1]
    return frame


def test_tampered_signature_gets_0x05(tmp_path):
    rig = _activated(tmp_path)
    answer = rig.send(_tampered_signed_realtime())
    assert [(a.command, a.ack) for a in answer] == [(0x02, 0x05)]
    assert rig.core.store.frames(vin=VIN, commands=(0x02,)) == []


def test_tampered_signature_encrypted_gets_0x05(tmp_path):
    rig = _activated(tmp_path)
    frame = realtime_frame()
    sender = crypto.FrameCrypto(keys=crypto.Keys(sm4=SM4_KEY), encryption=crypto.SM4, signing_key=SM2_VEHICLE)
    plain = sender.unit(2025, 0x02, 0xFE, frame.body)
    forged = bytearray(plain)
    forged[6 + 1 + 13] ^= 0x01
    cipher = crypto.encrypt_unit(crypto.SM4, bytes(forged), crypto.Keys(sm4=SM4_KEY))
    answer = rig.send(assemble(2025, 0x02, 0xFE, VIN, cipher, crypto.SM4))
    assert [(a.command, a.ack, a.body["time"]) for a in answer] == [(0x02, 0x05, frame.body["time"])]


def test_tampered_activation_gets_0x05(tmp_path):
    rig = Rig(tmp_path)
    rig.login()
    data = bytearray(encode(activation_frame(), crypto=crypto.FrameCrypto(signing_key=SM2_VEHICLE)))
    data[30] ^= 0x01  # a chip id byte
    data[-1] = bcc(data[2:-1])
    assert [(a.command, a.ack) for a in rig.send(bytes(data))] == [(0x09, 0x05)]
    assert rig.core.security.vehicles.get(VIN) is None or rig.core.security.vehicles[VIN].sign_key is None


def test_skip_signature_check_switch_breaks_it(tmp_path):
    rig = _activated(tmp_path, defects=frozenset({"skip-signature-check"}))
    assert rig.send(_tampered_signed_realtime()) == []  # accepted silently
    assert len(rig.core.store.frames(vin=VIN, commands=(0x02,))) == 1


def test_require_mode_refuses_unsigned_2025_data(tmp_path):
    rig = _activated(tmp_path, security=settings(signatures="require"))
    answer = rig.send(encode(realtime_frame()))
    assert [(a.command, a.ack) for a in answer] == [(0x02, 0x05)]
    ok = Rig(tmp_path / "verify")
    ok.login()
    assert ok.send(encode(realtime_frame())) == []  # default "verify": no key known, nothing to check


# ---------------------------------------------------------------------------------------- key exchange 0x0B
def test_key_exchange_sets_and_rotates_with_window(tmp_path):
    rig = _activated(tmp_path, security=settings(vehicles={}))
    new_key = bytes(range(100, 116))
    actions = rig.core.security.rotate_key(rig.core, VIN, 0x05, new_key, now_time(-60), now_time(3600))
    assert len(actions) == 1
    sent = actions[0].data
    assert sent[21] == crypto.SM2  # sealed with the key bound at activation
    vehicle_side = crypto.FrameCrypto(keys=crypto.Keys(sm2=SM2_VEHICLE))
    got = decode(sent, crypto=vehicle_side)
    assert (got.command, got.body["key_type"], got.body["key"]) == (0x0B, 0x05, new_key)
    # data under the new key is accepted inside the window ...
    assert rig.send(fc(crypto.SM4, sm4=new_key).seal(realtime_frame())) == []
    # ... and refused 0x07 once it expired
    later = time.time() + 7200
    answer = rig.send(fc(crypto.SM4, sm4=new_key).seal(realtime_frame()), now=later)
    assert [a.ack for a in answer] == [0x07]
    # a rotation: the next key works, the old one still works until its own expiry
    newer = bytes(range(200, 216))
    rig.core.security.rotate_key(rig.core, VIN, 0x05, newer, now_time(-1), now_time(600))
    assert rig.send(fc(crypto.SM4, sm4=newer).seal(realtime_frame(soc=70))) == []
    assert rig.send(fc(crypto.SM4, sm4=new_key).seal(realtime_frame(soc=71))) == []
    assert [a.ack for a in rig.send(fc(crypto.SM4, sm4=bytes(16)).seal(realtime_frame(soc=72)))] == [0x07]


def test_key_not_yet_valid_is_refused_and_switch_breaks_it(tmp_path):
    for defects, expected in ((frozenset(), [0x07]), (frozenset({"ignore-key-validity"}), [])):
        rig = Rig(tmp_path / str(len(defects)), security=settings(vehicles={}), defects=defects)
        rig.login()
        key = bytes(range(50, 66))
        rig.core.security.rotate_key(rig.core, VIN, 0x05, key, now_time(3600), now_time(7200))
        assert [a.ack for a in rig.send(fc(crypto.SM4, sm4=key).seal(realtime_frame()))] == expected


def test_vehicle_proposed_key_is_used(tmp_path):
    rig = Rig(tmp_path, security=settings(vehicles={}))
    rig.login()
    key = bytes(range(70, 86))
    body = {"key_type": 0x05, "key": key, "valid_from": now_time(-10), "expires": now_time(600)}
    to_platform = fc(crypto.SM2, sm2=SM2_PLATFORM.public_key())  # the key travels under the platform's SM2 key
    rig.send(to_platform.seal(Frame(0x0B, vin=VIN, edition=2025, body=body)))
    assert rig.send(fc(crypto.SM4, sm4=key).seal(realtime_frame())) == []
    assert len(rig.core.store.frames(vin=VIN, commands=(0x02,))) == 1


def test_unknown_security_settings_refused(tmp_path):
    with pytest.raises(ValueError):
        Rig(tmp_path, security={"sm2_privat_key": "00"})
    with pytest.raises(ValueError):
        Rig(tmp_path, security={"signatures": "sometimes"})


def test_refused_activation_does_not_replace_the_bound_key(tmp_path):
    rig = _activated(tmp_path)
    intruder = crypto.SM2PrivateKey.generate()
    body = dict(activation_frame().body, chip_id="CHIP000000000666", public_key=crypto.public_key_bytes(intruder))
    answers = rig.send(encode(Frame(0x09, vin=VIN, edition=2025, body=body),
                              crypto=crypto.FrameCrypto(signing_key=intruder)))
    assert [(a.command, a.body["status"]) for a in answers] == [(0x0A, 2)]  # VIN already activated
    assert rig.core.security.vehicles[VIN].sign_key == SM2_VEHICLE.public_key()
    forged = encode(realtime_frame(), crypto=crypto.FrameCrypto(signing_key=intruder))
    assert [(a.command, a.ack) for a in rig.send(forged)] == [(0x02, 0x05)]
