"""GB/T 32960.4-2025 §5.3/§6.3 and Annex A.1: the quality of the data a terminal sends, judged by
the thresholds (ours by default: the official limits are not public). The id suffix is the
GB/T 32960.3 edition of the data."""

from scenarios.kit import case, role


def _fail_lines(rows, key):
    return [f"{r[key]}: {r}" for r in rows if r["verdict"] == "FAIL"]


@role("terminal")
@case("GBT32960.4-2025/A.1/01-{edition}",
      requirement="Null value rate and abnormal value rate of the real-time records (a record counts once if "
                  "any data unit is 0xFF../0xFE..), and per data item the null, abnormal and out-of-range shares, "
                  "are within the thresholds.")
def test_null_abnormal_range_rates(quality, expect, edition):
    rec = quality["records"]
    expect.count("records", rec["records"])
    expect.count("nvr", rec["nvr"])
    expect.count("avr", rec["avr"])
    expect.true(rec["records"] > 0, "the terminal sent no real-time records", path="records", expected="> 0",
                actual=0)
    expect.true(rec["verdict"] == "PASS", f"NVR {rec['nvr']:.4f} / AVR {rec['avr']:.4f} over {rec['limits']}",
                path="records.nvr/avr", expected=rec["limits"], actual={"nvr": rec["nvr"], "avr": rec["avr"]})
    bad = _fail_lines(quality["items"], "item")
    expect.true(not bad, f"{len(bad)} data items over their limits: {bad[:3]}", path="items", expected=[],
                actual=bad[:10])


@role("terminal")
@case("GBT32960.4-2025/A.1/02-{edition}",
      requirement="Every real-time record carries the information types it must: vehicle, position, alarm, "
                  "battery voltages and temperatures (2016: extremes) always, drive motors unless parked-charging.")
def test_required_information_types(quality, expect, edition):
    bad = _fail_lines(quality["presence"], "name")
    expect.true(bool(quality["presence"]), "no record to check", path="presence", expected="rows", actual=[])
    expect.true(not bad, f"information types missing: {bad}", path="presence", expected=[], actual=bad)


@role("terminal")
@case("GBT32960.4-2025/6.3/01-{edition}",
      requirement="Real-time records come at the configured period (at most 30 s; <= 1 s during a level-3 "
                  "alarm), with no gaps, in time order, without duplicates, late records or clock drift beyond "
                  "the thresholds.")
def test_reporting_timing(quality, expect, edition):
    bad = [m for m in quality["timing"]["metrics"] if m["verdict"] == "FAIL"]
    for m in quality["timing"]["metrics"]:
        if isinstance(m["value"], (int, float)):
            expect.count(m["metric"], m["value"])
    expect.true(not bad, "; ".join(f"{m['metric']} = {m['value']} (limit {m['limit']})" for m in bad),
                path="timing", expected="within limits", actual=bad)


@role("terminal")
@case("GBT32960.4-2025/6.3/02-{edition}",
      requirement="The data is physically consistent: cell voltages add up to the pack voltage, 2016 extremes "
                  "match the cell lists, SOC follows the integrated current, the odometer never decreases, "
                  "positions move at a plausible speed, alarm flags follow the values, no sensor is stuck.")
def test_physical_consistency(quality, expect, edition):
    checks = quality["consistency"]
    for c in checks:
        expect.count(f"{c['check']}.failed", c["failed"])
    expect.true(any(c["check"] == "stuck" and c["compared"] >= 30 for c in checks),
                "too few driving records to judge the sensors", path="consistency.stuck.compared",
                expected=">= 30", actual=next(c["compared"] for c in checks if c["check"] == "stuck"))
    bad = [c for c in checks if c["verdict"] == "FAIL"]
    expect.true(not bad, "; ".join(f"{c['check']}: {c['failed']}/{c['compared']} missed, max miss {c['max_miss']} "
                                   f"{c['unit']} ({c['compares']})" for c in bad),
                path="consistency", expected="no misses", actual=[{k: c[k] for k in ("check", "failed", "max_miss",
                                                                                       "worst")} for c in bad])
