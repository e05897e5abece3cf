"""Data-quality assessment in the manner of GB/T 32960.4-2025 (spec §10): one streaming pass.

- Per data item: null (0xFF..), abnormal (0xFE..) and out-of-range shares against the edition's
  declared ranges (`Scalar.lo/hi`, enum codes); record-level NVR/AVR (a record counts once).
- Presence of the information types a real-time record must carry.
- Timing: period compliance (normal and level-3 alarm), gaps, drift, out-of-order, duplicates, reissue.
- Physical consistency: each check counts what it compared and how far the worst miss was.

Items are named `<info type>.<field>`; list members `<info type>.<list>.<field>`, cell lists
`<info type>.<list>[]`. Values are raw in the walk (fast) and physical in the report.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from harness.protocol.messages import info_types
from harness.protocol.schema import ABNORMAL, INVALID, Count, List, Scalar, Struct

from . import thresholds as _th
from .records import REISSUE, Record, SourceStats

SERIES_ITEMS = ("vehicle.speed", "vehicle.soc", "vehicle.total_voltage", "vehicle.total_current")
SERIES_VINS = 3
SERIES_POINTS = 4000
ALARM_TYPE = {2016: 0x07, 2025: 0x06}


# ------------------------------------------------------------------ compiled walk plans


@dataclass(frozen=True)
class ItemInfo:
    key: str
    unit: str
    scalar: Scalar


def _plan(struct: Struct, prefix: str, infos: dict[str, ItemInfo]) -> tuple:
    """(field name, kind, key, invalid, abnormal, lo, hi, enum, sub-plan) per field worth counting."""
    out = []
    for f in struct.fields:
        if isinstance(f, Count):
            continue  # counts are implied by the list lengths
        if isinstance(f, Scalar):
            if f.bits is not None:
                continue  # bit fields have no sentinels and no range
            key = f"{prefix}.{f.name}"
            infos[key] = ItemInfo(key, f.unit, f)
            out.append((f.name, "s", key, INVALID[f.fmt] if f.sentinels else None,
                        ABNORMAL[f.fmt] if f.sentinels else None,
                        f.lo, f.hi, frozenset(f.enum) if f.enum else None, None))
        elif isinstance(f, List):
            if isinstance(f.item, Scalar):
                s = f.item
                key = f"{prefix}.{f.name}[]"
                infos[key] = ItemInfo(key, s.unit, s)
                out.append((f.name, "l", key, INVALID[s.fmt] if s.sentinels else None,
                            ABNORMAL[s.fmt] if s.sentinels else None, s.lo, s.hi, None, None))
            elif isinstance(f.item, Struct):
                out.append((f.name, "t", f"{prefix}.{f.name}", None, None, None, None, None,
                            _plan(f.item, f"{prefix}.{f.name}", infos)))
    return tuple(out)


@cache
def plans(edition: int) -> tuple[dict[int, tuple[str, tuple]], dict[str, ItemInfo]]:
    infos: dict[str, ItemInfo] = {}
    out = {code: (node.name, _plan(node, node.name, infos)) for code, node in info_types(edition).known.items()}
    return out, infos


def _walk(plan: tuple, data: dict, counters: dict[str, list[int]]) -> int:
    """Count one struct's values; returns bit 1 if any null, bit 2 if any abnormal."""
    flags = 0
    for name, kind, key, inv, abn, lo, hi, enum, sub in plan:
        v = data.get(name)
        if v is None:
            continue
        if kind == "s":
            c = counters.get(key)
            if c is None:
                c = counters[key] = [0, 0, 0, 0]
            c[0] += 1
            if v == inv:
                c[1] += 1
                flags |= 1
            elif v == abn:
                c[2] += 1
                flags |= 2
            elif (lo is not None and v < lo) or (hi is not None and v > hi) or (enum is not None and v not in enum):
                c[3] += 1
        elif kind == "l":
            c = counters.get(key)
            if c is None:
                c = counters[key] = [0, 0, 0, 0]
            flags |= _list_counts(v, c, inv, abn, lo, hi)
        else:  # list of structs
            if not isinstance(v, list):
                c = counters.setdefault(key, [0, 0, 0, 0])
                c[0] += 1
                if int(v) in INVALID.values():
                    c[1] += 1
                    flags |= 1
                else:
                    c[2] += 1
                    flags |= 2
                continue
            for elem in v:
                flags |= _walk(sub, elem, counters)
    return flags


def _list_counts(v: Any, c: list[int], inv: int | None, abn: int | None, lo: int | None, hi: int | None) -> int:
    """A list of scalars (the generated walkers call this): same rules as `_walk`."""
    if not isinstance(v, list):
        c[0] += 1
        if int(v) in INVALID.values():
            c[1] += 1
            return 1
        c[2] += 1
        return 2
    if not v:
        return 0
    flags = 0
    c[0] += len(v)
    if inv is not None:
        k = v.count(inv)
        if k:
            c[1] += k
            flags |= 1
        k = v.count(abn)
        if k:
            c[2] += k
            flags |= 2
    if (lo is not None and min(v) < lo) or (hi is not None and max(v) > hi):
        c[3] += sum(1 for x in v if x != inv and x != abn
                    and ((lo is not None and x < lo) or (hi is not None and x > hi)))
    return flags


def compile_walker(plan: tuple, counters: dict[str, list[int]]) -> Any:
    """A walker specialised to one information type, with the counter lists and limits bound as
    constants: the generic `_walk` costs a tuple unpack and several branches per field and value,
    which is most of the assessment's time. `_walk` stays as the reference the tests compare with."""
    env: dict[str, Any] = {"_list_counts": _list_counts, "INVALID": INVALID}
    lines: list[str] = []
    n = [0]

    def bind(value: Any) -> str:
        n[0] += 1
        name = f"_k{n[0]}"
        env[name] = value
        return name

    def emit(pl: tuple, src: str, ind: str) -> None:
        for name, kind, key, inv, abn, lo, hi, enum, sub in pl:
            c = bind(counters.setdefault(key, [0, 0, 0, 0]))
            v = f"v{n[0]}"
            lines.append(f"{ind}{v} = {src}.get({name!r})")
            lines.append(f"{ind}if {v} is not None:")
            i2 = ind + "    "
            if kind == "s":
                lines.append(f"{i2}{c}[0] += 1")
                first = "if"
                if inv is not None:
                    lines.append(f"{i2}if {v} == {inv}:")
                    lines.append(f"{i2}    {c}[1] += 1")
                    lines.append(f"{i2}    f |= 1")
                    lines.append(f"{i2}elif {v} == {abn}:")
                    lines.append(f"{i2}    {c}[2] += 1")
                    lines.append(f"{i2}    f |= 2")
                    first = "elif"
                conds = []
                if lo is not None and lo > 0:
                    conds.append(f"{v} < {lo}")
                if hi is not None:
                    conds.append(f"{v} > {hi}")
                if enum is not None:
                    conds.append(f"{v} not in {bind(enum)}")
                if conds:
                    lines.append(f"{i2}{first} {' or '.join(conds)}:")
                    lines.append(f"{i2}    {c}[3] += 1")
            elif kind == "l":
                lines.append(f"{i2}f |= _list_counts({v}, {c}, {inv}, {abn}, {lo}, {hi})")
            else:
                e = f"e{n[0]}"
                lines.append(f"{i2}if not isinstance({v}, list):")
                lines.append(f"{i2}    {c}[0] += 1")
                lines.append(f"{i2}    if int({v}) in INVALID.values():")
                lines.append(f"{i2}        {c}[1] += 1")
                lines.append(f"{i2}        f |= 1")
                lines.append(f"{i2}    else:")
                lines.append(f"{i2}        {c}[2] += 1")
                lines.append(f"{i2}        f |= 2")
                lines.append(f"{i2}else:")
                lines.append(f"{i2}    for {e} in {v}:")
                emit(sub, e, i2 + "        ")
                lines.append(f"{i2}        pass")

    emit(plan, "data", "    ")
    src = "def walk(data):\n    f = 0\n" + "\n".join(lines) + "\n    return f\n"
    exec(compile(src, "<quality walker>", "exec"), env)  # noqa: S102 - code built from our own schema
    return env["walk"]


# ------------------------------------------------------------------ consistency bookkeeping


@dataclass
class Check:
    """One physical-consistency check: what it compares, how often, how often and how far it missed."""

    name: str
    compares: str
    unit: str
    compared: int = 0
    failed: int = 0
    max_miss: float = 0.0
    worst: list[dict[str, Any]] = field(default_factory=list)
    max_seen: float = 0.0  # the largest difference over every comparison, failing or not

    def seen(self, miss: float) -> None:
        self.compared += 1
        if miss > self.max_seen:
            self.max_seen = miss

    def miss(self, vin: str, t: float | None, expected: float, actual: float, miss: float, keep: int = 5) -> None:
        self.failed += 1
        if miss > self.max_miss:
            self.max_miss = miss
        w = self.worst
        if len(w) < keep or miss > w[-1]["miss"]:
            w.append({"vin": vin, "time": t, "expected": round(expected, 6), "actual": round(actual, 6),
                      "miss": round(miss, 6)})
            w.sort(key=lambda e: -e["miss"])
            del w[keep:]


@dataclass
class _Vin:
    times: list[float] = field(default_factory=list)
    alarm_times: set[float] = field(default_factory=set)
    seen: set[float] = field(default_factory=set)
    last_rt: float = -math.inf
    prev_t: float | None = None
    prev_odo: int | None = None
    prev_pos: tuple[float, float] | None = None
    prev_soc: int | None = None
    prev_cur: float | None = None
    win_start_t: float | None = None
    win_start_soc: int | None = None
    win_ah: float = 0.0
    stuck: dict[str, list] = field(default_factory=dict)
    series: dict[str, list] | None = None


def _haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


# ------------------------------------------------------------------ the assessor


class Assessor:
    """Feed records (`add`) in arrival order, then `result()`. Memory: a few numbers per record time
    per vehicle (for gaps and duplicates), nothing per value."""

    def __init__(self, th: dict[str, Any] | None = None, *, series_vins: int = SERIES_VINS) -> None:
        self.th = th or _th.load()
        self.counters: dict[int, dict[str, list[int]]] = {}
        self._walkers: dict[int, dict[int, Any]] = {}
        self.interval_stats: dict[str, Any] | None = None  # set when partial assessments are merged
        self.series: dict[str, Any] | None = None
        self.vehicles: int | None = None
        self.records = 0
        self.null_records = 0
        self.abnormal_records = 0
        self.duplicates = 0
        self.reissues = 0
        self.bad_time = 0
        self.out_of_order = 0
        self.late = 0
        self.drift: list[float] = []
        self.editions: Counter[int] = Counter()
        self.presence: dict[int, dict[int, list[int]]] = {}
        self.vins: dict[str, _Vin] = {}
        self.series_vins = series_vins
        c = self.th["consistency"]
        self.checks = {
            "cell_sum": Check("cell_sum", "sum of the cell voltages vs the pack (subsystem) voltage", "V"),
            "extremes": Check("extremes", "2016 extremes (0x06) vs max/min of the full cell and probe lists",
                              "V or °C"),
            "soc_current": Check("soc_current", f"SOC change vs integrated current over >= {c['soc_window_s']} s "
                                 f"(capacity {c['capacity_ah']} Ah)", "SOC %"),
            "odometer": Check("odometer", "odometer never decreases", "km"),
            "position": Check("position", f"speed implied by consecutive positions <= {c['max_speed_kmh']} km/h",
                              "km/h"),
            "alarm_flags": Check("alarm_flags", "values past an alarm limit vs the alarm flag bit", "(value)"),
            "stuck": Check("stuck", f"a value identical for >= {c['stuck_records']} driving records while its "
                           f"coupled value changed in >= {c['stuck_partner_share']:.0%} of them",
                           "records"),
        }
        self._rules = [(r["bit"], r["item"].split(".", 1), r["below"]) for r in c.get("alarm_rules", [])]
        # these two checks read the vehicle data (0x01) only: say so rather than ignore another item
        named = [r["item"] for r in c.get("alarm_rules", [])] + [x for kv in c.get("stuck_items", {}).items()
                                                                 for x in kv]
        if any(not n.startswith("vehicle.") for n in named):
            raise ValueError(f"alarm_rules and stuck_items take vehicle.* items only, got {named}")
        # (frozen vehicle item, coupled vehicle item that moves while the first must move too)
        self._stuck_items = [(a.split(".", 1)[1], b.split(".", 1)[1]) for a, b in c.get("stuck_items", {}).items()]

    # -------------------------------------------------------------- per record

    def add(self, rec: Record) -> None:
        v = self.vins.get(rec.vin)
        if v is None:
            v = self.vins[rec.vin] = _Vin()
            if len(self.vins) <= self.series_vins:
                v.series = {k: [] for k in SERIES_ITEMS}
        t = rec.collected
        if t is None:
            self.bad_time += 1
            return
        if rec.stored_duplicate or t in v.seen:
            self.duplicates += 1
            return
        v.seen.add(t)
        self.records += 1
        ed = rec.edition
        self.editions[ed] += 1
        if rec.command == REISSUE:
            self.reissues += 1
        else:
            if t < v.last_rt:
                self.out_of_order += 1
            else:
                v.last_rt = t
            if rec.received is not None:
                d = rec.received - t
                self.drift.append(d)
                if d > self.th["timing"]["late_s"]:
                    self.late += 1
        v.times.append(t)
        plan_by_code, _ = plans(ed)
        walkers = self._walkers.get(ed)
        if walkers is None:
            walkers = self._walkers[ed] = {}
            self.counters[ed] = {}
        flags = 0
        by_type: dict[int, dict] = {}
        for item in rec.items:
            code = item.get("type")
            data = item.get("data")
            p = plan_by_code.get(code)
            if p is None or not isinstance(data, dict):
                continue
            by_type[code] = data
            w = walkers.get(code)
            if w is None:
                w = walkers[code] = compile_walker(p[1], self.counters[ed])
            flags |= w(data)
        if flags & 1:
            self.null_records += 1
        if flags & 2:
            self.abnormal_records += 1
        self._presence(ed, by_type)
        alarm = by_type.get(ALARM_TYPE[ed])
        if alarm is not None and isinstance(alarm.get("max_level"), int) and 3 <= alarm["max_level"] < 0xFE:
            v.alarm_times.add(t)
        self._consistency(rec, v, t, by_type)

    def _presence(self, ed: int, by_type: dict[int, dict]) -> None:
        spec = self.th["presence"].get(str(ed)) or {}
        table = self.presence.setdefault(ed, {})
        veh = by_type.get(0x01) or {}
        parked_charging = veh.get("charge_state") == 1
        for code in spec.get("always", []):
            c = table.setdefault(code, [0, 0])
            c[0] += 1
            if code not in by_type:
                c[1] += 1
        if not parked_charging:
            for code in spec.get("unless_parked_charging", []):
                c = table.setdefault(code, [0, 0])
                c[0] += 1
                if code not in by_type:
                    c[1] += 1

    def _consistency(self, rec: Record, v: _Vin, t: float, by_type: dict[int, dict]) -> None:
        ck = self.checks
        c = self.th["consistency"]
        ed = rec.edition
        vin = rec.vin
        veh = by_type.get(0x01)
        # ---- cell sums and 2016 extremes (within the record)
        volt = by_type.get(0x08 if ed == 2016 else 0x07)
        full_cells: list[int] | None = None
        if volt is not None:
            units = volt.get("subsystems" if ed == 2016 else "packs")
            if isinstance(units, list):
                for u in units:
                    cells = u.get("cell_voltages")
                    pv = u.get("voltage")
                    if not isinstance(cells, list) or not cells or not isinstance(pv, int) or pv >= 0xFFFE:
                        continue
                    if ed == 2016 and (u.get("first_cell") != 1 or u.get("total_cells") != len(cells)):
                        continue  # a window of a larger pack: the sum is not the pack's
                    if max(cells) >= 0xFFFE:
                        continue
                    total = sum(cells) / 1000.0
                    pack = pv * 0.1
                    miss = abs(total - pack)
                    ck["cell_sum"].seen(miss)
                    if miss > c["cell_sum_tolerance_v"] + c["cell_sum_tolerance_share"] * pack:
                        ck["cell_sum"].miss(vin, t, total, pack, miss)
                    if len(units) == 1:
                        full_cells = cells
        if ed == 2016:
            ext = by_type.get(0x06)
            if ext is not None and full_cells is not None and len(full_cells) <= 250:
                for name, want in (("max_cell_voltage", max(full_cells)), ("min_cell_voltage", min(full_cells))):
                    got = ext.get(name)
                    if isinstance(got, int) and got < 0xFFFE:
                        miss = abs(got - want) / 1000.0
                        ck["extremes"].seen(miss)
                        if miss > c["extreme_tolerance_v"]:
                            ck["extremes"].miss(vin, t, want / 1000.0, got / 1000.0, miss)
            temps = by_type.get(0x09)
            if ext is not None and temps is not None:
                subs = temps.get("subsystems")
                if isinstance(subs, list) and len(subs) == 1 and isinstance(subs[0].get("temperatures"), list):
                    tl = subs[0]["temperatures"]
                    if tl and max(tl) < 0xFE:
                        for name, want in (("max_temperature", max(tl)), ("min_temperature", min(tl))):
                            got = ext.get(name)
                            if isinstance(got, int) and got < 0xFE:
                                miss = abs(got - want)
                                ck["extremes"].seen(miss)
                                if miss > c["extreme_tolerance_c"]:
                                    ck["extremes"].miss(vin, t, want - 40, got - 40, miss)
        # ---- alarm flags vs values
        alarm = by_type.get(ALARM_TYPE[ed])
        if alarm is not None and self._rules:
            flags = alarm.get("flags")
            if isinstance(flags, int):
                for bit, (typ, name), below in self._rules:
                    val = self._phys(ed, typ, name, by_type)
                    if val is None:
                        continue
                    ck["alarm_flags"].seen(max(0.0, below - val) if not flags >> bit & 1 else 0.0)
                    if val < below and not flags >> bit & 1:
                        ck["alarm_flags"].miss(vin, t, below, val, below - val)
        if veh is None:
            return
        # ---- time series for the report
        if v.series is not None:
            for key in SERIES_ITEMS:
                typ, name = key.split(".", 1)
                s = v.series[key]
                if len(s) < SERIES_POINTS:
                    raw = veh.get(name)
                    if raw is not None:
                        s.append((t, self._phys(ed, typ, name, by_type), "null" if raw in (0xFFFF, 0xFFFFFFFF, 0xFF)
                                  else "abnormal" if raw in (0xFFFE, 0xFFFFFFFE, 0xFE) else "ok"))
        # ---- pairwise checks, in time order only (a late record cannot be differenced)
        if v.prev_t is not None and t <= v.prev_t:
            return
        dt = None if v.prev_t is None else t - v.prev_t
        odo = veh.get("odometer")
        if isinstance(odo, int) and odo < 0xFFFFFFFE:
            if v.prev_odo is not None:
                ck["odometer"].seen(max(0, v.prev_odo - odo) / 10)
                if odo < v.prev_odo:
                    ck["odometer"].miss(vin, t, v.prev_odo / 10, odo / 10, (v.prev_odo - odo) / 10)
            v.prev_odo = odo
        pos = by_type.get(0x05)
        if pos is not None:
            lon, lat = pos.get("longitude"), pos.get("latitude")
            st = pos.get("status", 0)
            if isinstance(lon, int) and isinstance(lat, int) and lon < 0xFFFFFFFE and lat < 0xFFFFFFFE \
                    and not st & 1:
                here = (-lon / 1e6 if st & 4 else lon / 1e6, -lat / 1e6 if st & 2 else lat / 1e6)
                if v.prev_pos is not None and dt:
                    kmh = _haversine_km(*v.prev_pos, *here) / dt * 3600
                    ck["position"].seen(max(0.0, kmh - c["max_speed_kmh"]))
                    if kmh > c["max_speed_kmh"]:
                        ck["position"].miss(vin, t, c["max_speed_kmh"], kmh, kmh - c["max_speed_kmh"])
                v.prev_pos = here
        # SOC vs coulomb count: trapezoid over consecutive records, windows restart at gaps/sentinels
        soc = veh.get("soc")
        cur_raw = veh.get("total_current")
        cur = None
        if isinstance(cur_raw, int) and cur_raw < 0xFFFE:
            cur = cur_raw * 0.1 - (1000 if ed == 2016 else 3000)
        if not isinstance(soc, int) or soc >= 0xFE or cur is None or dt is None or dt > self.th["timing"]["gap_s"]:
            v.win_start_t = t if isinstance(soc, int) and soc < 0xFE and cur is not None else None
            v.win_start_soc = soc if v.win_start_t is not None else None
            v.win_ah = 0.0
        else:
            if v.win_start_t is None:
                v.win_start_t, v.win_start_soc, v.win_ah = t, soc, 0.0
            else:
                v.win_ah += (cur + (v.prev_cur if v.prev_cur is not None else cur)) / 2 * dt / 3600.0
                if t - v.win_start_t >= c["soc_window_s"]:
                    expected = -v.win_ah / c["capacity_ah"] * 100.0
                    actual = soc - (v.win_start_soc or 0)
                    miss = abs(actual - expected)
                    ck["soc_current"].seen(miss)
                    if miss > c["soc_tolerance"]:
                        ck["soc_current"].miss(vin, t, expected, actual, miss)
                    v.win_start_t, v.win_start_soc, v.win_ah = t, soc, 0.0
        v.prev_cur = cur
        # stuck sensors: a value frozen for many driving records while a coupled value keeps moving
        # (a constant speed on a cruise is no defect; a constant current while the speed keeps changing is)
        driving = veh.get("vehicle_state") == 1 and isinstance(veh.get("speed"), int) and 0 < veh["speed"] < 0xFFFE
        for name, partner in self._stuck_items:
            val = veh.get(name)
            other = veh.get(partner)
            run = v.stuck.get(name)
            if not driving or val is None or other is None:
                v.stuck.pop(name, None)
                continue
            if run is None or run[0] != val:
                v.stuck[name] = [val, 1, 0, other]
                continue
            run[1] += 1
            if other != run[3]:
                run[2] += 1
                run[3] = other
            if run[1] >= c["stuck_records"] and run[2] >= c["stuck_partner_share"] * run[1] and not run[4:]:
                run.append(True)  # report a frozen run once
                ck["stuck"].miss(vin, t, 0, run[1], run[1])
        if driving:
            ck["stuck"].compared += 1
        v.prev_t = t

    def _phys(self, ed: int, typ: str, name: str, by_type: dict[int, dict]) -> float | None:
        code = {"vehicle": 0x01}.get(typ)
        if code is None:
            return None
        data = by_type.get(code)
        if data is None or name not in data:
            return None
        info = plans(ed)[1].get(f"{typ}.{name}")
        if info is None:
            return None
        p = info.scalar.physical(data[name])
        return p if isinstance(p, (int, float)) else None

    # -------------------------------------------------------------- partial assessments (parallel)

    def partial(self) -> Assessor:
        """This assessment with the per-vehicle state folded into totals: small enough to send from a
        worker process, and `merge`-able with the partials of other vehicles."""
        self.interval_stats = _intervals(self)
        self.series = {vin: v.series for vin, v in self.vins.items() if v.series is not None}
        self.vehicles = len(self.vins)
        self.vins = {}
        self._walkers = {}
        return self

    def merge(self, other: Assessor) -> None:
        """Add a partial assessment of OTHER vehicles (partitions by VIN never share a vehicle)."""
        for ed, counters in other.counters.items():
            mine = self.counters.setdefault(ed, {})
            for key, c in counters.items():
                m = mine.setdefault(key, [0, 0, 0, 0])
                for i in range(4):
                    m[i] += c[i]
        for name in ("records", "null_records", "abnormal_records", "duplicates", "reissues", "bad_time",
                     "out_of_order", "late"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.drift += other.drift
        self.editions.update(other.editions)
        for ed, table in other.presence.items():
            mine_p = self.presence.setdefault(ed, {})
            for code, (req, miss) in table.items():
                m = mine_p.setdefault(code, [0, 0])
                m[0] += req
                m[1] += miss
        for name, ck in other.checks.items():
            me = self.checks[name]
            me.compared += ck.compared
            me.failed += ck.failed
            me.max_miss = max(me.max_miss, ck.max_miss)
            me.max_seen = max(me.max_seen, ck.max_seen)
            me.worst = sorted(me.worst + ck.worst, key=lambda e: -e["miss"])[:5]
        mine_iv = self.interval_stats or {"intervals": Counter(), "normal": 0, "normal_ok": 0, "alarm_n": 0,
                                          "alarm_ok": 0, "gaps": [], "gap_count": 0}
        iv = other.interval_stats or _intervals(other)
        mine_iv["intervals"] = mine_iv["intervals"] + iv["intervals"]
        for k in ("normal", "normal_ok", "alarm_n", "alarm_ok", "gap_count"):
            mine_iv[k] += iv[k]
        mine_iv["gaps"] = (mine_iv["gaps"] + iv["gaps"])[:20]
        self.interval_stats = mine_iv
        self.series = {**(self.series or {}), **(other.series or {})}
        self.vehicles = (self.vehicles or 0) + (other.vehicles if other.vehicles is not None else len(other.vins))

    # -------------------------------------------------------------- summary

    def result(self, source: SourceStats | None = None) -> dict[str, Any]:
        return summarise(self, source)


def _rate(k: int, n: int) -> float:
    return k / n if n else 0.0


def _verdict(ok: bool, n: int, empty: str = "INCONC") -> str:
    return empty if n == 0 else ("PASS" if ok else "FAIL")


def summarise(a: Assessor, source: SourceStats | None) -> dict[str, Any]:
    th = a.th
    items: list[dict[str, Any]] = []
    for ed, counters in sorted(a.counters.items()):
        infos = plans(ed)[1]
        for key, (n, nul, abn, oor) in sorted(counters.items()):
            lim = _th.item_limits(th, key)
            info = infos.get(key)
            row = {"edition": ed, "item": key, "unit": info.unit if info else "",
                   "range": info.scalar.range_text() if info else "", "values": n,
                   "null": nul, "abnormal": abn, "out_of_range": oor,
                   "null_rate": _rate(nul, n), "abnormal_rate": _rate(abn, n), "out_of_range_rate": _rate(oor, n),
                   "limits": lim}
            ok = (row["null_rate"] <= lim["null"] and row["abnormal_rate"] <= lim["abnormal"]
                  and row["out_of_range_rate"] <= lim["out_of_range"])
            row["verdict"] = _verdict(ok, n, "N/A")  # an empty list (no fault codes) is not a finding
            items.append(row)
    n = a.records
    rec = {"records": n, "null_records": a.null_records, "abnormal_records": a.abnormal_records,
           "nvr": _rate(a.null_records, n), "avr": _rate(a.abnormal_records, n), "limits": th["records"]}
    rec["verdict"] = _verdict(rec["nvr"] <= th["records"]["nvr"] and rec["avr"] <= th["records"]["avr"], n)
    presence = []
    for ed, table in sorted(a.presence.items()):
        for code, (req, miss) in sorted(table.items()):
            node = info_types(ed).known.get(code)
            share = _rate(miss, req)
            presence.append({"edition": ed, "type": code, "name": node.name if node else f"0x{code:02X}",
                             "required": req, "missing": miss, "missing_share": share,
                             "verdict": _verdict(share <= th["presence"]["max_missing_share"], req)})
    timing = _timing(a)
    checks = []
    for ck in a.checks.values():
        share = _rate(ck.failed, ck.compared)
        checks.append({"check": ck.name, "compares": ck.compares, "unit": ck.unit, "compared": ck.compared,
                       "failed": ck.failed, "failed_share": share, "max_miss": round(ck.max_miss, 6),
                       "max_difference": round(ck.max_seen, 6),
                       "worst": ck.worst,
                       "verdict": _verdict(share <= th["consistency"]["max_failure_share"], ck.compared)})
    series = a.series if a.series is not None else {vin: v.series for vin, v in a.vins.items()
                                                    if v.series is not None}
    out = {"records": rec, "items": items, "presence": presence, "timing": timing, "consistency": checks,
           "editions": dict(a.editions), "vehicles": a.vehicles if a.vehicles is not None else len(a.vins),
           "series": dict(sorted(series.items())[:SERIES_VINS]), "gap_s": th["timing"]["gap_s"],
           "source": source.to_json() if source else None}
    verdicts = [r["verdict"] for r in items] + [rec["verdict"]] + [p["verdict"] for p in presence] \
        + [m["verdict"] for m in timing["metrics"]] + [c["verdict"] for c in checks]
    out["verdict"] = "FAIL" if "FAIL" in verdicts else ("PASS" if n else "INCONC")
    return out


def _intervals(a: Assessor) -> dict[str, Any]:
    """Per-vehicle interval statistics, summed over vehicles (so partial assessments merge)."""
    tt = a.th["timing"]
    period = tt["period_s"] + tt["period_tolerance_s"]
    intervals: Counter[int] = Counter()
    normal = normal_ok = alarm_n = alarm_ok = 0
    gaps: list[dict[str, Any]] = []
    gap_count = 0
    for vin, v in a.vins.items():
        ts = sorted(v.times)
        for prev, cur in zip(ts, ts[1:], strict=False):
            d = cur - prev
            intervals[int(round(d))] += 1
            if d > tt["gap_s"]:
                gap_count += 1
                if len(gaps) < 20:
                    gaps.append({"vin": vin, "from": prev, "to": cur, "seconds": d})
                continue  # a gap is reported as a gap, not also as a late period
            if cur in v.alarm_times and prev in v.alarm_times:
                alarm_n += 1
                alarm_ok += d <= tt["alarm_period_s"]
            else:
                normal += 1
                normal_ok += d <= min(period, tt["max_period_s"])
    return {"intervals": intervals, "normal": normal, "normal_ok": normal_ok, "alarm_n": alarm_n,
            "alarm_ok": alarm_ok, "gaps": gaps, "gap_count": gap_count}


def _timing(a: Assessor) -> dict[str, Any]:
    tt = a.th["timing"]
    iv = a.interval_stats if a.interval_stats is not None else _intervals(a)
    intervals, normal, normal_ok = iv["intervals"], iv["normal"], iv["normal_ok"]
    alarm_n, alarm_ok, gaps, gap_count = iv["alarm_n"], iv["alarm_ok"], iv["gaps"][:20], iv["gap_count"]
    drift = sorted(a.drift)
    n = a.records
    total = n + a.duplicates

    def pct(q: float) -> float | None:
        return round(drift[min(len(drift) - 1, int(q * len(drift)))], 3) if drift else None

    rt = n - a.reissues
    metrics = [
        {"metric": "period_compliance", "value": _rate(normal_ok, normal), "limit": tt["min_period_compliance"],
         "n": normal, "verdict": _verdict(_rate(normal_ok, normal) >= tt["min_period_compliance"], normal)},
        {"metric": "alarm_period_compliance", "value": _rate(alarm_ok, alarm_n),
         "limit": tt["min_alarm_period_compliance"], "n": alarm_n,
         "verdict": "N/A" if alarm_n == 0 else _verdict(_rate(alarm_ok, alarm_n) >= tt["min_alarm_period_compliance"],
                                                          alarm_n)},
        {"metric": "gaps", "value": gap_count, "limit": tt["max_gaps"], "n": sum(intervals.values()),
         "verdict": _verdict(gap_count <= tt["max_gaps"], n)},
        {"metric": "out_of_order_share", "value": _rate(a.out_of_order, rt), "limit": tt["max_out_of_order_share"],
         "n": rt, "verdict": _verdict(_rate(a.out_of_order, rt) <= tt["max_out_of_order_share"], rt)},
        {"metric": "duplicate_share", "value": _rate(a.duplicates, total), "limit": tt["max_duplicate_share"],
         "n": total, "verdict": _verdict(_rate(a.duplicates, total) <= tt["max_duplicate_share"], total)},
        {"metric": "late_share", "value": _rate(a.late, len(drift)), "limit": tt["max_late_share"], "n": len(drift),
         "verdict": "N/A" if not drift else _verdict(_rate(a.late, len(drift)) <= tt["max_late_share"], len(drift))},
        {"metric": "reissue_share", "value": _rate(a.reissues, n), "limit": tt["max_reissue_share"], "n": n,
         "verdict": _verdict(_rate(a.reissues, n) <= tt["max_reissue_share"], n)},
        {"metric": "max_abs_drift_s", "value": max((abs(x) for x in (drift[0], drift[-1])), default=None)
         if drift else None, "limit": tt["max_abs_drift_s"], "n": len(drift),
         "verdict": "N/A" if not drift else _verdict(max(abs(drift[0]), abs(drift[-1])) <= tt["max_abs_drift_s"],
                                                     len(drift))},
    ]
    return {"metrics": metrics, "counts": {"records": n, "duplicates": a.duplicates, "reissues": a.reissues,
                                           "out_of_order": a.out_of_order, "late": a.late, "bad_time": a.bad_time,
                                           "intervals_normal": normal, "intervals_alarm": alarm_n},
            "drift": {"median": pct(0.5), "p95": pct(0.95), "min": drift[0] if drift else None,
                      "max": drift[-1] if drift else None},
            "intervals": {str(k): c for k, c in sorted(intervals.items())}, "gaps": gaps}


def assess(records: Any, th: dict[str, Any] | None = None, source: SourceStats | None = None) -> dict[str, Any]:
    """Assess an iterable of `Record`s; the JSON-ready result."""
    a = Assessor(th)
    for rec in records:
        a.add(rec)
    return a.result(source)


def _store_worker(args: tuple[str, dict[str, Any], int, int, str | None]) -> tuple[Assessor, SourceStats]:
    from .records import from_store

    path, th, k, workers, link = args
    stats = SourceStats()
    a = Assessor(th)
    for rec in from_store(path, stats, link=link, part=(k, workers)):
        a.add(rec)
    return a.partial(), stats


def assess_store(path: str, th: dict[str, Any] | None = None, *, workers: int = 1, link: str | None = None
                 ) -> dict[str, Any]:
    """Assess a platform store; with `workers` > 1 the vehicles are split between processes by the
    last character of the VIN (a vehicle's records stay in one process, as timing needs)."""
    th = th or _th.load()
    if workers <= 1:
        stats = SourceStats()
        from .records import from_store

        a = Assessor(th)
        for rec in from_store(path, stats, link=link):
            a.add(rec)
        return a.result(stats)
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_store_worker, [(path, th, k, workers, link) for k in range(workers)])
    total = Assessor(th)
    stats = SourceStats()
    for part, st in parts:
        total.merge(part)
        for name in ("frames", "other_commands", "encrypted", "errors"):
            setattr(stats, name, getattr(stats, name) + getattr(st, name))
        stats.error_samples += st.error_samples
    return total.result(stats)

