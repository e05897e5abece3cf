"""Quality thresholds (a PIXIT part): shipped defaults in `thresholds.yaml`, merged with a user file.

The official limits of GB/T 32960.4-2025 are not public; the defaults are ours and say so.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

DEFAULTS_PATH = Path(__file__).with_name("thresholds.yaml")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The defaults, then `path` (YAML), then `overrides`, each merged key by key."""
    data = yaml.safe_load(DEFAULTS_PATH.read_text(encoding="utf-8"))
    if path is not None:
        user = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(user, dict):
            raise ValueError(f"{path}: thresholds must be a mapping")
        data = _merge(data, user)
    if overrides:
        data = _merge(data, overrides)
    return data


def item_limits(th: dict[str, Any], item: str) -> dict[str, float]:
    """null/abnormal/out_of_range limits of one item (the item's own, else the default)."""
    rates = th["rates"]
    return {**rates["default"], **rates.get("items", {}).get(item, {})}
