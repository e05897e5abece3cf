"""GB/T 32960.3 §6.2 (Table 2) frame structure, as a platform must take it off a TCP stream: both start
symbols, bad check codes, lengths, encryption bytes, unique ids, garbage and any segmentation. A bad
frame gets the standard's flag or is dropped, and the link keeps serving (design §3.7)."""

import asyncio

from scenarios.gbt32960_3 import builders as b
from scenarios.kit import answer_timeout, case, eventually, logged_in, role

# 2016 has one error flag; 2025 names the structure (0x06) and decryption (0x07) errors
STRUCTURE_FLAG = {2016: 0x02, 2025: 0x06}
DECRYPT_FLAG = {2016: 0x02, 2025: 0x07}


@role("enterprise")
@case("GBT32960.3-{edition}/6.2/01",
      requirement="One platform port takes frames of both editions: '##' marks a 2016 frame and '$$' a 2025 "
                  "frame, and each is answered in its own edition's framing (§6.2 T2, 2025 T2).")
async def test_both_start_symbols_on_one_port(topology, fleet, timers, expect, edition):
    for ed in (edition, 2016 if edition == 2025 else 2025):
        v = topology.vehicle(public=False, edition=ed)
        link = await fleet.link(f"vehicle {v.vin}")
        await link.send(b.login(v))
        raw = await link.receive_raw(answer_timeout(timers))
        expect.equal(f"answer[{ed}].start", b"##" if ed == 2016 else b"$$", raw[:2],
                     f"the {ed} login was answered with start symbol {raw[:2]!r}")
        expect.equal(f"answer[{ed}].ack", 0x01, raw[3])


@role("enterprise")
@case("GBT32960.3-{edition}/6.2/02",
      requirement="A frame whose check code (BCC, XOR of command id to the last data-unit byte) is wrong is not "
                  "taken as correct, and the link keeps serving the next good frame (§6.2 T2, B.1).")
async def test_bad_bcc_dropped_link_survives(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    await link.send(b.bad_bcc(b.empty(v, 0x07)))
    answer = await b.heartbeat_answered(link, v, timers)
    # the first answer must be the good heartbeat's; a success for the bad frame would come first
    expect.equal("answer.command", 0x07, answer.command)
    expect.equal("answer.ack", 0x01, answer.ack)
    expect.equal("heartbeat.ack", 0x01, (await b.heartbeat_answered(link, v, timers)).ack)


@role("enterprise")
@case("GBT32960.3-{edition}/6.2/03",
      requirement="A frame whose data-unit length disagrees with its data unit is a format error: answered with "
                  "the error flag (2016 0x02, 2025 0x06 structure error), not stored, and the link survives "
                  "(§6.2 T2, 6.3.2 T4, B.2.1).")
async def test_wrong_length_error_flag(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    good = b.realtime(v)
    short = b.with_header(good[:-2] + good[-1:], length=len(good) - 26)  # one data-unit byte short
    await link.send(short)
    answer = await link.receive(answer_timeout(timers))
    expect.equal("answer.command", 0x02, answer.command)
    expect.equal("answer.ack", STRUCTURE_FLAG[edition], answer.ack, "a data unit of the wrong length was not "
                 "answered with the structure error flag")
    expect.equal("stored", [], [f for f in topology.sut.frames(vin=v.vin) if f.raw == short])
    expect.equal("heartbeat.ack", 0x01, (await b.heartbeat_answered(link, v, timers)).ack)


@role("enterprise")
@case("GBT32960.3-{edition}/6.2/04",
      requirement="A truncated frame (the stream carries fewer bytes than its length field) followed by a good "
                  "frame: the platform resynchronises on the next start symbol and serves the good frame "
                  "(§6.2 T2; design §3.7).")
async def test_truncated_then_resync(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    await link.send(b.realtime(v)[:40])
    answer = await b.heartbeat_answered(link, v, timers)
    expect.equal("answer.command", 0x07, answer.command, "the heartbeat after a truncated frame was not served")
    expect.equal("answer.ack", 0x01, answer.ack)
    expect.equal("heartbeat.ack", 0x01, (await b.heartbeat_answered(link, v, timers)).ack)


@role("enterprise")
@case("GBT32960.3-{edition}/6.2/05",
      requirement="A data-unit encryption byte the edition reserves (0x06) is an error: answered with the error "
                  "flag (2016 0x02, 2025 0x07 decryption error) and the data is not stored (§6.2 T2, T4).")
async def test_reserved_encryption_byte(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    bad = b.with_header(b.realtime(v), encryption=0x06)
    await link.send(bad)
    answer = await link.receive(answer_timeout(timers))
    expect.equal("answer.ack", DECRYPT_FLAG[edition], answer.ack)
    expect.equal("stored.count", 0, len([f for f in topology.sut.frames(vin=v.vin) if f.raw[24:-1] == bad[24:-1]]),
                 "data with a reserved encryption byte was stored")
    expect.equal("heartbeat.ack", 0x01, (await b.heartbeat_answered(link, v, timers)).ack)


@role("enterprise")
@case("GBT32960.3-{edition}/6.2/06",
      requirement="Data whose unique id is not the 17-character VIN the link logged in with (here 16 characters, "
                  "NUL-padded) is refused with an error flag and not stored (§6.2 T2 VIN per GB 16735, B.1).")
async def test_short_vin_refused(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    short_vin = v.vin[:16]
    bad = b.realtime(type(v)(short_vin, v.public_service, v.region, v.edition))
    await link.send(bad)
    answer = await link.receive(answer_timeout(timers))
    expect.true(answer.ack not in (0x01, 0xFE), f"data under VIN {short_vin!r} answered 0x{answer.ack:02X}",
                path="answer.ack", expected="an error flag", actual=answer.ack)
    leaked = [f for f in topology.sut.frames() if f.raw == bad]
    expect.equal("stored", 0, len(leaked), "data under a 16-character VIN was stored")


@role("enterprise")
@case("GBT32960.3-{edition}/6.2/07",
      requirement="Bytes that are not a frame, between two frames, are skipped up to the next start symbol; both "
                  "frames are served and the link survives (§6.2 T2 start symbol; design §3.7).")
async def test_garbage_between_frames(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    hb = b.empty(v, 0x07)
    await link.send(hb + b"\x00\x17garbage#\x99$x" * 3 + hb)
    got = [await link.receive(answer_timeout(timers)) for _ in range(2)]
    expect.equal("answers", [(0x07, 0x01)] * 2, [(a.command, a.ack) for a in got])


@role("enterprise")
@case("GBT32960.3-{edition}/6.2/08",
      requirement="A frame split over many TCP segments is reassembled: a real-time frame sent in 12 pieces is "
                  "stored exactly, and a heartbeat sent byte by byte is answered (§6.2 T2; TCP is a byte stream).")
async def test_frame_split_across_segments(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    data = b.realtime(v)
    step = -(-len(data) // 12)
    for k in range(0, len(data), step):
        link.writer.write(data[k:k + step])
        await link.writer.drain()
        await asyncio.sleep(timers.tick)  # a pause so each piece is its own read on the platform's side
    link.wire.record(link.name, "->", data)
    hb = b.empty(v, 0x07)
    for k in range(len(hb)):
        link.writer.write(hb[k:k + 1])
        await link.writer.drain()
        await asyncio.sleep(timers.tick / 4)
    link.wire.record(link.name, "->", hb)
    answer = await link.receive(answer_timeout(timers))
    expect.equal("heartbeat.answer", (0x07, 0x01), (answer.command, answer.ack))
    stored = await eventually(lambda: any(f.raw == data for f in topology.sut.frames(vin=v.vin)),
                              answer_timeout(timers))
    expect.true(stored, "the real-time frame sent in pieces was not stored exactly", path="sut.frames")


@role("enterprise")
@case("GBT32960.3-{edition}/6.2/09",
      requirement="Several frames coalesced in one TCP segment are each handled: a login, a real-time frame and a "
                  "heartbeat in one write get the login and heartbeat answers and the data is stored (§6.2 T2).")
async def test_frames_coalesced(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await fleet.link(f"vehicle {v.vin}")
    data = b.realtime(v)
    await link.send(b.login(v) + data + b.empty(v, 0x07))
    got = [await link.receive(answer_timeout(timers)) for _ in range(2)]
    expect.equal("answers", [(0x01, 0x01), (0x07, 0x01)], [(a.command, a.ack) for a in got])
    stored = await eventually(lambda: any(f.raw == data for f in topology.sut.frames(vin=v.vin)),
                              answer_timeout(timers))
    expect.true(stored, "the real-time frame between login and heartbeat was not stored", path="sut.frames")
