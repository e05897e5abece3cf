"""What terminal-as-SUT cases share: bring the terminal online, query and set its parameters,
send controls and key exchanges, put both ends under a data-unit key, and read collection times. The
harness plays the enterprise platform (`harness.topology.scripted.ScriptedPlatform`); every wait is
bounded by the run's `Timers`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from harness.plugin import pics_claims
from harness.protocol import crypto
from harness.protocol.codec import Frame
from harness.protocol.timers import Timers
from harness.topology.base import StimulusUnavailable, Topology
from harness.topology.scripted import Received, ScriptedPlatform, platform_time
from harness.topology.terminal import TerminalSut
from scenarios.kit import now_time


def within(timers: Timers, periods: float = 4) -> float:
    """A bound for something due within a few report periods, at least 2 s."""
    return max(periods * timers.report_period, timers.response_timeout * 4, 2.0)


def login_window(timers: Timers) -> float:
    """How long a freshly powered terminal may take to connect, (activate,) and log in."""
    return max(3 * timers.response_timeout + 2 * timers.report_period, 3.0)


async def online(platform: ScriptedPlatform, tbox: TerminalSut, timers: Timers) -> Received:
    """Power the terminal on; its login (the first 0x01 it sends) once the platform has accepted it."""
    since = platform.now
    await tbox.power_on()
    login = await platform.next(0x01, login_window(timers), since=since)
    # the answer is written as soon as the login arrives; give the terminal a moment to take it
    await platform.wait_for(lambda: bool(platform.frames(0x02, since=login.at)) or
                            bool(platform.frames(0x08, since=login.at)), within(timers))
    return login


def power_off_window(timers: Timers, edition: int) -> float:
    """How long after power-off a terminal keeps reporting before it logs out: 3 min after power-off
    (2016), the 1 h post-drive monitoring (2025); compressed in a compressed run."""
    return timers.after_power_off if edition == 2016 else timers.post_drive_monitoring


async def second_platform(platform: ScriptedPlatform, name: str = "platform-2") -> ScriptedPlatform:
    """Another platform the harness plays (a new address, a public platform), recording in the same wire."""
    return await ScriptedPlatform(platform.wire, name).listen(platform.host, 0)


def collected(r: Received) -> dt.datetime:
    """A frame's collection time (the terminal's clock)."""
    return r.frame.body["time"].to_datetime()


def gaps(frames: list[Received]) -> list[float]:
    """Seconds between consecutive collection times."""
    times = [collected(r) for r in frames]
    return [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]


def _body(time_: Any = None, **fields: Any) -> dict[str, Any]:
    return {"time": time_ or platform_time(), **fields}


async def _ask(platform: ScriptedPlatform, tbox: TerminalSut, timers: Timers, cmd: int, body: dict[str, Any],
               answer_within: float | None = None, *, plain: bool = False) -> Received | None:
    """Send a command frame to the terminal; its answer, or None when none came in time."""
    since = platform.now
    await platform.send(Frame(cmd, 0xFE, tbox.vin, body, tbox.edition), plain=plain)
    try:
        return await platform.next(cmd, answer_within or within(timers), since=since,
                                   where=lambda r: r.frame.is_response)
    except TimeoutError:
        return None


async def command(platform: ScriptedPlatform, tbox: TerminalSut, timers: Timers, cmd: int, body: dict[str, Any],
                  *, answer_within: float | None = None) -> Received | None:
    """Send a query/set/control to the terminal; its answer, or None when none came in time."""
    return await _ask(platform, tbox, timers, cmd, _body(**body), answer_within)


async def query(platform: ScriptedPlatform, tbox: TerminalSut, timers: Timers, ids: list[int]) -> dict[int, Any]:
    """The terminal's answer to a parameter query, as id -> value (AssertionError when unanswered)."""
    answer = await command(platform, tbox, timers, 0x80, {"ids": ids})
    assert answer is not None, f"no answer to the parameter query {[hex(i) for i in ids]}"
    assert answer.frame.ack == 0x01, f"the query was answered with flag 0x{answer.frame.ack:02X}"
    return {p["id"]: p["value"] for p in answer.frame.body["params"]}


async def set_params(platform: ScriptedPlatform, tbox: TerminalSut, timers: Timers,
                     values: dict[int, Any]) -> Received | None:
    params = [{"id": k, "value": v} for k, v in values.items()]
    return await command(platform, tbox, timers, 0x81, {"params": params})


async def control(platform: ScriptedPlatform, tbox: TerminalSut, timers: Timers, cmd: int,
                  params: Any = None) -> Received | None:
    body: dict[str, Any] = {"command": cmd, "params": b"" if params is None else params}
    return await command(platform, tbox, timers, 0x82, body)


# ---------------------------------------------------------------- data-unit encryption (docs/crypto.md)
def claimed_cipher(pics: dict[str, Any]) -> int:
    """The data-unit cipher a key-exchange case uses: SM4 (the 2025 cipher) when the PICS claims it, else
    AES; N/A when it claims neither."""
    for encryption, name in ((crypto.SM4, "sm4"), (crypto.AES, "aes")):
        if pics_claims(pics, f"encryption.{name}"):
            return encryption
    pytest.skip("N/A: the PICS claims neither encryption.sm4 nor encryption.aes")


def encrypted(platform: ScriptedPlatform, tbox: TerminalSut, topology: Topology, pics: dict[str, Any],
              encryption: int) -> crypto.FrameCrypto:
    """Put both ends under the terminal's initial data-unit key (the rig's crypto vehicle of its VIN: fresh
    for the simulator, the PIXIT's for a T-Box; INCONC when unknown), before it is powered on. Returns the
    platform's crypto (the keys the harness reads the terminal's frames with)."""
    rig = topology.extra["terminal_rig"]
    v = rig.crypto_vehicle(tbox.vin)
    keys = rig.keys.keys_for(v)
    if keys.for_byte(encryption) is None:
        raise StimulusUnavailable(f"the PIXIT gives no {'SM4' if encryption == crypto.SM4 else 'AES'} key for the "
                                  f"terminal {tbox.vin} (crypto.vehicles): this case cannot decide")
    node = (pics.get("features") or {}).get("encryption") or {}
    options = crypto.CryptoOptions.from_pics(pics) if isinstance(node, dict) and node.get("options") \
        else rig.keys.options
    # two instances: the simulated terminal replaces the keys of its own in place on a key exchange
    tbox.use_crypto(crypto.FrameCrypto(keys=keys, options=options, encryption=encryption))
    platform.crypto = crypto.FrameCrypto(keys=keys, options=options, encryption=encryption)
    return platform.crypto


def readable_under(r: Received, fc: crypto.FrameCrypto) -> bool:
    """Whether a frame travelled under `fc`'s encryption byte and its data unit decrypts and decodes with
    `fc`'s keys (a plaintext frame is not 'readable under' a key)."""
    if r.frame.encryption != fc.encryption:
        return False
    try:
        fc.open(r.raw)
    except crypto.DecryptionError:
        return False
    return True


async def exchange_key(platform: ScriptedPlatform, tbox: TerminalSut, timers: Timers, key_type: int, key: bytes,
                       *, valid_from: float = -60.0, valid_for: float = 3600.0,
                       plain: bool = False) -> Received | None:
    """Send a 2025 key exchange 0x0B (T31) with a window of [now + valid_from, now + valid_for] (Beijing
    time), sealed under the platform's current key unless `plain`; the terminal's answer, or None."""
    body = {"key_type": key_type, "key": key, "valid_from": now_time(valid_from), "expires": now_time(valid_for)}
    return await _ask(platform, tbox, timers, 0x0B, body, plain=plain)
