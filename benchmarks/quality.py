"""Data-quality assessment speed from a stored capture: prints records/s; never fails on speed.

    python benchmarks/quality.py            # one hour of 10,000 vehicles at 10 s: 3.6 M records
    python benchmarks/quality.py --quick    # 5,000 records, a few seconds (smoke test)
    python benchmarks/quality.py --records 360000

Target (issue 10): 3.6 M records assessed in under 5 minutes on this machine. The store is the
reference platform's SQLite schema (`reference_impl.store.SCHEMA`, table `frames` with raw bytes).
It is filled from 100 simulated vehicles (physically consistent frames, `harness.quality.synth`)
repeated under distinct VINs (the BCC recomputed), written in receive order, so the assessment
does the full work: read rows, decode every frame, walk every value, time and consistency checks.
The figure covers reading, decoding and assessing (not building the store), with one process per
core by default (`--workers 1` for a single core); the load of other work on the machine counts.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from harness.protocol.codec import bcc  # noqa: E402
from harness.quality import synth  # noqa: E402
from harness.quality.assess import assess_store  # noqa: E402
from reference_impl.store import SCHEMA  # noqa: E402

TARGET_RECORDS = 3_600_000
TARGET_SECONDS = 300.0
BASE_VEHICLES = 100
PERIOD = 10.0


def build_store(path: Path, n_records: int) -> tuple[int, int]:
    """Write about `n_records` real-time frames; returns (records, vehicles)."""
    per_vehicle = 360 if n_records >= 360 * BASE_VEHICLES else max(1, n_records // BASE_VEHICLES)
    base_vehicles = min(BASE_VEHICLES, max(1, n_records // per_vehicle))
    vehicles = max(1, n_records // per_vehicle)
    fl = synth.fleet(base_vehicles, per_vehicle * PERIOD, period=PERIOD, seed=1)
    by_vin: dict[str, list[tuple[float, bytes]]] = {}
    for received, raw in fl.frames:
        by_vin.setdefault(raw[4:21].decode(), []).append((received, raw))
    bases = [by_vin[v] for v in fl.vins]
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.executescript(SCHEMA)
    written = 0
    db.execute("BEGIN")
    for step in range(per_vehicle):  # receive order: every vehicle's sample k, then k+1
        rows = []
        for v in range(vehicles):
            received, raw = bases[v % base_vehicles][step]
            vin = synth.vin_of(v).encode()
            buf = bytearray(raw)
            buf[4:21] = vin
            buf[-1] = bcc(memoryview(buf)[2:-1])
            rows.append((received + (v % 1000) * 0.001, "vehicle->enterprise", vin.decode(), 2, 0xFE, 2016, None, 0,
                         bytes(buf), None))
        db.executemany("INSERT INTO frames (received_at, link, vin, command, ack, edition, collected_at, duplicate,"
                       " raw, decoded) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        written += len(rows)
    db.execute("COMMIT")
    db.close()
    return written, vehicles


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5,000 records: a smoke test, rough figures")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="processes (vehicles split by VIN; default: one per core)")
    ap.add_argument("--records", type=int, default=None, help=f"records to store and assess (default {TARGET_RECORDS})")
    args = ap.parse_args()
    n = args.records or (5_000 if args.quick else TARGET_RECORDS)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.db"
        t0 = time.perf_counter()
        written, vehicles = build_store(path, n)
        built = time.perf_counter() - t0
        size = os.path.getsize(path)
        print(f"store: {written} records, {vehicles} vehicles, {size / 1e6:.0f} MB, built in {built:.1f} s")
        t0 = time.perf_counter()
        res = assess_store(str(path), workers=args.workers)
        elapsed = time.perf_counter() - t0
    rate = res["records"]["records"] / elapsed if elapsed else 0.0
    projected = TARGET_RECORDS / rate if rate else float("inf")
    print(f"assessed: {res['records']['records']} records in {elapsed:.1f} s = {rate:,.0f} records/s "
          f"(read + decode + assess, {args.workers} process(es) on {os.cpu_count()} cores); "
          f"verdict {res['verdict']}")
    if written >= TARGET_RECORDS:
        met = elapsed <= TARGET_SECONDS
        print(f"target: {TARGET_RECORDS:,} records in <= {TARGET_SECONDS:.0f} s: {'met' if met else 'missed'} "
              f"({elapsed:.0f} s)")
    else:
        met = projected <= TARGET_SECONDS
        print(f"target: {TARGET_RECORDS:,} records in <= {TARGET_SECONDS:.0f} s: projected {projected:.0f} s at this "
              f"rate: {'met' if met else 'missed'} (projection from {written} records, not a full run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
