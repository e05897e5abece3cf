"""Key material of the confidentiality cases (scenarios/notice/test_confidentiality.py, docs/crypto.md).

The cases play vehicles that encrypt data units and sign 2025 data, so the harness must hold the keys
the SUT expects: the platform's public keys (RSA, SM2: vehicles encrypt 0x02/0x04 units to them), the
shared data-unit keys per vehicle (AES, SM4), and the vehicles' private signing keys (the SUT knows the
public halves). An external SUT gives them in its PIXIT (`crypto:`, `SutKeys.from_pixit`); the embedded
reference gets fresh ones per run (`embedded`), and its enterprise platform is configured with them
(`SutKeys.platform_security`).

With a terminal as the SUT (--role terminal) the same records hold the terminal's initial data-unit keys:
an external T-Box lists its VIN and keys in the PIXIT's `crypto.vehicles`, the simulated terminals get
fresh ones per run (`simulated_terminals`); the harness's scripted platform holds the same keys.

The crypto vehicles are registered in the SUT apart from the topology's fleet (`topology.vehicles`):
their keys, signing requirements and activations would otherwise change what other cases see.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.protocol import crypto

SIGN_ALGORITHMS = ("sm2", "rsa", "ecc")


@dataclass
class CryptoVehicle:
    """A vehicle of the confidentiality cases and what the harness knows of it."""

    vin: str
    edition: int
    public_service: bool = True
    region: str = "110000"
    aes: bytes | None = None  # shared data-unit keys (the SUT has the same)
    sm4: bytes | None = None
    sign_key: crypto.PrivateKey | None = None  # its terminal's signing key; the SUT knows the public half
    require_signature: bool = False  # the SUT refuses (0x05) its unsigned 2025 data
    purpose: str = ""  # which cases use it: "" (any), "activation", "rotation", "platform-rotation", "require"

    @property
    def sign_algorithm(self) -> str | None:
        if self.sign_key is None:
            return None
        return {crypto.SIG_SM2: "sm2", crypto.SIG_RSA: "rsa", crypto.SIG_ECC: "ecc"}[crypto.algorithm_of(self.sign_key)]


@dataclass
class SutKeys:
    """The SUT platform's public keys and the crypto vehicles, as the harness knows them."""

    rsa_public: rsa.RSAPublicKey | None = None
    sm2_public: crypto.SM2PublicKey | None = None
    vehicles: list[CryptoVehicle] = field(default_factory=list)
    options: crypto.CryptoOptions = crypto.DEFAULT_OPTIONS
    # a local/national SUT: the symmetric keys it agreed with the harness's enterprise platform for relays
    peer_aes: bytes | None = None
    peer_sm4: bytes | None = None
    # the embedded reference only: the platform's private keys (to configure it), never sent anywhere
    rsa_private: rsa.RSAPrivateKey | None = None
    sm2_private: crypto.SM2PrivateKey | None = None

    def vehicle(self, edition: int, *, purpose: str = "", algorithm: str | None = None) -> CryptoVehicle:
        """The first crypto vehicle of an edition for a purpose (and signing algorithm)."""
        for v in self.vehicles:
            if v.edition == edition and v.purpose == purpose and (algorithm is None or v.sign_algorithm == algorithm):
                return v
        raise LookupError(f"no crypto vehicle of edition {edition} for {purpose or 'general use'}"
                          + (f" signing with {algorithm}" if algorithm else "") + " (PIXIT crypto.vehicles)")

    def by_vin(self, vin: str) -> CryptoVehicle:
        """The crypto vehicle with this VIN (a terminal SUT's own entry)."""
        for v in self.vehicles:
            if v.vin == vin:
                return v
        raise LookupError(f"no crypto vehicle {vin} (PIXIT crypto.vehicles)")

    def keys_for(self, v: CryptoVehicle) -> crypto.Keys:
        """What vehicle `v` encrypts with: its shared keys, and the platform's public keys."""
        return crypto.Keys(aes=v.aes, sm4=v.sm4, rsa=self.rsa_public, sm2=self.sm2_public)

    def frame_crypto(self, v: CryptoVehicle, encryption: int, *, sign: bool = True,
                     keys: crypto.Keys | None = None) -> crypto.FrameCrypto:
        return crypto.FrameCrypto(keys=keys or self.keys_for(v), options=self.options, encryption=encryption,
                                  signing_key=v.sign_key if sign else None)

    # ------------------------------------------------------------------ the reference's configuration
    def platform_security(self) -> dict[str, Any]:
        """The `security:` section of a reference platform holding these keys (reference_impl/security.py)."""
        out: dict[str, Any] = {"options": {}, "signatures": "verify", "vehicles": {}}
        if self.rsa_private is not None:
            out["rsa_private_key"] = self.rsa_private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()).decode()
        if self.sm2_private is not None:
            out["sm2_private_key"] = self.sm2_private.d.hex()
        if self.peer_aes or self.peer_sm4:
            out["peer_keys"] = {k: v.hex() for k, v in (("aes", self.peer_aes), ("sm4", self.peer_sm4)) if v}
        for v in self.vehicles:
            entry: dict[str, Any] = {}
            if v.aes:
                entry["aes"] = v.aes.hex()
            if v.sm4:
                entry["sm4"] = v.sm4.hex()
            if v.sign_key is not None and v.purpose != "activation":  # that one's key is bound by 0x09
                entry["sign_algorithm"] = v.sign_algorithm
                entry["sign_public_key"] = crypto.public_key_bytes(v.sign_key, self.options).hex()
            if v.require_signature:
                entry["require_signature"] = True
            out["vehicles"][v.vin] = entry
        return out

    # ------------------------------------------------------------------ an external SUT's PIXIT
    @classmethod
    def from_pixit(cls, pixit: dict[str, Any]) -> SutKeys | None:
        """Keys from the PIXIT's `crypto:` section (docs/crypto.md), or None when it has none."""
        node = pixit.get("crypto")
        if not node:
            return None
        platform = node.get("platform") or {}
        rsa_public = None
        if platform.get("rsa_public_key"):
            loaded = serialization.load_pem_public_key(_text_or_file(platform["rsa_public_key"]))
            if not isinstance(loaded, rsa.RSAPublicKey):
                raise ValueError("PIXIT crypto.platform.rsa_public_key is not an RSA public key")
            rsa_public = loaded
        sm2_public = crypto.SM2PublicKey(bytes.fromhex(platform["sm2_public_key"])) \
            if platform.get("sm2_public_key") else None
        vehicles = []
        for v in node.get("vehicles") or ():
            vehicles.append(CryptoVehicle(
                vin=str(v["vin"]), edition=int(v.get("edition", 2025)), public_service=bool(v.get("public_service",
                                                                                                 True)),
                region=str(v.get("region", pixit.get("region", "110000"))),
                aes=bytes.fromhex(v["aes"]) if v.get("aes") else None,
                sm4=bytes.fromhex(v["sm4"]) if v.get("sm4") else None,
                sign_key=_private_key(v.get("sign_algorithm"), v["sign_private_key"])
                if v.get("sign_private_key") else None,
                require_signature=bool(v.get("require_signature", False)), purpose=str(v.get("purpose", ""))))
        return cls(rsa_public, sm2_public, vehicles, crypto.CryptoOptions.from_mapping(node.get("options")),
                   peer_aes=bytes.fromhex(platform["peer_aes"]) if platform.get("peer_aes") else None,
                   peer_sm4=bytes.fromhex(platform["peer_sm4"]) if platform.get("peer_sm4") else None)


def _text_or_file(value: str) -> bytes:
    text = str(value)
    return text.encode() if "-----BEGIN" in text else open(text, "rb").read()  # noqa: SIM115 - read once


def _private_key(algorithm: Any, value: str) -> crypto.PrivateKey:
    if str(algorithm).lower() == "sm2":
        return crypto.SM2PrivateKey(bytes.fromhex(str(value)))
    key = serialization.load_pem_private_key(_text_or_file(value), password=None)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError(f"PIXIT sign_private_key of type {type(key).__name__}: RSA or EC (P-256) expected")
    return key


def _vin(tag: str, n: int) -> str:
    return f"LCRY{tag}{n:012d}"


def embedded(region: str = "110000") -> SutKeys:
    """Fresh keys for the embedded reference: its RSA and SM2 key pairs, and the crypto vehicles
    (2016: one; 2025: one per signing algorithm, plus one each for activation, key rotation and
    required signatures), all public-service vehicles of `region` so their relay can be inspected."""
    rsa_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sm2_private = crypto.SM2PrivateKey.generate()

    def vehicle(vin: str, edition: int, sign_key: crypto.PrivateKey | None = None, purpose: str = "") -> CryptoVehicle:
        return _fresh_vehicle(vin, edition, region, sign_key, purpose)

    vehicles = [
        vehicle(_vin("A", 1), 2016),
        vehicle(_vin("B", 1), 2025, crypto.SM2PrivateKey.generate()),
        vehicle(_vin("B", 2), 2025, rsa.generate_private_key(65537, 2048)),
        vehicle(_vin("B", 3), 2025, ec.generate_private_key(ec.SECP256R1())),
        vehicle(_vin("B", 4), 2025, crypto.SM2PrivateKey.generate(), "require"),
        vehicle(_vin("B", 5), 2025, crypto.SM2PrivateKey.generate(), "activation"),
        vehicle(_vin("B", 6), 2025, None, "rotation"),
        vehicle(_vin("B", 7), 2025, crypto.SM2PrivateKey.generate(), "platform-rotation"),
    ]
    return SutKeys(rsa_private.public_key(), sm2_private.public_key(), vehicles, crypto.DEFAULT_OPTIONS,
                   os.urandom(16), os.urandom(16), rsa_private, sm2_private)


def _fresh_vehicle(vin: str, edition: int, region: str, sign_key: crypto.PrivateKey | None = None,
                   purpose: str = "") -> CryptoVehicle:
    """A vehicle with fresh 16-byte AES and SM4 data-unit keys."""
    return CryptoVehicle(vin, edition, True, region, os.urandom(16), os.urandom(16), sign_key,
                         require_signature=purpose == "require", purpose=purpose)


def simulated_terminals(vins: dict[int, str], region: str = "110000") -> SutKeys:
    """Fresh initial data-unit keys (AES, SM4) for the simulated terminal SUTs (--role terminal --sut
    reference), one crypto vehicle per edition: the harness, playing their platform, holds the same keys."""
    return SutKeys(vehicles=[_fresh_vehicle(vin, edition, region) for edition, vin in vins.items()])
