"""Resource abuse against the platform SUT, each bounded in time and count: slowloris senders, a 65531 length
then silence, many half-open connections, a login storm. The platform stays up, frees what the abusers hold
(the idle close of B.2.7 counts whole frames, not bytes) and keeps serving a good vehicle meanwhile."""

import asyncio

from harness.protocol.codec import assemble
from scenarios.gbt32960_3 import builders as b
from scenarios.kit import answer_timeout, case, logged_in, role

SLOW_LINKS = 20
HALF_OPEN = 2000  # "thousands of half-open connections" (issue 6); the fleet opens them at once
STORM_LOGINS = 10  # per vehicle of the edition


async def _good_vehicle_served(topology, fleet, timers, expect, edition) -> None:
    good = topology.vehicle(public=False, edition=edition, index=0)
    link = await logged_in(fleet, good, timers)
    answer = await b.heartbeat_answered(link, good, timers)
    expect.equal("good vehicle heartbeat", (0x07, 0x01), (answer.command, answer.ack))


def _endless_header(edition: int) -> bytes:
    """A frame header that announces the largest data unit (65531 bytes) that never comes."""
    return assemble(edition, 0x02, 0xFE, "LSLOW000000000001", bytes(65531))[:24]


async def _all_closed(links, within: float) -> list[bool]:
    return list(await asyncio.gather(*(link.closed_within(within) for link in links)))


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.7/20",
      requirement="Robustness: slowloris senders (a frame trickled a byte at a time that never completes) do not "
                  "keep their links: the platform closes them after its idle time, since no frame arrived, and "
                  "serves a good vehicle meanwhile (B.2.7; design §3.7).")
async def test_slowloris(topology, fleet, timers, expect, edition):
    links = [await fleet.link(f"slowloris {k}") for k in range(SLOW_LINKS)]
    head = _endless_header(edition)
    stop = asyncio.Event()

    async def trickle(link) -> None:
        k = 0
        while not stop.is_set():
            try:
                link.writer.write(head[k % len(head):k % len(head) + 1] if k < len(head) else b"\x00")
                await link.writer.drain()
            except (ConnectionError, OSError):
                return
            k += 1
            try:
                await asyncio.wait_for(stop.wait(), timers.tick * 5)
            except TimeoutError:
                pass

    tasks = [asyncio.create_task(trickle(link)) for link in links]
    try:
        await _good_vehicle_served(topology, fleet, timers, expect, edition)
        closed = await _all_closed(links, timers.idle_timeout * 2 + 1)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    expect.count("slowloris links", SLOW_LINKS)
    expect.equal("slowloris links closed", SLOW_LINKS, sum(closed), "trickling links kept open")
    await _good_vehicle_served(topology, fleet, timers, expect, edition)


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.7/21",
      requirement="Robustness: a header announcing a 65531-byte data unit followed by silence does not hold the "
                  "link or the platform: the link is closed after the idle time and a good vehicle is served "
                  "(§6.2 length 0-65531, B.2.7; design §3.7).")
async def test_max_length_then_silence(topology, fleet, timers, expect, edition):
    link = await fleet.link("max length then silence")
    await link.send(_endless_header(edition) + bytes(1000))
    await _good_vehicle_served(topology, fleet, timers, expect, edition)
    within = timers.idle_timeout * 2 + 1
    expect.true(await link.closed_within(within), f"the stalled link was still open after {within:g} s",
                path="link.closed", expected=True, actual=False)


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.7/22",
      requirement=f"Robustness: {HALF_OPEN} connections that open and never send do not stop the platform "
                  "serving a good vehicle, and are closed after the idle time (B.2.7; design §3.7).")
async def test_many_half_open_connections(topology, fleet, timers, expect, edition):
    links = await asyncio.gather(*(fleet.link(f"half-open {k}") for k in range(HALF_OPEN)))
    expect.count("half-open connections", len(links))
    await _good_vehicle_served(topology, fleet, timers, expect, edition)
    closed = await _all_closed(links, timers.idle_timeout * 2 + 1)
    expect.equal("half-open closed", HALF_OPEN, sum(closed), "silent connections were kept open")


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.7/23",
      requirement="Robustness: a login storm (each vehicle of the edition logging in from many connections at "
                  "once) gets every login answered 0x01 and leaves one open link per vehicle, the others closed as "
                  "replaced (B.1, B.2.7); the platform keeps serving.")
async def test_login_storm(topology, fleet, timers, expect, edition):
    vehicles = [v for v in topology.vehicles if v.edition == edition]
    pairs = [(v, await fleet.link(f"storm {v.vin} #{k}")) for v in vehicles for k in range(STORM_LOGINS)]
    await asyncio.gather(*(link.send(b.login(v, serial=100 + k % STORM_LOGINS)) for k, (v, link) in enumerate(pairs)))

    async def answer(link) -> int:
        try:
            return (await link.receive(answer_timeout(timers) * 3)).ack
        except ConnectionError:
            return -1  # replaced before its answer could be read: the answer was still sent first

    acks = await asyncio.gather(*(answer(link) for _, link in pairs))
    expect.count("storm logins", len(pairs))
    expect.count("closed before their answer was read", acks.count(-1))
    expect.equal("unanswered or refused logins", 0, sum(a not in (0x01, -1) for a in acks))
    closed = await _all_closed([link for _, link in pairs], answer_timeout(timers))
    for v in vehicles:
        still_open = sum(not c for (w, _), c in zip(pairs, closed, strict=True) if w is v)
        expect.equal(f"open links of {v.vin}", 1, still_open, "replaced connections were not closed")
    await _good_vehicle_served(topology, fleet, timers, expect, edition)
