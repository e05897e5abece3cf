"""GB/T 32960.3 §5.1-5.2 from the enterprise platform's side as the client of the local platform: login
retries and the long wait after 3 failures (§5.1), resend of relayed data on an error answer (§5.2.2) and
an upload period of at most 30 s (§5.2.3). The harness sits on the enterprise -> local link (the fault
proxy): it loses the local platform's answers or turns them into error answers, and times what the SUT
sends. Each case ends with the SUT logged in again and its queue drained, for the cases after it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from harness.protocol.timers import Timers
from harness.topology.base import StimulusUnavailable
from scenarios.gbt32960_3 import builders as b
from scenarios.kit import answer_timeout, case, eventually, logged_in, role

LINK = "enterprise->local"


def _needs_proxy(topology: Any) -> Any:
    if topology.local is None or topology.faults is None:
        raise StimulusUnavailable("INCONC: no harness local platform behind the fault proxy in this topology")
    return topology.faults


async def _back_online(topology: Any, timers: Timers, seq: int) -> None:
    """Wait until a login of the SUT is answered 0x01 after proxy record `seq` (the local platform's own
    view may be older than the SUT's) and nothing waits in the SUT's queue."""
    within = timers.login_backoff + timers.platform_login_retry * 4 + 4

    def answered() -> bool:
        return any(raw[2] == 0x05 and raw[3] == 0x01
                   for _, raw in b.delivered_upstream(topology.faults, LINK, seq, "to_client"))

    await eventually(answered, within, step=0.1)
    await eventually(lambda: topology.sut.queue_depth() == 0, within)


async def _restore(topology: Any, timers: Timers, fault: Any, *, relogin: bool) -> None:
    """End the case's fault (and break the link when `relogin`): the SUT logs in again and drains."""
    seq = await asyncio.to_thread(b.proxy_seq, topology.faults, LINK)
    await asyncio.to_thread(fault.clear)
    if relogin:
        await asyncio.to_thread(lambda: topology.faults.link(LINK).drop_connections(count=1))
    await _back_online(topology, timers, seq)


async def _login_attempts(topology: Any, timers: Timers) -> list[float]:
    """Lose every login answer of the local platform, break the link, and time the SUT's logins."""
    faults = _needs_proxy(topology)
    seq = await asyncio.to_thread(b.proxy_seq, faults, LINK)
    window = timers.platform_login_retry * (timers.login_tries + 1) + timers.login_backoff + 1.0
    link = faults.link(LINK)
    lost = await asyncio.to_thread(lambda: link.drop_frames(command=0x05, direction="to_client", duration=window))
    try:
        await asyncio.to_thread(lambda: link.drop_connections(count=1))

        def logins() -> list[float]:
            return [at for at, raw in b.delivered_upstream(faults, LINK, seq) if raw[2] == 0x05 and raw[3] == 0xFE]

        await eventually(lambda: len(logins()) > timers.login_tries, window + 1.0, step=0.1)
        return await asyncio.to_thread(logins)
    finally:
        await _restore(topology, timers, lost, relogin=False)


@role("enterprise")
@case("GBT32960.3-{edition}/5.1/03",
      requirement="When its platform login 0x05 gets no answer, the enterprise platform logs in again every "
                  "re-login interval (1 min, configurable), not sooner (§5.1).")
async def test_login_retried_every_interval(topology, timers, expect, edition):
    attempts = await _login_attempts(topology, timers)
    first = attempts[:timers.login_tries]
    gaps = [round(b_ - a, 3) for a, b_ in zip(first, first[1:], strict=False)]
    expect.count("login attempts", len(attempts))
    expect.true(len(first) == timers.login_tries, f"only {len(first)} logins after the answers were lost",
                path="logins", expected=timers.login_tries, actual=len(first))
    retry = timers.platform_login_retry
    expect.true(all(retry * 0.8 <= g <= retry * 2 + 0.5 for g in gaps),
                f"unanswered logins were repeated after {gaps} s, not every {retry:g} s", path="login.gaps",
                expected=f"{retry:g} s each", actual=gaps)


@role("enterprise")
@case("GBT32960.3-{edition}/5.1/04",
      requirement="After 3 unanswered platform logins the enterprise platform stops and waits the long interval "
                  "(30 min, configurable) before it connects and logs in again (§5.1).")
async def test_login_backoff_after_three(topology, timers, expect, edition):
    attempts = await _login_attempts(topology, timers)
    n = timers.login_tries
    expect.true(len(attempts) > n, f"no login after the {n} failed ones within the backoff", path="logins",
                expected=n + 1, actual=len(attempts))
    wait = attempts[n] - attempts[n - 1]
    expect.true(wait >= timers.login_backoff * 0.9,
                f"login {n + 1} came {wait:.2f} s after login {n}, before the {timers.login_backoff:g} s wait",
                path="login.backoff", expected=f">= {timers.login_backoff:g} s", actual=round(wait, 3))


def _copies(faults: Any, seq: int, data: bytes) -> list[float]:
    """When the proxy delivered `data` (same VIN and collection time, any command byte) upstream."""
    return [at for at, raw in b.delivered_upstream(faults, LINK, seq)
            if raw[2] in (0x02, 0x03) and raw[3] == 0xFE and raw[4:21] == data[4:21] and raw[24:30] == data[24:30]]


@role("enterprise")
@case("GBT32960.3-{edition}/5.2.2/02",
      requirement="Relayed real-time data that the server platform answers with an error flag is resent, every "
                  "resend interval (1 min), at most 3 times (§5.2.2).")
async def test_error_answer_resent(topology, fleet, timers, expect, edition):
    faults = _needs_proxy(topology)
    v = topology.vehicle(public=True, region=topology.region, edition=edition)
    vehicle = await logged_in(fleet, v, timers)
    seq = await asyncio.to_thread(b.proxy_seq, faults, LINK)
    window = timers.data_resend * (timers.data_tries + 1) + answer_timeout(timers)
    # the local platform's 0x01 answers to this vehicle's data become 0x02 (other error) on the way back
    wrong = await asyncio.to_thread(lambda: faults.link(LINK).flip_byte(
        3, mask=0x03, fix_bcc=True, command=0x02, ack=0x01, vin=v.vin, direction="to_client", duration=window))
    try:
        data = b.realtime(v)
        await vehicle.send(data)
        started = time.monotonic()
        while time.monotonic() - started < window:  # the vehicle stays alive while the SUT resends
            await vehicle.send(b.empty(v, 0x07))
            await asyncio.sleep(min(timers.heartbeat, window / 4))
        sent = await asyncio.to_thread(_copies, faults, seq, data)
    finally:
        await _restore(topology, timers, wrong, relogin=True)  # the re-login reissues what is still queued
    gaps = [round(b_ - a, 3) for a, b_ in zip(sent, sent[1:], strict=False)]
    expect.count("sends", len(sent))
    expect.true(len(sent) >= 2, "data answered with an error was not resent", path="sends", expected=">= 2",
                actual=len(sent))
    expect.true(len(sent) - 1 <= timers.data_tries, f"resent {len(sent) - 1} times, more than {timers.data_tries}",
                path="resends", expected=f"<= {timers.data_tries}", actual=len(sent) - 1)
    expect.true(all(g >= timers.data_resend * 0.8 for g in gaps),
                f"resent after {gaps} s, not every {timers.data_resend:g} s", path="resend.gaps",
                expected=f">= {timers.data_resend:g}", actual=gaps)


@role("enterprise")
@case("GBT32960.3-{edition}/5.2.3/01",
      requirement="The enterprise platform uploads a public-service vehicle's real-time data with a period of at "
                  "most 30 s: no received frame waits longer than that before it goes to the local platform "
                  "(§5.2.3; 30 s scaled like the report period under compressed timers).")
async def test_upload_period_at_most_30s(topology, fleet, timers, expect, edition):
    faults = _needs_proxy(topology)
    bound = 30.0 * timers.report_period / Timers().report_period  # 30 s, compressed as the report period is
    v = topology.vehicle(public=True, region=topology.region, edition=edition, index=1)
    vehicle = await logged_in(fleet, v, timers)
    seq = await asyncio.to_thread(b.proxy_seq, faults, LINK)
    sent: list[tuple[float, bytes]] = []
    for _ in range(4):
        data = b.realtime(v)
        await vehicle.send(data)
        sent.append((time.time(), data))
        await asyncio.sleep(timers.report_period / 2)
    within = bound * 2 + answer_timeout(timers)
    await eventually(lambda: all(_copies(faults, seq, d) for _, d in sent), within, step=0.1)
    delays = []
    for at, data in sent:
        copies = await asyncio.to_thread(_copies, faults, seq, data)
        delays.append(round(copies[0] - at, 3) if copies else None)
    expect.true(all(d is not None and d <= bound for d in delays),
                f"relay delays {delays} s exceed the {bound:g} s upload period", path="relay.delay",
                expected=f"<= {bound:g} s", actual=delays)
