"""Known-answer and round-trip tests of harness/protocol/crypto.py (docs/crypto.md).

Published vectors used (each test names its source):
- SM4: GB/T 32907-2016 Annex A, example 1 (key = plaintext = 0123456789ABCDEFFEDCBA9876543210).
- SM3: GB/T 32905-2016 Annex A, example 1 ("abc").
- SM2 signature and encryption: GB/T 32918.5-2017 (= GM/T 0003.5-2012) Annex A examples on the
  recommended curve: private key 3945208F…, ID 1234567812345678, k 59276E27…; the same numbers are in
  OpenSSL's test/sm2_internal_test.c.
- AES-128: FIPS-197 Appendix C.1 (block) and NIST SP 800-38A F.2.1 (CBC).
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.protocol import codec, crypto, errors, samples
from harness.protocol.codec import Frame, decode, encode

# ---------------------------------------------------------------------------------------- fixtures
SM2_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
SM2_P = bytes.fromhex("04" "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
                      "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13")
SM2_K = int("59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21", 16)
SM2_R = bytes.fromhex("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3")
SM2_S = bytes.fromhex("B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA")


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def sm2_key() -> crypto.SM2PrivateKey:
    return crypto.SM2PrivateKey(SM2_D)


@pytest.fixture(scope="module")
def keys(rsa_key, sm2_key) -> crypto.Keys:
    return crypto.Keys(aes=bytes(range(16)), sm4=bytes(range(16, 32)), rsa=rsa_key, sm2=sm2_key)


# ---------------------------------------------------------------------------------------- known answers
def test_sm4_gbt32907_example():
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    out = crypto.encrypt_unit(crypto.SM4, key, crypto.Keys(sm4=key), crypto.CryptoOptions(sm4_mode="ecb"))
    assert out[:16].hex() == "681edf34d206965e86b3e94f536e4246"  # then one PKCS#7 block
    assert len(out) == 32


def test_sm3_abc():
    h = hashes.Hash(hashes.SM3())
    h.update(b"abc")
    assert h.finalize().hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm2_public_key_of_published_private_key(sm2_key):
    assert sm2_key.public_key().point == SM2_P


def test_sm2_published_signature_verifies():
    pub = crypto.SM2PublicKey(SM2_P)
    sig = {"algorithm": 1, "r": SM2_R, "s": SM2_S}
    crypto.verify(b"message digest", sig, pub)  # default user id 1234567812345678
    with pytest.raises(crypto.SignatureError):
        crypto.verify(b"message digesT", sig, pub)
    with pytest.raises(crypto.SignatureError):  # another user id gives another Z
        crypto.verify(b"message digest", sig, pub, crypto.CryptoOptions(sm2_user_id=b"ALICE123@YAHOO.COM"))


def test_sm2_sign_with_published_k_gives_published_signature(sm2_key):
    sig = crypto.sign(b"message digest", sm2_key, rnd=lambda bits: SM2_K)
    assert sig == {"algorithm": 1, "r": SM2_R, "s": SM2_S}


def test_sm2_published_encryption_example(sm2_key):
    # GB/T 32918.5 example: "encryption standard" with k above; published as C1 x, C1 y, C3, C2
    x1 = "04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73"
    y1 = "E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0"
    c3 = "59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766"
    c2 = "21886CA989CA9C7D58087307CA93092D651EFA"
    want = bytes.fromhex("04" + x1 + y1 + c3 + c2)
    got = crypto.encrypt_unit(crypto.SM2, b"encryption standard", crypto.Keys(sm2=sm2_key.public_key()),
                              rnd=lambda bits: SM2_K)
    assert got == want
    assert crypto.decrypt_unit(crypto.SM2, want, crypto.Keys(sm2=sm2_key)) == b"encryption standard"
    c1c2c3 = crypto.CryptoOptions(sm2_order="c1c2c3")
    old_order = bytes.fromhex("04" + x1 + y1 + c2 + c3)
    assert crypto.decrypt_unit(crypto.SM2, old_order, crypto.Keys(sm2=sm2_key), c1c2c3) == b"encryption standard"
    raw = crypto.CryptoOptions(sm2_point="raw")
    assert crypto.decrypt_unit(crypto.SM2, want[1:], crypto.Keys(sm2=sm2_key), raw) == b"encryption standard"


def test_aes128_fips197_block():
    key = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    out = crypto.encrypt_unit(crypto.AES, bytes.fromhex("00112233445566778899aabbccddeeff"),
                              crypto.Keys(aes=key), crypto.CryptoOptions(aes_mode="ecb"), edition=2016)
    assert out[:16].hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"


def test_aes128_cbc_sp800_38a():
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    iv = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    plain = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
    out = crypto.encrypt_unit(crypto.AES, plain, crypto.Keys(aes=key), edition=2016, nonce=iv)
    assert out[:16] == iv  # default: the IV goes first
    assert out[16:48].hex() == "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
    assert crypto.decrypt_unit(crypto.AES, out, crypto.Keys(aes=key), edition=2016) == plain


def test_rsa_signature_is_pkcs1_v15_sha256(rsa_key):
    # checked with integer arithmetic only: s^e mod n must be the EMSA-PKCS1-v1_5 encoding (RFC 8017 9.2)
    msg = b"\x19\x06\x01\x08\x00\x00" + b"data unit"
    sig = crypto.sign(msg, rsa_key)
    assert sig["algorithm"] == 2 and sig["s"] == b"" and len(sig["r"]) == 256
    pub = rsa_key.public_key().public_numbers()
    em = pow(int.from_bytes(sig["r"], "big"), pub.e, pub.n).to_bytes(256, "big")
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(msg).digest()
    assert em == b"\x00\x01" + b"\xff" * (256 - 3 - len(digest_info)) + b"\x00" + digest_info
    assert crypto.sign(msg, rsa_key) == sig  # deterministic
    crypto.verify(msg, sig, rsa_key.public_key())


def test_rsa_unit_encryption_is_chunked_oaep(rsa_key):
    plain = bytes(range(256)) * 3  # 768 bytes: five OAEP-SHA256 blocks of at most 190
    out = crypto.encrypt_unit(crypto.RSA, plain, crypto.Keys(rsa=rsa_key.public_key()))
    assert len(out) == 5 * 256
    assert crypto.decrypt_unit(crypto.RSA, out, crypto.Keys(rsa=rsa_key)) == plain
    v15 = crypto.CryptoOptions(rsa_padding="pkcs1v15")
    out = crypto.encrypt_unit(crypto.RSA, plain, crypto.Keys(rsa=rsa_key), v15)
    assert len(out) == 4 * 256  # blocks of 245
    assert crypto.decrypt_unit(crypto.RSA, out, crypto.Keys(rsa=rsa_key), v15) == plain


def test_ecdsa_round_trip():
    key = ec.generate_private_key(ec.SECP256R1())
    sig = crypto.sign(b"abc", key)
    assert sig["algorithm"] == 3 and len(sig["r"]) == len(sig["s"]) == 32
    crypto.verify(b"abc", sig, key.public_key())
    with pytest.raises(crypto.SignatureError):
        crypto.verify(b"abd", sig, key.public_key())


# ---------------------------------------------------------------------------------------- frames
CASES = [(2016, crypto.RSA), (2016, crypto.AES), (2025, crypto.RSA), (2025, crypto.AES), (2025, crypto.SM2),
         (2025, crypto.SM4)]
OPTION_SETS = [crypto.CryptoOptions(),
               crypto.CryptoOptions(aes_mode="gcm", sm4_mode="gcm", rsa_padding="pkcs1v15", sm2_order="c1c2c3"),
               crypto.CryptoOptions(aes_mode="ecb", sm4_mode="ecb", sm2_point="raw"),
               crypto.CryptoOptions(aes_iv="zero", sm4_iv="zero")]


def _frames(edition: int) -> list[Frame]:
    full = samples.realtime_2016_full() if edition == 2016 else samples.realtime_2025_full()
    return [samples.login(edition), full, samples.heartbeat(edition)]


@pytest.mark.parametrize("options", OPTION_SETS, ids=["default", "gcm-v15-c1c2c3", "ecb-raw", "zero-iv"])
@pytest.mark.parametrize(("edition", "encryption"), CASES)
def test_frame_round_trip(keys, edition, encryption, options):
    sender = crypto.FrameCrypto(keys=keys, options=options, encryption=encryption)
    receiver = crypto.FrameCrypto(keys=keys, options=options)
    for frame in _frames(edition):
        data = encode(frame, crypto=sender)
        assert data[21] == encryption
        assert data[-1] == codec.bcc(data[2:-1])  # the BCC covers the ciphertext
        plain = encode(frame)
        # an empty unit (heartbeat) stays empty under SM2 only (GB/T 32918.4 needs klen > 0)
        assert data[24:-1] != plain[24:-1] or (encryption == crypto.SM2 and not plain[24:-1])
        back = decode(data, crypto=receiver)
        assert back.encryption == encryption
        assert back.body == decode(plain).body
        assert crypto.plaintext_frame(back) == plain  # decrypt, re-assemble: the plaintext frame again


def test_bcc_is_checked_before_decryption(keys):
    data = bytearray(encode(samples.login(2025), crypto=crypto.FrameCrypto(keys=keys, encryption=crypto.SM4)))
    data[30] ^= 0x01
    with pytest.raises(errors.BadChecksum):
        decode(bytes(data), crypto=crypto.FrameCrypto(keys=keys))


def test_altered_ciphertext_with_fixed_bcc_is_a_decryption_error(keys):
    data = bytearray(encode(samples.login(2025), crypto=crypto.FrameCrypto(keys=keys, encryption=crypto.SM2)))
    data[-5] ^= 0x01  # inside C2: C3 no longer matches
    data[-1] = codec.bcc(data[2:-1])
    with pytest.raises(crypto.DecryptionError) as info:
        decode(bytes(data), crypto=crypto.FrameCrypto(keys=keys))
    assert info.value.flag(2025) == 0x07


@pytest.mark.parametrize(("edition", "encryption"), CASES)
def test_wrong_key_is_a_typed_decryption_error(keys, edition, encryption):
    wrong = crypto.Keys(aes=bytes(16), sm4=bytes(16), rsa=rsa.generate_private_key(public_exponent=65537, key_size=1024)
                        if encryption != crypto.RSA else _other_rsa(), sm2=crypto.SM2PrivateKey(bytes(31) + b"\x07"))
    frame = samples.realtime_2016_full() if edition == 2016 else samples.realtime_2025_full()
    body = encode(frame)[24:-1]
    # a fixed IV makes the outcome deterministic (CBC has no tag: a random IV could pad validly once in ~256)
    cipher = crypto.encrypt_unit(encryption, body, keys, edition=edition, nonce=bytes(range(16)))
    data = codec.assemble(edition, frame.command, frame.ack, frame.vin, cipher, encryption)
    with pytest.raises(crypto.DecryptionError) as info:
        decode(data, crypto=crypto.FrameCrypto(keys=wrong))
    assert info.value.flag(edition) == (0x07 if edition == 2025 else 0x02)
    assert info.value.offset == 24


_OTHER_RSA: list[rsa.RSAPrivateKey] = []


def _other_rsa() -> rsa.RSAPrivateKey:
    if not _OTHER_RSA:
        _OTHER_RSA.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _OTHER_RSA[0]


def test_missing_key_and_bad_encryption_byte(keys):
    data = encode(samples.login(2025), crypto=crypto.FrameCrypto(keys=keys, encryption=crypto.SM4))
    with pytest.raises(crypto.KeyMissing):
        decode(data, crypto=crypto.FrameCrypto(keys=crypto.Keys(aes=bytes(16))))
    with pytest.raises(crypto.KeyMissing):  # SM2 decryption needs the private key
        crypto.decrypt_unit(crypto.SM2, b"\x04" + bytes(200), crypto.Keys(sm2=keys.sm2.public_key()))
    with pytest.raises(crypto.EncryptionError):  # SM4 is not a 2016 cipher
        encode(samples.login(2016), crypto=crypto.FrameCrypto(keys=keys, encryption=crypto.SM4))
    with pytest.raises(crypto.EncryptionError):  # 2016 is AES-128 only
        crypto.encrypt_unit(crypto.AES, b"x", crypto.Keys(aes=bytes(32)), edition=2016)
    assert crypto.decrypt_unit(crypto.AES, crypto.encrypt_unit(crypto.AES, b"x", crypto.Keys(aes=bytes(32))),
                               crypto.Keys(aes=bytes(32))) == b"x"  # 2025: AES-256 too


# ---------------------------------------------------------------------------------------- signatures
SIGNERS = ["sm2", "rsa", "ecc"]


def _signer(name, rsa_key, sm2_key):
    return {"sm2": sm2_key, "rsa": rsa_key, "ecc": ec.generate_private_key(ec.SECP256R1())}[name]


@pytest.mark.parametrize("signer", SIGNERS)
@pytest.mark.parametrize("encryption", [crypto.NONE, crypto.SM4, crypto.SM2])
def test_signed_realtime_round_trip_and_tamper(keys, rsa_key, sm2_key, signer, encryption):
    key = _signer(signer, rsa_key, sm2_key)
    sender = crypto.FrameCrypto(keys=keys, encryption=encryption, signing_key=key)
    frame = samples.realtime_2025_full()
    data = encode(frame, crypto=sender)
    back = decode(data, crypto=crypto.FrameCrypto(keys=keys))
    sig = back.body["signature"]
    assert sig["algorithm"] == crypto.algorithm_of(key)
    receiver = crypto.FrameCrypto(keys=keys)
    receiver.check_signature(back, crypto.public_of(key))
    # the signed bytes: collection time up to the byte before 0xFF
    plain = back.extra["plaintext"]
    assert plain.endswith(crypto.pack_signature(sig))
    signed = crypto.signed_bytes(0x02, plain, sig)
    assert plain[len(signed)] == 0xFF and signed[:6] == bytes(frame.body["time"])
    # a changed data byte (re-signed by nobody) fails
    tampered = dict(back.body, items=[dict(back.body["items"][0], data=dict(back.body["items"][0]["data"], soc=1)),
                                      *back.body["items"][1:]])
    forged = Frame(0x02, 0xFE, back.vin, tampered, 2025)
    forged_back = decode(encode(forged))
    with pytest.raises(crypto.SignatureError) as info:
        receiver.check_signature(forged_back, crypto.public_of(key))
    assert info.value.flag(2025) == 0x05
    # a changed signature byte fails
    bad = dict(back.body, signature=dict(sig, r=bytes([sig["r"][0] ^ 1]) + sig["r"][1:]))
    with pytest.raises(crypto.SignatureError):
        receiver.check_signature(decode(encode(Frame(0x02, 0xFE, back.vin, bad, 2025))), crypto.public_of(key))


def test_signature_type_must_match_key(rsa_key, sm2_key):
    sig = crypto.sign(b"m", sm2_key)
    with pytest.raises(crypto.SignatureError):
        crypto.verify(b"m", sig, rsa_key.public_key())


@pytest.mark.parametrize("signer", SIGNERS)
def test_activation_is_self_signed(rsa_key, sm2_key, signer):
    key = _signer(signer, rsa_key, sm2_key)
    body = {"time": samples.SAMPLE_TIME, "chip_id": "CHIP000000000001", "public_key": crypto.public_key_bytes(key),
            "vin": samples.SAMPLE_VIN}
    data = encode(Frame(0x09, 0xFE, samples.SAMPLE_VIN, body, 2025),
                  crypto=crypto.FrameCrypto(signing_key=key))
    fc = crypto.FrameCrypto()
    back = fc.open(data)  # no key given: the activation's own public key verifies it
    assert back.body["algorithm"] == crypto.algorithm_of(key)
    assert crypto.load_public_key(back.body["algorithm"], back.body["public_key"]) is not None
    tampered = bytearray(data)
    tampered[30 + 2] ^= 0x01  # a chip id byte
    tampered[-1] = codec.bcc(tampered[2:-1])
    with pytest.raises(crypto.SignatureError):
        fc.open(bytes(tampered))


def test_options_from_pics():
    pics = {"features": {"encryption": {"sm4": True, "options": {"sm4_mode": "gcm", "sm2_user_id": "ALICE"}}}}
    opts = crypto.CryptoOptions.from_pics(pics)
    assert opts.sm4_mode == "gcm" and opts.sm2_user_id == b"ALICE" and opts.aes_mode == "cbc"
    assert crypto.CryptoOptions.from_pics({}) == crypto.DEFAULT_OPTIONS
    with pytest.raises(ValueError):
        crypto.CryptoOptions.from_mapping({"aes_mode": "cfb"})
    with pytest.raises(ValueError):
        crypto.CryptoOptions.from_mapping({"aes_pad": "zero"})


def test_sm2_public_key_checks():
    with pytest.raises(ValueError):
        crypto.SM2PublicKey(bytes(range(64)))  # not on the curve (the terminal's old placeholder)
    assert crypto.SM2PublicKey(SM2_P[1:]) == crypto.SM2PublicKey(SM2_P)
