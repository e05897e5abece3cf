"""NOTICE-2016 1.2/g and 3: monitoring data is confidential and cannot be tampered with or falsified.

GB/T 32960.3 realises the duty with data-unit encryption (header byte 21: 2016 RSA 0x02 and AES 0x03;
2025 adds SM2 0x04 and SM4 0x05; the BCC covers the ciphertext), 2025 signatures over real-time and
reissue data (0x05 when one does not verify), activation 0x09 (chip id and public key bound to the VIN)
and key exchange 0x0B (a data-unit key with a validity window). The harness plays vehicles holding the
keys the SUT expects: the embedded reference gets fresh ones from the topology; an external SUT lists
them in its PIXIT `crypto:` section (docs/crypto.md, harness/topology/keys.py).

Gating: each case needs the PICS feature it tests (`features.encryption.<mode>` and friends); with no
--pics, the reference SUT is judged by its own PICS (reference_impl/examples/pics.yaml), because the
plugin's built-in default claims no encryption. A SUT that claims no encryption gets N/A; one that claims
it but whose PIXIT gives no keys gets INCONC (the harness cannot play its vehicles).

Acceptance of terminal data is shown, not assumed: Annex B answers only errors, so every case that
expects a frame to be accepted waits for it at the local platform (the relay of a public-service
vehicle, §5.2.5: decrypted, its signature kept) and checks no error answer came back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.control import ControlError
from harness.plugin import pics_claims
from harness.protocol import crypto
from harness.protocol.codec import COMMAND_FLAG, Frame, assemble, bcc, decode, encode
from harness.protocol.schema import Timestamp
from harness.topology.base import StimulusUnavailable, VehicleSpec
from harness.topology.keys import CryptoVehicle, SutKeys
from harness.wire import RawLink
from scenarios.kit import (
    GMT8,
    answer_timeout,
    case,
    eventually,
    heartbeat_frame,
    logged_in,
    now_time,
    relay_deadline,
    role,
    vehicle_item,
)

REFERENCE_PICS = Path(__file__).resolve().parents[2] / "reference_impl" / "examples" / "pics.yaml"
MODES = {crypto.RSA: "rsa", crypto.AES: "aes", crypto.SM2: "sm2", crypto.SM4: "sm4"}
_SECONDS = itertools.count(1)  # collection times never repeat within a run (a repeat is a duplicate)


# ------------------------------------------------------------------------------------ gating and keys
@pytest.fixture
def claimed(pytestconfig: pytest.Config, pics: dict[str, Any]) -> dict[str, Any]:
    """The PICS these cases judge by: the run's --pics, or the reference's own for --sut reference."""
    if pytestconfig.getoption("pics") is None and (pytestconfig.getoption("sut") or "reference") == "reference":
        return yaml.safe_load(REFERENCE_PICS.read_text(encoding="utf-8"))
    return pics


@pytest.fixture
def gate(pytestconfig: pytest.Config, claimed: dict[str, Any], topology: Any,
         pixit: dict[str, Any]) -> Callable[..., SutKeys]:
    """gate(edition, *features): N/A unless the edition is selected and every feature claimed; then the
    SUT's keys (INCONC when the PIXIT gives none)."""

    def check(edition: int, *features: str) -> SutKeys:
        chosen = pytestconfig.getoption("edition") or "both"
        if chosen != "both" and int(chosen) != edition:
            pytest.skip(f"N/A: the {edition} edition is not selected (--edition {chosen})")
        editions = (claimed.get("features") or {}).get("editions") or [2016, 2025]
        if edition not in [int(e) for e in editions]:
            pytest.skip(f"N/A: the PICS does not claim the {edition} edition")
        for feature in features:
            if not pics_claims(claimed, feature):
                pytest.skip(f"N/A: the PICS does not claim {feature}")
        keys = topology.extra.get("crypto") or SutKeys.from_pixit(pixit)
        if keys is None:
            pytest.skip("no keys for this SUT: its PIXIT has no crypto section (docs/crypto.md)")
        node = (claimed.get("features") or {}).get("encryption") or {}
        if isinstance(node, dict) and node.get("options"):
            keys.options = crypto.CryptoOptions.from_pics(claimed)
        return keys

    return check


# ------------------------------------------------------------------------------------ frames
def _spec(v: CryptoVehicle) -> VehicleSpec:
    return VehicleSpec(v.vin, v.public_service, v.region, v.edition)


def _realtime(v: CryptoVehicle) -> Frame:
    """A real-time frame with a collection time no other frame of the run has (a little in the past)."""
    t = now_time(-600 + next(_SECONDS))
    return Frame(0x02, vin=v.vin, edition=v.edition, body={"time": t, "items": [vehicle_item(v.edition)]})


def _seal(fc: crypto.FrameCrypto, frame: Frame) -> tuple[bytes, bytes]:
    """The frame as sent (signed, encrypted, BCC over the ciphertext) and its plaintext data unit (signatures
    are randomised: the unit is computed once)."""
    plain = fc.unit(frame.edition, frame.command, frame.ack, frame.body)
    cipher = crypto.encrypt_unit(fc.encryption, plain, fc.keys, fc.options, edition=frame.edition)
    return assemble(frame.edition, frame.command, frame.ack, frame.vin, cipher, fc.encryption), plain


def _time_of(frame: Frame) -> str:
    return str(frame.body["time"])


def _tampered(fc: crypto.FrameCrypto, frame: Frame) -> bytes:
    """The frame signed, then one signed byte (the speed's low byte) changed, then encrypted as `fc` says."""
    unit = bytearray(fc.unit(frame.edition, frame.command, frame.ack, frame.body))
    unit[11] ^= 0x01  # time 6, type 1, vehicle state, charge state, run mode, speed WORD: its low byte
    cipher = crypto.encrypt_unit(fc.encryption, bytes(unit), fc.keys, fc.options, edition=frame.edition)
    return assemble(frame.edition, frame.command, frame.ack, frame.vin, cipher, fc.encryption)


async def _answers(link: RawLink, command: int, within: float) -> list[bytes]:
    """Every answer to `command` that arrives within `within` s (other frames, e.g. warnings, skipped)."""
    out: list[bytes] = []
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        try:
            raw = await link.receive_raw(left)
        except TimeoutError:
            break
        if raw[2] == command and raw[3] != COMMAND_FLAG:
            out.append(raw)
    return out


async def _answer(link: RawLink, command: int, timers: Any, *, from_platform: bool = False) -> bytes:
    """The next answer to `command`, or with `from_platform` the next such command frame (flag 0xFE) the
    platform sends (TimeoutError, a FAIL, when none comes)."""
    deadline = time.monotonic() + answer_timeout(timers)
    while True:
        raw = await link.receive_raw(max(deadline - time.monotonic(), 0.01))
        if raw[2] == command and (raw[3] == COMMAND_FLAG) == from_platform:
            return raw


def _relayed(topology: Any, v: CryptoVehicle, frame: Frame) -> list[bytes]:
    """The frames of `v` with `frame`'s collection time that the local platform stored."""
    when = _time_of(frame)
    return [f.raw for f in topology.local.frames(vin=v.vin, commands=(0x02, 0x03)) if f.collected_at == when]



async def _accepted(topology: Any, link: RawLink, v: CryptoVehicle, frame: Frame, timers: Any, expect: Any,
                    what: str) -> bytes:
    """Expect `frame` (sent already) accepted: relayed to the local platform (so it was read) and not
    answered with an error flag. Returns the relayed bytes."""
    arrived = await eventually(lambda: bool(_relayed(topology, v, frame)), relay_deadline(timers))
    errors_back = [r for r in await _answers(link, frame.command, 0.1) if r[3] != 0x01]
    expect.true(not errors_back, f"{what} was answered with error flag 0x{errors_back[0][3]:02X}" if errors_back
                else "", path="answer.ack", expected="no error answer", actual=[r[3] for r in errors_back])
    expect.true(arrived, f"{what} did not reach the local platform readable within {relay_deadline(timers):g} s: "
                "the SUT did not accept it, or relayed it unreadable", path="local.frames", expected=_time_of(frame),
                actual=None)
    return _relayed(topology, v, frame)[-1]


def _not_kept(topology: Any, v: CryptoVehicle, frame: Frame, expect: Any, what: str) -> None:
    """Expect `frame` neither stored (when the SUT can be inspected) nor relayed. Call it only after a later
    frame of the same vehicle was seen relayed, so the absence means something."""
    expect.equal(f"local.frames[vin={v.vin},time={_time_of(frame)}]", 0, len(_relayed(topology, v, frame)),
                 f"{what} was relayed to the local platform")


# ------------------------------------------------------------------------------------ encrypted data accepted
def _encrypted_case(cid: str, edition: int, encryption: int) -> Any:
    mode = MODES[encryption]
    name = crypto.ENCRYPTION[edition][encryption]

    @role("enterprise")
    @case(cid, requirement=f"A {edition} real-time frame whose data unit is {name}-encrypted (encryption byte "
                           f"0x{encryption:02X}, GB/T 32960.3-{edition} 6.2 T2; BCC over the ciphertext) is accepted "
                           f"and read: relayed to the local platform as its plaintext frame, data unit byte-equal to "
                           f"what the vehicle encrypted{' and its signature intact' if edition == 2025 else ''} "
                           f"(§5.2.5; notice 1.2(7)).")
    async def test(topology, fleet, timers, expect, gate):
        keys = gate(edition, f"encryption.{mode}", "relay")
        v = keys.vehicle(edition, algorithm="sm2" if edition == 2025 else None)
        fc = keys.frame_crypto(v, encryption)
        link = await logged_in(fleet, _spec(v), timers)
        frame = _realtime(v)
        sent, plain = _seal(fc, frame)
        expect.equal("sent.encryption", encryption, sent[21])
        await link.send(sent)
        relayed = await _accepted(topology, link, v, frame, timers, expect, f"the {name}-encrypted frame")
        expect.equal("relayed.encryption", 0x01, relayed[21],
                      "relayed encrypted: this harness's local platform agreed no encryption (login rule 0x01)")
        expect.equal("relayed.unit", plain.hex(), relayed[24:-1].hex(),
                     "the relayed data unit is not what the vehicle encrypted")

    test.__name__ = f"test_encrypted_{edition}_{mode}_accepted"
    return test


test_encrypted_2016_rsa = _encrypted_case("NOTICE-2016/1.2/g/10", 2016, crypto.RSA)
test_encrypted_2016_aes = _encrypted_case("NOTICE-2016/1.2/g/11", 2016, crypto.AES)
test_encrypted_2025_rsa = _encrypted_case("NOTICE-2016/1.2/g/12", 2025, crypto.RSA)
test_encrypted_2025_aes = _encrypted_case("NOTICE-2016/1.2/g/13", 2025, crypto.AES)
test_encrypted_2025_sm2 = _encrypted_case("NOTICE-2016/1.2/g/14", 2025, crypto.SM2)
test_encrypted_2025_sm4 = _encrypted_case("NOTICE-2016/1.2/g/15", 2025, crypto.SM4)


# ------------------------------------------------------------------------------------ BCC over the ciphertext
def _bcc_case(cid: str, edition: int, encryption: int) -> Any:
    mode = MODES[encryption]
    name = crypto.ENCRYPTION[edition][encryption]

    @role("enterprise")
    @case(cid, requirement=f"With encryption the BCC is computed over the ciphertext and checked before decrypting "
                           f"(GB/T 32960.3-{edition} 6.2 T2): a {name} frame whose BCC covers the plaintext data unit "
                           f"is refused (neither stored nor relayed), the same frame with the BCC over the ciphertext "
                           f"is accepted (notice 1.2(7)).")
    async def test(topology, fleet, timers, expect, gate):
        keys = gate(edition, f"encryption.{mode}", "relay")
        v = keys.vehicle(edition, algorithm="sm2" if edition == 2025 else None)
        fc = keys.frame_crypto(v, encryption)
        link = await logged_in(fleet, _spec(v), timers)
        bad_frame = _realtime(v)
        while True:  # a fresh IV each time: until the two check codes differ (255 times in 256)
            good, plain = _seal(fc, bad_frame)
            over_plain = bcc(good[2:24] + plain)
            if over_plain != good[-1]:
                break
        bad = good[:-1] + bytes((over_plain,))
        await link.send(bad)
        control = _realtime(v)
        await link.send(fc.seal(control))
        await _accepted(topology, link, v, control, timers, expect, "the frame with its BCC over the ciphertext")
        _not_kept(topology, v, bad_frame, expect, "the frame with its BCC over the plaintext")

    test.__name__ = f"test_bcc_over_ciphertext_{edition}_{mode}"
    return test


test_bcc_over_ciphertext_2016 = _bcc_case("NOTICE-2016/1.2/g/16", 2016, crypto.AES)
test_bcc_over_ciphertext_2025 = _bcc_case("NOTICE-2016/1.2/g/17", 2025, crypto.SM4)


# ------------------------------------------------------------------------------------ wrong key
def _wrong_key_case(cid: str, edition: int, encryption: int) -> Any:
    mode = MODES[encryption]
    name = crypto.ENCRYPTION[edition][encryption]
    flag = 0x07 if edition == 2025 else 0x02
    meaning = "decryption error, 2025 T4" if edition == 2025 else "error: 2016 has no decryption flag"

    @role("enterprise")
    @case(cid, requirement=f"A {name} data unit encrypted with a key the platform does not hold for the vehicle "
                           f"is answered 0x{flag:02X} ({meaning}) and neither stored nor relayed; the same vehicle's "
                           f"frame under its own key is accepted (GB/T 32960.3-{edition} 6.2 T2, 6.3.2; notice 1.2(7))")
    async def test(topology, fleet, timers, expect, gate):
        keys = gate(edition, f"encryption.{mode}", "relay")
        v = keys.vehicle(edition, algorithm="sm2" if edition == 2025 else None)
        stranger = crypto.Keys(aes=os.urandom(16), sm4=os.urandom(16))
        link = await logged_in(fleet, _spec(v), timers)
        wrong = _realtime(v)
        await link.send(keys.frame_crypto(v, encryption, keys=stranger).seal(wrong))
        answer = await _answer(link, 0x02, timers)
        expect.equal("answer.ack", flag, answer[3], f"a data unit under a wrong key was answered 0x{answer[3]:02X}")
        control = _realtime(v)
        await link.send(keys.frame_crypto(v, encryption).seal(control))
        await _accepted(topology, link, v, control, timers, expect, "the frame under the vehicle's own key")
        _not_kept(topology, v, wrong, expect, "the frame under a wrong key")

    test.__name__ = f"test_wrong_key_{edition}_{mode}"
    return test


test_wrong_key_2025_sm4 = _wrong_key_case("NOTICE-2016/1.2/g/18", 2025, crypto.SM4)
test_wrong_key_2025_aes = _wrong_key_case("NOTICE-2016/1.2/g/19", 2025, crypto.AES)
test_wrong_key_2016_aes = _wrong_key_case("NOTICE-2016/1.2/g/20", 2016, crypto.AES)


# ------------------------------------------------------------------------------------ 2025 signatures
SIG_NAMES = {"sm2": "SM2 (SM3 with Z)", "rsa": "RSA PKCS#1 v1.5 SHA-256", "ecc": "ECDSA P-256 SHA-256"}


def _tamper_case(cid: str, algorithm: str, encryption: int) -> Any:
    @role("enterprise")
    @case(cid, requirement=f"A 2025 real-time frame signed with the vehicle's {SIG_NAMES[algorithm]} key (signature "
                           f"block 0xFF, type, R, S; GB/T 32960.3-2025 T7/T8) is accepted; the same frame with one "
                           f"signed byte changed is answered 0x05 (signature verification error, T4) and neither "
                           f"stored nor relayed (notice 1.2(7), 3).")
    async def test(topology, fleet, timers, expect, gate):
        features = ["encryption.signatures", "relay"] + ([f"encryption.{MODES[encryption]}"]
                                                         if encryption != crypto.NONE else [])
        keys = gate(2025, *features)
        v = keys.vehicle(2025, algorithm=algorithm)
        fc = keys.frame_crypto(v, encryption)
        link = await logged_in(fleet, _spec(v), timers)
        forged = _realtime(v)
        await link.send(_tampered(fc, forged))
        answer = await _answer(link, 0x02, timers)
        expect.equal("answer.ack", 0x05, answer[3], f"a tampered signed frame was answered 0x{answer[3]:02X}")
        genuine = _realtime(v)
        await link.send(fc.seal(genuine))
        await _accepted(topology, link, v, genuine, timers, expect, "the genuinely signed frame")
        _not_kept(topology, v, forged, expect, "the tampered frame")

    test.__name__ = f"test_tampered_{algorithm}"
    return test


test_tampered_sm2 = _tamper_case("NOTICE-2016/1.2/g/21", "sm2", crypto.SM4)
test_tampered_rsa = _tamper_case("NOTICE-2016/1.2/g/22", "rsa", crypto.NONE)
test_tampered_ecc = _tamper_case("NOTICE-2016/1.2/g/23", "ecc", crypto.AES)


@role("enterprise")
@case("NOTICE-2016/1.2/g/24",
      requirement="A 2025 vehicle registered with a signing key must sign its real-time data: an unsigned frame is "
                  "answered 0x05 (GB/T 32960.3-2025 T4, T7) and neither stored nor relayed; its signed frame is "
                  "accepted (notice 1.2(7)).")
async def test_unsigned_refused_when_required(topology, fleet, timers, expect, gate):
    keys = gate(2025, "encryption.require_signature", "relay")
    v = keys.vehicle(2025, purpose="require")
    link = await logged_in(fleet, _spec(v), timers)
    unsigned = _realtime(v)
    await link.send(keys.frame_crypto(v, crypto.NONE, sign=False).seal(unsigned))
    answer = await _answer(link, 0x02, timers)
    expect.equal("answer.ack", 0x05, answer[3], f"unsigned data of a signing vehicle was answered 0x{answer[3]:02X}")
    signed = _realtime(v)
    await link.send(keys.frame_crypto(v, crypto.NONE).seal(signed))
    await _accepted(topology, link, v, signed, timers, expect, "the signed frame")
    _not_kept(topology, v, unsigned, expect, "the unsigned frame")


def _activation(v: CryptoVehicle, chip: str, key: crypto.PrivateKey, options: crypto.CryptoOptions) -> bytes:
    body = {"time": now_time(), "chip_id": chip, "public_key": crypto.public_key_bytes(key, options), "vin": v.vin}
    return assemble(2025, 0x09, COMMAND_FLAG, v.vin, crypto.encode_signed(2025, 0x09, body, key, options))


async def _activation_result(link: RawLink, timers: Any) -> tuple[int, int]:
    deadline = time.monotonic() + answer_timeout(timers)
    while True:
        raw = await link.receive_raw(max(deadline - time.monotonic(), 0.01))
        if raw[2] == 0x09 and raw[3] != COMMAND_FLAG:
            return -1, raw[3]  # the activation itself answered with a flag (e.g. 0x05)
        if raw[2] == 0x0A:
            f = decode(raw)
            return f.body["status"], f.body["info"]


@role("enterprise")
@case("NOTICE-2016/1.2/g/25",
      requirement="Activation 0x09 signed with the key it carries binds the chip id and that public key to the VIN "
                  "(GB/T 32960.3-2025 T B.3/B.4): real-time data signed with that key is accepted, data signed with "
                  "any other key is answered 0x05; a later activation of the VIN with another chip and key is "
                  "refused and does not replace the bound key (notice 1.2(7), 3).")
async def test_activation_binds_chip_and_key(topology, fleet, timers, expect, gate):
    keys = gate(2025, "encryption.activation_binding", "relay")
    v = keys.vehicle(2025, purpose="activation")
    assert v.sign_key is not None, "the activation vehicle of the PIXIT has no sign_private_key"
    other = crypto.SM2PrivateKey.generate()
    link = await logged_in(fleet, _spec(v), timers)
    await link.send(_activation(v, "C" + v.vin[-15:], v.sign_key, keys.options))
    expect.equal("activation.status/info", (1, 0), await _activation_result(link, timers),
                 "the vehicle's own signed activation was not a success")
    own = _realtime(v)
    await link.send(keys.frame_crypto(v, crypto.SM4).seal(own))
    await _accepted(topology, link, v, own, timers, expect, "data signed with the activated key")
    foreign = _realtime(v)
    impostor = crypto.FrameCrypto(keys=keys.keys_for(v), options=keys.options, encryption=crypto.SM4,
                                  signing_key=other)
    await link.send(impostor.seal(foreign))
    answer = await _answer(link, 0x02, timers)
    expect.equal("answer.ack", 0x05, answer[3], f"data signed with another key was answered 0x{answer[3]:02X}")
    await link.send(_activation(v, "X" + v.vin[-15:], other, keys.options))
    status = await _activation_result(link, timers)
    expect.true(status[0] != 1, "a second activation of the VIN with another chip and key succeeded",
                path="activation2.status", expected="02 (failed) or a refusal flag", actual=status)
    again = _realtime(v)
    await link.send(impostor.seal(again))
    answer = await _answer(link, 0x02, timers)
    expect.equal("answer2.ack", 0x05, answer[3], "after a refused re-activation, another key's signature was "
                 f"answered 0x{answer[3]:02X}: the bound key was replaced")
    _not_kept(topology, v, foreign, expect, "data signed with another key")


# ------------------------------------------------------------------------------------ key exchange 0x0B
def _key_exchange(v: CryptoVehicle, keys: SutKeys, new_key: bytes, expires_in: float) -> bytes:
    """A vehicle's 0x0B proposing SM4 key `new_key`, valid from an hour ago for `expires_in` s, sent under
    its current SM4 key."""
    now = dt.datetime.now(GMT8).replace(microsecond=0, tzinfo=None)
    body = {"key_type": 0x05, "key": new_key, "valid_from": Timestamp.from_datetime(now - dt.timedelta(hours=1)),
            "expires": Timestamp.from_datetime(now + dt.timedelta(seconds=expires_in))}
    return keys.frame_crypto(v, crypto.SM4).seal(Frame(0x0B, vin=v.vin, edition=2025, body=body))


def _under(keys: SutKeys, v: CryptoVehicle, sm4: bytes) -> crypto.FrameCrypto:
    return keys.frame_crypto(v, crypto.SM4, keys=crypto.Keys(sm4=sm4))


@role("enterprise")
@case("NOTICE-2016/1.2/g/26",
      requirement="Key exchange 0x0B sets and rotates a vehicle's data-unit key with a validity window (GB/T "
                  "32960.3-2025 T31): after a rotation both the new key and the previous one are accepted while the "
                  "previous is inside its window; once it has expired, data under it is answered 0x07 (decryption "
                  "error) and not kept, while the new key still works (notice 1.2(7)).")
async def test_key_rotation_window(topology, fleet, timers, expect, gate):
    keys = gate(2025, "encryption.key_exchange", "encryption.sm4", "relay")
    v = keys.vehicle(2025, purpose="rotation")
    link = await logged_in(fleet, _spec(v), timers)
    first, second = os.urandom(16), os.urandom(16)
    await link.send(_key_exchange(v, keys, first, 3))  # expires within 2-3 s (times have whole seconds)
    expect.equal("exchange1.ack", 0x01, (await _answer(link, 0x0B, timers))[3], "a valid 0x0B was not accepted")
    expiry = time.time() + 3
    await link.send(_key_exchange(v, keys, second, 86400))
    expect.equal("exchange2.ack", 0x01, (await _answer(link, 0x0B, timers))[3], "the rotating 0x0B was refused")
    before = _realtime(v)
    await link.send(_under(keys, v, first).seal(before))
    newest = _realtime(v)
    await link.send(_under(keys, v, second).seal(newest))
    await _accepted(topology, link, v, newest, timers, expect, "data under the new key")
    await _accepted(topology, link, v, before, timers, expect, "data under the previous key inside its window")
    # the previous key's window ends by `expiry` (platform clock, whole seconds): wait for it, bounded, with
    # heartbeats so the link is not idle
    while (left := expiry + 1.0 - time.time()) > 0:
        await link.send(heartbeat_frame(_spec(v)))
        await _answers(link, 0x07, min(timers.heartbeat, left))
    late = _realtime(v)
    await link.send(_under(keys, v, first).seal(late))
    answer = await _answer(link, 0x02, timers)
    expect.equal("answer.ack", 0x07, answer[3], f"data under an expired key was answered 0x{answer[3]:02X}")
    still = _realtime(v)
    await link.send(_under(keys, v, second).seal(still))
    await _accepted(topology, link, v, still, timers, expect, "data under the new key after the old one expired")
    _not_kept(topology, v, late, expect, "data under the expired key")


@role("enterprise")
@case("NOTICE-2016/1.2/g/27",
      requirement="A key exchange 0x0B that a vehicle sent encrypted is accepted (answered 0x01) without the key "
                  "going back in plaintext: the answer is encrypted, or its plaintext data unit does not contain the "
                  "key (GB/T 32960.3-2025 T31, 6.3.2; notice 1.2(7): no leak).")
async def test_encrypted_key_exchange_answer_keeps_key(topology, fleet, timers, expect, gate):
    keys = gate(2025, "encryption.key_exchange", "encryption.sm4")
    v = keys.vehicle(2025, purpose="rotation")
    link = await logged_in(fleet, _spec(v), timers)
    new = os.urandom(16)
    await link.send(_key_exchange(v, keys, new, 86400))
    answer = await _answer(link, 0x0B, timers)
    expect.equal("answer.ack", 0x01, answer[3], f"an encrypted valid 0x0B was answered 0x{answer[3]:02X}")
    if answer[21] == 0x01:
        expect.true(new not in answer[24:-1], "the answer carries the exchanged key in plaintext",
                    path="answer.unit", expected="no key", actual=answer[24:-1].hex())


@role("enterprise")
@case("NOTICE-2016/1.2/g/28",
      requirement="A key exchange 0x0B that the platform starts (downlink, GB/T 32960.3-2025 T31) reaches the "
                  "vehicle encrypted (6.2 T2: under the vehicle's public key or its current key), never with the "
                  "key in plaintext, carries the key type asked for and a window that holds now; once the vehicle "
                  "answers 0x01 the platform reads the vehicle's data under the new key (notice 1.2(7)).")
async def test_platform_key_exchange(topology, fleet, timers, expect, gate, control):
    keys = gate(2025, "encryption.key_exchange_down", "encryption.sm4", "relay")
    v = keys.vehicle(2025, purpose="platform-rotation")
    link = await logged_in(fleet, _spec(v), timers)
    try:  # the stimulus is the SUT's own: its Control service starts the exchange
        await asyncio.to_thread(control.exchange_key, v.vin, 0x05, valid_seconds=3600)
    except ControlError as exc:
        raise StimulusUnavailable(f"INCONC: the SUT's Control cannot start a key exchange ({exc})") from None
    raw = await _answer(link, 0x0B, timers, from_platform=True)
    enc = raw[21]
    expect.true(enc != crypto.NONE, "the platform sent the new data-unit key in plaintext (encryption byte 0x01)",
                path="command.encryption", expected="0x02-0x05", actual=f"0x{enc:02X}")
    fc = crypto.Keys(sm2=v.sign_key if isinstance(v.sign_key, crypto.SM2PrivateKey) else None, sm4=v.sm4, aes=v.aes)
    unit = crypto.decrypt_unit(enc, raw[24:-1], fc, keys.options, edition=2025) if enc != crypto.NONE else raw[24:-1]
    body = decode(assemble(2025, 0x0B, COMMAND_FLAG, raw[4:21], unit)).body
    expect.equal("command.key_type", 0x05, body["key_type"], "the 0x0B carries another key type than asked (SM4)")
    now = dt.datetime.now(GMT8).replace(tzinfo=None)
    start, end = Timestamp(*body["valid_from"]).to_datetime(), Timestamp(*body["expires"]).to_datetime()
    expect.true(start - dt.timedelta(seconds=2) <= now < end, f"the key's window {start} .. {end} does not hold now "
                f"({now:%Y-%m-%d %H:%M:%S}, GMT+8)", path="command.window", expected="valid_from <= now < expires",
                actual=f"{start} .. {end}")
    await link.send(assemble(2025, 0x0B, 0x01, raw[4:21], unit[:6]))  # the vehicle takes the key: 0x01, its time
    frame = _realtime(v)
    await link.send(_under(keys, v, bytes(body["key"])).seal(frame))
    await _accepted(topology, link, v, frame, timers, expect, "data under the key the platform sent")


# ------------------------------------------------------------------------------------ notice 3: end to end
def _relay_signature_case(cid: str, algorithm: str, encryption: int) -> Any:
    @role("enterprise")
    @case(cid, requirement=f"A 2025 frame signed by the vehicle ({SIG_NAMES[algorithm]}) reaches the local platform "
                           f"with its signature still verifiable with the vehicle's public key, over the very data "
                           f"the vehicle sent (GB/T 32960.3-2025 T7/T8, §5.2.5; notice 3: no falsified data).")
    async def test(topology, fleet, timers, expect, gate):
        features = ["encryption.signatures", "relay"] + ([f"encryption.{MODES[encryption]}"]
                                                         if encryption != crypto.NONE else [])
        keys = gate(2025, *features)
        v = keys.vehicle(2025, algorithm=algorithm)
        assert v.sign_key is not None
        fc = keys.frame_crypto(v, encryption)
        link = await logged_in(fleet, _spec(v), timers)
        frame = _realtime(v)
        sent, plain = _seal(fc, frame)
        await link.send(sent)
        relayed = await _accepted(topology, link, v, frame, timers, expect, "the signed frame")
        got = decode(relayed)
        sig = crypto.signature_of(0x02, got.body)
        expect.true(sig is not None, "the relayed frame carries no signature block", path="relayed.signature",
                    expected="0xFF block", actual=None)
        assert sig is not None
        try:
            crypto.verify(crypto.signed_bytes(0x02, crypto.plaintext_unit(got), sig), sig,
                          crypto.public_of(v.sign_key), keys.options)
            verified = True
        except crypto.SignatureError:
            verified = False
        expect.true(verified, "the relayed signature does not verify with the vehicle's key",
                    path="relayed.signature", expected="verifies", actual="does not verify")
        expect.equal("relayed.unit", plain.hex(), relayed[24:-1].hex(),
                     "the relayed data unit is not the one the vehicle signed")

    test.__name__ = f"test_relay_signature_{algorithm}"
    return test


test_relay_signature_sm2 = _relay_signature_case("NOTICE-2016/3/01", "sm2", crypto.SM4)
test_relay_signature_rsa = _relay_signature_case("NOTICE-2016/3/02", "rsa", crypto.RSA)
test_relay_signature_ecc = _relay_signature_case("NOTICE-2016/3/03", "ecc", crypto.NONE)


# ------------------------------------------------------------------------------------ 2.2/d: the local platform
def _relay_crypto(keys: SutKeys, v: CryptoVehicle, rule: int, *, stranger: bool = False) -> crypto.FrameCrypto:
    """How the harness, as the enterprise platform, relays `v`'s frames under the agreed rule: RSA/SM2 to
    the local platform's public key, AES/SM4 under the key agreed with it; the vehicle's signature inside."""
    agreed = crypto.Keys(aes=os.urandom(16), sm4=os.urandom(16)) if stranger else crypto.Keys(
        aes=keys.peer_aes, sm4=keys.peer_sm4, rsa=keys.rsa_public, sm2=keys.sm2_public)
    return crypto.FrameCrypto(keys=agreed, options=keys.options, encryption=rule, signing_key=v.sign_key)


async def _platform_login(topology: Any, fleet: Any, timers: Any, edition: int, rule: int) -> RawLink:
    user, password = topology.credentials
    body = {"time": now_time(), "serial": 1, "username": user, "password": password, "encryption_rule": rule}
    link = await fleet.link(f"platform {topology.platform_id}")
    await link.send(encode(Frame(0x05, vin=topology.platform_id, edition=edition, body=body)))
    answer = await _answer(link, 0x05, timers)
    assert answer[3] == 0x01, f"platform login with encryption rule 0x{rule:02X} answered 0x{answer[3]:02X}"
    return link


def _stored(topology: Any, v: CryptoVehicle, frame: Frame) -> list[bytes]:
    """The SUT's stored frames of `v` with `frame`'s collection time (it read the data unit to know it)."""
    when = _time_of(frame)
    return [f.raw for f in topology.sut.frames(vin=v.vin, commands=(0x02, 0x03)) if f.collected_at == when]


async def _relay_accepted(topology: Any, link: RawLink, v: CryptoVehicle, frame: Frame, timers: Any, expect: Any,
                          what: str) -> None:
    answer = await _answer(link, 0x02, timers)
    expect.equal("answer.ack", 0x01, answer[3], f"{what} was answered 0x{answer[3]:02X} (§5.2.2: 0x01 when correct)")
    stored = await eventually(lambda: bool(_stored(topology, v, frame)), answer_timeout(timers))
    expect.true(stored, f"{what} was acknowledged but not stored with its collection time: it was not read",
                path="sut.frames", expected=_time_of(frame), actual=None)


def _local_case(cid: str, edition: int, rule: int) -> Any:
    mode = MODES[rule]
    name = crypto.ENCRYPTION[edition][rule]

    @role("local")
    @case(cid, requirement=f"The local platform reads data relayed under the encryption rule agreed at platform login "
                           f"({name}, 0x{rule:02X}; GB/T 32960.3-{edition} §5.2.5, T21): the relayed {edition} "
                           f"real-time frame is answered 0x01 (§5.2.2) and stored with its collection time "
                           f"(notice 2.2(4)).")
    async def test(topology, fleet, timers, expect, gate):
        keys = gate(edition, f"encryption.{mode}", "control")
        v = keys.vehicle(edition, algorithm="sm2" if edition == 2025 else None)
        link = await _platform_login(topology, fleet, timers, edition, rule)
        frame = _realtime(v)
        sent, _ = _seal(_relay_crypto(keys, v, rule), frame)
        expect.equal("sent.encryption", rule, sent[21])
        await link.send(sent)
        await _relay_accepted(topology, link, v, frame, timers, expect, f"a {name} relay")

    test.__name__ = f"test_local_reads_{edition}_{mode}_relay"
    return test


test_local_reads_2016_rsa_relay = _local_case("NOTICE-2016/2.2/d/10", 2016, crypto.RSA)
test_local_reads_2025_sm2_relay = _local_case("NOTICE-2016/2.2/d/11", 2025, crypto.SM2)
test_local_reads_2025_sm4_relay = _local_case("NOTICE-2016/2.2/d/12", 2025, crypto.SM4)


@role("local")
@case("NOTICE-2016/2.2/d/13",
      requirement="A relay whose data unit does not decrypt under the agreed key is answered 0x07 (GB/T 32960.3-2025 "
                  "T4 decryption error) and not stored; the next relay under the agreed key is answered 0x01 and "
                  "stored (§5.2.2, §5.2.5; notice 2.2(4)).")
async def test_local_refuses_relay_under_wrong_key(topology, fleet, timers, expect, gate):
    keys = gate(2025, "encryption.sm4", "control")
    v = keys.vehicle(2025, algorithm="sm2")
    link = await _platform_login(topology, fleet, timers, 2025, crypto.SM4)
    wrong = _realtime(v)
    await link.send(_seal(_relay_crypto(keys, v, crypto.SM4, stranger=True), wrong)[0])
    answer = await _answer(link, 0x02, timers)
    expect.equal("answer.ack", 0x07, answer[3], f"a relay under a wrong key was answered 0x{answer[3]:02X}")
    right = _realtime(v)
    await link.send(_seal(_relay_crypto(keys, v, crypto.SM4), right)[0])
    await _relay_accepted(topology, link, v, right, timers, expect, "the relay under the agreed key")
    expect.equal(f"sut.frames[time={_time_of(wrong)}]", 0, len(_stored(topology, v, wrong)),
                 "the relay under a wrong key was stored")


@role("local")
@case("NOTICE-2016/2.2/d/14",
      requirement="A relayed 2025 frame whose vehicle signature does not verify (one signed byte changed) is answered "
                  "0x05 (GB/T 32960.3-2025 T4, T7/T8) and not stored; the genuine relay is answered 0x01 and stored "
                  "(notice 2.2(4), 3).")
async def test_local_refuses_tampered_relay(topology, fleet, timers, expect, gate):
    keys = gate(2025, "encryption.sm2", "encryption.signatures", "control")
    v = keys.vehicle(2025, algorithm="sm2")
    link = await _platform_login(topology, fleet, timers, 2025, crypto.SM2)
    fc = _relay_crypto(keys, v, crypto.SM2)
    forged = _realtime(v)
    await link.send(_tampered(fc, forged))
    answer = await _answer(link, 0x02, timers)
    expect.equal("answer.ack", 0x05, answer[3], f"a relay with a tampered signature was answered 0x{answer[3]:02X}")
    genuine = _realtime(v)
    await link.send(_seal(fc, genuine)[0])
    await _relay_accepted(topology, link, v, genuine, timers, expect, "the genuine relay")
    expect.equal(f"sut.frames[time={_time_of(forged)}]", 0, len(_stored(topology, v, forged)),
                 "the relay with a tampered signature was stored")
