"""The harness's vehicles (harness.protocol.crypto) and the reference platform (reference_impl/security.py)
interoperate under every choice the standard leaves open (docs/crypto.md: CryptoOptions), for every
encryption byte of both editions and every signature type: both sides configured alike, the platform
decrypts, verifies and stores what the harness sends. Sans-IO."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.protocol import crypto
from harness.protocol.codec import assemble, decode, encode

from .test_security import ACCEPTED, SM2_VEHICLE, VIN, Rig, realtime_frame, rsa_platform, settings

OPTION_SETS = {
    "defaults": {},
    "ecb": {"aes_mode": "ecb", "sm4_mode": "ecb"},
    "gcm": {"aes_mode": "gcm", "sm4_mode": "gcm"},
    "zero-iv": {"aes_iv": "zero", "sm4_iv": "zero"},
    "pkcs1v15": {"rsa_padding": "pkcs1v15"},
    "sm2-c1c2c3-raw": {"sm2_order": "c1c2c3", "sm2_point": "raw", "sm2_user_id": "ABCDEFGH12345678"},
}


@pytest.mark.parametrize("options", sorted(OPTION_SETS))
@pytest.mark.parametrize(("edition", "encryption", "key"), ACCEPTED, ids=lambda v: str(v) if isinstance(v, int) else "")
def test_every_mode_under_every_option_set(tmp_path, options, edition, encryption, key):
    opts = crypto.CryptoOptions.from_mapping(OPTION_SETS[options])
    keys = {k: (rsa_platform().public_key() if v is None else v) for k, v in key.items()}
    rig = Rig(tmp_path, security=settings(options=OPTION_SETS[options]))
    sender = crypto.FrameCrypto(keys=crypto.Keys(**keys), options=opts, encryption=encryption)
    assert rig.login(edition, sender).ack == 0x01
    assert rig.send(encode(realtime_frame(edition), crypto=sender)) == []
    stored = rig.core.store.frames(vin=VIN, commands=(0x02,))
    assert len(stored) == 1 and decode(stored[0].raw).body["items"][0]["data"]["soc"] == 80


@pytest.mark.parametrize("options", ["defaults", "sm2-c1c2c3-raw"])
@pytest.mark.parametrize("signer", ["sm2", "rsa", "ecc"])
def test_signatures_verify_under_the_option_set(tmp_path, options, signer):
    opts = crypto.CryptoOptions.from_mapping(OPTION_SETS[options])
    key: crypto.PrivateKey = {"sm2": SM2_VEHICLE, "rsa": rsa.generate_private_key(65537, 2048),
                              "ecc": ec.generate_private_key(ec.SECP256R1())}[signer]
    vehicles = {VIN: {"sign_algorithm": signer, "sign_public_key": crypto.public_key_bytes(key, opts).hex()}}
    rig = Rig(tmp_path, security=settings(options=OPTION_SETS[options], vehicles=vehicles))
    rig.login()
    sender = crypto.FrameCrypto(options=opts, signing_key=key)
    assert rig.send(sender.seal(realtime_frame())) == []
    assert rig.core.security.stats["verified"] == 1
    unit = bytearray(sender.unit(2025, 0x02, 0xFE, realtime_frame(soc=60).body))
    unit[11] ^= 1  # one signed byte changed
    answer = rig.send(assemble(2025, 0x02, 0xFE, VIN, bytes(unit)))
    assert [(a.command, a.ack) for a in answer] == [(0x02, 0x05)]
