"""GB/T 32960.3 Annex B.2.2-B.2.4 query 0x80, set 0x81 and terminal control 0x82 from the platform's side.

The platform (SUT) is driven through its operator interface (the Control service's SendCommand); the
harness plays the vehicle on a raw link, checks every byte the platform sends against the parameter and
command tables (written out by hand in `builders.param_table`), answers or stays silent, and checks how
the platform handles each outcome: resend on no answer, at most 3 tries, success and failure answers,
and the move a set of the platform address records.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from harness.control import ControlError
from scenarios.gbt32960_3 import builders as b
from scenarios.kit import answer_timeout, case, logged_in, needs, role


def _send(control: Any, vin: str, kind: str, body: dict, wait: float) -> asyncio.Task:
    """SendCommand on a worker thread (the call blocks until answered, failed or `wait` passes)."""
    return asyncio.ensure_future(asyncio.to_thread(control.send_command, vin, kind, body, wait=wait))


def _give_up_after(timers: Any, interval: float) -> float:
    """How long the platform may take to send every try and give up, with a margin for a busy machine."""
    return interval * (timers.command_tries + 1) + answer_timeout(timers)


def _time_ok(unit: bytes) -> bool:
    """The command's time (6 bytes, T5) reads as a valid date."""
    from harness.protocol.schema import Timestamp

    try:
        Timestamp(*unit[:6]).to_datetime()
    except ValueError:
        return False
    return True


def _answered_params(result: dict) -> dict[int, Any]:
    """{id: raw value} from the answer SendCommand reports (the decode --json form: ids as "0x01 name")."""
    params = ((result.get("answer_decoded") or {}).get("body") or {}).get("params") or []
    return {int(str(p["id"]).split()[0], 16): (p["value"]["raw"] if isinstance(p["value"], dict) else p["value"])
            for p in params}


def _header(expect: Any, raw: bytes, command: int, vin: str, edition: int) -> None:
    expect.equal("command.start", b"##" if edition == 2016 else b"$$", raw[:2])
    expect.equal("command.command", command, raw[2])
    expect.equal("command.ack", 0xFE, raw[3], "a platform command must carry flag 0xFE")
    expect.equal("command.vin", vin.encode(), raw[4:21])
    expect.true(_time_ok(raw[24:30]), "the command's time is not a valid 6-byte time", path="command.time",
                actual=raw[24:30].hex())


@role("enterprise")
@needs(pics="control")
@case("GBT32960.3-{edition}/B.2.2/01",
      requirement="A query 0x80 for every parameter (0x01-0x10) is sent as time, count N and the N parameter ids "
                  "(T B.9), flag 0xFE, to the vehicle's link (B.2.2).")
async def test_query_every_parameter_encoded(topology, fleet, control, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    ids = tuple(range(0x01, 0x11))
    task = _send(control, v.vin, "query", {"ids": list(ids)}, answer_timeout(timers))
    raw = await b.next_command(link, 0x80, answer_timeout(timers))
    await link.send(b.answer_to(raw, 0x01))  # answered at once: no resend muddles the rest
    _header(expect, raw, 0x80, v.vin, edition)
    expect.equal("query.unit[6:]", bytes((len(ids), *ids)), raw[30:-1], "the query's count and ids are not T B.9")
    await task


@role("enterprise")
@needs(pics="control")
@case("GBT32960.3-{edition}/B.2.2/02",
      requirement="A query the vehicle does not answer is resent, the same frame, after the platform response "
                  "timeout, and given up after 3 tries in all (B.2.2: resend on timeout, at most 3 times; param "
                  "0x0B); the operator is told it failed.")
async def test_query_resent_three_tries(topology, fleet, control, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    window = _give_up_after(timers, timers.response_timeout)
    task = _send(control, v.vin, "query", {"ids": [0x09]}, window)
    # heartbeats keep the link alive while the vehicle stays silent on the query
    got = await b.commands_within(link, 0x80, window, keepalive=b.empty(v, 0x07), every=timers.heartbeat)
    result = await task
    await _judge_tries(expect, got, timers, timers.response_timeout)
    expect.true(result["failed"] and not result["answered"], "the unanswered query is not reported as failed",
                path="SendCommand.failed", expected=True, actual=result["failed"])


def _tries_after_answer(timers: Any, interval: float) -> float:
    """How long to watch for resends after an answer: every try the platform would still make if it
    ignored the answer, and half an interval more."""
    return interval * (timers.command_tries + 0.5)


def _judge_resends(expect: Any, raw: bytes, answered_at: float, again: list[tuple[float, bytes]], interval: float,
                   message: str) -> None:
    """No resend of the answered command `raw`, except one the platform wrote before it read a late answer
    (B.2.2-B.2.4: resend when no answer within the timeout): the same frame, within one resend interval of
    the answer, plus half an interval for the platform's tick and the transit. A later one, or a second, is
    a resend of an answered command."""
    expect.count("resends after the answer", len(again))
    excused = [r for t, r in again[:1] if r == raw and t - answered_at <= interval * 1.5]
    late = [(round(t - answered_at, 3), r.hex()) for t, r in again[len(excused):]]
    expect.equal("resends after the answer[s after, frame]", [], late, message)


async def _next_new_command(link: Any, command: int, previous: bytes, timeout: float) -> tuple[bytes, int]:
    """The next command frame that is not `previous` again, and how many resends of `previous` came first: if
    the platform read the answer to `previous` late, it resent it (B.2.4: resend when no answer within the
    interval), and that copy waits on the link."""
    deadline = time.monotonic() + timeout
    skipped = 0
    while (raw := await b.next_command(link, command, max(deadline - time.monotonic(), 0.001))) == previous:
        skipped += 1
    return raw, skipped


async def _judge_tries(expect: Any, got: list[tuple[float, bytes]], timers: Any, interval: float) -> None:
    tries = timers.command_tries
    expect.count("tries", len(got))
    expect.equal("tries", tries, len(got), f"the command went out {len(got)} times, not {tries}")
    expect.true(len({raw for _, raw in got}) == 1, "a resend is not the same frame", path="resend.raw",
                expected=got[0][1].hex(), actual=[r.hex() for _, r in got])
    gaps = [round(b_ - a, 3) for (a, _), (b_, _) in zip(got, got[1:], strict=False)]
    expect.true(all(g >= interval * 0.8 for g in gaps), f"resent after {gaps} s, before the {interval:g} s timeout",
                path="resend.gaps", expected=f">= {interval:g}", actual=gaps)


@role("enterprise")
@needs(pics="control")
@case("GBT32960.3-{edition}/B.2.2/03",
      requirement="A query answered by the vehicle (0x80 flag 0x01, time, count and the parameter list, T B.10) "
                  "ends it: the platform takes the values as answered, flag 0x01, and does not resend (B.2.2).")
async def test_query_answer_handled(topology, fleet, control, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    table = b.param_table(edition)
    ids = tuple(range(0x01, 0x11))
    task = _send(control, v.vin, "query", {"ids": list(ids)}, answer_timeout(timers) * 2)
    raw = await b.next_command(link, 0x80, answer_timeout(timers))
    await link.send(b.answer_to(raw, 0x01, raw[24:30] + b.params_unit(table, ids)))
    answered_at = time.monotonic()
    again = await b.commands_within(link, 0x80, _tries_after_answer(timers, timers.response_timeout))
    result = await task
    expect.true(result["answered"], "the query answer was not taken", path="SendCommand.answered")
    expect.equal("SendCommand.ack", 0x01, result["ack"])
    got = _answered_params(result)
    expect.equal("answer.params", {i: table[i][0] for i in ids}, got, "the answered values are not the vehicle's")
    _judge_resends(expect, raw, answered_at, again, timers.response_timeout, "the answered query was sent again")


@role("enterprise")
@needs(pics="control")
@case("GBT32960.3-{edition}/B.2.3/01",
      requirement="A set 0x81 of every writable parameter is sent as time, count and (id, value) per T B.12/B.13 "
                  "(2025: 0x02/0x03 one byte; ports WORD big-endian; 0x05/0x0E after their lengths 0x04/0x0D), "
                  "flag 0xFE (B.2.3).")
async def test_set_every_parameter_encoded(topology, fleet, control, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    # the platform's own address: a vehicle that obeyed would come back to the same SUT
    table = b.param_table(edition, "127.0.0.1", 32960)
    task = _send(control, v.vin, "set", {"params": b.params_json(table, b.WRITABLE)}, answer_timeout(timers))
    raw = await b.next_command(link, 0x81, answer_timeout(timers))
    await link.send(b.answer_to(raw, 0x01))
    _header(expect, raw, 0x81, v.vin, edition)
    expect.equal("set.unit[6:]", b.params_unit(table, b.WRITABLE), raw[30:-1],
                 "the set's parameter list is not encoded per T B.12/B.13")
    await task


@role("enterprise")
@needs(pics="control")
@case("GBT32960.3-{edition}/B.2.3/02",
      requirement="The read-only parameters 0x07 (hardware version) and 0x08 (firmware version) are never set: "
                  "the platform refuses the operator's request and sends nothing to the vehicle (T B.12/B.13).")
async def test_set_read_only_refused(topology, fleet, control, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    refused = ""
    try:
        await asyncio.to_thread(control.send_command, v.vin, "set", {"params": [{"id": 0x07, "value": "HW009"}]})
    except ControlError as exc:
        refused = exc.code.name
    expect.true(bool(refused), "a set of read-only parameter 0x07 was accepted by the platform",
                path="SendCommand", expected="refused", actual="sent")
    sent = await b.commands_within(link, 0x81, timers.response_timeout * 2)
    expect.equal("set frames sent", 0, len(sent), "a set of a read-only parameter reached the vehicle")


@role("enterprise")
@needs(pics="control")
@case("GBT32960.3-{edition}/B.2.3/03",
      requirement="A set the vehicle answers with the failure flag 0x02 ('设置未成功') is answered: the platform "
                  "reports the failure and does not resend (B.2.3; resend is for no answer only).")
async def test_set_failure_answer_handled(topology, fleet, control, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    task = _send(control, v.vin, "set", {"params": [{"id": 0x09, "value": 30}]}, _give_up_after(
        timers, timers.response_timeout))
    raw = await b.next_command(link, 0x81, answer_timeout(timers))
    await link.send(b.answer_to(raw, 0x02))
    answered_at = time.monotonic()
    again = await b.commands_within(link, 0x81, _tries_after_answer(timers, timers.response_timeout))
    result = await task
    _judge_resends(expect, raw, answered_at, again, timers.response_timeout, "a set answered with a failure was resent")
    expect.true(result["answered"], "the failure answer was not taken as the answer", path="SendCommand.answered")
    expect.equal("SendCommand.ack", 0x02, result["ack"], "the failure flag was not reported")


async def _set_address(control: Any, link: Any, v: Any, timers: Any, host: str, port: int, flag: int) -> None:
    task = _send(control, v.vin, "set", {"params": [{"id": 0x04, "value": len(host)}, {"id": 0x05, "value": host},
                                                   {"id": 0x06, "value": port}]}, answer_timeout(timers))
    raw = await b.next_command(link, 0x81, answer_timeout(timers))
    await link.send(b.answer_to(raw, flag))
    await task


def _moves(topology: Any, vin: str) -> list[str]:
    return [detail for _, kind, detail in topology.sut.warnings(vin) if kind == "moved"]


@role("enterprise")
@needs(pics="control")
@case("GBT32960.3-{edition}/B.2.3/04",
      requirement="A set of the platform domain and port (0x04-0x06) that the vehicle acknowledges is recorded "
                  "as the vehicle's move to that address, and the vehicle, logging in from the new link, is "
                  "served (B.2.3: the terminal acks, then logs in to the new platform).")
async def test_set_address_move_recorded(topology, fleet, control, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    host, port = topology.sut.host, topology.sut.port  # the move leads back to this SUT
    await _set_address(control, link, v, timers, host, port, 0x01)
    moved = await asyncio.to_thread(_moves, topology, v.vin)
    expect.true(f"{host}:{port}" in moved, "the acknowledged address change is not recorded",
                path="sut.records[moved]", expected=f"{host}:{port}", actual=moved)
    await link.close()
    await logged_in(fleet, v, timers)  # the vehicle at its new address


@role("enterprise")
@needs(pics="control")
@case("GBT32960.3-{edition}/B.2.3/05",
      requirement="A set of the platform domain and port that the vehicle refuses (flag 0x02, '修改错误应答': "
                  "its login to the new platform failed and it restored the old settings) is not recorded as a "
                  "move (B.2.3).")
async def test_refused_address_not_a_move(topology, fleet, control, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    host, port = "127.0.0.9", 40000 + edition  # an address this case alone uses
    await _set_address(control, link, v, timers, host, port, 0x02)
    moved = await asyncio.to_thread(_moves, topology, v.vin)
    expect.true(f"{host}:{port}" not in moved, "a refused address change was recorded as a move",
                path="sut.records[moved]", expected="absent", actual=moved)


def _controls(edition: int) -> list[tuple[int, dict, bytes]]:
    """Every control command of T B.14/B.15 with its parameters and their bytes (0x06: level, 2025 up to 4)."""
    upgrade = "cmnet;user;pwd;;;ABCD;HW001;FW002;ftp://127.0.0.1/fw.bin;30"
    level = 3 if edition == 2016 else 4
    return [(0x01, {"params": upgrade}, upgrade.encode()), (0x02, {"params": ""}, b""),
            (0x03, {"params": ""}, b""), (0x04, {"params": ""}, b""), (0x05, {"params": ""}, b""),
            (0x06, {"params": {"level": level, "info": ""}}, bytes((level,))), (0x07, {"params": ""}, b"")]


@role("enterprise")
@needs(pics="control")
@case("GBT32960.3-{edition}/B.2.4/01",
      requirement="Every terminal control command (0x01 remote upgrade with its ';'-separated string, 0x02 "
                  "power-off, 0x03 reset, 0x04 factory reset, 0x05 disconnect, 0x06 alarm/warning with its level "
                  "(2025: up to 04), 0x07 open sampling link) is sent as time, command id, parameters (T B.14-B.17), "
                  "one per message, flag 0xFE, and a success answer completes it (B.2.4).")
async def test_every_control_encoded(topology, fleet, control, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    raw, resent = b"", 0
    for cmd, params, expected in _controls(edition):
        task = _send(control, v.vin, "control", {"command": cmd, **params}, answer_timeout(timers))
        raw, skipped = await _next_new_command(link, 0x82, raw, answer_timeout(timers))
        resent += skipped
        expect.count("resends of an answered control", resent)
        await link.send(b.answer_to(raw, 0x01))
        _header(expect, raw, 0x82, v.vin, edition)
        expect.equal(f"control[0x{cmd:02X}].unit[6:]", bytes((cmd,)) + expected, raw[30:-1],
                     f"control 0x{cmd:02X} is not encoded per T B.14-B.17")
        result = await task
        expect.equal(f"control[0x{cmd:02X}].ack", 0x01, result["ack"], f"the answer to control 0x{cmd:02X} was lost")


@role("enterprise")
@needs(pics="control")
@case("GBT32960.3-{edition}/B.2.4/02",
      requirement="A control command the vehicle does not answer is resent every control resend interval (1 min), "
                  "the same frame, and given up after 3 tries in all (B.2.4).")
async def test_control_resent_three_tries(topology, fleet, control, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition)
    link = await logged_in(fleet, v, timers)
    window = _give_up_after(timers, timers.control_resend)
    started = time.monotonic()
    task = _send(control, v.vin, "control", {"command": 0x06, "params": {"level": 1, "info": ""}}, window)
    got = await b.commands_within(link, 0x82, window - (time.monotonic() - started), keepalive=b.empty(v, 0x07),
                                  every=timers.heartbeat)
    result = await task
    await _judge_tries(expect, got, timers, timers.control_resend)
    expect.true(result["failed"], "the unanswered control is not reported as failed", path="SendCommand.failed")
