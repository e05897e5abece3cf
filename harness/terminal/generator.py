"""A physically consistent data generator for simulated vehicles (pure EV, one traction battery).

The generator is split in two so that thousands of vehicles stay cheap:

- `Generator.advance(t)` integrates a small physical state (speed, SOC, pack temperature, position,
  odometer, alarms) up to simulation time `t` and returns an immutable `Snapshot` of a few floats;
- `Generator.render(snapshot, edition, time)` turns a snapshot into a real-time data-unit body in
  the shape the codec expects (`{"time": Timestamp, "items": [{"type": t, "data": {...}}]}`, raw
  values, Count fields omitted). Rendering is a pure function of the snapshot, so a snapshot kept
  for local storage renders the same frame later (reissue keeps the original values).

Consistency rules the tests check: pack voltage = sum of the cell voltages (to the 0.1 V resolution
of the field), SOC follows the integrated current (positive current = discharge, the practice seen
in real frames, spec §3), the odometer never decreases, the position moves at the vehicle speed,
and the 2016 extremes (0x06) are the max/min of the cell and probe lists. Everything random comes
from one `random.Random(seed)`: the same seed gives the same vehicle.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from harness.protocol.messages import info_types
from harness.protocol.schema import List, Scalar, Struct, Timestamp

DRIVE, PARK, CHARGE = "drive", "park", "charge"

# Vehicle constants (a mid-size EV sedan). Why these: plausible currents (tens to a few hundred A)
# and a pack of ~50 kWh, so that SOC moves visibly over a simulated hour.
MASS = 1850.0  # kg
CRR = 0.011
CDA = 0.62  # m²
RHO = 1.2
G = 9.81
WHEEL_RADIUS = 0.33  # m
GEAR_RATIO = 9.7
ETA_DRIVE = 0.90
ETA_REGEN = 0.65
AUX_POWER = 600.0  # W drawn by the DC-DC while the vehicle is on
CAPACITY_AH = 150.0
CELL_R = 0.0012  # Ω per series cell
PACK_HEAT_CAPACITY = 3.0e5  # J/K
AMBIENT = 25.0

_RPM_PER_KMH = 1 / 3.6 / (2 * math.pi * WHEEL_RADIUS) * 60 * GEAR_RATIO
_RAD_PER_REV_MIN = 2 * math.pi / 60

CITIES = ((116.397, 39.909), (121.474, 31.230), (113.264, 23.129), (114.058, 22.543), (104.066, 30.572),
          (120.155, 30.274), (114.305, 30.593), (108.940, 34.341))

# (general alarm bit, level) for alarms forced by the operator or drawn at random; each one also
# changes the physics it names so that the data agrees with the alarm.
ALARM_BY_LEVEL = {1: 0, 2: 10, 3: 11, 4: 23}  # temperature difference, poor consistency, insulation, thermal event


class Snapshot(NamedTuple):
    """The physical state at simulation time `t` (seconds). Immutable and small."""

    seq: int
    t: float
    phase: str
    powered: bool
    speed: float  # km/h
    accel: float  # m/s²
    odometer: float  # km
    soc: float  # %
    current: float  # A, positive = discharge
    cell_v: float  # mean cell voltage under load, V
    temp: float  # pack mean temperature, °C
    lon: float
    lat: float
    insulation: int  # kΩ
    alarm_level: int
    alarm_bits: tuple[int, ...]
    alarm_levels: tuple[int, ...]
    motor_rpm: float
    motor_torque: float  # N·m, negative while regenerating
    motor_temp: float
    charge_done: bool


@dataclass
class _Alarm:
    bit: int
    level: int
    until: float


class Generator:
    """One simulated vehicle. `cells` series cells, `probes` temperature probes, `motors` motors.

    `alarm_rate` is the mean number of random alarm events per simulated hour; `level3_share` the
    fraction of them that are level 3 (rare by default).
    """

    def __init__(self, seed: int = 0, *, cells: int = 96, probes: int = 32, motors: int = 1,
                 alarm_rate: float = 0.2, level3_share: float = 0.02, start_phase: str | None = None) -> None:
        if not 1 <= cells <= 65531 or not 1 <= probes <= 65531 or not 1 <= motors <= 253:
            raise ValueError("cells and probes must be 1..65531, motors 1..253")
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - simulation data, reproducible by seed
        rng = self.rng
        self.cells = cells
        self.probes = probes
        self.motors = motors
        self.alarm_rate = alarm_rate
        self.level3_share = level3_share
        # manufacturing spread: a fixed per-cell offset (mV) and per-probe offset (°C)
        self.cell_offsets = [rng.randint(-6, 6) for _ in range(cells)]
        self.probe_offsets = [rng.choice((-1, 0, 0, 0, 1)) for _ in range(probes)]
        lon, lat = rng.choice(CITIES)
        self._lon = lon + rng.uniform(-0.15, 0.15)
        self._lat = lat + rng.uniform(-0.15, 0.15)
        self._heading = rng.uniform(0, 2 * math.pi)
        self._odo = rng.uniform(1000, 80000)
        self._soc = rng.uniform(35, 95)
        self._temp = AMBIENT + rng.uniform(-3, 5)
        self._speed = 0.0
        self._target = 0.0
        self._next_target = 0.0
        self._accel = 0.0
        self._current = 0.0
        self._insulation = rng.randint(2500, 5000)
        self._powered = True
        self._charge_current = 0.0
        self._charge_target = 90.0
        self._charge_done = False
        self._alarms: list[_Alarm] = []
        self._t: float | None = None
        self._seq = 0
        phase = start_phase or rng.choices((DRIVE, PARK, CHARGE), (0.7, 0.15, 0.15))[0]
        self._phase = PARK
        self._phase_end = 0.0
        self._pending_phase = phase
        self._last: Snapshot | None = None

    # ------------------------------------------------------------------ operator inputs

    def power_off(self, t: float) -> None:
        """Key off: the vehicle stops driving (the terminal keeps sampling)."""
        self.advance(t)
        self._powered = False
        self._enter(PARK, t)
        self._last = None  # the cached snapshot no longer holds

    def power_on(self, t: float) -> None:
        self.advance(t)
        self._powered = True

    def force_alarm(self, level: int, t: float, duration: float = 60.0) -> None:
        """Raise an alarm of `level` (1-4) now, lasting `duration` simulated seconds."""
        if level not in ALARM_BY_LEVEL:
            raise ValueError("alarm level must be 1..4")
        self.advance(t)
        self._alarms.append(_Alarm(ALARM_BY_LEVEL[level], level, t + duration))
        self._last = None  # the cached snapshot at t no longer holds

    # ------------------------------------------------------------------ physics

    def advance(self, t: float) -> Snapshot:
        """Integrate up to simulation time `t` (seconds, monotonic) and return the state there."""
        if self._t is None:
            self._t = t
            self._enter(self._pending_phase, t)
        elif t > self._t:
            dt_total = t - self._t
            # 1 s steps while driving (speed changes fast), coarser otherwise; bounded work per call
            step = 1.0 if self._phase == DRIVE else 10.0
            steps = max(1, min(int(math.ceil(dt_total / step)), 2000))
            h = dt_total / steps
            for _ in range(steps):
                self._step(self._t, h)
                self._t += h
            self._t = t
        elif self._last is not None and t == self._last.t:
            return self._last
        self._seq += 1
        snap = self._snapshot()
        self._last = snap
        return snap

    def _enter(self, phase: str, t: float) -> None:
        rng = self.rng
        if not self._powered and phase == DRIVE:
            phase = PARK
        self._phase = phase
        if phase == DRIVE:
            self._phase_end = t + rng.uniform(600, 2400)
            self._next_target = t
        elif phase == PARK:
            self._phase_end = t + rng.uniform(300, 3600)
            self._target = self._speed = 0.0
        else:
            self._speed = self._target = 0.0
            self._charge_done = False
            self._charge_target = max(rng.uniform(85, 100), min(100.0, self._soc + 10))
            # AC (7 kW) or DC fast charge; the pack current is negative while charging
            self._charge_current = -rng.choice((18.0, 18.0, 18.0, 120.0, 150.0))
            self._phase_end = t + 4 * 3600

    def _next_phase(self, t: float) -> None:
        rng = self.rng
        if self._phase == DRIVE:
            self._enter(CHARGE if self._soc < 30 or rng.random() < 0.25 else PARK, t)
        elif self._phase == PARK:
            self._enter(CHARGE if self._soc < 40 else DRIVE, t)
        else:
            self._charge_done = True
            self._enter(PARK if rng.random() < 0.5 else DRIVE, t)

    def _step(self, t: float, h: float) -> None:
        rng = self.rng
        if t >= self._phase_end or (self._phase == DRIVE and self._soc < 8):
            self._next_phase(t)
        pack_v = self.cells * self._ocv()
        if self._phase == DRIVE:
            if t >= self._next_target:
                self._target = rng.choices((0, 30, 45, 60, 80, 100, 115), (2, 3, 3, 3, 2, 2, 1))[0]
                self._next_target = t + rng.uniform(20, 120)
            v = self._speed / 3.6
            dv = (self._target - self._speed) / 3.6
            a = max(-3.0, min(2.0, dv / max(h, 1.0)))
            v_new = max(0.0, v + a * h)
            a = (v_new - v) / h if h > 0 else 0.0
            v_mid = (v + v_new) / 2
            p_wheel = (MASS * G * CRR + 0.5 * RHO * CDA * v_mid * v_mid + MASS * a) * v_mid
            p_batt = (p_wheel / ETA_DRIVE if p_wheel >= 0 else p_wheel * ETA_REGEN) + AUX_POWER
            self._current = p_batt / pack_v
            self._accel = a
            self._speed = v_new * 3.6
            dist = v_mid * h / 1000.0
            self._odo += dist
            if v_mid > 0.5:
                self._heading += rng.gauss(0, 0.02 * h)
            self._lat += dist * math.cos(self._heading) / 111.32
            self._lon += dist * math.sin(self._heading) / (111.32 * math.cos(math.radians(self._lat)))
        elif self._phase == CHARGE:
            self._accel = 0.0
            # constant current, tapering above 80 % SOC
            taper = 1.0 if self._soc < 80 else max(0.08, 1 - (self._soc - 80) / 22)
            self._current = self._charge_current * taper + AUX_POWER / pack_v
            if self._soc >= self._charge_target:
                self._phase_end = t  # charged: leave on the next step
        else:
            self._accel = 0.0
            self._current = 0.3 if not self._powered else 0.8  # standby drain
        # SOC follows the integrated current (coulomb counting)
        self._soc = min(100.0, max(0.0, self._soc - self._current * h / 3600.0 / CAPACITY_AH * 100.0))
        # pack temperature: Joule heat against cooling to ambient (stronger when active cooling runs)
        heat = self._current ** 2 * CELL_R * self.cells
        k = 60.0 if self._temp < 32 else 400.0
        thermal = any(a.bit == 23 for a in self._alarms)
        if thermal:
            heat += 4000.0  # thermal event: the pack heats on its own
        self._temp += (heat - k * (self._temp - AMBIENT)) * h / PACK_HEAT_CAPACITY
        self._alarm_step(t, h)

    def _ocv(self) -> float:
        s = self._soc / 100.0
        return 3.35 + 0.85 * s - 0.06 * (1 - s) ** 6

    def _alarm_step(self, t: float, h: float) -> None:
        self._alarms = [a for a in self._alarms if a.until > t]
        if self.alarm_rate > 0 and self.rng.random() < 1 - math.exp(-self.alarm_rate * h / 3600.0):
            r = self.rng.random()
            level = 3 if r < self.level3_share else (2 if r < 0.3 else 1)
            self._alarms.append(_Alarm(ALARM_BY_LEVEL[level], level, t + self.rng.uniform(30, 300)))
        ins_fault = any(a.bit == 11 for a in self._alarms)
        target = 80 if ins_fault else 3500
        self._insulation += int((target - self._insulation) * min(1.0, h / 5.0))

    def _snapshot(self) -> Snapshot:
        # hot path (a snapshot per vehicle per second): positional construction, no dict when quiet
        if self._alarms or self._soc < 10 or self._temp > 55:
            bits: dict[int, int] = {}
            for a in self._alarms:
                bits[a.bit] = max(bits.get(a.bit, 0), a.level)
            # alarms that follow from the state itself
            if self._soc < 10:
                bits[4] = max(bits.get(4, 0), 1)  # SOC low
            if self._temp > 55:
                bits[1] = max(bits.get(1, 0), 2)  # battery high temperature
            order = tuple(sorted(bits))
            levels = tuple(bits[b] for b in order)
            level = max(levels)
        else:
            order = levels = ()
            level = 0
        speed = self._speed
        ocv = self._ocv()
        rpm = speed * _RPM_PER_KMH
        omega = rpm * _RAD_PER_REV_MIN
        p_mech = self._current * self.cells * ocv - AUX_POWER
        p_mech = p_mech * ETA_DRIVE if p_mech > 0 else p_mech / ETA_REGEN
        torque = p_mech / omega if omega > 1 else 0.0
        return Snapshot(
            self._seq, float(self._t or 0.0), self._phase, self._powered, speed, self._accel, self._odo, self._soc,
            self._current, ocv - self._current * CELL_R, self._temp, self._lon, self._lat, self._insulation,
            level, order, levels, rpm, max(-2000.0, min(2000.0, torque)), self._temp + 10 + speed / 8,
            self._charge_done,
        )

    # ------------------------------------------------------------------ rendering

    def cell_voltages_mv(self, snap: Snapshot) -> list[int]:
        """Cell voltages in mV: the mean under load, a fixed per-cell offset and a little noise."""
        base = int(round(snap.cell_v * 1000))
        spread = 3 if 10 in snap.alarm_bits else 1  # poor consistency widens the spread
        s = snap.seq * 2654435761 + self.seed
        return [base + off * spread + ((s + i * 40503) >> 7) % 3 - 1 for i, off in enumerate(self.cell_offsets)]

    def probe_temperatures(self, snap: Snapshot) -> list[int]:
        """Probe temperatures in °C around the pack temperature."""
        base = int(round(snap.temp))
        spread = 6 if 0 in snap.alarm_bits else 1  # temperature difference alarm
        return [max(-40, min(210, base + off * spread)) for off in self.probe_offsets]

    def render(self, snap: Snapshot, edition: int, when: Timestamp, *, window: int | None = None) -> dict[str, Any]:
        """The real-time body for `snap`. 2016 packs of more than 200 cells carry one 200-cell
        window per frame (B.5 framing); `window` picks it (default: rotate with the sample number)."""
        f = _fields(edition)
        cells = self.cell_voltages_mv(snap)
        pack_mv = sum(cells)
        pack_raw = f["vehicle"]["total_voltage"].raw_from_physical(pack_mv / 1000.0)
        temps = self.probe_temperatures(snap)
        cur_raw = f["vehicle"]["total_current"].raw_from_physical(snap.current)
        driving = snap.phase == DRIVE and snap.speed > 0.05
        charging = snap.phase == CHARGE
        gear = 0x0F  # P
        if snap.phase == DRIVE:
            gear = 0x0E | (0x20 if snap.accel > 0.05 else 0) | (0x10 if snap.accel < -0.05 else 0)
        vehicle: dict[str, Any] = {
            "vehicle_state": 1 if snap.phase == DRIVE else 2,
            "charge_state": 1 if charging else (4 if snap.charge_done and snap.phase == PARK else 3),
            "run_mode": 1,
            "speed": int(round(snap.speed * 10)),
            "odometer": int(snap.odometer * 10),  # truncation keeps it monotonic
            "total_voltage": pack_raw,
            "total_current": cur_raw,
            "soc": int(round(snap.soc)),
            "dcdc_state": 1 if snap.phase != PARK else 2,
            "gear": gear,
            "insulation_resistance": min(60000, snap.insulation),
        }
        if edition == 2016:
            vehicle["accelerator_pedal"] = min(100, int(snap.accel * 40)) if snap.accel > 0 else 0
            vehicle["brake_pedal"] = min(100, int(-snap.accel * 30)) if snap.accel < 0 else 0
        items: list[dict[str, Any]] = [{"type": 0x01, "data": vehicle}]
        if not charging:
            items.append({"type": 0x02, "data": {"motors": self._motors(snap, edition, f, pack_mv, driving)}})
        status = 0 if snap.lat >= 0 else 2
        status |= 0 if snap.lon >= 0 else 4
        pos: dict[str, Any] = {"status": status}
        if edition == 2025:
            pos["datum"] = 1
        pos["longitude"] = int(round(abs(snap.lon) * 1e6))
        pos["latitude"] = int(round(abs(snap.lat) * 1e6))
        items.append({"type": 0x05, "data": pos})
        alarm = self._alarm(snap, edition)
        if edition == 2016:
            items.append({"type": 0x06, "data": self._extremes(cells, temps)})
            items.append({"type": 0x07, "data": alarm})
            items.append({"type": 0x08, "data": self._voltages_2016(cells, pack_mv, snap, f, window)})
            items.append({"type": 0x09, "data": {"subsystems": [{"no": 1, "temperatures": [x + 40 for x in temps]}]}})
        else:
            items.append({"type": 0x06, "data": alarm})
            items.append({"type": 0x07, "data": {"packs": [{
                "no": 1, "voltage": pack_raw, "current": f["pack"]["current"].raw_from_physical(snap.current),
                "cell_voltages": cells}]}})
            items.append({"type": 0x08, "data": {"subsystems": [{"no": 1, "temperatures": [x + 40 for x in temps]}]}})
        return {"time": when, "items": items}

    def _motors(self, snap: Snapshot, edition: int, f: dict[str, dict[str, Scalar]], pack_mv: int,
                driving: bool) -> list[dict[str, Any]]:
        m = f["motor"]
        state = (1 if snap.motor_torque >= 0 else 2) if driving else (4 if snap.phase == DRIVE else 3)
        out = []
        for k in range(self.motors):
            d: dict[str, Any] = {
                "seq": k + 1,
                "state": state,
                "controller_temperature": int(round(snap.motor_temp - 5)) + 40,
                "speed": m["speed"].raw_from_physical(round(snap.motor_rpm)),
                "torque": m["torque"].raw_from_physical(snap.motor_torque / self.motors),
                "temperature": int(round(snap.motor_temp)) + 40,
            }
            if edition == 2016:
                d["controller_input_voltage"] = m["controller_input_voltage"].raw_from_physical(pack_mv / 1000.0)
                # the DC bus current of the motors is the pack current minus the DC-DC load
                motor_i = snap.current - AUX_POWER * 1000.0 / pack_mv if driving else 0.0
                d["controller_dc_current"] = m["controller_dc_current"].raw_from_physical(motor_i / self.motors)
            out.append(d)
        return out

    def _alarm(self, snap: Snapshot, edition: int) -> dict[str, Any]:
        flags = 0
        for b in snap.alarm_bits:
            flags |= 1 << b
        level = min(snap.alarm_level, 3 if edition == 2016 else 4)
        ress = [0x00010000 | b for b in snap.alarm_bits if b in (0, 1, 2, 3, 4, 10, 11, 23)] if level >= 2 else []
        d: dict[str, Any] = {"max_level": level, "flags": flags if edition == 2025 else flags & 0x7FFFF,
                             "ress_fault_codes": ress, "motor_fault_codes": [], "engine_fault_codes": [],
                             "other_fault_codes": []}
        if edition == 2016:
            return d
        pairs = zip(snap.alarm_bits, snap.alarm_levels, strict=True)
        d["general_levels"] = [{"bit": b, "level": lv} for b, lv in pairs]
        return d

    @staticmethod
    def _extremes(cells: list[int], temps: list[int]) -> dict[str, Any]:
        vmax = max(cells)
        vmin = min(cells)
        tmax = max(temps)
        tmin = min(temps)
        imax, imin = cells.index(vmax) + 1, cells.index(vmin) + 1
        # one-byte cell codes cannot address cells past 250: send code 0 and 0xFFFF (sample S5 practice)
        big = len(cells) > 250
        return {
            "max_voltage_subsystem": 1, "max_voltage_cell": 0 if big else imax,
            "max_cell_voltage": 0xFFFF if big else vmax,
            "min_voltage_subsystem": 1, "min_voltage_cell": 0 if big else imin,
            "min_cell_voltage": 0xFFFF if big else vmin,
            "max_temperature_subsystem": 1, "max_temperature_probe": temps.index(tmax) + 1,
            "max_temperature": tmax + 40,
            "min_temperature_subsystem": 1, "min_temperature_probe": temps.index(tmin) + 1,
            "min_temperature": tmin + 40,
        }

    def _voltages_2016(self, cells: list[int], pack_mv: int, snap: Snapshot, f: dict[str, dict[str, Scalar]],
                       window: int | None) -> dict[str, Any]:
        n = len(cells)
        windows = (n + 199) // 200
        w = (snap.seq if window is None else window) % windows
        first = w * 200
        return {"subsystems": [{
            "no": 1, "voltage": f["vehicle"]["total_voltage"].raw_from_physical(pack_mv / 1000.0),
            "current": f["sub"]["current"].raw_from_physical(snap.current),
            "total_cells": n, "first_cell": first + 1, "cell_voltages": cells[first:first + 200]}]}


@cache
def _fields(edition: int) -> dict[str, dict[str, Scalar]]:
    """Scalar nodes by name, so scales and offsets come from the one protocol description."""
    known = info_types(edition).known

    def scalars(node: Struct) -> dict[str, Scalar]:
        return {f.name: f for f in node.fields if isinstance(f, Scalar)}

    def item(node: Struct, list_name: str) -> Struct:
        for f in node.fields:
            if isinstance(f, List) and f.name == list_name:
                assert isinstance(f.item, Struct)
                return f.item
        raise KeyError(list_name)

    out = {"vehicle": scalars(known[0x01]), "motor": scalars(item(known[0x02], "motors"))}
    if edition == 2016:
        out["sub"] = scalars(item(known[0x08], "subsystems"))
    else:
        out["pack"] = scalars(item(known[0x07], "packs"))
    return out
