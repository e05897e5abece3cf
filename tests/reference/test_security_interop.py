"""The simulated terminal (harness/terminal/machine.py with `crypto=`) and the reference platform
(reference_impl/security.py) interoperate in every encryption mode and signature type, sans-IO on a
fake clock: the terminal's frames decrypt and verify on the platform, and a key exchange 0x0B from
the platform reaches the terminal, which then encrypts with the new key."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.protocol import crypto
from harness.protocol.schema import Timestamp
from harness.protocol.timers import Timers
from harness.terminal.generator import Generator
from harness.terminal.machine import Connect, Send, Terminal
from reference_impl.config import PlatformConfig, Vehicle
from reference_impl.core import PlatformCore
from reference_impl.core import Send as PSend
from reference_impl.store import Store

VIN = "LINTEROP000000001"
AES_KEY, SM4_KEY = bytes(range(16)), bytes(range(16, 32))
TIMERS = Timers(report_period=10, alarm_period=1, alarm_window=30, heartbeat=30, response_timeout=5,
                terminal_login_retry=60, login_tries=3, login_backoff=600, after_power_off=180,
                post_drive_monitoring=3600, data_resend=60, data_tries=3)
PLATFORM_SM2 = crypto.SM2PrivateKey(bytes(31) + b"\x2a")
_RSA: list[rsa.RSAPrivateKey] = []


def platform_rsa() -> rsa.RSAPrivateKey:
    if not _RSA:
        _RSA.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _RSA[0]


class Link:
    """One terminal and one platform core, pumped by hand."""

    def __init__(self, tmp_path, edition: int, fc: crypto.FrameCrypto | None, *, activate: bool = False,
                 security: dict | None = None) -> None:
        pem = platform_rsa().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()).decode()
        sec = {"rsa_private_key": pem, "sm2_private_key": PLATFORM_SM2.d.hex(),
               "vehicles": {VIN: {"aes": AES_KEY.hex(), "sm4": SM4_KEY.hex()}}} if security is None else security
        cfg = PlatformConfig(storage=str(tmp_path / "p.sqlite"), vehicles={VIN: Vehicle(VIN, True, "110000")},
                             security=sec)
        self.core = PlatformCore(cfg, Store(cfg.storage))
        self.t0 = time.time()
        epoch = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None, microsecond=0)
        gen = Generator(7, cells=8, probes=4, alarm_rate=0, start_phase="drive")
        self.terminal = Terminal(VIN, edition, TIMERS, gen,
                                 iccid="89860012345678901234", epoch=epoch, activate=activate,
                                 sign=fc is not None and fc.signing_key is not None, crypto=fc)
        self.answers: list[bytes] = []
        self.now = 0.0
        self.pump(self.terminal.start(0.0))

    def pump(self, actions: list) -> None:
        queue = list(actions)
        while queue:
            a = queue.pop(0)
            if isinstance(a, Connect):
                self.core.opened(1, "terminal", self.t0 + self.now)
                queue += self.terminal.connected(self.now, a.link)
            elif isinstance(a, Send):
                out = self.core.received(1, a.data, self.t0 + self.now)
                self.core.flush()
                for p in out:
                    if isinstance(p, PSend):
                        self.answers.append(p.data)
                        queue += self.terminal.data_received(p.data, self.now)

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            nxt = self.terminal.next_deadline()
            if nxt is None or nxt > end:
                break
            self.now = max(self.now, nxt)
            self.pump(self.terminal.tick(self.now))
        self.now = end

    def stored(self, command: int) -> list:
        return self.core.store.frames(vin=VIN, commands=(command,))


MODES = [(2016, crypto.NONE), (2016, crypto.AES), (2016, crypto.RSA),
         (2025, crypto.NONE), (2025, crypto.AES), (2025, crypto.SM4), (2025, crypto.RSA), (2025, crypto.SM2)]


def sending_keys(encryption: int) -> crypto.Keys:
    return crypto.Keys(aes=AES_KEY, sm4=SM4_KEY, rsa=platform_rsa().public_key(), sm2=PLATFORM_SM2.public_key())


@pytest.mark.parametrize(("edition", "encryption"), MODES)
def test_terminal_encrypts_platform_decrypts(tmp_path, edition, encryption):
    link = Link(tmp_path, edition, crypto.FrameCrypto(keys=sending_keys(encryption), encryption=encryption))
    link.run(35)
    assert link.terminal.online
    frames = link.stored(0x02)
    assert len(frames) >= 3
    assert link.core.stats["rejected"] == 0
    assert all(f.raw[21] == 0x01 for f in frames)  # stored as the plaintext frame (security.py)
    decrypted = link.core.security.stats["decrypted"]
    if encryption == crypto.NONE:
        assert decrypted == 0
    else:
        assert decrypted >= 1 + len(frames)  # login and every real-time frame


@pytest.mark.parametrize("signer", ["sm2", "rsa", "ecc"])
@pytest.mark.parametrize("encryption", [crypto.NONE, crypto.SM4, crypto.SM2])
def test_activation_then_signed_data_verified(tmp_path, signer, encryption):
    key = {"sm2": crypto.SM2PrivateKey.generate(), "rsa": platform_rsa(),
           "ecc": ec.generate_private_key(ec.SECP256R1())}[signer]
    fc = crypto.FrameCrypto(keys=sending_keys(encryption), encryption=encryption, signing_key=key)
    link = Link(tmp_path, 2025, fc, activate=True)
    link.run(35)
    assert link.terminal.online
    bound = link.core.security.vehicles[VIN]
    assert bound.sign_key is not None and crypto.public_of(key) == bound.sign_key or \
        crypto.public_key_bytes(bound.sign_key) == crypto.public_key_bytes(key)
    sec = link.core.security.stats
    assert sec["signature_failed"] == 0
    assert sec["verified"] >= 1 + len(link.stored(0x02)) >= 4  # activation and every real-time frame


def test_key_exchange_reaches_terminal(tmp_path):
    vehicle_sm2 = crypto.SM2PrivateKey.generate()
    fc = crypto.FrameCrypto(keys=sending_keys(crypto.SM4), encryption=crypto.SM4, signing_key=vehicle_sm2,
                            decrypt_keys=crypto.Keys(sm2=vehicle_sm2))
    link = Link(tmp_path, 2025, fc, activate=True)
    link.run(15)
    before = len(link.stored(0x02))
    new_key = bytes(range(120, 136))
    now_bj = dt.datetime.fromtimestamp(link.t0 + link.now, dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)
    sends = link.core.security.rotate_key(link.core, VIN, 0x05, new_key,
                                          Timestamp.from_datetime(now_bj - dt.timedelta(seconds=5)),
                                          Timestamp.from_datetime(now_bj + dt.timedelta(hours=1)))
    assert sends[0].data[21] == crypto.SM2  # the key travels under the vehicle's activation key
    for s in sends:
        link.pump(link.terminal.data_received(s.data, link.now))
    assert link.terminal.crypto.keys.sm4 == new_key
    assert link.terminal.stats["keys_set"] == 1
    # the platform's old static key is taken away: only the exchanged one can decrypt now
    link.core.security.vehicles[VIN].sm4 = None
    link.run(30)
    assert len(link.stored(0x02)) >= before + 2
    assert link.core.stats["rejected"] == 0


def test_terminal_without_crypto_unchanged(tmp_path):
    # the default terminal (no crypto=) still sends plaintext and the placeholder signature
    link = Link(tmp_path, 2025, None, security={})
    link.run(25)
    frames = link.stored(0x02)
    assert frames and all(f.raw[21] == 0x01 for f in frames)
    assert link.core.security.stats["verified"] == 0  # no key known: nothing verified, nothing refused
    assert link.core.stats["rejected"] == 0
