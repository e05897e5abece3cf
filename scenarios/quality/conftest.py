"""The terminal under test for the data-quality cases: our simulator on a fake clock, with the run's
`--sut-defect` switches on (self-tests), assessed once per edition and shared by the cases."""

from __future__ import annotations

from typing import Any

import pytest

from harness.quality import records, thresholds
from harness.quality.assess import Assessor
from harness.quality.terminal_run import run_terminal

_CACHE: dict[tuple, dict[str, Any]] = {}


@pytest.fixture
def quality(pytestconfig: pytest.Config, pixit: dict[str, Any], edition: int) -> dict[str, Any]:
    """The assessment of one simulated hour (PIXIT `quality:` may set `duration`, `seed`, `thresholds`)."""
    q = pixit.get("quality", {}) or {}
    defects = frozenset(pytestconfig.getoption("sut_defect") or [])
    key = (edition, defects, q.get("duration", 3600), q.get("seed", 7), q.get("thresholds"))
    if key not in _CACHE:
        th = thresholds.load(q.get("thresholds"))
        frames = run_terminal(float(key[2]), edition=edition, defects=defects, seed=int(key[3]))
        stats = records.SourceStats()
        a = Assessor(th)
        for rec in records.from_frames(frames, stats):
            a.add(rec)
        _CACHE[key] = a.result(stats)
    return _CACHE[key]
