"""The terminal under test for the data-quality cases, assessed once per edition and shared by the cases:
- our simulator (`--sut reference`): one simulated hour on a fake clock, with the run's `--sut-defect`
  switches on (self-tests), in well under a second;
- an external T-Box (`--sut external`): a live capture, the harness playing the enterprise platform
  at the PIXIT's `terminal.listen` for `quality.live_duration` seconds (default 600)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from harness.quality import records, thresholds
from harness.quality.assess import Assessor
from harness.quality.terminal_run import run_terminal

GMT8 = dt.timezone(dt.timedelta(hours=8))
_CACHE: dict[tuple, dict[str, Any]] = {}


async def _live_capture(rig: Any, edition: int, wire: Any, seconds: float) -> list[tuple[float, bytes]]:
    """(receive time, raw frame) of what the terminal sent while the harness listened `seconds`."""
    from harness.topology.scripted import ScriptedPlatform

    p = await ScriptedPlatform(wire, "platform").listen(*rig.listen_address())
    t = rig.make(edition, p.host, p.port)
    loop_t0, epoch_t0 = p.now, time.time()
    try:
        await t.power_on()
        await p.observe(seconds)
    finally:
        await t.close()
        await p.close()
    if t.time_scale == 1.0:
        return [(epoch_t0 + (r.at - loop_t0), r.raw) for r in p.received]
    # a simulator with compressed timers runs a synthetic calendar: receive times on that calendar,
    # anchored at its first real-time frame (clock drift cannot be judged against it)
    first = next((r for r in p.received if r.frame.command == 0x02), None)
    if first is None:
        return [(epoch_t0, r.raw) for r in p.received]
    anchor = first.frame.body["time"].to_datetime().replace(tzinfo=GMT8).timestamp()
    return [(anchor + (r.at - first.at) / t.time_scale, r.raw) for r in p.received]


@pytest.fixture
async def quality(pytestconfig: pytest.Config, pixit: dict[str, Any], edition: int, topology: Any,
                  wire: Any) -> dict[str, Any]:
    """The assessment of one simulated hour, or of a live capture (PIXIT `quality:` may set `duration`,
    `seed`, `thresholds`, `live_duration`)."""
    q = pixit.get("quality", {}) or {}
    rig = topology.extra.get("terminal_rig")
    live = rig is not None and rig.kind == "external"
    defects = frozenset(pytestconfig.getoption("sut_defect") or [])
    key = (edition, defects, q.get("duration", 3600), q.get("seed", 7), q.get("thresholds"), live)
    if key not in _CACHE:
        th = thresholds.load(q.get("thresholds"))
        if live:
            frames = await _live_capture(rig, edition, wire, float(q.get("live_duration", 600)))
        else:
            frames = run_terminal(float(key[2]), edition=edition, defects=defects, seed=int(key[3]))
        stats = records.SourceStats()
        a = Assessor(th)
        for rec in records.from_frames(frames, stats):
            a.add(rec)
        _CACHE[key] = a.result(stats)
    return _CACHE[key]
