"""A maker's CAN log (candump -l format) plus a mapping file, as reference data for the comparison.

candump lines: `(1780000000.123456) can0 18FF50E5#0102030405060708` (ids of 3 hex digits are standard,
8 are extended). The mapping (YAML) names the vehicle and, per item, where its signal sits:

    vin: LQTEST00000000000          # a CAN log is one vehicle's
    max_age_s: 1.0                  # a signal older than this at a collection second is not used
    signals:
      vehicle.speed: {id: 0x18FF50E5, start_byte: 0, length: 2, byteorder: little, scale: 0.1, offset: 0}

Physical value = raw * scale + offset (raw unsigned, `length` bytes from `start_byte`). For every
whole second the log covers, the reference value of an item is its latest frame at or before the end
of that second (sample and hold), when it is at most `max_age_s` old.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import re
from pathlib import Path
from typing import Any

import yaml

from .records import GMT8

LINE = re.compile(r"^\((\d+(?:\.\d+)?)\)\s+\S+\s+([0-9A-Fa-f]{3,8})#([0-9A-Fa-f]*)\s*$")


def parse_log(path: str | Path) -> list[tuple[float, int, bytes]]:
    """(time, CAN id, data) per line; lines that are not candump frames are skipped."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        m = LINE.match(line.strip())
        if m:
            out.append((float(m.group(1)), int(m.group(2), 16), bytes.fromhex(m.group(3))))
    return out


def reference_rows(log: str | Path, mapping: str | Path) -> tuple[list[str], dict[tuple[str, float], dict[str, Any]]]:
    """Items and rows keyed by (vin, epoch second), like `reference.load_csv`; rows are sampled
    (`_sampled`), so seconds the vehicle did not report are not counted as missing."""
    spec = yaml.safe_load(Path(mapping).read_text(encoding="utf-8"))
    vin = str(spec["vin"])
    max_age = float(spec.get("max_age_s", 1.0))
    signals: dict[str, dict[str, Any]] = spec["signals"]
    series: dict[str, tuple[list[float], list[float]]] = {item: ([], []) for item in signals}
    frames = parse_log(log)
    for t, can_id, data in frames:
        for item, sig in signals.items():
            if int(sig["id"]) != can_id:
                continue
            start, length = int(sig.get("start_byte", 0)), int(sig.get("length", 1))
            if len(data) < start + length:
                continue
            raw = int.from_bytes(data[start:start + length], sig.get("byteorder", "little"))
            ts, vs = series[item]
            ts.append(t)
            vs.append(raw * float(sig.get("scale", 1)) + float(sig.get("offset", 0)))
    rows: dict[tuple[str, float], dict[str, Any]] = {}
    if not frames:
        return list(signals), rows
    first, last = int(min(f[0] for f in frames)), int(max(f[0] for f in frames))
    for sec in range(first, last + 2 + int(max_age)):  # a held value outlives the log's last line by max_age
        row: dict[str, Any] = {"vin": vin, "_sampled": True,
                               "time": _dt.datetime.fromtimestamp(sec + GMT8, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S")}
        for item, (ts, vs) in series.items():
            k = bisect.bisect_right(ts, sec + 0.999999) - 1
            if k >= 0 and sec - ts[k] <= max_age:
                row[item] = vs[k]
        if len(row) > 3:
            rows[(vin, float(sec))] = row
    return list(signals), rows
