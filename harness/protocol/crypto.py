"""Data-unit encryption and 2025 signatures of GB/T 32960.3, on real libraries.

Encryption byte (header offset 21) -> cipher:

    0x02 RSA        `cryptography` RSA, chunked (a data unit is longer than one RSA block)
    0x03 AES        `cryptography` AES-128 (2016) / AES-128/192/256 (2025, the key length decides)
    0x04 SM2        `gmalg` SM2 public-key encryption (GB/T 32918.4), C1 || C3 || C2 by default
    0x05 SM4        `cryptography` SM4 (GB/T 32907), 2025 only

The standard leaves the modes, padding, IV and key handling open; `CryptoOptions` holds them, with
the defaults documented in docs/crypto.md and selectable by the PICS (`features.encryption.options`).

Order of operations (spec §1): the sender signs the plaintext data unit (2025), encrypts it, and
computes the BCC over the ciphertext; the receiver checks the BCC first (`codec.decode` does), then
decrypts, then verifies the signature. A failure raises a `ProtocolError` whose `response_flag` is
what a 2025 platform answers: 0x07 for decryption, 0x05 for the signature.

Signature block (2025, [S25] T7/T8): 0xFF, type (01 SM2, 02 RSA, 03 ECC), R-len WORD, R, S-len WORD, S.
The signed bytes run from the first byte of the collection time to the byte before the block, the
0xFF excluded. Activation 0x09 carries the block with no 0xFF, right after the VIN.
  SM2: SM3 with Z (GB/T 32918.2), user id 1234567812345678 by default; R, S 32 bytes each.
  RSA: PKCS#1 v1.5 with SHA-256, the whole signature in R, S empty (as [RTM] does).
  ECC: ECDSA P-256 with SHA-256; R, S 32 bytes each.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import errors
from .codec import COMMAND_FLAG, HEADER_SIZE, Frame, assemble, decode, decode_body, encode_body
from .messages import ENCRYPTION

NONE, RSA, AES, SM2, SM4 = 0x01, 0x02, 0x03, 0x04, 0x05
CIPHER_BYTES = (RSA, AES, SM2, SM4)
SIG_SM2, SIG_RSA, SIG_ECC = 0x01, 0x02, 0x03
SIGNED_COMMANDS = frozenset({0x02, 0x03, 0x09})  # 2025: real-time, reissue, activation
DEFAULT_SM2_USER_ID = b"1234567812345678"  # GB/T 35276 / GB/T 32918 default distinguishing id


# ---------------------------------------------------------------------------------------- errors
class CryptoError(errors.ProtocolError):
    """Base of the crypto errors."""

    clause = "6.2 T2 (data-unit encryption)"


class DecryptionError(CryptoError):
    """The data unit does not decrypt: wrong key, bad padding, tampered ciphertext, expired key."""

    response_flag = {2016: 0x02, 2025: 0x07}


class KeyMissing(DecryptionError):
    """No key for this encryption byte (and peer)."""


class EncryptionError(errors.EncodeError):
    """The data unit cannot be encrypted (no key, or too long once encrypted)."""


class SignatureError(CryptoError):
    """A 2025 signature is missing where required, malformed, or does not verify."""

    clause = "2025 T7/T8 (signature)"
    response_flag = {2016: 0x02, 2025: 0x05}


# ---------------------------------------------------------------------------------------- options
AES_MODES = ("cbc", "ecb", "gcm")
IV_RULES = ("prefix", "zero")
RSA_PADDINGS = ("oaep-sha256", "pkcs1v15")
SM2_ORDERS = ("c1c3c2", "c1c2c3")
SM2_POINTS = ("uncompressed", "raw")


@dataclass(frozen=True)
class CryptoOptions:
    """What the standard leaves open. Defaults: docs/crypto.md; PICS: features.encryption.options."""

    aes_mode: str = "cbc"  # cbc | ecb | gcm
    aes_iv: str = "prefix"  # cbc: prefix (random IV before the ciphertext) | zero (all-zero IV)
    sm4_mode: str = "cbc"
    sm4_iv: str = "prefix"
    rsa_padding: str = "oaep-sha256"  # oaep-sha256 | pkcs1v15
    sm2_order: str = "c1c3c2"  # c1c3c2 (GB/T 32918.4-2016) | c1c2c3 (GM/T 0003-2012)
    sm2_point: str = "uncompressed"  # C1 and SM2 public keys: uncompressed (04||x||y) | raw (x||y)
    sm2_user_id: bytes = DEFAULT_SM2_USER_ID

    def __post_init__(self) -> None:
        for name, allowed in (("aes_mode", AES_MODES), ("sm4_mode", AES_MODES), ("aes_iv", IV_RULES),
                              ("sm4_iv", IV_RULES), ("rsa_padding", RSA_PADDINGS), ("sm2_order", SM2_ORDERS),
                              ("sm2_point", SM2_POINTS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"crypto option {name}={getattr(self, name)!r}: one of {', '.join(allowed)}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> CryptoOptions:
        """From a PICS/config mapping; unknown keys are an error. The user id may be text or bytes."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown crypto options: {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(sorted(known))})")
        if isinstance(data.get("sm2_user_id"), str):
            data["sm2_user_id"] = data["sm2_user_id"].encode()
        return cls(**data)

    @classmethod
    def from_pics(cls, pics: Mapping[str, Any]) -> CryptoOptions:
        node: Any = pics.get("features", pics).get("encryption", {}) or {}
        return cls.from_mapping(node.get("options") if isinstance(node, Mapping) else None)


DEFAULT_OPTIONS = CryptoOptions()


# ---------------------------------------------------------------------------------------- SM2 keys
def _gmalg() -> Any:
    import gmalg  # pure Python; imported on first SM2 use so the plaintext path never pays for it

    return gmalg


class SM2PublicKey:
    """An SM2 public key (a point on the GB/T 32918.5 curve)."""

    def __init__(self, point: bytes) -> None:
        point = bytes(point)
        if len(point) == 64:
            point = b"\x04" + point  # raw x||y, as many terminals send it
        gm = _gmalg()
        try:
            ok = len(point) == 65 and point[0] == 4 and gm.SM2().verify_pk(point)
        except Exception:  # noqa: BLE001  (gmalg raises its own types for malformed points)
            ok = False
        if not ok:
            raise ValueError("not an SM2 public key on the recommended curve (64 or 65 bytes, 04||x||y)")
        self.point = point

    def to_bytes(self, form: str = "uncompressed") -> bytes:
        return self.point if form == "uncompressed" else self.point[1:]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2PublicKey) and other.point == self.point

    def __hash__(self) -> int:
        return hash(self.point)

    def __repr__(self) -> str:
        return f"SM2PublicKey({self.point[:9].hex()}…)"


class SM2PrivateKey:
    """An SM2 private key d (32 bytes)."""

    def __init__(self, d: bytes) -> None:
        if len(d) != 32 or not 0 < int.from_bytes(d, "big") < _SM2_N - 1:
            raise ValueError("an SM2 private key is 32 bytes, 1 <= d < n-1")
        self.d = bytes(d)
        self._public = SM2PublicKey(_gmalg().SM2().generate_pk(self.d))

    @classmethod
    def generate(cls) -> SM2PrivateKey:
        d, _ = _gmalg().SM2().generate_keypair()  # secrets.randbits inside gmalg
        return cls(d.rjust(32, b"\0"))

    def public_key(self) -> SM2PublicKey:
        return self._public

    def __repr__(self) -> str:
        return f"SM2PrivateKey(public={self._public!r})"


_SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123


def _sm2(private: SM2PrivateKey | None, public: SM2PublicKey | None, uid: bytes = DEFAULT_SM2_USER_ID,
         rnd: Callable[[int], int] | None = None) -> Any:
    return _gmalg().SM2(private.d if private else None, uid, public.point if public else None, rnd_fn=rnd)


PublicKey = rsa.RSAPublicKey | SM2PublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | SM2PrivateKey | ec.EllipticCurvePrivateKey


def public_of(key: PublicKey | PrivateKey) -> PublicKey:
    if isinstance(key, (rsa.RSAPrivateKey, SM2PrivateKey, ec.EllipticCurvePrivateKey)):
        return key.public_key()
    return key


# ---------------------------------------------------------------------------------------- keys
@dataclass(frozen=True)
class Keys:
    """Keys for the data-unit ciphers of one peer.

    aes, sm4: the shared symmetric key. rsa, sm2: to encrypt, the receiver's public key (a private key
    will do, its public half is used); to decrypt, our private key."""

    aes: bytes | None = None
    sm4: bytes | None = None
    rsa: rsa.RSAPrivateKey | rsa.RSAPublicKey | None = None
    sm2: SM2PrivateKey | SM2PublicKey | None = None

    def for_byte(self, encryption: int) -> Any:
        return {AES: self.aes, SM4: self.sm4, RSA: self.rsa, SM2: self.sm2}.get(encryption)


def generate_symmetric(encryption: int, size: int = 16) -> bytes:
    """A fresh AES or SM4 key (SM4 is always 16 bytes)."""
    return os.urandom(16 if encryption == SM4 else size)


# ---------------------------------------------------------------------------------------- block ciphers
def _block_cipher(encryption: int, key: bytes, edition: int) -> Any:
    if encryption == AES:
        if len(key) not in ((16,) if edition == 2016 else (16, 24, 32)):
            raise ValueError(f"AES key of {len(key)} bytes: the {edition} edition takes "
                             + ("16 (AES-128)" if edition == 2016 else "16, 24 or 32"))
        return algorithms.AES(key)
    if len(key) != 16:
        raise ValueError(f"SM4 key of {len(key)} bytes: SM4 takes 16")
    return algorithms.SM4(key)


def _mode_of(encryption: int, options: CryptoOptions) -> tuple[str, str]:
    return (options.aes_mode, options.aes_iv) if encryption == AES else (options.sm4_mode, options.sm4_iv)


def _block_encrypt(encryption: int, key: bytes, plain: bytes, options: CryptoOptions, edition: int,
                   nonce: bytes | None) -> bytes:
    algo = _block_cipher(encryption, key, edition)
    mode, iv_rule = _mode_of(encryption, options)
    if mode == "gcm":
        # authenticated: 12-byte nonce || ciphertext || 16-byte tag, so a wrong key is always detected
        iv = nonce if nonce is not None else os.urandom(12)
        aead = Cipher(algo, modes.GCM(iv)).encryptor()
        body = aead.update(plain) + aead.finalize()
        return iv + body + aead.tag
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    if mode == "ecb":
        enc = Cipher(algo, modes.ECB()).encryptor()  # noqa: S305  (a PICS option for peers that use it)
        return enc.update(padded) + enc.finalize()
    iv = bytes(16) if iv_rule == "zero" else (nonce if nonce is not None else os.urandom(16))
    enc = Cipher(algo, modes.CBC(iv)).encryptor()
    out = enc.update(padded) + enc.finalize()
    return out if iv_rule == "zero" else iv + out


def _block_decrypt(encryption: int, key: bytes, data: bytes, options: CryptoOptions, edition: int) -> bytes:
    algo = _block_cipher(encryption, key, edition)
    mode, iv_rule = _mode_of(encryption, options)
    name = "AES" if encryption == AES else "SM4"
    if mode == "gcm":
        if len(data) < 28:
            raise DecryptionError(f"{name}-GCM data unit of {len(data)} bytes is shorter than nonce and tag")
        aead_dec = Cipher(algo, modes.GCM(data[:12], data[-16:])).decryptor()
        try:
            return aead_dec.update(data[12:-16]) + aead_dec.finalize()
        except InvalidTag as exc:
            raise DecryptionError(f"{name}-GCM tag does not verify (wrong key or altered data)") from exc
    if mode == "cbc" and iv_rule == "prefix":
        iv, data = data[:16], data[16:]
        if len(iv) < 16:
            raise DecryptionError(f"{name}-CBC data unit has no 16-byte IV")
    else:
        iv = bytes(16)
    if not data or len(data) % 16:
        raise DecryptionError(f"{name} ciphertext of {len(data)} bytes is not whole 16-byte blocks")
    dec = Cipher(algo, modes.ECB() if mode == "ecb" else modes.CBC(iv)).decryptor()  # noqa: S305
    padded = dec.update(data) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise DecryptionError(f"{name} padding is wrong after decryption (wrong key?)") from exc


# ---------------------------------------------------------------------------------------- RSA
def _rsa_pad(options: CryptoOptions) -> tuple[Any, int]:
    if options.rsa_padding == "pkcs1v15":
        return rsa_padding.PKCS1v15(), 11
    return rsa_padding.OAEP(mgf=rsa_padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None), 66


def _rsa_encrypt(key: rsa.RSAPublicKey, plain: bytes, options: CryptoOptions) -> bytes:
    pad, overhead = _rsa_pad(options)
    k = key.key_size // 8
    step = k - overhead  # one RSA block holds this much plaintext: the unit is cut into blocks
    chunks = [plain[i:i + step] for i in range(0, len(plain), step)] or [b""]
    return b"".join(key.encrypt(c, pad) for c in chunks)


def _rsa_decrypt(key: rsa.RSAPrivateKey, data: bytes, options: CryptoOptions) -> bytes:
    pad, _ = _rsa_pad(options)
    k = key.key_size // 8
    if not data or len(data) % k:
        raise DecryptionError(f"RSA ciphertext of {len(data)} bytes is not whole {k}-byte blocks (wrong key size?)")
    out = bytearray()
    for i in range(0, len(data), k):
        try:
            out += key.decrypt(data[i:i + k], pad)
        except ValueError as exc:
            raise DecryptionError(f"RSA block {i // k} does not decrypt (wrong key or padding)") from exc
    return bytes(out)


# ---------------------------------------------------------------------------------------- SM2 encryption
def _sm2_encrypt(key: SM2PublicKey, plain: bytes, options: CryptoOptions, rnd: Callable[[int], int] | None) -> bytes:
    if not plain:
        return b""  # GB/T 32918.4 needs klen > 0 (gmalg would retry for ever): an empty unit stays empty
    gm = _gmalg()
    c1, c2, c3 = _sm2(None, key, rnd=rnd)._core.encrypt(plain, gm.sm2.bytes_to_point(key.point))
    point = gm.sm2.point_to_bytes(c1, gm.PC_MODE.RAW)
    if options.sm2_point == "raw":
        point = point[1:]
    return point + (c3 + c2 if options.sm2_order == "c1c3c2" else c2 + c3)


def _sm2_decrypt(key: SM2PrivateKey, data: bytes, options: CryptoOptions) -> bytes:
    if not data:
        return b""  # see _sm2_encrypt
    raw = options.sm2_point == "raw"
    c1_len = 64 if raw else 65
    if len(data) < c1_len + 32 + 1:
        raise DecryptionError(f"SM2 ciphertext of {len(data)} bytes is shorter than C1, C3 and one byte of C2")
    c1 = (b"\x04" + data[:64]) if raw else data[:65]
    rest = data[c1_len:]
    c3, c2 = (rest[:32], rest[32:]) if options.sm2_order == "c1c3c2" else (rest[-32:], rest[:-32])
    try:
        # gmalg checks C1 is on the curve and C3 = SM3(x2 || M || y2): a wrong key fails here
        return bytes(_sm2(key, None).decrypt(c1 + c3 + c2))
    except Exception as exc:  # noqa: BLE001  (gmalg's CheckFailedError, PointNotOnCurveError, …)
        raise DecryptionError(f"SM2 data unit does not decrypt ({type(exc).__name__}: wrong key or altered)") from exc


# ---------------------------------------------------------------------------------------- data units
def encrypt_unit(encryption: int, plain: bytes, keys: Keys, options: CryptoOptions = DEFAULT_OPTIONS, *,
                 edition: int = 2025, nonce: bytes | None = None,
                 rnd: Callable[[int], int] | None = None) -> bytes:
    """Encrypt one data unit for the encryption byte. `nonce` (IV) and `rnd` (SM2's k) are for
    known-answer tests only; by default they come from the OS's CSPRNG."""
    if encryption == NONE:
        return plain
    if encryption not in ENCRYPTION[edition] or encryption not in CIPHER_BYTES:
        raise EncryptionError(f"encryption byte 0x{encryption:02X} is not a cipher of the {edition} edition",
                              path="header.encryption")
    key = keys.for_byte(encryption)
    if key is None:
        raise EncryptionError(f"no {ENCRYPTION[edition][encryption]} key to encrypt with", path="header.encryption")
    try:
        if encryption in (AES, SM4):
            out = _block_encrypt(encryption, key, plain, options, edition, nonce)
        elif encryption == RSA:
            out = _rsa_encrypt(public_of(key), plain, options)  # type: ignore[arg-type]
        else:
            out = _sm2_encrypt(public_of(key), plain, options, rnd)  # type: ignore[arg-type]
    except ValueError as exc:
        raise EncryptionError(str(exc), path="header.encryption") from exc
    from .codec import MAX_BODY

    if len(out) > MAX_BODY:
        raise EncryptionError(f"encrypted data unit of {len(out)} bytes exceeds {MAX_BODY}", path="body")
    return out


def decrypt_unit(encryption: int, data: bytes, keys: Keys, options: CryptoOptions = DEFAULT_OPTIONS, *,
                 edition: int = 2025) -> bytes:
    """Decrypt one data unit; raises `DecryptionError` (flag 0x07 in 2025) or `KeyMissing`."""
    if encryption == NONE:
        return data
    if encryption not in ENCRYPTION[edition] or encryption not in CIPHER_BYTES:
        raise DecryptionError(f"encryption byte 0x{encryption:02X} is not a cipher of the {edition} edition",
                              offset=21, path="header.encryption", edition=edition)
    key = keys.for_byte(encryption)
    name = ENCRYPTION[edition][encryption]
    try:
        if key is None or (encryption == RSA and not isinstance(key, rsa.RSAPrivateKey)) \
                or (encryption == SM2 and not isinstance(key, SM2PrivateKey)):
            raise KeyMissing(f"no {name} key to decrypt with", offset=HEADER_SIZE, path="body")
        if encryption in (AES, SM4):
            return _block_decrypt(encryption, key, data, options, edition)
        if encryption == RSA:
            return _rsa_decrypt(key, data, options)
        return _sm2_decrypt(key, data, options)
    except DecryptionError as exc:
        exc.edition, exc.offset, exc.path = edition, HEADER_SIZE, exc.path or "body"
        exc.args = (str(exc),)
        raise
    except ValueError as exc:  # a key of the wrong size for the edition
        raise DecryptionError(str(exc), offset=HEADER_SIZE, path="body", edition=edition) from exc


# ---------------------------------------------------------------------------------------- signatures
def _pad_int(value: int, size: int) -> bytes:
    return value.to_bytes(max(size, (value.bit_length() + 7) // 8), "big")


def algorithm_of(key: PublicKey | PrivateKey) -> int:
    key = public_of(key)
    if isinstance(key, SM2PublicKey):
        return SIG_SM2
    if isinstance(key, rsa.RSAPublicKey):
        return SIG_RSA
    return SIG_ECC


def sign(message: bytes, key: PrivateKey, options: CryptoOptions = DEFAULT_OPTIONS, *,
         rnd: Callable[[int], int] | None = None) -> dict[str, Any]:
    """The signature block {algorithm, r, s} of `message` (the signed bytes) with our private key."""
    if isinstance(key, SM2PrivateKey):
        r, s = _sm2(key, key.public_key(), options.sm2_user_id, rnd).sign(message)
        return {"algorithm": SIG_SM2, "r": r.rjust(32, b"\0"), "s": s.rjust(32, b"\0")}
    if isinstance(key, rsa.RSAPrivateKey):
        return {"algorithm": SIG_RSA, "r": key.sign(message, rsa_padding.PKCS1v15(), hashes.SHA256()), "s": b""}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r_int, s_int = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        size = (key.curve.key_size + 7) // 8
        return {"algorithm": SIG_ECC, "r": _pad_int(r_int, size), "s": _pad_int(s_int, size)}
    raise TypeError(f"cannot sign with {type(key).__name__}")


def verify(message: bytes, signature: Mapping[str, Any], key: PublicKey,
           options: CryptoOptions = DEFAULT_OPTIONS, *, edition: int = 2025) -> None:
    """Raise `SignatureError` (flag 0x05) unless `signature` is a valid signature of `message` by `key`."""
    alg = int(signature.get("algorithm", 0))
    r, s = bytes(signature.get("r", b"")), bytes(signature.get("s", b""))
    expected = algorithm_of(key)
    if alg != expected:
        raise SignatureError(f"signature type 0x{alg:02X}, but the signer's key is for 0x{expected:02X}",
                             path="signature.algorithm", edition=edition)
    ok = False
    if isinstance(key, SM2PublicKey):
        ok = len(r) <= 32 and len(s) <= 32 and bool(_sm2(None, key, options.sm2_user_id).verify(message, r, s))
    elif isinstance(key, rsa.RSAPublicKey):
        try:
            key.verify(r, message, rsa_padding.PKCS1v15(), hashes.SHA256())
            ok = not s
        except InvalidSignature:
            ok = False
    elif isinstance(key, ec.EllipticCurvePublicKey):
        try:
            key.verify(encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big")), message,
                       ec.ECDSA(hashes.SHA256()))
            ok = True
        except InvalidSignature:
            ok = False
    if not ok:
        raise SignatureError("signature does not verify", path="signature", edition=edition)


def pack_signature(signature: Mapping[str, Any]) -> bytes:
    r, s = bytes(signature["r"]), bytes(signature["s"])
    return struct.pack(">BH", signature["algorithm"], len(r)) + r + struct.pack(">H", len(s)) + s


def signature_size(signature: Mapping[str, Any]) -> int:
    return 5 + len(signature["r"]) + len(signature["s"])


def signed_bytes(command: int, unit: bytes, signature: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers, from a plaintext data unit that ends with its signature block."""
    cut = signature_size(signature) + (1 if command in (0x02, 0x03) else 0)  # the 0xFF is not signed
    return unit[:len(unit) - cut]


def encode_signed(edition: int, command: int, body: dict[str, Any], key: PrivateKey,
                  options: CryptoOptions = DEFAULT_OPTIONS) -> bytes:
    """Encode a data unit and sign it: the block is computed over the encoded bytes, then appended."""
    empty = {"algorithm": algorithm_of(key), "r": b"", "s": b""}
    unsigned = encode_body(edition, command, COMMAND_FLAG, {**body, "signature": empty} if command in (0x02, 0x03)
                           else {**body, **empty})
    message = signed_bytes(command, unsigned, empty)
    sig = sign(message, key, options)
    return unsigned[:len(unsigned) - 5] + pack_signature(sig)


def signature_of(command: int, body: Any) -> dict[str, Any] | None:
    """The signature block of a decoded data unit, or None."""
    if not isinstance(body, dict):
        return None
    if command == 0x09:
        return {"algorithm": body["algorithm"], "r": body["r"], "s": body["s"]}
    return body.get("signature")


def public_key_bytes(key: PublicKey | PrivateKey, options: CryptoOptions = DEFAULT_OPTIONS) -> bytes:
    """How a public key travels in activation 0x09: SM2 a point, RSA and ECC DER SubjectPublicKeyInfo."""
    key = public_of(key)
    if isinstance(key, SM2PublicKey):
        return key.to_bytes(options.sm2_point)
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(algorithm: int, data: bytes) -> PublicKey:
    """The signer's public key from activation 0x09 (format as `public_key_bytes`; an RSA key may also
    be a PKCS#1 RSAPublicKey, an ECC key an X9.62 point on P-256). Raises ValueError."""
    if algorithm == SIG_SM2:
        return SM2PublicKey(data)
    if algorithm == SIG_ECC and data[:1] == b"\x04":
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), data)
    try:
        key = serialization.load_der_public_key(data)
    except ValueError:
        if algorithm != SIG_RSA:
            raise
        key = serialization.load_der_public_key(_pkcs1_to_spki(data))
    if algorithm == SIG_RSA and isinstance(key, rsa.RSAPublicKey):
        return key
    if algorithm == SIG_ECC and isinstance(key, ec.EllipticCurvePublicKey):
        return key
    raise ValueError(f"public key is a {type(key).__name__}, not one for signature type 0x{algorithm:02X}")


def _pkcs1_to_spki(der: bytes) -> bytes:
    # wrap an RSAPublicKey in SubjectPublicKeyInfo: AlgorithmIdentifier rsaEncryption + BIT STRING
    def tlv(tag: int, value: bytes) -> bytes:
        n = len(value)
        size = bytes((n,)) if n < 128 else bytes((0x80 | ((n.bit_length() + 7) // 8),)) + n.to_bytes(
            (n.bit_length() + 7) // 8, "big")
        return bytes((tag,)) + size + value

    alg = bytes.fromhex("300d06092a864886f70d0101010500")
    return tlv(0x30, alg + tlv(0x03, b"\0" + der))


# ---------------------------------------------------------------------------------------- frames
class Signer(Protocol):
    def __call__(self, message: bytes) -> dict[str, Any]: ...


@dataclass
class FrameCrypto:
    """One side's crypto for whole frames: which encryption byte it sends, its keys, its signing key.

    `seal` gives the bytes to send (sign, encrypt, then BCC over the ciphertext); `open` reads a frame
    (BCC first, then decrypt, then verify the signature when `verify_key` is set). Plug it into
    `codec.encode`/`codec.decode` with their `crypto=` argument."""

    keys: Keys = dataclasses.field(default_factory=Keys)
    options: CryptoOptions = DEFAULT_OPTIONS
    encryption: int = NONE
    signing_key: PrivateKey | None = None
    verify_key: PublicKey | None = None
    # keys to decrypt with when they differ from `keys`: a terminal encrypts RSA/SM2 units to the
    # platform's public key but decrypts downlink ones (e.g. 0x0B) with its own private key
    decrypt_keys: Keys | None = None

    # -- codec hooks
    def encrypt(self, edition: int, command: int, plain: bytes) -> tuple[int, bytes]:
        if self.encryption == NONE:
            return NONE, plain
        return self.encryption, encrypt_unit(self.encryption, plain, self.keys, self.options, edition=edition)

    def decrypt(self, edition: int, encryption: int, data: bytes) -> bytes:
        keys = self.keys
        if self.decrypt_keys is not None:
            own = self.decrypt_keys
            keys = Keys(aes=keys.aes or own.aes, sm4=keys.sm4 or own.sm4, rsa=own.rsa, sm2=own.sm2)
        return decrypt_unit(encryption, data, keys, self.options, edition=edition)

    # -- whole frames
    def unit(self, edition: int, command: int, ack: int, body: Any) -> bytes:
        """The plaintext data unit, signed when it is a 2025 command that carries a signature."""
        if isinstance(body, (bytes, bytearray)) or body is None:
            return bytes(body or b"")
        if self.signing_key is not None and edition == 2025 and ack == COMMAND_FLAG and command in SIGNED_COMMANDS:
            body = {k: v for k, v in body.items() if k not in ("signature", "algorithm", "r", "s")}
            return encode_signed(edition, command, body, self.signing_key, self.options)
        return encode_body(edition, command, ack, body)

    def seal(self, frame: Frame, *, encryption: int | None = None) -> bytes:
        enc = self.encryption if encryption is None else encryption
        plain = self.unit(frame.edition, frame.command, frame.ack, frame.body)
        cipher = encrypt_unit(enc, plain, self.keys, self.options, edition=frame.edition) if enc != NONE else plain
        return assemble(frame.edition, frame.command, frame.ack, frame.vin, cipher, enc)

    def open(self, data: bytes, *, verify_key: PublicKey | None = None) -> Frame:
        frame = decode(data)
        frame = self.decrypt_frame(frame)
        self.check_signature(frame, verify_key or self.verify_key)
        return frame

    def decrypt_frame(self, frame: Frame) -> Frame:
        """A decoded frame with its ciphertext body decrypted and decoded. `extra['plaintext']`
        holds the plaintext data unit; `frame.encryption` still says how it travelled."""
        if frame.encryption not in CIPHER_BYTES or not isinstance(frame.body, (bytes, bytearray)):
            return frame
        plain = self.decrypt(frame.edition, frame.encryption, bytes(frame.body))
        try:
            body = decode_body(frame.edition, frame.command, frame.ack, plain)
        except errors.ProtocolError as exc:
            # unauthenticated modes cannot tell a wrong key from a malformed unit: both are a decryption error
            raise DecryptionError(f"decrypted data unit does not decode (wrong key?): {exc.message}",
                                  offset=HEADER_SIZE, path="body", edition=frame.edition) from exc
        return dataclasses.replace(frame, body=body, extra={**frame.extra, "plaintext": plain})

    def check_signature(self, frame: Frame, key: PublicKey | None) -> None:
        """Verify a 2025 signature when a key is given (the activation's own key when none is)."""
        if frame.edition != 2025 or frame.is_response or frame.command not in SIGNED_COMMANDS:
            return
        sig = signature_of(frame.command, frame.body)
        if sig is None:
            return
        if key is None and frame.command == 0x09:
            key = load_public_key(sig["algorithm"], frame.body["public_key"])
        if key is None:
            return
        verify(signed_bytes(frame.command, plaintext_unit(frame), sig), sig, key, self.options)


def plaintext_unit(frame: Frame) -> bytes:
    """The plaintext data unit of a decoded (and decrypted) frame, as the sender encoded it."""
    plain = frame.extra.get("plaintext")
    if plain is not None:
        return bytes(plain)
    if isinstance(frame.body, (bytes, bytearray)):
        return bytes(frame.body)
    return encode_body(frame.edition, frame.command, frame.ack, frame.body)


def plaintext_frame(frame: Frame) -> bytes:
    """The frame re-assembled with its plaintext data unit and encryption byte 0x01 (e.g. to relay,
    §5.2.5: 'or plaintext if the platforms agree'); a signature inside stays verifiable."""
    return assemble(frame.edition, frame.command, frame.ack, frame.vin, plaintext_unit(frame), NONE)
