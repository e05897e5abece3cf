"""Threshold monitoring (notice 1.2/e): the platform's own safety warnings.

Each check is edge-triggered per vehicle: a warning is raised when a value crosses its threshold,
not again for every frame while it stays there. A level-3 alarm reported by the vehicle is recorded
too, and switches the vehicle to the ≤1 s reporting rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.protocol.schema import Timestamp

from .config import Thresholds


def _cell_voltages(edition: int, items: list[dict]) -> Iterable[int]:
    for item in items:
        t, data = item["type"], item["data"]
        if (edition, t) in ((2016, 0x08), (2025, 0x07)) and isinstance(data, dict):
            for pack in data.get("subsystems" if edition == 2016 else "packs") or ():
                cells = pack["cell_voltages"]
                if isinstance(cells, list):
                    yield from (v for v in cells if v < 0xFFFE)


def _temperatures(edition: int, items: list[dict]) -> Iterable[int]:
    for item in items:
        if (edition, item["type"]) in ((2016, 0x09), (2025, 0x08)):
            for sub in item["data"].get("subsystems") or ():
                temps = sub["temperatures"]
                if isinstance(temps, list):
                    yield from (t for t in temps if t < 0xFE)


class ThresholdMonitor:
    def __init__(self, thresholds: Thresholds, alarm_period: float = 1.0) -> None:
        self.t = thresholds
        self.alarm_period = alarm_period
        self._active: dict[tuple[str, str], bool] = {}
        self._soc: dict[str, int] = {}
        self._last_time: dict[str, Any] = {}
        self.alarm_mode: set[str] = set()

    def check(self, vin: str, edition: int, body: Any) -> list[tuple[str, str, bool]]:
        """(kind, detail, is_level3) for every warning that starts with this frame."""
        if not isinstance(body, dict):
            return []
        items = body.get("items") or []
        found: list[tuple[str, str, bool]] = []

        def edge(kind: str, tripped: bool, detail: str, level3: bool = False) -> None:
            was = self._active.get((vin, kind), False)
            self._active[(vin, kind)] = tripped
            if tripped and not was:
                found.append((kind, detail, level3))

        t = self.t
        if t.cell_over_voltage is not None:
            top = max(_cell_voltages(edition, items), default=None)
            if top is not None:
                edge("cell-over-voltage", top * 0.001 > t.cell_over_voltage,
                     f"max cell {top * 0.001:.3f} V > {t.cell_over_voltage} V")
        if t.max_temperature is not None:
            top = max(_temperatures(edition, items), default=None)
            if top is not None:
                edge("over-temperature", top - 40 > t.max_temperature, f"probe {top - 40} °C > {t.max_temperature} °C")
        for item in items:
            if item["type"] == 0x01:
                v = item["data"]
                soc, ins = v["soc"], v["insulation_resistance"]
                if t.soc_jump is not None and soc <= 100:
                    prev = self._soc.get(vin)
                    self._soc[vin] = soc
                    edge("soc-jump", prev is not None and abs(soc - prev) > t.soc_jump, f"SOC {prev} % -> {soc} %")
                if t.min_insulation is not None and ins < 0xFFFE:
                    edge("insulation", ins < t.min_insulation, f"insulation {ins} kΩ < {t.min_insulation} kΩ")
            alarm_type = 0x07 if edition == 2016 else 0x06
            if item["type"] == alarm_type:
                level = item["data"]["max_level"]
                in_alarm = 3 <= level < 0xFE
                edge("level3-alarm", in_alarm, f"vehicle reports alarm level {level}", level3=True)
                if in_alarm:
                    self.alarm_mode.add(vin)
                else:
                    self.alarm_mode.discard(vin)
        # during a level-3 alarm the vehicle must report at least every alarm period (≤1 s, §5.2.4)
        when = body.get("time")
        last, self._last_time[vin] = self._last_time.get(vin), when
        if vin in self.alarm_mode and last is not None and when is not None:
            try:
                gap = (Timestamp(*when).to_datetime() - Timestamp(*last).to_datetime()).total_seconds()
            except ValueError:
                gap = 0.0
            edge("alarm-period-exceeded", gap > self.alarm_period + 0.5,
                 f"{gap:g} s between frames during a level-3 alarm (at most {self.alarm_period:g} s)")
        return found
