"""NOTICE-2016 1.2/g and 2.2/d: stored monitoring data is neither lost, altered nor destroyed.

The platform's own query (Control QueryFrames, what an operator or investigator reads back) must
return exactly the frames it received: every one, once, byte for byte. The expectation is the
harness's own evidence: SHA-256 of every data frame the `wire` recorded leaving the vehicles' links.
A restart uses the topology's restart (the same SQLite file and ports); a backend that cannot
restart the SUT gives INCONC.
"""

from __future__ import annotations

import hashlib
from typing import Any

from harness.plugin import control_of
from scenarios.kit import answer_timeout, case, eventually, logged_in, realtime_frame, role, vehicle_item

FRAMES = 6


def sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def sent_by_harness(wire: Any, vin: str) -> list[str]:
    """Hashes of the data frames (0x02/0x03) the harness sent for `vin`, from its own evidence."""
    return [sha(f.raw) for f in wire.frames if f.direction == "->" and len(f.raw) > 24 and f.raw[2] in (2, 3)
            and f.raw[4:21].decode("ascii", "replace") == vin]


def queried(control: Any, vin: str) -> list[str]:
    """Hashes of the vehicle's data frames as the platform's query returns them (oldest first)."""
    rows = control.query_frames(vin=vin, commands=(0x02, 0x03), decode=False)["frames"]
    return [sha(bytes(r["raw"])) for r in rows]


async def send_mixed(fleet: Any, v: Any, timers: Any, offset: int) -> None:
    """Real-time frames, a reissue and one with custom data units: every kind a platform stores."""
    from harness.protocol.codec import Frame, decode, encode

    link = await logged_in(fleet, v, timers)
    for s in range(FRAMES - 2):
        await link.send(realtime_frame(v, offset + s))
    await link.send(realtime_frame(v, offset - 3600, command=0x03))  # reissue of an hour ago
    plain = realtime_frame(v, offset + FRAMES)
    body = decode(plain).body
    custom = dict(body, items=[vehicle_item(v.edition), {"type": 0x80, "data": b"\x01\x02oem"}])
    await link.send(encode(Frame(0x02, vin=v.vin, edition=v.edition, body=custom)))


async def all_stored(control: Any, vin: str, want: list[str], within: float) -> bool:
    return await eventually(lambda: set(want) <= set(queried(control, vin)), within)


@role("enterprise")
@case("NOTICE-2016/1.2/g/43",
      requirement="The platform's query returns exactly what it received from a vehicle: every real-time, reissue "
                  "and custom-unit frame, once, byte for byte (SHA-256 against the harness's evidence) "
                  "(notice 1.2(7): no tampering or loss; GB/T 32960.3 B.2.1, B.2.8).")
async def test_query_returns_exactly_what_was_received(topology, fleet, timers, expect, wire, control, edition):
    v = topology.vehicle(public=False, edition=edition, index=0)
    await send_mixed(fleet, v, timers, 1200)
    want = sent_by_harness(wire, v.vin)
    expect.equal("harness evidence frames", FRAMES, len(want), "the harness's own record is incomplete")
    ok = await all_stored(control, v.vin, want, answer_timeout(timers) * 3)
    got = queried(control, v.vin)
    expect.count("frames sent", len(want))
    expect.count("frames returned by the query", len([h for h in got if h in want]))
    expect.true(ok, "the platform's query does not return every frame it received, byte for byte",
                path="QueryFrames[*].raw (sha256)", expected=sorted(want), actual=sorted(set(got) & set(want)))
    expect.equal("QueryFrames duplicates", [], sorted({h for h in want if got.count(h) > 1}),
                 "a received frame is returned more than once")


@role("enterprise")
@case("NOTICE-2016/1.2/g/44",
      requirement="After the platform restarts, every frame it had stored is still returned by its query, intact "
                  "(SHA-256 equal to the harness's evidence) and once (notice 1.2(7): no loss or destruction; "
                  "design: SQLite store).")
async def test_stored_frames_survive_a_restart(topology, fleet, timers, expect, wire, edition):
    v = topology.vehicle(public=False, edition=edition, index=0)
    await send_mixed(fleet, v, timers, 1800)
    want = sent_by_harness(wire, v.vin)
    control = control_of(topology)
    stored = await all_stored(control, v.vin, want, answer_timeout(timers) * 3)
    expect.true(stored, "the frames were not all stored before the restart: cannot judge", path="QueryFrames")
    await fleet.close()  # the vehicles' links end with the platform anyway
    topology.restart("enterprise", hard=False)
    control = control_of(topology)  # the restarted platform's Control service
    control.wait_ready(answer_timeout(timers) * 5)
    got = queried(control, v.vin)
    missing = [h for h in want if h not in got]
    expect.count("frames stored before the restart", len(want))
    expect.count("frames returned after the restart", len(want) - len(missing))
    expect.equal("QueryFrames after restart (sha256 missing or altered)", [], missing,
                 "stored frames were lost or altered by the restart")
    expect.equal("QueryFrames duplicates", [], sorted({h for h in want if got.count(h) > 1}),
                 "a stored frame is returned more than once after the restart")
