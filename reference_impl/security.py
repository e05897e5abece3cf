"""The reference platform's confidentiality and integrity (notice 1.2/g, 2.2/d, 3): decrypt incoming
data units, verify 2025 signatures, bind activation keys, and set/rotate data-unit keys (0x0B).

The core calls `inbound` once per decoded frame that is encrypted or of the 2025 edition, and gets
the frame back (decrypted, its signature checked) or a `Refusal` carrying the response flag:
0x07 when the data unit does not decrypt (2025; 2016 has only 0x02), 0x05 when a signature fails.
The ciphers and signatures themselves are `harness.protocol.crypto`.

```yaml
security:
  options: {aes_mode: cbc, sm2_order: c1c3c2}   # crypto.CryptoOptions (docs/crypto.md)
  signatures: verify          # verify (when a key is known) | require (unsigned/unverifiable 2025 data: 0x05) | off
  rsa_private_key: |          # ours: vehicles encrypt 0x02 (RSA) data units to it; PEM text or a file path
    -----BEGIN PRIVATE KEY----- ...
  sm2_private_key: 3945…c5b8  # ours, hex: vehicles encrypt 0x04 (SM2) data units to it
  vehicles:
    LVBV3J0B6JE900252:
      aes: 000102…0f          # shared data-unit keys, hex
      sm4: 0123…3210
      sign_algorithm: sm2     # sm2 | rsa | ecc: its signing key, if not bound by activation 0x09
      sign_public_key: 04…    # hex (SM2 point, DER) or PEM
      rsa_public_key: PEM     # to encrypt 0x0B key exchanges to the vehicle (SM2: sign_public_key)
      require_signature: true # its unsigned 2025 real-time/reissue data gets 0x05 (as `signatures: require`)
  upstreams:                  # enterprise: keys for the encryption rule agreed with each upstream (§5.2.5)
    local-110000: {sm2_public_key: 04…, rsa_public_key: PEM, aes: …, sm4: …}
  peer_keys: {aes: …, sm4: …} # local/national: the symmetric keys agreed with client platforms for relays
```

Relayed frames (`relay_bytes`): a decrypted frame goes upstream as its plaintext frame, its signature
block untouched, so the local platform can verify it (notice 3).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.protocol import crypto, errors
from harness.protocol.codec import COMMAND_FLAG, Frame, assemble, bcc, encode_body
from harness.protocol.schema import Timestamp

log = logging.getLogger("reference_impl.security")

SIGNATURE_MODES = ("verify", "require", "off")
SIG_NAMES = {"sm2": crypto.SIG_SM2, "rsa": crypto.SIG_RSA, "ecc": crypto.SIG_ECC}
KEY_TYPE_OF_BYTE = {crypto.AES: 0x03, crypto.SM4: 0x05}  # 0x0B key types of the symmetric ciphers


@dataclass(frozen=True)
class Refusal:
    """Why a frame is refused and with which flag; `plaintext` is the data unit when it was readable
    (so the answer keeps the sender's time). `store`: keep the frame anyway (defect switches)."""

    flag: int
    error: errors.ProtocolError
    plaintext: bytes | None = None
    store: bool = False


@dataclass
class ExchangedKey:
    key_type: int  # 0x03 AES, 0x05 SM4 (0x02/0x04 name an asymmetric key: recorded, not used for units)
    key: bytes
    valid_from: dt.datetime | None
    expires: dt.datetime | None

    def valid_at(self, when: dt.datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= when) and (self.expires is None or when <= self.expires)


@dataclass
class VehicleKeys:
    aes: bytes | None = None
    sm4: bytes | None = None
    rsa_public: rsa.RSAPublicKey | None = None
    sign_key: crypto.PublicKey | None = None
    chip_id: str = ""
    require_signature: bool = False
    exchanged: list[ExchangedKey] = field(default_factory=list)


def _bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return bytes.fromhex(str(value).replace(" ", "").replace(":", ""))


def _pem_or_path(value: str) -> bytes:
    text = str(value)
    if "-----BEGIN" in text:
        return text.encode()
    return Path(text).read_bytes()


def _sign_key(algorithm: Any, value: Any) -> crypto.PublicKey:
    alg = SIG_NAMES.get(str(algorithm).lower(), algorithm)
    if isinstance(value, str) and "-----BEGIN" in value:
        return crypto.load_public_key(int(alg), serialization.load_pem_public_key(value.encode()).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    return crypto.load_public_key(int(alg), _bytes(value))


def beijing(now: float) -> dt.datetime:
    """The platform's clock as the naive GMT+8 wall time that 0x0B validity times are written in."""
    return dt.datetime.fromtimestamp(now, dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)


def _when(t: Any) -> dt.datetime | None:
    try:
        return Timestamp(*t).to_datetime()
    except (TypeError, ValueError):
        return None


class PlatformSecurity:
    """Keys and checks of one platform. `defects` is the core's live set of defect switches."""

    def __init__(self, settings: dict[str, Any] | None, defects: set[str]) -> None:
        s = dict(settings or {})
        known = {"options", "signatures", "rsa_private_key", "sm2_private_key", "vehicles", "upstreams", "peer_keys"}
        unknown = set(s) - known
        if unknown:
            raise ValueError(f"unknown security settings: {', '.join(sorted(unknown))}")
        self.defects = defects
        self.options = crypto.CryptoOptions.from_mapping(s.get("options"))
        self.signatures = s.get("signatures", "verify")
        if self.signatures not in SIGNATURE_MODES:
            raise ValueError(f"security.signatures is one of {', '.join(SIGNATURE_MODES)}")
        rsa_key = None
        if s.get("rsa_private_key"):
            loaded = serialization.load_pem_private_key(_pem_or_path(s["rsa_private_key"]), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError("security.rsa_private_key is not an RSA private key")
            rsa_key = loaded
        sm2_key = crypto.SM2PrivateKey(_bytes(s["sm2_private_key"])) if s.get("sm2_private_key") else None
        self.own = crypto.Keys(rsa=rsa_key, sm2=sm2_key)
        self.vehicles: dict[str, VehicleKeys] = {}
        for vin, v in (s.get("vehicles") or {}).items():
            vk = self.vehicle(vin)
            vk.aes = _bytes(v["aes"]) if v.get("aes") else None
            vk.sm4 = _bytes(v["sm4"]) if v.get("sm4") else None
            if v.get("rsa_public_key"):
                pub = serialization.load_pem_public_key(_pem_or_path(v["rsa_public_key"]))
                vk.rsa_public = pub if isinstance(pub, rsa.RSAPublicKey) else None
            if v.get("sign_public_key"):
                vk.sign_key = _sign_key(v.get("sign_algorithm", "sm2"), v["sign_public_key"])
            vk.require_signature = bool(v.get("require_signature", False))
        self.upstreams: dict[str, crypto.Keys] = {}
        for name, u in (s.get("upstreams") or {}).items():
            pub = serialization.load_pem_public_key(_pem_or_path(u["rsa_public_key"])) \
                if u.get("rsa_public_key") else None
            self.upstreams[str(name)] = crypto.Keys(
                aes=_bytes(u["aes"]) if u.get("aes") else None, sm4=_bytes(u["sm4"]) if u.get("sm4") else None,
                rsa=pub if isinstance(pub, rsa.RSAPublicKey) else None,
                sm2=crypto.SM2PublicKey(_bytes(u["sm2_public_key"])) if u.get("sm2_public_key") else None)
        peers = s.get("peer_keys") or {}
        self.peer_keys = crypto.Keys(aes=_bytes(peers["aes"]) if peers.get("aes") else None,
                                     sm4=_bytes(peers["sm4"]) if peers.get("sm4") else None)
        self.stats = {"decrypted": 0, "decrypt_failed": 0, "verified": 0, "signature_failed": 0, "keys_set": 0}

    def vehicle(self, vin: str) -> VehicleKeys:
        return self.vehicles.setdefault(vin, VehicleKeys())

    # ------------------------------------------------------------------ keys
    def install_key(self, vin: str, key_type: int, key: bytes, valid_from: Any = None, expires: Any = None) -> None:
        """Record a 0x0B key for a vehicle (either direction); it is used only inside its window."""
        vk = self.vehicle(vin)
        vk.exchanged.append(ExchangedKey(key_type, bytes(key), _when(valid_from), _when(expires)))
        vk.exchanged = vk.exchanged[-4:]  # the current key and a few predecessors still in flight
        self.stats["keys_set"] += 1

    def keys_for(self, vin: str, encryption: int, now: float) -> tuple[list[crypto.Keys], bool]:
        """Candidate keys for a data unit from `vin` at `now` (newest first), and whether any key
        was set aside because it is outside its validity window."""
        if encryption in (crypto.RSA, crypto.SM2):
            return [self.own], False
        vk = self.vehicles.get(vin)
        if vk is None:
            return [], False
        wanted = KEY_TYPE_OF_BYTE[encryption]
        when = beijing(now)
        ignore_window = "ignore-key-validity" in self.defects
        out: list[crypto.Keys] = []
        expired = False
        for k in reversed(vk.exchanged):
            if k.key_type != wanted:
                continue
            if ignore_window or k.valid_at(when):
                out.append(crypto.Keys(aes=k.key) if encryption == crypto.AES else crypto.Keys(sm4=k.key))
            else:
                expired = True
        static = vk.aes if encryption == crypto.AES else vk.sm4
        if static is not None:
            out.append(crypto.Keys(aes=static) if encryption == crypto.AES else crypto.Keys(sm4=static))
        return out, expired

    def _peer_candidates(self, encryption: int) -> list[crypto.Keys]:
        """A relayed frame from a client platform may be under the symmetric key agreed with it."""
        key = self.peer_keys.for_byte(encryption)
        if key is None:
            return []
        return [crypto.Keys(aes=key) if encryption == crypto.AES else crypto.Keys(sm4=key)]

    # ------------------------------------------------------------------ incoming frames
    def inbound(self, frame: Frame, raw: bytes, now: float, peer: str = "") -> tuple[Frame, bytes, Refusal | None]:
        """Decrypt (when encrypted), then verify the 2025 signature; see the module docstring.

        Returns the frame (decoded plaintext body), the bytes the platform goes on with, and a refusal
        or None. A decrypted frame goes on as its plaintext frame (encryption byte 0x01, fresh BCC):
        that is what is answered from, stored and relayed (§5.2.5 allows plaintext between platforms
        that agree); `frame.encryption` and `frame.extra['received']` keep how it travelled. `peer` is the
        link's kind ("vehicle", "platform"; "" when unknown)."""
        if frame.encryption in crypto.CIPHER_BYTES and isinstance(frame.body, (bytes, bytearray)):
            if peer == "platform" and "relay-not-decrypted" in self.defects:  # acked and kept unread
                return frame, raw, Refusal(0x01, crypto.KeyMissing("relayed data not decrypted (defect)"),
                                           store=True)
            opened = self._decrypt(frame, now)
            if isinstance(opened, Refusal):
                return frame, raw, opened
            frame = opened
            frame.extra["received"] = raw
            raw = crypto.plaintext_frame(frame)
        else:
            frame.extra.setdefault("plaintext", raw[24:-1])
        refusal = self._check_signature(frame)
        if refusal is not None:
            return frame, raw, refusal
        if frame.edition == 2025 and frame.command == 0x0B and not frame.is_response and isinstance(frame.body, dict):
            b = frame.body  # a vehicle proposes its data-unit key: used inside its window
            self.install_key(frame.vin, b["key_type"], b["key"], b["valid_from"], b["expires"])
        return frame, raw, None

    def _decrypt(self, frame: Frame, now: float) -> Frame | Refusal:
        candidates, expired = self.keys_for(frame.vin, frame.encryption, now)
        if frame.encryption in (crypto.AES, crypto.SM4):
            candidates += self._peer_candidates(frame.encryption)
        last: errors.ProtocolError | None = None
        for keys in candidates:
            try:
                opened = crypto.FrameCrypto(keys=keys, options=self.options).decrypt_frame(frame)
            except crypto.DecryptionError as exc:
                last = exc
                continue
            self.stats["decrypted"] += 1
            return opened
        self.stats["decrypt_failed"] += 1
        if last is None:
            why = "its data-unit keys are outside their validity window" if expired else "no key for it"
            last = crypto.KeyMissing(f"cannot decrypt {crypto.ENCRYPTION[frame.edition][frame.encryption]} data "
                                     f"from {frame.identity}: {why}", offset=24, path="body", edition=frame.edition)
        if "accept-wrong-key" in self.defects:
            return Refusal(0x01, last, None, store=True)
        return Refusal(last.flag(frame.edition), last)

    def _check_signature(self, frame: Frame) -> Refusal | None:
        if frame.edition != 2025 or frame.is_response or frame.command not in crypto.SIGNED_COMMANDS \
                or self.signatures == "off" or "skip-signature-check" in self.defects \
                or not isinstance(frame.body, dict):
            return None
        sig = crypto.signature_of(frame.command, frame.body)
        plain = crypto.plaintext_unit(frame)
        vk = self.vehicles.get(frame.vin)
        required = self.signatures == "require" or (vk is not None and vk.require_signature)
        key: crypto.PublicKey | None
        try:
            if frame.command == 0x09:
                key = crypto.load_public_key(int(sig["algorithm"]), bytes(frame.body["public_key"])) if sig else None
            else:
                key = vk.sign_key if vk else None
        except ValueError as exc:
            key = None
            if required:
                return self._sig_refusal(frame, plain, f"activation public key unusable: {exc}")
        if sig is None:
            if required and (key is not None or frame.command == 0x09):
                return self._sig_refusal(frame, plain, "2025 data carries no signature")
            return None
        if key is None:
            if required:
                return self._sig_refusal(frame, plain, "no key known to verify the signature")
            return None
        try:
            crypto.verify(crypto.signed_bytes(frame.command, plain, sig), sig, key, self.options)
        except crypto.SignatureError as exc:
            self.stats["signature_failed"] += 1
            return Refusal(exc.flag(2025), exc, plain)
        self.stats["verified"] += 1
        if frame.command == 0x09:
            frame.extra["activation_key"] = key  # bound by bind_activation once the core accepts the activation
        return None

    def bind_activation(self, frame: Frame) -> bool:
        """Bind the chip id and the (verified) public key of an accepted activation to its VIN. Called by
        the core only when it answers the activation 'ok', so a refused one (chip or VIN already
        activated) cannot replace a vehicle's key."""
        key = frame.extra.get("activation_key")
        if key is None or not isinstance(frame.body, dict):
            return False
        bound = self.vehicle(frame.vin)
        bound.sign_key, bound.chip_id = key, str(frame.body["chip_id"]).strip()
        return True

    # ------------------------------------------------------------------ answers, relays (and their defects)
    def key_exchange_answer_unit(self, frame: Frame, unit: bytes, now: float) -> bytes:
        """The data unit of the answer to a vehicle's 0x0B. Answers go in plaintext, so one that came
        encrypted is answered with the platform's time only (6.3.2: keep the time, drop the rest; 0x0B
        has no time of its own) and its key never goes back in the clear; a plaintext one is repeated
        (Annex B style: nothing is disclosed that did not travel in the clear already)."""
        if frame.extra.get("received") is None or "echo-key-exchange" in self.defects:
            return unit
        return bytes(Timestamp.from_datetime(beijing(now)))

    def relay_bytes(self, frame: Frame, raw: bytes) -> bytes:
        """What goes upstream for an accepted frame: its plaintext frame with the signature block as the
        vehicle sent it (§5.2.5, notice 3). Defects: the ciphertext as received; the signature dropped."""
        received = frame.extra.get("received")
        if "relay-ciphertext" in self.defects and received is not None:
            return bytes(received)
        if "relay-without-signature" in self.defects and frame.edition == 2025 and isinstance(frame.body, dict) \
                and frame.body.get("signature"):
            body = {k: v for k, v in frame.body.items() if k != "signature"}
            return assemble(frame.edition, frame.command, frame.ack, frame.vin,
                            encode_body(frame.edition, frame.command, frame.ack, body))
        return raw

    def for_upstream(self, upstream: Any, raw: bytes) -> bytes:
        """§5.2.5: a frame to relay goes under the encryption rule agreed with that upstream at platform
        login (`encryption_rule`), with the key configured for it (`security.upstreams.NAME`); as it is
        when the rule is 0x01 (plaintext). Its signature is inside the data unit, so it survives."""
        rule = int(getattr(upstream, "encryption_rule", crypto.NONE))
        if rule == crypto.NONE or len(raw) < 25 or raw[21] != crypto.NONE:
            return raw
        keys = self.upstreams.get(upstream.name, crypto.Keys())
        edition = 2025 if raw[:2] == b"$$" else 2016
        cipher = crypto.encrypt_unit(rule, raw[24:-1], keys, self.options, edition=edition)
        return assemble(edition, raw[2], raw[3], raw[4:21], cipher, rule)

    def bcc_over_plaintext(self, raw: bytes, now: float) -> bytes:
        """Defect `bcc-over-plaintext` (the BCC checked over the decrypted unit too): `raw` with the check
        code the codec accepts when its BCC matches the decrypted unit, else with a wrong one. The framer has
        already dropped frames whose BCC does not cover the ciphertext, so in effect every correctly
        encrypted frame (255 in 256) is refused."""
        if len(raw) < 25 or raw[21] not in crypto.CIPHER_BYTES:
            return raw
        edition = 2025 if raw[:2] == b"$$" else 2016
        vin = raw[4:21].decode("ascii", "replace")
        good = bcc(raw[2:-1])
        for keys in self.keys_for(vin, raw[21], now)[0]:
            try:
                plain = crypto.decrypt_unit(raw[21], raw[24:-1], keys, self.options, edition=edition)
            except crypto.DecryptionError:
                continue
            if bcc(raw[2:24] + plain) == raw[-1]:
                return raw[:-1] + bytes((good,))
        return raw[:-1] + bytes((good ^ 0xFF,))

    def _sig_refusal(self, frame: Frame, plain: bytes, why: str) -> Refusal:
        self.stats["signature_failed"] += 1
        return Refusal(0x05, crypto.SignatureError(why, path="signature", edition=frame.edition), plain)

    # ------------------------------------------------------------------ key exchange 0x0B (downlink)
    def key_exchange_frame(self, vin: str, edition: int, key_type: int, key: bytes, valid_from: Timestamp,
                           expires: Timestamp) -> bytes:
        """A 0x0B command to a vehicle, encrypted under its public key (SM2 or RSA) when we know one,
        else under its current symmetric key of that type; plaintext only when we know no key at all."""
        body = {"key_type": key_type, "key": key, "valid_from": valid_from, "expires": expires}
        unit = encode_body(edition, 0x0B, COMMAND_FLAG, body)
        vk = self.vehicles.get(vin) or VehicleKeys()
        enc, keys = crypto.NONE, crypto.Keys()
        if isinstance(vk.sign_key, crypto.SM2PublicKey):
            enc, keys = crypto.SM2, crypto.Keys(sm2=vk.sign_key)
        elif vk.rsa_public is not None or isinstance(vk.sign_key, rsa.RSAPublicKey):
            enc, keys = crypto.RSA, crypto.Keys(rsa=vk.rsa_public or vk.sign_key)  # type: ignore[arg-type]
        else:
            for byte, ktype in KEY_TYPE_OF_BYTE.items():
                current = [k for k in reversed(vk.exchanged) if k.key_type == ktype] or []
                static = vk.aes if byte == crypto.AES else vk.sm4
                old = current[0].key if current else static
                if ktype == key_type and old is not None:
                    enc = byte
                    keys = crypto.Keys(aes=old) if byte == crypto.AES else crypto.Keys(sm4=old)
        if "key-exchange-plaintext" in self.defects:
            enc, keys = crypto.NONE, crypto.Keys()
        cipher = crypto.encrypt_unit(enc, unit, keys, self.options, edition=edition)
        return assemble(edition, 0x0B, COMMAND_FLAG, vin, cipher, enc)

    def rotate_key(self, core: Any, vin: str, key_type: int, key: bytes | None, valid_from: Timestamp,
                   expires: Timestamp) -> list[Any]:
        """Set (or rotate) a vehicle's data-unit key: send it 0x0B and use the key inside its window.
        The previous key stays usable until its own expiry, so frames in flight still decrypt."""
        from .core import Send

        conn = core.online.get(vin)
        link = core.links.get(conn) if conn is not None else None
        if link is None:
            raise LookupError(f"vehicle {vin} is not online")
        if key is None:
            key = crypto.generate_symmetric(crypto.AES if key_type == 0x03 else crypto.SM4)
        data = self.key_exchange_frame(vin, 2025, key_type, key, valid_from, expires)
        self.install_key(vin, key_type, key, valid_from, expires)
        return [Send(link.conn, data)]


def describe(sec: PlatformSecurity) -> dict[str, Any]:
    """A summary for logs and the control service (never the keys themselves)."""
    return {"options": dataclasses.asdict(sec.options) | {"sm2_user_id": sec.options.sm2_user_id.decode(
        "ascii", "replace")}, "signatures": sec.signatures, "stats": dict(sec.stats),
        "vehicles": {vin: {"bound": vk.sign_key is not None, "chip_id": vk.chip_id, "keys": len(vk.exchanged)}
                     for vin, vk in sec.vehicles.items()}}
