"""GB/T 32960.3 Annex B session flows from the platform's side: login fields, repeated login 0x03, a
replacing connection, data before login, logout, time sync and the idle close (B.1, B.2.5-B.2.7)."""

import datetime as dt

from harness.protocol.schema import Timestamp
from scenarios.gbt32960_3 import builders as b
from scenarios.kit import GMT8, answer_timeout, case, logged_in, role


@role("enterprise")
@case("GBT32960.3-{edition}/B.1/03",
      requirement="A login 0x01 with login serial, ICCID and battery codes (2016: n subsystem codes of length m; "
                  "2025: packs per BMS and 24-byte pack codes) is answered 0x01 with the login's own time, and "
                  "the platform keeps it exactly as sent (B.1, T6; 6.3.2 keep the time).")
async def test_login_fields_kept(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition, index=0)
    link = await fleet.link(f"vehicle {v.vin}")
    frame = b.login(v, serial=7, codes=2)
    await link.send(frame)
    answer = await link.receive_raw(answer_timeout(timers))
    expect.equal("answer.ack", 0x01, answer[3])
    expect.equal("answer.time", frame[24:30], answer[24:30], "the login answer does not keep the login's time")
    stored = [f.raw for f in topology.sut.frames(vin=v.vin, commands=(0x01,))]
    expect.true(frame in stored, "the login is not stored byte for byte", path="sut.frames[0x01].raw",
                expected=frame.hex(), actual=[s.hex() for s in stored[-1:]])


@role("enterprise")
@case("GBT32960.3-{edition}/B.1/04",
      requirement="A login repeated on the same link with the same login serial is a VIN duplicate: answered "
                  "with flag 0x03 (6.3.2 T4 'VIN duplicate', B.1).")
async def test_repeated_login_flag_03(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    await link.send(b.login(v, serial=1))
    answer = await link.receive(answer_timeout(timers))
    expect.equal("answer.ack", 0x03, answer.ack, "a repeated login was not answered with 0x03")


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.7/01",
      requirement="A new connection with the same identity makes the platform close the old one (B.2.7); the new "
                  "link is served.")
async def test_new_connection_replaces_old(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    old = await logged_in(fleet, v, timers)
    new = await logged_in(fleet, v, timers)
    expect.true(await old.closed_within(answer_timeout(timers)), "the old connection was not closed",
                path="old.closed", expected=True, actual=False)
    expect.equal("new.heartbeat", (0x07, 0x01), ((a := await b.heartbeat_answered(new, v, timers)).command, a.ack))


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.1/05",
      requirement="Real-time data on a link that has not logged in is refused (error flag) and not stored "
                  "(B.1: a terminal logs in before it reports; B.2.1).")
async def test_data_before_login_refused(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition, index=0)
    link = await fleet.link(f"vehicle {v.vin} (not logged in)")
    data = b.realtime(v)
    await link.send(data)
    answer = await link.receive(answer_timeout(timers))
    expect.true(answer.ack not in (0x01, 0xFE), f"data before login answered 0x{answer.ack:02X}",
                path="answer.ack", expected="an error flag", actual=answer.ack)
    expect.equal("stored", 0, len([f for f in topology.sut.frames(vin=v.vin) if f.raw == data]),
                 "data sent before login was stored")


@role("enterprise")
@case("GBT32960.3-{edition}/B.1/05",
      requirement="After vehicle logout 0x04 (time and the login serial, T20) the vehicle is logged out: data "
                  "on that link is refused and not stored until it logs in again (B.1).")
async def test_logout_ends_session(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    bye = b.logout(v, serial=1)
    await link.send(bye)
    data = b.realtime(v)
    await link.send(data)
    answer = await link.receive(answer_timeout(timers))
    expect.true(answer.ack not in (0x01, 0xFE), f"data after logout answered 0x{answer.ack:02X}",
                path="answer.ack", expected="an error flag", actual=answer.ack)
    frames = topology.sut.frames(vin=v.vin)
    expect.true(any(f.raw == bye for f in frames), "the logout was not kept", path="sut.frames[0x04]")
    expect.equal("stored after logout", 0, len([f for f in frames if f.raw == data]), "data after logout was stored")


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.5/01",
      requirement="Terminal time sync 0x08 is answered with flag 0x01 and a 6-byte time that is the platform's "
                  "current Beijing time (B.2.5, T5; within the harness's 5 s tolerance).")
async def test_time_sync_answer_carries_time(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    await link.send(b.empty(v, 0x08))
    raw = await link.receive_raw(answer_timeout(timers))
    expect.equal("answer.command", 0x08, raw[2])
    expect.equal("answer.ack", 0x01, raw[3])
    expect.true(len(raw) >= 31, "the time-sync answer carries no time", path="answer.length", expected=6,
                actual=len(raw) - 25)
    told = Timestamp(*raw[24:30]).to_datetime().replace(tzinfo=GMT8)
    skew = abs((told - dt.datetime.now(GMT8)).total_seconds())
    expect.true(skew <= 5, f"the time-sync answer is {skew:.0f} s off Beijing time", path="answer.time",
                expected="now ± 5 s", actual=str(told))


@role("enterprise")
@case("GBT32960.3-{edition}/B.2.7/02",
      requirement="The platform closes a link that sends nothing (no heartbeat) for its configured time "
                  "(B.2.7; the PIXIT idle timeout).")
async def test_idle_link_closed(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition, index=0)
    link = await logged_in(fleet, v, timers)
    within = timers.idle_timeout * 2 + 1
    expect.true(await link.closed_within(within), f"a silent link was still open after {within:g} s",
                path="link.closed", expected=True, actual=False)


@role("enterprise")
@case("GBT32960.3-{edition}/6.3.2/01",
      requirement="A frame whose response flag is not 0xFE is itself an answer, and the receiver must not answer "
                  "it (6.3.2 T4).")
async def test_answer_not_answered(topology, fleet, timers, expect, edition):
    from harness.protocol.codec import assemble

    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    await link.send(assemble(edition, 0x07, 0x01, v.vin, b""))  # a heartbeat "answer" sent up
    answer = await b.heartbeat_answered(link, v, timers)
    expect.equal("next answer", (0x07, 0x01), (answer.command, answer.ack))
    # the heartbeat command and the answer look alike: only one answer may arrive for the two frames
    expect.true(await link.silent_for(timers.response_timeout * 2), "the answer frame was answered",
                path="answers", expected=1, actual=2)


@role("enterprise")
@case("GBT32960.3-2025/B.3/01",
      requirement="2025 activation 0x09 (time, chip id, public key, VIN, signature; T B.3) from a logged-in "
                  "registered vehicle is answered by the platform with activation result 0x0A (status, info; "
                  "T B.4) sent as a command (flag 0xFE).")
async def test_activation_answered(topology, fleet, timers, expect):
    from harness.protocol.codec import Frame, encode

    v = topology.vehicle(public=False, edition=2025)
    link = await logged_in(fleet, v, timers)
    body = {"time": b.fresh_time(), "chip_id": "CHIP000000000001", "public_key": bytes(range(64)), "vin": v.vin,
            "algorithm": 2, "r": bytes(256), "s": b""}
    await link.send(encode(Frame(0x09, vin=v.vin, edition=2025, body=body)))
    answer = await link.receive(answer_timeout(timers))
    expect.equal("answer.command", 0x0A, answer.command, "activation not answered with 0x0A")
    expect.equal("answer.ack", 0xFE, answer.ack)
    expect.true(answer.body["status"] in (1, 2), f"activation status {answer.body['status']} is not 01/02",
                path="answer.status", expected="1 or 2", actual=answer.body["status"])
