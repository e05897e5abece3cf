"""Annex A.2-style comparison of received data with reference data, per item with tolerances.

The reference is a CSV (or a candump log with a mapping file, see `candump`): columns `vin`, `time`
(collection time, GMT+8, `YYYY-MM-DD hh:mm:ss`) and
one column per item in physical units, named like the assessment's items (`vehicle.speed`).
The simulator's ground truth is written in this form (`synth.Fleet.write_reference`); a maker's log
only has to be brought to it. A record is matched by (vin, collection time).
"""

from __future__ import annotations

import csv
import datetime as _dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .assess import plans
from .records import GMT8, Record


def load_csv(path: str | Path) -> tuple[list[str], dict[tuple[str, float], dict[str, str]]]:
    """Items (column names) and rows keyed by (vin, epoch seconds)."""
    rows: dict[tuple[str, float], dict[str, str]] = {}
    with Path(path).open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = [f for f in reader.fieldnames or [] if f not in ("vin", "time")]
        for row in reader:
            when = _dt.datetime.fromisoformat(row["time"]).replace(tzinfo=_dt.UTC).timestamp() - GMT8
            rows[(row["vin"].strip(), when)] = row
    return fields, rows


def _received_value(rec: Record, item: str) -> float | str | None:
    typ, name = item.split(".", 1)
    plan_by_code, infos = plans(rec.edition)
    info = infos.get(item)
    if info is None:
        return None
    for it in rec.items:
        p = plan_by_code.get(it.get("type"))
        if p is not None and p[0] == typ and isinstance(it.get("data"), dict) and name in it["data"]:
            return info.scalar.physical(it["data"][name])
    return None


def load(reference: str | Path, mapping: str | Path | None = None
         ) -> tuple[list[str], dict[tuple[str, float], dict[str, Any]]]:
    """A CSV reference, or a candump log with its mapping file (`candump.py`)."""
    if mapping is not None:
        from .candump import reference_rows

        return reference_rows(reference, mapping)
    return load_csv(reference)


def compare(records: Iterable[Record], reference: str | Path, th: dict[str, Any], *,
            mapping: str | Path | None = None) -> dict[str, Any]:
    """Per item: compared, matched (|received - reference| <= tolerance), match rate, max error, worst."""
    items, rows = load(reference, mapping)
    tol = th["reference"]["tolerances"]
    keep = int(th["reference"].get("worst", 5))
    stats = {i: {"item": i, "tolerance": float(tol.get(i, 0)), "compared": 0, "matched": 0, "max_error": 0.0,
                 "missing_in_received": 0, "worst": []} for i in items}
    matched_keys: set[tuple[str, float]] = set()
    for rec in records:
        key = (rec.vin, rec.collected)
        ref = rows.get(key)  # type: ignore[arg-type]
        if ref is None or key in matched_keys:
            continue  # not in the reference, or a duplicate already compared
        matched_keys.add(key)  # type: ignore[arg-type]
        for item in items:
            s = stats[item]
            want = ref.get(item)
            if want in (None, ""):
                continue
            got = _received_value(rec, item)
            s["compared"] += 1
            if not isinstance(got, (int, float)):
                err = float("inf")  # null/abnormal where the reference has a value
            else:
                err = abs(float(got) - float(want))
            # 1e-9: physical values are rounded decimals; do not fail a match on float noise
            if err <= s["tolerance"] + 1e-9:
                s["matched"] += 1
            if err > s["max_error"]:
                s["max_error"] = err
            w = s["worst"]
            if err > s["tolerance"] + 1e-9 and (len(w) < keep or err > w[-1]["error"]):
                w.append({"vin": rec.vin, "time": ref["time"], "reference": float(want),
                          "received": got if isinstance(got, (int, float)) else str(got), "error": err})
                w.sort(key=lambda e: -e["error"])
                del w[keep:]
    # sampled rows (a CAN log: one per second) are not records the vehicle had to report
    unmatched = sum(1 for k, r in rows.items() if k not in matched_keys and not r.get("_sampled"))
    out_items = []
    for s in stats.values():
        s["missing_in_received"] = unmatched
        s["match_rate"] = s["matched"] / s["compared"] if s["compared"] else 0.0
        s["verdict"] = "INCONC" if not s["compared"] else (
            "PASS" if s["match_rate"] >= th["reference"]["min_match_rate"] else "FAIL")
        for w in s["worst"]:
            if w["error"] == float("inf"):
                w["error"] = "null/abnormal"
        if s["max_error"] == float("inf"):
            s["max_error"] = "null/abnormal"
        out_items.append(s)
    return {"reference": str(reference), "reference_records": len(rows), "matched_records": len(matched_keys),
            "items": out_items,
            "verdict": "FAIL" if any(i["verdict"] == "FAIL" for i in out_items) else (
                "PASS" if out_items and all(i["verdict"] == "PASS" for i in out_items) else "INCONC")}
