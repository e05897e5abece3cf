"""What terminal-as-SUT cases share: bring the terminal online, query and set its parameters,
send controls, and read collection times. The harness plays the enterprise platform
(`harness.topology.scripted.ScriptedPlatform`); every wait is bounded by the run's `Timers`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from harness.protocol.codec import Frame
from harness.protocol.timers import Timers
from harness.topology.scripted import Received, ScriptedPlatform, platform_time
from harness.topology.terminal import TerminalSut


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


async def command(platform: ScriptedPlatform, tbox: TerminalSut, timers: Timers, cmd: int, body: dict[str, Any],
                  *, answer_within: float | None = None) -> Received | None:
    """Send a query/set/control to the terminal; its answer, or None when none came in time."""
    since = platform.now
    await platform.send(Frame(cmd, 0xFE, tbox.vin, _body(**body), tbox.edition))
    try:
        return await platform.next(cmd, answer_within or within(timers), since=since,
                                   where=lambda r: r.frame.is_response)
    except TimeoutError:
        return None


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
