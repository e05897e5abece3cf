"""The generated per-type walkers count exactly what the generic reference walk counts, on any
real-time body the protocol allows (hypothesis bodies from the one protocol description, where
sentinels, out-of-range values and sentinel counts all occur)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.protocol.strategies import bodies
from harness.quality.assess import _walk, compile_walker, plans


@pytest.mark.parametrize("edition", [2016, 2025])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_walker_equals_reference_walk(edition, data):
    body = data.draw(bodies(edition, 0x02))
    plan_by_code, _ = plans(edition)
    ref: dict[str, list[int]] = {}
    fast: dict[str, list[int]] = {}
    walkers = {}
    for item in body.get("items", []):
        p = plan_by_code.get(item.get("type"))
        if p is None or not isinstance(item.get("data"), dict):
            continue
        w = walkers.setdefault(item["type"], compile_walker(p[1], fast))
        assert w(item["data"]) == _walk(p[1], item["data"], ref)
    assert {k: v for k, v in fast.items() if k in ref or any(v)} == ref


def test_walker_counts_sentinels_and_range():
    plan = plans(2016)[0][0x01][1]
    counters: dict[str, list[int]] = {}
    w = compile_walker(plan, counters)
    assert w({"speed": 0xFFFF, "soc": 0xFE, "vehicle_state": 9, "odometer": 5}) == 3
    assert counters["vehicle.speed"] == [1, 1, 0, 0]
    assert counters["vehicle.soc"] == [1, 0, 1, 0]
    assert counters["vehicle.vehicle_state"] == [1, 0, 0, 1]  # not an enum code: out of range
    assert counters["vehicle.odometer"] == [1, 0, 0, 0]
