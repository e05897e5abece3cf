"""NOTICE-2016 1.2/g, 2.2/c, 2.2/d: access to monitoring data, and no collection beyond the standard.

- no data is accepted or relayed before login (vehicle login 0x01 at the enterprise platform; platform
  login 0x05 at a local or national platform);
- an unknown platform is refused (a wrong password: GBT32960.3-2016/5.1/02, not repeated here);
- private and other-region vehicles never reach a local platform: NOTICE-2016/1.2/g/01 (test_forwarding);
- 2.2/c: a local platform SUT demands nothing outside GB/T 32960 (no custom commands 0xC0-0xFE, no
  query/set/control of the enterprise link); an enterprise SUT relays custom data units (0x80-0xFE)
  only when the PICS says the peers agreed to them (`custom_units.agreed`).
"""

from __future__ import annotations

from typing import Any

from harness.plugin import pics_claims
from harness.protocol.codec import COMMAND_FLAG, Frame, decode, encode
from harness.wire import LinkClosed
from scenarios.kit import (
    answer_timeout,
    case,
    eventually,
    logged_in,
    now_time,
    realtime_frame,
    relay_deadline,
    role,
    vehicle_item,
)

UNKNOWN_PLATFORM = "NOT-A-PLATFORM-01"
STRANGER_VIN = "LSTRANGER00000001"



def platform_login(topology: Any, platform_id: str, password: str) -> bytes:
    user, _ = topology.credentials
    body = {"time": now_time(), "serial": 1, "username": user, "password": password, "encryption_rule": 1}
    return encode(Frame(0x05, vin=platform_id, body=body))


def relayed(vin: str, second: int = 0, items: list[dict] | None = None, edition: int = 2016) -> bytes:
    """A real-time frame as an enterprise platform relays it to the SUT (the harness plays that platform)."""
    import datetime as dt

    from harness.protocol.schema import Timestamp

    t = Timestamp.from_datetime(now_time().to_datetime() + dt.timedelta(seconds=second))
    return encode(Frame(0x02, vin=vin, edition=edition, body={"time": t, "items": items or [vehicle_item(edition)]}))


@role("enterprise")
@case("NOTICE-2016/1.2/g/40",
      requirement="Real-time data from a vehicle that has not logged in (0x01) is neither stored nor relayed to the "
                  "local platform (notice 1.2(7); GB/T 32960.3 Annex B.1: login first).")
async def test_no_data_before_vehicle_login(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=True, region=topology.region, edition=edition)
    early = await fleet.link(f"vehicle {v.vin} (not logged in)")
    before = realtime_frame(v, 900)
    await early.send(before)
    answer = await early.receive(answer_timeout(timers))
    expect.equal("answer.ack", 0x02, answer.ack, "data before login was not answered with the error flag")
    # a logged-in frame of the same vehicle shows the store and the relay ran; only then is absence meaningful
    link = await logged_in(fleet, v, timers)
    control = realtime_frame(v, 901)
    await link.send(control)
    ran = await eventually(lambda: any(f.raw == control for f in topology.local.frames(vin=v.vin)),
                           relay_deadline(timers))
    expect.true(ran, "the logged-in frame was not relayed either: cannot judge", path="local.frames")
    expect.equal("sut.frames[before login]", 0, sum(f.raw == before for f in topology.sut.frames(vin=v.vin)),
                 "data sent before login was stored")
    expect.equal("local.frames[before login]", 0, sum(f.raw == before for f in topology.local.frames(vin=v.vin)),
                 "data sent before login was relayed")


@role("local", "national")
@case("NOTICE-2016/1.2/g/41",
      requirement="A platform login 0x05 from a platform the SUT issued no credentials to is refused with flag 0x02, "
                  "and data it sends afterwards is refused and not stored (GB/T 32960.3 §5.1, T21; notice 1.2(7), "
                  "2.2(4)).")
async def test_unknown_platform_refused(topology, fleet, timers, expect):
    link = await fleet.link(f"platform {UNKNOWN_PLATFORM}")
    await link.send(platform_login(topology, UNKNOWN_PLATFORM, topology.credentials[1]))
    answer = await link.receive(answer_timeout(timers))
    expect.equal("answer.ack", 0x02, answer.ack, "a platform with no credentials here was accepted")
    data = relayed(STRANGER_VIN, 1)
    await link.send(data)
    answer = await link.receive(answer_timeout(timers))
    expect.equal("data answer.ack", 0x02, answer.ack, "data from a refused platform was answered 0x01")
    expect.equal("sut.frames[stranger]", 0, sum(f.raw == data for f in topology.sut.frames(vin=STRANGER_VIN)),
                 "data from a refused platform was stored")


@role("local", "national")
@case("NOTICE-2016/1.2/g/42",
      requirement="Relayed data sent on a platform link before its login 0x05 is refused with flag 0x02 and not "
                  "stored; data on a logged-in platform link is accepted (GB/T 32960.3 §5.1-5.2; notice 2.2(4)).")
async def test_no_data_before_platform_login(topology, fleet, timers, expect):
    link = await fleet.link(f"platform {topology.platform_id}")
    early = relayed(STRANGER_VIN, 2)
    await link.send(early)
    answer = await link.receive(answer_timeout(timers))
    expect.equal("answer.ack", 0x02, answer.ack, "data before the platform login was answered 0x01")
    # a fresh link logs in: the SUT may take a link's first frame to say what kind of peer it is
    link = await fleet.link(f"platform {topology.platform_id} (logged in)")
    await link.send(platform_login(topology, topology.platform_id, topology.credentials[1]))
    login = await link.receive(answer_timeout(timers))
    expect.equal("login answer.ack", 0x01, login.ack, "the harness's own platform login was refused: cannot judge")
    later = relayed(STRANGER_VIN, 3)
    await link.send(later)
    answer = await link.receive(answer_timeout(timers))
    expect.equal("later answer.ack", 0x01, answer.ack, "data after the platform login was not accepted")
    stored = [f.raw for f in topology.sut.frames(vin=STRANGER_VIN)]
    expect.true(later in stored, "data after the login was not stored: cannot judge", path="sut.frames")
    expect.equal("sut.frames[before login]", 0, stored.count(early), "data sent before the platform login was stored")


@role("local")
@case("NOTICE-2016/2.2/c/01",
      requirement="The local platform requests nothing outside GB/T 32960: on a logged-in enterprise link that "
                  "relays data with custom data units it sends only answers, never a custom command (0xC0-0xFE) "
                  "or a query/set/control of its own (notice 2.2(3); GB/T 32960.3 §5, T1).")
async def test_local_platform_requests_no_custom_data(topology, fleet, timers, expect):
    link = await fleet.link(f"platform {topology.platform_id}")
    await link.send(platform_login(topology, topology.platform_id, topology.credentials[1]))
    frames = [relayed(STRANGER_VIN, 10 + s, [vehicle_item(2016), {"type": 0x80, "data": b"\x01\x02oem"}])
              for s in range(3)]
    for f in frames:
        await link.send(f)
    received: list[bytes] = []
    window = relay_deadline(timers)
    while True:
        try:
            received.append(await link.receive_raw(window))  # raw: a custom command need not decode
        except (TimeoutError, LinkClosed):
            break
        window = timers.report_period * 4  # quiet this long after the last frame: the SUT has said its piece
    answers = [(raw[2], raw[3]) for raw in received]
    expect.equal("answers", [(0x05, 0x01)] + [(0x02, 0x01)] * 3,
                 [a for a in answers if a[1] != COMMAND_FLAG], "the login and the data were not answered 0x01")
    demands = [f"0x{c:02X}" for c, a in answers if a == COMMAND_FLAG]
    expect.equal("sut commands", [], demands, "the local platform sent commands of its own on the enterprise link")


@role("enterprise")
@case("NOTICE-2016/2.2/c/02",
      requirement="The enterprise platform relays custom data units (0x80-0xFE) to the local platform only when the "
                  "PICS says the peers agreed to them (custom_units.agreed); otherwise the relayed frame carries "
                  "the standard units, unchanged, and no custom unit (notice 2.2(3); GB/T 32960.3 7.2 T7). 2016 "
                  "only: a 2025 frame is signed over its whole data unit and cannot be trimmed.")
async def test_custom_units_relayed_only_when_agreed(topology, fleet, timers, expect, pics):
    agreed = pics_claims(pics, "custom_units.agreed")
    restore = _reference_custom_units(topology, agreed)
    try:
        await _custom_units_case(topology, fleet, timers, expect, agreed)
    finally:
        if restore is not None:
            _reference_custom_units(topology, restore)


def _reference_custom_units(topology: Any, agreed: bool) -> bool | None:
    """Configure the embedded reference SUT as the PICS claims (relay_custom_units); returns the old
    setting, None when the SUT is not ours to configure."""
    server = getattr(topology.sut, "server", None)
    if server is None:
        return None

    def swap() -> bool:
        old = server.core.cfg.relay_custom_units
        server.core.cfg.relay_custom_units = agreed
        return old

    return topology.sut._on_loop(swap)


async def _custom_units_case(topology: Any, fleet: Any, timers: Any, expect: Any, agreed: bool) -> None:
    v = topology.vehicle(public=True, region=topology.region, edition=2016)
    link = await logged_in(fleet, v, timers)
    standard = [vehicle_item(2016)]
    custom = [{"type": 0x80, "data": b"\x01\x02oem-private"}, {"type": 0xFE, "data": b"\x00\x00"}]
    sent = realtime_frame(v, 700 + 50 * agreed)
    body = decode(sent).body
    sent = encode(Frame(0x02, vin=v.vin, edition=2016, body=dict(body, items=standard + custom)))
    await link.send(sent)
    when = str(body["time"])
    local = topology.local
    got = await eventually(lambda: any(f.collected_at == when for f in local.frames(vin=v.vin, commands=(0x02,))),
                           relay_deadline(timers))
    expect.true(got, "the frame was not relayed at all", path="local.frames")
    relayed_raw = [f.raw for f in local.frames(vin=v.vin, commands=(0x02,)) if f.collected_at == when][-1]
    if agreed:
        expect.equal("local.frames.raw", sent.hex(), relayed_raw.hex(), "the agreed custom units were not relayed "
                                                                         "byte for byte")
        return
    items = decode(relayed_raw).body["items"]
    expect.equal("relayed item types", [0x01], [i["type"] for i in items],
                 "custom data units were relayed though the PICS does not say the peers agreed")
    expect.equal("relayed standard units", encode(Frame(0x02, vin=v.vin, edition=2016, body=dict(
        body, items=standard))).hex(), relayed_raw.hex(), "the standard data units changed in the relay")


@role("local", "national")
@case("NOTICE-2016/2.2/d/01",
      requirement="The local (or national) platform's query returns exactly the relayed frames it received and "
                  "answered: each once, byte for byte (SHA-256 against the harness's evidence), custom units "
                  "included as received (notice 2.2(4): the local platform keeps its data secure; GB/T 32960.3 "
                  "§5.2.2).")
async def test_received_relays_stored_exactly(topology, fleet, timers, expect, wire, control):
    import hashlib

    link = await fleet.link(f"platform {topology.platform_id}")
    await link.send(platform_login(topology, topology.platform_id, topology.credentials[1]))
    login = await link.receive(answer_timeout(timers))
    expect.equal("login answer.ack", 0x01, login.ack, "the harness's platform login was refused: cannot judge")
    vin = "LRELAYED000000001"
    frames = [relayed(vin, 100 + s) for s in range(4)]
    frames.append(relayed(vin, 104, [vehicle_item(2016), {"type": 0x80, "data": b"\x01\x02oem"}]))
    for f in frames:
        await link.send(f)
        answer = await link.receive(answer_timeout(timers))
        expect.equal("data answer", (0x02, 0x01), (answer.command, answer.ack), "a relayed frame was not accepted")
    want = sorted(hashlib.sha256(w.raw).hexdigest() for w in wire.frames
                  if w.direction == "->" and w.raw[2:3] == b"\x02" and w.raw[4:21] == vin.encode())
    expect.equal("harness evidence frames", len(frames), len(want), "the harness's own record is incomplete")
    rows = control.query_frames(vin=vin, commands=(0x02, 0x03), decode=False)["frames"]
    got = sorted(hashlib.sha256(bytes(r["raw"])).hexdigest() for r in rows)
    expect.count("frames relayed", len(want))
    expect.count("frames returned by the query", len(got))
    expect.equal("QueryFrames[*].raw (sha256)", want, got,
                 "the platform's query does not return exactly the frames it accepted")
