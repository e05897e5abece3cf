"""The assessment measures known injected defects; a clean fleet measures clean."""

from __future__ import annotations

import pytest

from harness.quality import assess, records, synth
from harness.quality.reference import compare
from harness.quality.thresholds import load


def run(fl: synth.Fleet, **over):
    st = records.SourceStats()
    return assess.assess(records.from_frames(fl.frames, st), load(overrides=over or None), st)


def metric(res, name):
    return next(m for m in res["timing"]["metrics"] if m["metric"] == name)


def check(res, name):
    return next(c for c in res["consistency"] if c["check"] == name)


@pytest.mark.parametrize("edition", [2016, 2025])
def test_clean_fleet_measures_clean(edition):
    fl = synth.fleet(4, 1800, edition=edition, seed=3)
    res = run(fl)
    assert res["records"]["records"] == fl.records
    assert res["records"]["null_records"] == 0 and res["records"]["abnormal_records"] == 0
    assert all(i["null"] == i["abnormal"] == i["out_of_range"] == 0 for i in res["items"])
    assert all(p["missing"] == 0 for p in res["presence"])
    for c in res["consistency"]:
        assert c["failed"] == 0, c
        assert c["compared"] > 0 or (edition == 2025 and c["check"] == "extremes"), c
    assert metric(res, "period_compliance")["value"] == 1.0
    assert metric(res, "gaps")["value"] == 0
    assert res["verdict"] == "PASS"


@pytest.mark.parametrize("edition", [2016, 2025])
def test_injected_value_rates_are_measured(edition):
    inj = synth.Injection(null=0.05, abnormal=0.03, out_of_range=0.02)
    fl = synth.fleet(6, 3600, edition=edition, seed=7, inject=inj)
    res = run(fl)
    n = res["records"]["records"]
    assert n == fl.records
    # exact against the injection log ...
    assert res["records"]["null_records"] == fl.truth["null_records"]
    assert res["records"]["abnormal_records"] == fl.truth["abnormal_records"]
    by_item = {i["item"]: i for i in res["items"]}
    for name in synth.value_targets(edition):
        row = by_item[f"vehicle.{name}"]
        assert row["null"] == fl.truth[f"null:vehicle.{name}"]
        assert row["abnormal"] == fl.truth[f"abnormal:vehicle.{name}"]
        assert row["out_of_range"] == fl.truth[f"out_of_range:vehicle.{name}"]
    # ... and the record rates within binomial tolerance of the configured probabilities
    for rate, want in ((res["records"]["nvr"], 0.05), (res["records"]["avr"], 0.03)):
        assert abs(rate - want) < 4 * (want * (1 - want) / n) ** 0.5
    assert res["records"]["verdict"] == "FAIL"  # 5 % NVR is over the 1 % default
    # untouched items stay clean
    assert by_item["vehicle.soc"]["null"] == by_item["vehicle.soc"]["out_of_range"] == 0


def test_timing_defects_are_measured():
    inj = synth.Injection(late=0.03, duplicate=0.02, reissue=0.04, gaps_per_vehicle=1)
    fl = synth.fleet(5, 3600, seed=11, inject=inj)
    res = run(fl)
    counts = res["timing"]["counts"]
    assert counts["late"] == fl.truth["late"] > 0
    assert counts["duplicates"] == fl.truth["duplicate"] > 0
    assert counts["reissues"] == fl.truth["reissue"] > 0
    assert metric(res, "gaps")["value"] == fl.truth["gaps"] == 5
    # a late real-time record arrives after later ones: each is out of order, nothing else is
    assert counts["out_of_order"] == fl.truth["late"]
    total = fl.records + fl.truth["duplicate"]
    assert metric(res, "duplicate_share")["value"] == pytest.approx(fl.truth["duplicate"] / total)
    assert metric(res, "late_share")["verdict"] == "FAIL"
    assert metric(res, "gaps")["verdict"] == "FAIL"


def test_too_long_period_fails_compliance():
    fl = synth.fleet(3, 1800, period=40, seed=2)
    res = run(fl)
    assert metric(res, "period_compliance")["value"] == 0.0
    assert metric(res, "period_compliance")["verdict"] == "FAIL"
    ok = run(synth.fleet(3, 1800, period=10, seed=2))
    assert metric(ok, "period_compliance")["verdict"] == "PASS"


def test_inconsistent_cells_are_reported_with_the_miss():
    fl = synth.fleet(4, 1800, seed=5, inject=synth.Injection(inconsistent=0.05))
    res = run(fl)
    cs = check(res, "cell_sum")
    assert cs["failed"] == fl.truth["inconsistent"] > 0
    assert cs["compared"] == fl.records
    assert 19.9 <= cs["max_miss"] <= 20.1  # +20 V injected; the honest sum misses by < 0.05 V
    assert cs["worst"][0]["miss"] == cs["max_miss"]
    assert cs["verdict"] == "FAIL"


def test_stuck_current_sensor_is_caught():
    res = run(synth.fleet(3, 1800, seed=4, inject=synth.Injection(stuck="vehicle.total_current")))
    assert check(res, "stuck")["failed"] > 0
    assert check(res, "soc_current")["failed"] > 0  # the SOC moves, the frozen current says it should not


def test_odometer_and_position_jumps():
    from harness.protocol import codec

    fl = synth.fleet(1, 600, seed=1)
    frames = list(fl.frames)
    # rewrite record 20: odometer 5 km back, position 1 degree away
    received, raw = frames[20]
    frame = codec.decode(raw)
    veh = frame.body["items"][0]["data"]
    before = codec.decode(frames[19][1]).body["items"][0]["data"]["odometer"]
    veh["odometer"] -= 50
    pos = next(i["data"] for i in frame.body["items"] if i["type"] == 0x05)
    pos["latitude"] += 1_000_000
    frames[20] = (received, codec.encode(frame))
    res = run(synth.Fleet(frames=frames, records=len(frames)))
    odo = check(res, "odometer")
    # the miss is measured against the previous record (the vehicle moved on meanwhile)
    assert odo["failed"] == 1 and odo["max_miss"] == pytest.approx((before - veh["odometer"]) / 10)
    posc = check(res, "position")
    assert posc["failed"] == 2  # away and back
    assert posc["max_miss"] > 10_000  # 111 km in 10 s


def test_alarm_flag_missing_for_low_soc():
    from harness.protocol import codec

    fl = synth.fleet(1, 300, seed=1)
    frames = list(fl.frames)
    received, raw = frames[5]
    frame = codec.decode(raw)
    frame.body["items"][0]["data"]["soc"] = 2  # below the 5 % rule, flag bit 4 not set
    frames[5] = (received, codec.encode(frame))
    res = run(synth.Fleet(frames=frames, records=len(frames)))
    al = check(res, "alarm_flags")
    assert al["failed"] == 1 and al["max_miss"] == pytest.approx(3.0)


def test_reference_comparison_reports_the_perturbed_fraction_exactly(tmp_path):
    from harness.protocol import codec

    fl = synth.fleet(4, 1200, seed=9)
    ref = fl.write_reference(tmp_path / "truth.csv")
    frames = list(fl.frames)
    perturbed = set(range(0, len(frames), 7))  # every 7th record: speed off by 5 km/h
    for k in perturbed:
        received, raw = frames[k]
        frame = codec.decode(raw)
        frame.body["items"][0]["data"]["speed"] += 50
        frames[k] = (received, codec.encode(frame))
    st = records.SourceStats()
    out = compare(records.from_frames(frames, st), ref, load())
    by = {i["item"]: i for i in out["items"]}
    sp = by["vehicle.speed"]
    assert sp["compared"] == len(frames)
    assert sp["compared"] - sp["matched"] == len(perturbed)
    assert sp["match_rate"] == (len(frames) - len(perturbed)) / len(frames)
    assert sp["max_error"] == pytest.approx(5.0)
    assert sp["verdict"] == "FAIL"
    for other in ("vehicle.soc", "vehicle.odometer", "vehicle.total_voltage", "vehicle.total_current"):
        assert by[other]["match_rate"] == 1.0, by[other]


def test_candump_reference_with_mapping(tmp_path):
    """A CAN log of the true speed (sent 0.4 s before each collection second) matches the received
    data; the same log with every 5th speed frame 3 km/h off reports exactly those records."""
    import yaml

    from harness.protocol import codec

    fl = synth.fleet(1, 900, seed=6)
    mapping = tmp_path / "map.yaml"
    mapping.write_text(yaml.safe_dump({"vin": fl.vins[0], "max_age_s": 1.0, "signals": {
        "vehicle.speed": {"id": 0x18FF50E5, "start_byte": 0, "length": 2, "byteorder": "little", "scale": 0.1}}}))

    def log(off_every: int | None) -> tuple[str, int]:
        lines, off = [], 0
        for k, (_, raw) in enumerate(sorted(fl.frames, key=lambda f: f[0])):
            frame = codec.decode(raw)
            t = records.collection_epoch(tuple(frame.body["time"]))
            speed = frame.body["items"][0]["data"]["speed"]
            if off_every and k % off_every == 0:
                speed += 30
                off += 1
            lines.append(f"({t - 0.4:.6f}) can0 18FF50E5#{speed.to_bytes(2, 'little').hex().upper()}000000000000")
            lines.append(f"({t - 0.2:.6f}) can0 123#00")  # another id: ignored
        path = tmp_path / f"log{off_every}.log"
        path.write_text("\n".join(lines) + "\n")
        return str(path), off

    clean, _ = log(None)
    out = compare(records.from_frames(fl.frames, records.SourceStats()), clean, load(), mapping=mapping)
    (sp,) = out["items"]
    assert sp["compared"] == fl.records and sp["matched"] == fl.records and sp["missing_in_received"] == 0
    bad, off = log(5)
    out = compare(records.from_frames(fl.frames, records.SourceStats()), bad, load(), mapping=mapping)
    (sp,) = out["items"]
    assert sp["compared"] - sp["matched"] == off > 0
    assert sp["max_error"] == pytest.approx(3.0)


def test_level3_alarm_period():
    """During a level-3 alarm records must come at <= 1 s: 1 s passes, 5 s fails; normal periods unaffected."""
    ok = run(synth.fleet(2, 1200, seed=3, level3=(300, 120), alarm_period=1))
    m = metric(ok, "alarm_period_compliance")
    assert m["n"] > 200 and m["value"] == 1.0 and m["verdict"] == "PASS"
    assert metric(ok, "period_compliance")["verdict"] == "PASS"
    bad = run(synth.fleet(2, 1200, seed=3, level3=(300, 120), alarm_period=5))
    m = metric(bad, "alarm_period_compliance")
    assert m["n"] > 40 and m["value"] == 0.0 and m["verdict"] == "FAIL"
    clean = run(synth.fleet(2, 1200, seed=3))
    assert metric(clean, "alarm_period_compliance")["verdict"] == "N/A"  # no alarm: nothing to judge


def test_presence_counts_missing_types_and_excuses_motors_while_parked_charging():
    from harness.protocol import codec

    fl = synth.fleet(1, 600, seed=2)
    frames = list(fl.frames)

    def edit(k, fn):
        received, raw = frames[k]
        frame = codec.decode(raw)
        fn(frame.body)
        frames[k] = (received, codec.encode(frame))

    def drop(code):
        return lambda body: body.__setitem__("items", [i for i in body["items"] if i["type"] != code])

    for k in (3, 9, 17):
        edit(k, drop(0x05))  # position missing: always required
    for k in (4, 20):
        edit(k, drop(0x02))  # motors missing while driving
    for k in (30, 31):  # parked-charging without motors: not required
        edit(k, lambda body: body["items"][0]["data"].__setitem__("charge_state", 1))
        edit(k, drop(0x02))
    res = run(synth.Fleet(frames=frames, records=len(frames)))
    by = {p["name"]: p for p in res["presence"]}
    assert by["position"]["missing"] == 3 and by["position"]["required"] == len(frames)
    assert by["drive_motors"]["missing"] == 2 and by["drive_motors"]["required"] == len(frames) - 2
    assert by["position"]["verdict"] == by["drive_motors"]["verdict"] == "FAIL"
    assert by["alarm"]["missing"] == 0
