"""The terminal (T-Box) as the SUT answering the platform: parameter query 0x80 (B.2.2), parameter set
0x81 (B.2.3) including the move to a new platform address, every terminal control 0x82 (B.2.4), and the
2025 data-unit key exchange 0x0B from the platform (T31; keys and modes in docs/crypto.md).

The harness plays the enterprise platform; case numbers 51 and up are the terminal-side cases.
"""

from __future__ import annotations

import dataclasses
import statistics

from harness.protocol import crypto
from harness.protocol.messages import parameters
from harness.protocol.schema import Scalar
from harness.topology.scripted import Received, ScriptedPlatform
from scenarios.kit import case, needs, role, stall_slack
from scenarios.terminal_kit import (
    claimed_cipher,
    control,
    encrypted,
    exchange_key,
    gaps,
    login_window,
    online,
    power_off_window,
    query,
    readable_under,
    second_platform,
    set_params,
    within,
)

pytestmark = role("terminal")

ALL_PARAMS = list(range(0x01, 0x11))


def _ack(r) -> int | None:
    return None if r is None else r.frame.ack


@case("GBT32960.3-{edition}/B.2.2/51",
      requirement="B.2.2/T B.10-B.12: a query of every parameter 0x01-0x10 is answered (flag 0x01) with each "
                  "parameter asked, each value of its table size and within its range.")
async def test_query_every_parameter(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    values = await query(platform, tbox, timers, ALL_PARAMS)
    expect.equal("answer.ids", ALL_PARAMS, sorted(values))
    table = parameters(edition)
    bad = {hex(k): v for k, v in values.items()
           if isinstance(table.get(k), Scalar) and not table[k].in_range(v)}
    expect.true(not bad, f"parameters out of their range: {bad}", path="answer.values", expected="in range",
                actual=bad)


@case("GBT32960.3-{edition}/B.2.2/52",
      requirement="B.2.2/T B.10: the answer to a query lists exactly the parameters asked, no others.")
async def test_query_answers_what_was_asked(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    values = await query(platform, tbox, timers, [0x09, 0x02])
    expect.equal("answer.ids", [0x02, 0x09], sorted(values))


@case("GBT32960.3-{edition}/B.2.3/51",
      requirement="B.2.3/T B.13: a valid set of the report period 0x02 and the heartbeat period 0x09 is "
                  "answered success, a query then returns the new values, and reports follow the new period.")
async def test_set_applies(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    before = await query(platform, tbox, timers, [0x02, 0x09])
    answer = await set_params(platform, tbox, timers, {0x02: 20, 0x09: 15})
    try:
        expect.equal("set answer.ack", 0x01, _ack(answer))
        values = await query(platform, tbox, timers, [0x02, 0x09])
        expect.equal("0x02 after set", 20, values[0x02])
        expect.equal("0x09 after set", 15, values[0x09])
        since = platform.now
        await platform.wait_for(lambda: len(platform.frames(0x02, since=since)) >= 5,
                                max(within(timers, 12), 6.5 * 20 * tbox.time_scale))
        g = gaps(platform.frames(0x02, since=since))
        # the first gap may still run on the old period; then each is 20 s +-1 (1 s resolution), except that a
        # stall of the harness's loop makes our simulator's report late and the next early: judge the median
        slack = 1.0 + stall_slack(tbox.time_scale)
        new = g[1:]
        mid = statistics.median(new) if new else 0.0
        expect.count("median gap s", mid)
        expect.true(len(new) >= 3 and abs(mid - 20) <= 1 and all(abs(x - 20) <= slack for x in new),
                    f"collection-time gaps {g} s after setting the period to 20 s", path="gaps",
                    expected=f"20 (median within 1, each within {slack:g})", actual=g)
    finally:
        await set_params(platform, tbox, timers, before)  # a real terminal keeps its settings across cases


@case("GBT32960.3-{edition}/B.2.3/52",
      requirement="B.2.3/T B.12: the hardware and firmware versions 0x07/0x08 are read-only: a set of them is "
                  "not answered success and changes nothing.")
async def test_set_read_only_refused(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    before = await query(platform, tbox, timers, [0x08])
    answer = await set_params(platform, tbox, timers, {0x08: "F9.99"})
    expect.true(_ack(answer) != 0x01, "a set of read-only 0x08 was answered success", path="set answer.ack",
                expected="0x02 or none", actual=_ack(answer))
    after = await query(platform, tbox, timers, [0x08])
    expect.equal("0x08", before[0x08], after[0x08])


@case("GBT32960.3-{edition}/B.2.3/53",
      requirement="B.2.3/T B.13: when any item of a set is invalid the whole set is refused: no success answer, "
                  "and the valid items are not applied either.")
async def test_set_all_or_nothing(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    before = await query(platform, tbox, timers, [0x09])
    answer = await set_params(platform, tbox, timers, {0x09: before[0x09] % 200 + 7, 0x02: 0})  # 0x02 >= 1
    expect.true(_ack(answer) != 0x01, "a set with an invalid report period 0 was answered success",
                path="set answer.ack", expected="0x02 or none", actual=_ack(answer))
    after = await query(platform, tbox, timers, [0x09])
    expect.equal("0x09 (the valid item of the refused set)", before[0x09], after[0x09])


def _address(host: str, port: int, ids: tuple[int, int, int] = (0x04, 0x05, 0x06)) -> dict[int, object]:
    return {ids[0]: len(host.encode()), ids[1]: host, ids[2]: port}


def _writable(edition: int) -> dict[int, object]:
    """A new valid value for every writable parameter except the platform address (its own cases)."""
    values: dict[int, object] = {0x01: 5000, 0x02: 20, 0x03: 500 if edition == 2016 else 1, 0x09: 15,
                                 0x0A: 12, 0x0B: 12, 0x0C: 5, 0x0D: len(b"127.0.0.9"), 0x0E: "127.0.0.9",
                                 0x0F: 32961, 0x10: 0x02}
    table = parameters(edition)
    assert all(table[k].in_range(v) for k, v in values.items() if isinstance(table[k], Scalar))
    return values


@case("GBT32960.3-{edition}/B.2.3/56",
      requirement="B.2.3/T B.12-B.13: a set of each writable parameter (0x01-0x03, 0x09-0x0C, the public "
                  "platform 0x0D-0x0F, 0x10) on its own is answered success and a query then returns the new value.")
async def test_set_every_writable_parameter(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    wanted = _writable(edition)
    before = await query(platform, tbox, timers, sorted(wanted))
    groups = [[0x0D, 0x0E], *([k] for k in sorted(wanted) if k not in (0x0D, 0x0E))]  # a domain goes with its length
    refused, differ = [], {}
    try:
        for ids in groups:
            answer = await set_params(platform, tbox, timers, {k: wanted[k] for k in ids})
            if _ack(answer) != 0x01:
                refused.append([hex(k) for k in ids])
                continue
            got = await query(platform, tbox, timers, ids)
            differ |= {hex(k): (wanted[k], got.get(k)) for k in ids if str(got.get(k)).strip() != str(wanted[k])}
    finally:
        await set_params(platform, tbox, timers, before)
    expect.count("parameters set", len(wanted))
    expect.true(not refused, f"sets refused: {refused}", path="answers", expected="0x01", actual=refused)
    expect.true(not differ, f"query after set differs: {differ}", path="values", expected="the set values",
                actual=differ)


@case("GBT32960.3-{edition}/B.2.3/54",
      requirement="B.2.3: a set of the platform address (0x04-0x06) is answered success, then the terminal logs "
                  "into the new platform.")
async def test_set_address_moves(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    p2 = await second_platform(platform)
    try:
        answer = await set_params(platform, tbox, timers, _address(p2.host, p2.port))
        expect.equal("set answer.ack", 0x01, _ack(answer))
        login = await p2.next(0x01, login_window(timers) * 2, since=0.0)
        expect.equal("login at the new platform.vin", tbox.vin, login.frame.identity)
        # send it home, so a real terminal reports to the harness's address in the next cases
        await set_params(p2, tbox, timers, _address(platform.host, platform.port))
        await platform.next(0x01, login_window(timers) * 2, since=login.at)
    finally:
        await p2.close()


@case("GBT32960.3-{edition}/B.2.3/55",
      requirement="B.2.3: when the login to a newly set platform address fails, the terminal restores the old "
                  "settings, logs in to the old platform again and answers the set there with the error flag.")
async def test_set_address_restores(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    dead = await second_platform(platform)
    await dead.close()  # a port nothing listens on
    answer = await set_params(platform, tbox, timers, _address(dead.host, dead.port))
    expect.equal("set answer.ack", 0x01, _ack(answer))
    bound = timers.login_tries * (timers.terminal_login_retry + timers.response_timeout) + login_window(timers) * 2
    back = await platform.next(0x01, bound, since=answer.at)  # not a login retry from before the set
    refused = await platform.next(0x81, within(timers), since=back.at, where=lambda r: r.frame.is_response)
    expect.equal("restore answer.ack", 0x02, refused.frame.ack)


@case("GBT32960.3-{edition}/B.2.4/51",
      requirement="B.2.4/T B.15: control 0x02 (terminal power-off) is answered success and the terminal then "
                  "powers off: it logs out.")
async def test_control_power_off(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    answer = await control(platform, tbox, timers, 0x02)
    expect.equal("control answer.ack", 0x01, _ack(answer))
    await platform.next(0x04, power_off_window(timers, edition) + within(timers), since=answer.at)


@case("GBT32960.3-{edition}/B.2.4/52",
      requirement="B.2.4/T B.15: control 0x03 (terminal reset) is answered success and the terminal restarts: "
                  "it logs in again on a new connection.")
async def test_control_reset(platform, tbox, timers, expect, edition):
    first = await online(platform, tbox, timers)
    answer = await control(platform, tbox, timers, 0x03)
    expect.equal("control answer.ack", 0x01, _ack(answer))
    again = await platform.next(0x01, login_window(timers) * 2, since=answer.at)
    expect.true(again.conn != first.conn, "the terminal logged in again on the same connection",
                path="connection", expected="a new one", actual=again.conn)


@case("GBT32960.3-{edition}/B.2.4/53",
      requirement="B.2.4/T B.15: control 0x04 (factory reset) is answered success and restores the factory "
                  "parameters (here: the heartbeat period set before it).")
async def test_control_factory_reset(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    factory = await query(platform, tbox, timers, [0x09])
    changed = await set_params(platform, tbox, timers, {0x09: factory[0x09] % 200 + 7})
    expect.equal("set answer.ack", 0x01, _ack(changed))
    answer = await control(platform, tbox, timers, 0x04)
    expect.equal("control answer.ack", 0x01, _ack(answer))
    after = await query(platform, tbox, timers, [0x09])
    expect.equal("0x09 after factory reset", factory[0x09], after[0x09])


@case("GBT32960.3-{edition}/B.2.4/54",
      requirement="B.2.4/T B.15: control 0x05 (disconnect the data link) is answered success and the terminal "
                  "closes the link.")
async def test_control_disconnect(platform, tbox, timers, expect, edition):
    login = await online(platform, tbox, timers)
    answer = await control(platform, tbox, timers, 0x05)
    expect.equal("control answer.ack", 0x01, _ack(answer))
    closed = await platform.wait_for(lambda: platform.conns[login.conn].closed is not None, within(timers))
    expect.true(closed, "the link is still open after control 0x05", path="link", expected="closed",
                actual="open")


@case("GBT32960.3-{edition}/B.2.4/55",
      requirement="B.2.4/T B.17: control 0x06 (alarm/warning, a level and alarm info) is answered success.")
async def test_control_warning(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    answer = await control(platform, tbox, timers, 0x06, {"level": 2, "info": b""})
    expect.equal("control answer.ack", 0x01, _ack(answer))


@case("GBT32960.3-{edition}/B.2.4/56",
      requirement="B.2.4/T B.15: control 0x07 (open the sampling-monitoring link) is answered success and the "
                  "terminal opens its own link to the public platform of parameters 0x0D-0x0F, logs in there and "
                  "reports real-time data, while its link to the enterprise platform stays up.")
async def test_control_sampling_link(platform, tbox, timers, expect, edition):
    login = await online(platform, tbox, timers)
    public = await second_platform(platform)
    try:
        answer = await set_params(platform, tbox, timers, _address(public.host, public.port, (0x0D, 0x0E, 0x0F)))
        expect.equal("set answer.ack", 0x01, _ack(answer))
        answer = await control(platform, tbox, timers, 0x07)
        expect.equal("control answer.ack", 0x01, _ack(answer))
        await public.next(0x01, login_window(timers) * 2, since=0.0)
        await public.next(0x02, within(timers), since=0.0)
        expect.true(platform.conns[login.conn].closed is None, "the enterprise link closed",
                    path="enterprise link", expected="open", actual="closed")
    finally:
        await public.close()


@case("GBT32960.3-{edition}/B.2.4/57",
      requirement="B.2.4/T B.16: control 0x01 (remote upgrade, T B.16 field order) is answered success; the "
                  "terminal upgrades, reconnects before the deadline and reports the new firmware in 0x08.")
async def test_control_remote_upgrade(platform, tbox, timers, expect, edition):
    await online(platform, tbox, timers)
    order = f"CMNET;;;127.0.0.1;2121;ABCD;H1.00;F2.00;ftp://127.0.0.1:2121/fw.bin;{5}"
    answer = await control(platform, tbox, timers, 0x01, order)
    expect.equal("control answer.ack", 0x01, _ack(answer))
    again = await platform.next(0x01, login_window(timers) * 4, since=answer.at)  # not a login retry before it
    expect.count("reconnected after s", round(again.at - answer.at, 3))
    await platform.next(0x02, within(timers), since=again.at)
    values = await query(platform, tbox, timers, [0x08])
    expect.equal("0x08 after upgrade", "F2.00", str(values[0x08]).strip())


def _sent_after(platform: ScriptedPlatform, mark: Received, command: int) -> list[Received]:
    """`command` frames the terminal sent after `mark` on the wire (by arrival order, not loop time: frames
    read in one chunk share a time)."""
    i = next(i for i, r in enumerate(platform.received) if r is mark)
    return [r for r in platform.received[i + 1:] if r.frame.command == command and not r.frame.is_response]


@needs(pics="encryption.key_exchange_down")
@case("GBT32960.3-2025/T31/51",
      requirement="2025 T31: a data-unit encryption key the platform sends with key exchange 0x0B (key type, key, "
                  "a validity window holding now; the 0x0B itself encrypted under the current key, 6.2 T2) is "
                  "answered success (0x01), and from then on the terminal encrypts its data units under the new "
                  "key, no longer under the old one.")
async def test_key_exchange_switches_key(platform, tbox, timers, expect, topology, pics):
    enc = claimed_cipher(pics)
    old = encrypted(platform, tbox, topology, pics, enc)  # K1: the terminal's initial key
    login = await online(platform, tbox, timers)
    expect.true(readable_under(login, old), "the login did not travel under the terminal's initial key K1",
                path="login.encryption", expected=f"0x{enc:02X}, readable under K1",
                actual=f"0x{login.frame.encryption:02X}")
    k2 = crypto.generate_symmetric(enc)
    new = dataclasses.replace(old, keys=dataclasses.replace(old.keys, **{"sm4" if enc == crypto.SM4 else "aes": k2}))
    answer = await exchange_key(platform, tbox, timers, enc, k2)  # sealed under K1, window [now-60 s, now+1 h]
    expect.true(answer is not None, "no answer to the key exchange 0x0B", path="answer", expected="0x0B answer",
                actual=None)
    assert answer is not None
    expect.equal("key exchange answer.ack", 0x01, answer.frame.ack)
    platform.rekey(new)  # the platform reads K2 from now on (K1 still decodes: evidence stays readable)
    try:
        await platform.wait_for(lambda: len(_sent_after(platform, answer, 0x02)) >= 3, within(timers, 6))
        reports = _sent_after(platform, answer, 0x02)
        under_new = [readable_under(r, new) for r in reports]
        under_old = [readable_under(r, old) for r in reports]
        expect.note(f"cipher 0x{enc:02X} ({'SM4' if enc == crypto.SM4 else 'AES'}), options {old.options}")
        expect.count("real-time frames after the answer", len(reports))
        expect.count("readable under K2", sum(under_new))
        expect.count("readable under K1", sum(under_old))
        expect.true(len(reports) >= 3, f"{len(reports)} real-time frames after the answer", path="reports",
                    expected=">= 3", actual=len(reports))
        expect.true(all(under_new) and not any(under_old), "real-time data after a successful key exchange is not "
                    "(only) under the new key", path="reports.key", expected=["K2"] * len(reports),
                    actual=["K2" if n else "K1" if o else "neither" for n, o in zip(under_new, under_old, strict=True)])
    finally:
        # give the terminal its initial key back, so a real T-Box keeps the PIXIT's key across runs
        await exchange_key(platform, tbox, timers, enc, old.keys.for_byte(enc))
