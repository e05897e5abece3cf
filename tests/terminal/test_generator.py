"""The data generator: physical consistency, edition shapes, determinism by seed."""

from __future__ import annotations

import math

import pytest

from harness.protocol import Frame, decode, encode
from harness.protocol.schema import Timestamp
from harness.terminal.generator import CAPACITY_AH, CHARGE, DRIVE, Generator

T = Timestamp(25, 6, 1, 12, 0, 0)


def _items(body):
    return {i["type"]: i["data"] for i in body["items"]}


def _run(gen, seconds, step=1.0):
    return [gen.advance(k * step) for k in range(int(seconds / step) + 1)]


@pytest.mark.parametrize("edition", [2016, 2025])
def test_bodies_round_trip_through_the_codec(edition):
    gen = Generator(11, cells=96, probes=24, alarm_rate=50, level3_share=0.3)
    for snap in _run(gen, 4 * 3600, 60):
        body = gen.render(snap, edition, T)
        raw = encode(Frame(0x02, vin="LSIMTEST000000001", body=body, edition=edition))
        assert decode(raw).body == body


@pytest.mark.parametrize("edition", [2016, 2025])
def test_pack_voltage_is_the_sum_of_cells(edition):
    gen = Generator(5, cells=96)
    for snap in _run(gen, 3600, 30):
        items = _items(gen.render(snap, edition, T))
        cells = (items[0x08] if edition == 2016 else items[0x07])
        pack = (cells["subsystems"] if edition == 2016 else cells["packs"])[0]
        total_v = sum(pack["cell_voltages"]) / 1000
        assert abs(pack["voltage"] / 10 - total_v) <= 0.05 + 1e-9
        assert items[0x01]["total_voltage"] == pack["voltage"]
        spread = max(pack["cell_voltages"]) - min(pack["cell_voltages"])
        assert spread <= 30, "cells stay close to the pack value"


def test_cells_follow_soc():
    gen = Generator(5, cells=96)
    low = gen.render(gen.advance(0)._replace(soc=20, cell_v=3.5), 2016, T)
    high = gen.render(gen.advance(0)._replace(soc=90, cell_v=4.1), 2016, T)
    assert _items(high)[0x01]["total_voltage"] > _items(low)[0x01]["total_voltage"]


def test_soc_follows_integrated_current():
    for seed, phase in ((1, DRIVE), (2, CHARGE), (3, DRIVE)):
        gen = Generator(seed, alarm_rate=0, start_phase=phase)
        snaps = _run(gen, 1800, 1.0)
        # coulomb counting over the rendered current (0.1 A resolution, offset 1000 A)
        charge_ah = 0.0
        for a, b in zip(snaps, snaps[1:], strict=False):
            charge_ah += (a.current + b.current) / 2 * (b.t - a.t) / 3600
        expected = snaps[0].soc - charge_ah / CAPACITY_AH * 100
        assert abs(snaps[-1].soc - expected) < 0.5, (seed, snaps[-1].soc, expected)
        if phase == CHARGE:
            assert snaps[-1].soc > snaps[0].soc


def test_rendered_soc_and_current_agree_with_state():
    gen = Generator(2, alarm_rate=0, start_phase=CHARGE)
    gen.advance(0)
    snap = gen.advance(600)
    assert snap.phase == CHARGE
    v = _items(gen.render(snap, 2016, T))[0x01]
    assert v["soc"] == round(snap.soc)
    assert v["total_current"] / 10 - 1000 == pytest.approx(snap.current, abs=0.06)
    assert v["total_current"] < 10000, "charging current is negative"
    assert v["charge_state"] == 1 and v["speed"] == 0
    v25 = _items(gen.render(snap, 2025, T))[0x01]
    assert v25["total_current"] / 10 - 3000 == pytest.approx(snap.current, abs=0.06)


def test_odometer_monotonic_and_position_moves_at_speed():
    gen = Generator(9, alarm_rate=0, start_phase=DRIVE)
    snaps = _run(gen, 5 * 3600, 10)
    odo = [_items(gen.render(s, 2016, T))[0x01]["odometer"] for s in snaps]
    assert all(b >= a for a, b in zip(odo, odo[1:], strict=False))
    assert odo[-1] > odo[0]
    for a, b in zip(snaps, snaps[1:], strict=False):
        dist = (b.odometer - a.odometer)
        dy = (b.lat - a.lat) * 111.32
        dx = (b.lon - a.lon) * 111.32 * math.cos(math.radians(a.lat))
        assert math.hypot(dx, dy) <= dist + 1e-6, "the GPS track is no longer than the distance driven"
        assert dist <= 130 / 3600 * (b.t - a.t) + 1e-6, "plausible speed"


def test_extremes_match_cell_and_probe_lists():
    gen = Generator(4, cells=120, probes=16, alarm_rate=0)
    for snap in _run(gen, 3600, 120):
        items = _items(gen.render(snap, 2016, T))
        cells = items[0x08]["subsystems"][0]["cell_voltages"]
        temps = items[0x09]["subsystems"][0]["temperatures"]
        ex = items[0x06]
        assert ex["max_cell_voltage"] == max(cells) and cells[ex["max_voltage_cell"] - 1] == max(cells)
        assert ex["min_cell_voltage"] == min(cells) and cells[ex["min_voltage_cell"] - 1] == min(cells)
        assert ex["max_temperature"] == max(temps) and temps[ex["max_temperature_probe"] - 1] == max(temps)
        assert ex["min_temperature"] == min(temps)


def test_2016_large_packs_rotate_200_cell_windows():
    gen = Generator(4, cells=450, alarm_rate=0)
    windows = set()
    for k in range(3):
        sub = _items(gen.render(gen.advance(k), 2016, T))[0x08]["subsystems"][0]
        assert sub["total_cells"] == 450 and len(sub["cell_voltages"]) <= 200
        windows.add(sub["first_cell"])
    assert windows == {1, 201, 401}


def test_2025_alarm_has_the_n5_level_list_and_no_extremes():
    gen = Generator(4, alarm_rate=0)
    gen.force_alarm(3, 10.0, 60)
    snap = gen.advance(12)
    items = _items(gen.render(snap, 2025, T))
    alarm = items[0x06]
    assert alarm["max_level"] == 3 and alarm["flags"] & (1 << 11)
    assert {"bit": 11, "level": 3} in alarm["general_levels"]
    assert len(alarm["general_levels"]) == bin(alarm["flags"]).count("1")
    assert items[0x01]["insulation_resistance"] < 3500, "an insulation alarm shows in the data"
    assert 0x30 not in items and len(items[0x07]["packs"][0]["cell_voltages"]) == 96


def test_random_alarms_rate_and_rarity_of_level3():
    gen = Generator(8, alarm_rate=6, level3_share=0.05)
    levels = [s.alarm_level for s in _run(gen, 20 * 3600, 10)]
    assert any(lv >= 1 for lv in levels)
    share3 = sum(1 for lv in levels if lv >= 3) / len(levels)
    assert share3 < 0.05, "level 3 is rare"
    quiet = Generator(8, alarm_rate=0)
    assert all(s.alarm_level == 0 for s in _run(quiet, 2 * 3600, 10) if s.soc >= 10 and s.temp <= 55)


def test_deterministic_by_seed():
    def trace(seed):
        g = Generator(seed, alarm_rate=5)
        return [encode(Frame(0x02, vin="X", body=g.render(s, 2016, T))) for s in _run(g, 3600, 30)]

    assert trace(42) == trace(42)
    assert trace(42) != trace(43)


def test_cell_and_probe_counts_are_parameters():
    gen = Generator(1, cells=10, probes=3, motors=2)
    items = _items(gen.render(gen.advance(0), 2025, T))
    assert len(items[0x07]["packs"][0]["cell_voltages"]) == 10
    assert len(items[0x08]["subsystems"][0]["temperatures"]) == 3
    if 0x02 in items:
        assert len(items[0x02]["motors"]) == 2
    with pytest.raises(ValueError):
        Generator(1, cells=0)
