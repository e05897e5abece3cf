"""Generated fleets with KNOWN data defects, for testing the assessment and for benchmarks.

The physically consistent data comes from `harness.terminal.generator.Generator`; this module
renders it to frames and, off by default, injects defects at known rates. Every injection is
recorded in `Fleet.truth`, so a test can compare what the assessment measured with what was done.

Injected value defects go to items no consistency check reads (speed, insulation resistance,
DC-DC state), so value and consistency injections can be measured independently.
"""

from __future__ import annotations

import csv
import datetime as _dt
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.protocol import codec
from harness.protocol.messages import info_types
from harness.protocol.schema import ABNORMAL, INVALID, Scalar, Timestamp
from harness.terminal.generator import Generator

from .records import GMT8

VALUE_CANDIDATES = ("speed", "insulation_resistance", "dcdc_state", "accelerator_pedal")
REFERENCE_ITEMS = ("vehicle.speed", "vehicle.soc", "vehicle.odometer", "vehicle.total_voltage",
                   "vehicle.total_current")
START = 1_780_000_000.0  # an epoch second in 2026 (receive clock)


@dataclass
class Injection:
    """Per-record probabilities of each defect (0 = off). `stuck` freezes one vehicle item's raw value."""

    null: float = 0.0
    abnormal: float = 0.0
    out_of_range: float = 0.0
    late: float = 0.0
    duplicate: float = 0.0
    inconsistent: float = 0.0
    reissue: float = 0.0
    gaps_per_vehicle: int = 0
    stuck: str | None = None
    late_by: float = 120.0
    gap_s: float = 180.0


@dataclass
class Fleet:
    frames: list[tuple[float, bytes]]
    truth: Counter[str] = field(default_factory=Counter)
    reference: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    vins: list[str] = field(default_factory=list)

    def write_reference(self, path: str | Path) -> Path:
        """The simulator's ground truth as a maker-style CSV (vin, time in GMT+8, physical values)."""
        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=["vin", "time", *REFERENCE_ITEMS])
            w.writeheader()
            for row in self.reference:
                w.writerow(row)
        return path


def _scalar(edition: int, name: str) -> Scalar:
    node = info_types(edition).known[0x01]
    for f in node.fields:
        if isinstance(f, Scalar) and f.name == name:
            return f
    raise KeyError(name)


def value_targets(edition: int) -> tuple[str, ...]:
    """Vehicle items that carry sentinels in `edition` and that no consistency check reads."""
    node = info_types(edition).known[0x01]
    names = {f.name for f in node.fields if isinstance(f, Scalar) and f.sentinels}
    return tuple(n for n in VALUE_CANDIDATES if n in names)[:3]


def vin_of(i: int) -> str:
    return f"LQTEST{i:011d}"


def fleet(vehicles: int = 4, duration: float = 1800.0, *, period: float = 10.0, edition: int = 2016, seed: int = 0,
          inject: Injection | None = None, cells: int = 96, alarm_rate: float = 0.0,
          level3: tuple[float, float] | None = None, alarm_period: float = 1.0) -> Fleet:
    """Render `vehicles` simulated vehicles for `duration` s at `period`, applying `inject`.
    `level3` = (start, length): a level-3 alarm in every vehicle, sampled every `alarm_period` s."""
    inj = inject or Injection()
    rng = random.Random(seed ^ 0x5EED)  # noqa: S311 - reproducible test data
    out = Fleet(frames=[])
    stuck_raw: dict[str, int] = {}
    for k in range(vehicles):
        vin = vin_of(k)
        out.vins.append(vin)
        gen = Generator(seed * 1000 + k, cells=cells, alarm_rate=alarm_rate, start_phase="drive")
        steps = int(duration // period)
        gap_starts = {rng.randrange(5, max(6, steps - 30)) for _ in range(inj.gaps_per_vehicle)}
        skip_until = -1
        times = [k * period for k in range(steps)]
        if level3 is not None:
            a0, a1 = level3[0], level3[0] + level3[1]
            times = sorted({*[x for x in times if not a0 <= x < a1],
                            *[a0 + k * alarm_period for k in range(int(level3[1] // alarm_period))]})
        for step, t in enumerate(times):
            if level3 is not None and t == level3[0]:
                gen.force_alarm(3, t, level3[1])
            collected = START + t
            when = Timestamp.from_datetime(_dt.datetime.fromtimestamp(collected + GMT8, _dt.UTC).replace(tzinfo=None))
            snap = gen.advance(t)
            body = gen.render(snap, edition, when)
            veh = body["items"][0]["data"]
            out.reference.append({
                "vin": vin, "time": str(when),
                **{key: _scalar(edition, key.split(".", 1)[1]).physical(veh[key.split(".", 1)[1]])
                   for key in REFERENCE_ITEMS}})
            if step in gap_starts:
                skip_until = step + int(inj.gap_s // period)
                out.truth["gaps"] += 1
            if step < skip_until:
                out.truth["dropped"] += 1
                continue
            if inj.stuck:
                name = inj.stuck.split(".", 1)[1]
                if snap.phase == "drive" and snap.speed > 0.05:
                    veh[name] = stuck_raw.setdefault(vin, veh[name])
            r = rng.random
            free = list(value_targets(edition))  # one defect per item per record keeps the truth exact
            for kind, p in (("null", inj.null), ("abnormal", inj.abnormal), ("out_of_range", inj.out_of_range)):
                if p and r() < p:
                    name = free.pop(rng.randrange(len(free)))
                    s = _scalar(edition, name)
                    if kind == "null":
                        veh[name] = INVALID[s.fmt]
                    elif kind == "abnormal":
                        veh[name] = ABNORMAL[s.fmt]
                    else:
                        veh[name] = (s.hi + 1) if s.hi is not None else max(s.enum or {0}) + 1
                    out.truth[f"{kind}:vehicle.{name}"] += 1
                    out.truth[f"{kind}_records"] += 1  # at most one per kind per record
            if inj.inconsistent and r() < inj.inconsistent:
                unit = body["items"][-2]["data"]["subsystems" if edition == 2016 else "packs"][0]
                unit["voltage"] += 200  # +20 V: far past the cell-sum tolerance
                out.truth["inconsistent"] += 1
            command = 0x02
            received = collected + 0.2
            if inj.reissue and r() < inj.reissue:
                command = 0x03
                received = collected + 300.0
                out.truth["reissue"] += 1
            elif inj.late and r() < inj.late:
                received = collected + inj.late_by
                out.truth["late"] += 1
            raw = codec.encode(codec.Frame(command, vin=vin, body=body, edition=edition))
            out.frames.append((received, raw))
            out.records += 1
            if inj.duplicate and r() < inj.duplicate:
                out.frames.append((received + 0.5, raw))
                out.truth["duplicate"] += 1
    out.frames.sort(key=lambda fr: fr[0])
    return out


def write_store(fl: Fleet, path: str | Path) -> Path:
    """Store the fleet's frames the way the reference platform does (`reference_impl.store.Store`)."""
    from harness.protocol.codec import decode
    from reference_impl.store import Store

    store = Store(path)
    try:
        for received, raw in fl.frames:
            f = decode(raw)
            ts = f.body["time"]
            at = _dt.datetime(2000 + ts[0], *ts[1:]).isoformat(sep=" ")
            store.add_frame(link="vehicle->enterprise", vin=f.vin, command=f.command, ack=f.ack, edition=f.edition,
                            collected_at=at, raw=raw, decoded=f.body, received_at=received)
        store.flush()
    finally:
        store.close()
    return Path(path)


def write_pcap(fl: Fleet, path: str | Path) -> Path:
    """The fleet's frames as a pcap, one TCP connection per vehicle (the harness's evidence writer)."""
    from harness.protocol.codec import decode
    from harness.report.evidence import frame_evidence
    from harness.report.evidence import write_pcap as _write

    evs = [frame_evidence(raw, f"vehicle {decode(raw).vin} -> enterprise", "->", received)
           for received, raw in fl.frames]
    return _write(evs, path)
