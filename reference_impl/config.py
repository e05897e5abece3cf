"""Configuration of a reference platform: a YAML/JSON file plus command-line overrides.

```yaml
role: enterprise            # enterprise | local | national
name: ENT-PLATFORM-01       # our unique id (17 bytes max) in platform login frames
listen: 127.0.0.1:32960
editions: [2016, 2025]      # accepted on the same port
foreign_edition: error      # a frame of an edition not listed: error (answered 0x02 in its framing) | drop
storage: ./data/enterprise.sqlite
response_style: time-only   # time-only (main body 6.3.2) | full (2016 Annex B.3.3.2)
vehicles:                   # registered vehicles
  - {vin: LVBV3J0B6JE900252, public_service: true, region: "110000"}
accounts:                   # platforms allowed to log in here (local/national role)
  - {platform_id: ENT-PLATFORM-01, username: ent01, password: secret}
upstreams:                  # enterprise role: where to relay
  - {name: local-110000, host: 127.0.0.1, port: 32961, role: local, region: "110000",
     platform_id: ENT-PLATFORM-01, username: ent01, password: secret}
timers: {report_period: 10}
thresholds: {cell_over_voltage: 4.25}
defects: []                 # self-tests only
data_call_mode: platform-forward   # or terminal-link
relay_custom_units: false   # 2.2/c: custom data units are stripped from relays unless the peers agreed
security: {sm2_private_key: "…", vehicles: {LVBV3J0B6JE900252: {sm4: "…"}}}  # reference_impl/security.py
```
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.protocol.timers import Timers

ROLES = ("enterprise", "local", "national")


@dataclass(frozen=True)
class Vehicle:
    vin: str
    public_service: bool = False
    region: str = ""


@dataclass(frozen=True)
class Account:
    platform_id: str
    username: str
    password: str
    region: str = ""


@dataclass(frozen=True)
class Upstream:
    name: str
    host: str
    port: int
    role: str = "local"  # local | national
    region: str = ""
    platform_id: str = ""
    username: str = ""
    password: str = ""
    encryption_rule: int = 0x01
    edition: int = 2016


@dataclass(frozen=True)
class Thresholds:
    """Warnings raised by the platform (notice 1.2/e); None switches a check off."""

    cell_over_voltage: float | None = 4.25  # V
    max_temperature: float | None = 60.0  # °C
    soc_jump: float | None = 10.0  # % between consecutive frames
    min_insulation: float | None = 100.0  # kΩ
    warning_level: int = 2  # level sent with control 0x82/0x06


@dataclass
class PlatformConfig:
    role: str = "enterprise"
    name: str = "REFERENCE"
    listen: str = "127.0.0.1:0"
    editions: tuple[int, ...] = (2016, 2025)
    foreign_edition: str = "error"  # a frame of an edition not in `editions`: "error" (answer 0x02) or "drop"
    storage: str = "platform.sqlite"
    response_style: str = "time-only"
    vehicles: dict[str, Vehicle] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    upstreams: list[Upstream] = field(default_factory=list)
    timers: Timers = field(default_factory=Timers)
    thresholds: Thresholds = field(default_factory=Thresholds)
    defects: frozenset[str] = frozenset()
    data_call_mode: str = "platform-forward"
    relay_custom_units: bool = False  # 2.2/c: relay custom data units (0x80-0xFE) only when the peers agreed
    accept_unknown_vins: bool = False
    control_port: int | None = None  # gRPC control (issue 4)
    security: dict[str, Any] = field(default_factory=dict)  # keys and crypto options: reference_impl/security.py

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


def from_dict(data: dict[str, Any]) -> PlatformConfig:
    """Build a config from plain data; unknown keys are an error, not silently ignored."""
    data = dict(data)
    known = {f.name for f in dataclasses.fields(PlatformConfig)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
    cfg = PlatformConfig()
    for key, value in data.items():
        if key == "vehicles":
            value = {v["vin"]: Vehicle(**v) for v in value}
        elif key == "accounts":
            value = {a["platform_id"]: Account(**a) for a in value}
        elif key == "upstreams":
            value = [Upstream(**u) for u in value]
        elif key == "timers":
            value = Timers(**value) if isinstance(value, dict) else value
        elif key == "thresholds":
            value = Thresholds(**value) if isinstance(value, dict) else value
        elif key == "defects":
            value = frozenset(value)
        elif key == "editions":
            value = tuple(int(e) for e in value)
        setattr(cfg, key, value)
    validate(cfg)
    return cfg


def validate(cfg: PlatformConfig) -> None:
    from .defects import DEFECTS

    if cfg.role not in ROLES:
        raise ValueError(f"role {cfg.role!r} is not one of {', '.join(ROLES)}")
    bad = set(cfg.defects) - set(DEFECTS)
    if bad:
        raise ValueError(f"unknown defect switches: {', '.join(sorted(bad))} (see --help)")
    if cfg.data_call_mode not in ("platform-forward", "terminal-link"):
        raise ValueError("data_call_mode is platform-forward or terminal-link")
    if cfg.foreign_edition not in ("error", "drop"):
        raise ValueError("foreign_edition is error or drop")
    if cfg.response_style not in ("time-only", "full"):
        raise ValueError("response_style is time-only or full")
    if len(cfg.name.encode()) > 17:
        raise ValueError("name (the platform's unique id) has at most 17 bytes")
    agreed = (cfg.security or {}).get("upstreams") or {}
    for up in cfg.upstreams:  # §5.2.5: an agreed encryption rule needs its key (else data would go in plaintext)
        field = {0x02: "rsa_public_key", 0x03: "aes", 0x04: "sm2_public_key", 0x05: "sm4"}.get(up.encryption_rule)
        if up.encryption_rule != 0x01 and (field is None or not (agreed.get(up.name) or {}).get(field)):
            raise ValueError(f"upstream {up.name}: encryption_rule 0x{up.encryption_rule:02X} needs "
                             f"security.upstreams.{up.name}.{field or '(a cipher 0x02-0x05)'}")


def load(path: str | Path) -> PlatformConfig:
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith(".json"):
        return from_dict(json.loads(text))
    import yaml

    return from_dict(yaml.safe_load(text) or {})
