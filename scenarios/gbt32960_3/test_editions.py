"""Edition behaviour from the platform's side: 2025 activation 0x09/0x0A results (T B.3/B.4), 2025 key
exchange 0x0B frames and flow (T31; the cryptography itself is another catalogue's), and a platform
configured for the 2016 edition only, which answers a 2025 `$$` frame as its PICS says."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time

from harness.protocol.codec import Frame, encode
from harness.protocol.schema import Timestamp
from harness.wire import RawLink
from scenarios.gbt32960_3 import builders as b
from scenarios.kit import GMT8, answer_timeout, case, logged_in, role

_CHIPS = itertools.count(1)


def _chip() -> str:
    """A chip id (STRING 16) no other activation of this run carries."""
    return f"CHIP{time.time_ns() % 10**8:08d}{next(_CHIPS):04d}"


def _chip_of(vin: str) -> str:
    """The chip id of a vehicle's own terminal (the same every time: re-activating it is no conflict)."""
    return "T" + vin[-15:]


def _activation(vin: str, chip: str) -> bytes:
    body = {"time": b.fresh_time(), "chip_id": chip, "public_key": bytes(range(64)), "vin": vin,
            "algorithm": 2, "r": bytes(256), "s": b""}
    return encode(Frame(0x09, vin=vin, edition=2025, body=body))


async def _activate(link: RawLink, vin: str, chip: str, timers) -> tuple[int, int, Frame]:
    await link.send(_activation(vin, chip))
    while True:
        answer = await link.receive(answer_timeout(timers))
        if answer.command == 0x0A:
            return answer.body["status"], answer.body["info"], answer


@role("enterprise")
@case("GBT32960.3-2025/B.3/02",
      requirement="The activation 0x09 of a registered vehicle whose chip is not activated for another vehicle is "
                  "answered with activation result 0x0A for that VIN: status 01 (success), info 00 (T B.3/B.4).")
async def test_activation_success(topology, fleet, timers, expect):
    v = topology.vehicle(public=True, region=topology.region, edition=2025, index=1)
    link = await logged_in(fleet, v, timers)
    status, info, answer = await _activate(link, v.vin, _chip_of(v.vin), timers)
    expect.equal("answer.vin", v.vin, answer.vin)
    expect.equal("answer.ack", 0xFE, answer.ack, "activation result 0x0A is sent as a command")
    expect.equal("answer.status/info", (1, 0), (status, info), "a first activation was not a success")


@role("enterprise")
@case("GBT32960.3-2025/B.3/03",
      requirement="An activation whose chip is already activated for another vehicle fails: 0x0A status 02, info "
                  "01 'chip already activated' (T B.4).")
async def test_activation_chip_taken(topology, fleet, timers, expect):
    owner = topology.vehicle(public=True, region=topology.region, edition=2025, index=0)
    other = topology.vehicle(public=True, region="310000", edition=2025)
    link = await logged_in(fleet, owner, timers)
    first = await _activate(link, owner.vin, _chip_of(owner.vin), timers)
    expect.equal("owner.status/info", (1, 0), first[:2], "the chip's own vehicle could not activate it")
    link2 = await logged_in(fleet, other, timers)
    status, info, _ = await _activate(link2, other.vin, _chip_of(owner.vin), timers)
    expect.equal("answer.status/info", (2, 1), (status, info),
                 "a chip activated for another vehicle was activated again")


@role("enterprise")
@case("GBT32960.3-2025/B.3/04",
      requirement="An activation of a vehicle already activated with another chip fails: 0x0A status 02, info 02 "
                  "'VIN duplicate' (T B.4).")
async def test_activation_vin_duplicate(topology, fleet, timers, expect):
    v = topology.vehicle(public=True, region="310000", edition=2025)
    link = await logged_in(fleet, v, timers)
    first = await _activate(link, v.vin, _chip_of(v.vin), timers)
    expect.equal("first.status/info", (1, 0), first[:2], "the vehicle's own chip could not be activated")
    status, info, _ = await _activate(link, v.vin, _chip(), timers)
    expect.equal("answer.status/info", (2, 2), (status, info), "a second chip was activated for the same VIN")


def _key_exchange(vin: str, expires_in: float) -> bytes:
    now = dt.datetime.now(GMT8).replace(microsecond=0)
    body = {"key_type": 5, "key": bytes(range(16)), "valid_from": Timestamp.from_datetime(now - dt.timedelta(hours=1)),
            "expires": Timestamp.from_datetime(now + dt.timedelta(seconds=expires_in))}
    return encode(Frame(0x0B, vin=vin, edition=2025, body=body))


async def _answer_to(link: RawLink, command: int, timers) -> bytes:
    while True:
        raw = await link.receive_raw(answer_timeout(timers))
        if raw[2] == command:
            return raw


@role("enterprise")
@case("GBT32960.3-2025/T31/01",
      requirement="A key exchange 0x0B from a logged-in vehicle (key type, key length, key, valid-from and expiry "
                  "times; T31) with a key valid now is answered 0x0B with flag 0x01 in the 2025 framing; its data "
                  "unit has no leading time, so the answer repeats it (Annex B answer style).")
async def test_key_exchange_answered(topology, fleet, timers, expect):
    v = topology.vehicle(public=False, edition=2025)
    link = await logged_in(fleet, v, timers)
    sent = _key_exchange(v.vin, 86400)
    await link.send(sent)
    raw = await _answer_to(link, 0x0B, timers)
    expect.equal("answer.start", b"$$", raw[:2])
    expect.equal("answer.ack", 0x01, raw[3], "a valid key exchange was not accepted")
    expect.equal("answer.vin", sent[4:21], raw[4:21])
    expect.equal("answer.unit", sent[24:-1], raw[24:-1], "the answer does not repeat the key exchange's data unit")


@role("enterprise")
@case("GBT32960.3-2025/T31/02",
      requirement="A key exchange whose key has already expired (expiry time before now) is refused: answered 0x0B "
                  "with an error flag, not 0x01 (T31, 6.3.2 T4).")
async def test_expired_key_refused(topology, fleet, timers, expect):
    v = topology.vehicle(public=False, edition=2025)
    link = await logged_in(fleet, v, timers)
    await link.send(_key_exchange(v.vin, -3600))
    raw = await _answer_to(link, 0x0B, timers)
    expect.true(raw[3] not in (0x01, 0xFE), f"an expired key was answered 0x{raw[3]:02X}", path="answer.ack",
                expected="an error flag", actual=raw[3])


async def _foreign_answer(link: RawLink, mode: str, timers, expect, what: str) -> None:
    """The answer to a 2025 frame as the PICS says: error -> a flag other than 0x01; drop -> none."""
    if mode == "drop":
        expect.true(await link.silent_for(answer_timeout(timers)), f"a {what} was answered, the PICS says drop",
                    path="answer", expected="none", actual="an answer")
        return
    raw = await link.receive_raw(answer_timeout(timers))
    expect.true(raw[3] not in (0x01, 0xFE), f"a {what} was answered 0x{raw[3]:02X}, not with an error flag",
                path="answer.ack", expected="0x02 (PICS foreign_edition: error)", actual=raw[3])


@role("enterprise")
@case("GBT32960.3-2025/6.2/10",
      requirement="A platform configured for the 2016 edition only answers a 2025 '$$' vehicle login as its PICS "
                  "says (error flag, or no answer), does not log the vehicle in or keep the frame, and keeps the "
                  "link: a 2016 login on it is then served (T2 start symbol; PICS foreign_edition).")
async def test_2016_only_refuses_2025_login(sut_2016_only, topology, wire, timers, expect):
    v25 = topology.vehicle(public=False, edition=2025)
    v16 = topology.vehicle(public=False, edition=2016)
    link = await RawLink.open(sut_2016_only.host, sut_2016_only.port, wire, "vehicle -> 2016-only platform")
    try:
        login = b.login(v25)
        await link.send(login)
        await _foreign_answer(link, sut_2016_only.foreign_edition, timers, expect, "2025 login")
        if sut_2016_only.frames is not None:
            kept = await asyncio.to_thread(sut_2016_only.frames, v25.vin)
            expect.equal("stored 2025 frames", 0, len(kept), "the 2016-only platform kept a 2025 frame")
        await link.send(b.login(v16))
        answer = await link.receive(answer_timeout(timers))
        expect.equal("2016 login", (0x01, 0x01), (answer.command, answer.ack), "the 2016 login was not served")
    finally:
        await link.close()


@role("enterprise")
@case("GBT32960.3-2025/6.2/11",
      requirement="On a platform configured for the 2016 edition only, a logged-in 2016 vehicle's real-time data "
                  "framed as 2025 ('$$') is answered as the PICS says and not kept; the vehicle's 2016 frames "
                  "are still served on the same link (T2 start symbol; PICS foreign_edition).")
async def test_2016_only_refuses_2025_data(sut_2016_only, topology, wire, timers, expect):
    v16 = topology.vehicle(public=False, edition=2016)
    link = await RawLink.open(sut_2016_only.host, sut_2016_only.port, wire, "vehicle -> 2016-only platform")
    try:
        await link.send(b.login(v16))
        expect.equal("login.ack", 0x01, (await link.receive(answer_timeout(timers))).ack)
        as_2025 = b.realtime(type(v16)(v16.vin, v16.public_service, v16.region, 2025))
        await link.send(as_2025)
        await _foreign_answer(link, sut_2016_only.foreign_edition, timers, expect, "2025 real-time frame")
        if sut_2016_only.frames is not None:
            kept = [f for f in await asyncio.to_thread(sut_2016_only.frames, v16.vin) if f == as_2025]
            expect.equal("stored 2025 frames", 0, len(kept), "the 2016-only platform kept a 2025 frame")
        answer = await b.heartbeat_answered(link, v16, timers)
        expect.equal("heartbeat", (0x07, 0x01), (answer.command, answer.ack), "the 2016 link is no longer served")
    finally:
        await link.close()
