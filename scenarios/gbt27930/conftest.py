"""The charging SUT: which role and version it plays comes from the PICS (`charging:` section).

```yaml
charging:
  charger: {version: 2015-compat}     # the charger under test (DP/DN cases and 4.6 charger cases)
  bms: {version: 2015-compat}         # the BMS under test (BP/BN cases and 4.6 BMS cases)
  options: {ccs_dlc: "7", bcs_group_offset: 0}   # choices where GB/T 27930 is open (spec §7)
```

Without one, both SUTs are our own simulators (2015-compat): the cases run on python-can's
virtual bus in every `pytest` run and must pass there. `--sut-defect NAME` switches a simulator
defect on (self-tests).

An external SUT (a lab's BMS or charger, or `gbt32960 charging serve`) is named by a bus: the
PIXIT's `charging.interface`/`charging.channel`, or `--can-interface`/`--can-channel` (which win).
Its role is the PICS's `charging.role` (or the only one of `charger`/`bms` it describes); the
harness then plays the other role on that bus, in real time, and the cases of the SUT's role run.
See docs/charging.md, "Testing a real BMS or charger".
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from harness.charging.bus import external_limit, gaps
from harness.charging.machine import DEFECTS, NODE_VERSIONS
from harness.plugin import Expect
from harness.protocol.timers import Timers
from scenarios.gbt27930.rig import DEFAULT_OPTIONS, ExternalSut, Rig


def charging_pics(pics: dict[str, Any]) -> dict[str, Any]:
    section = _section(pics)
    return {"charger": (section.get("charger") or {}).get("version", "2015-compat"),
            "bms": (section.get("bms") or {}).get("version", "2015-compat"),
            "options": {**DEFAULT_OPTIONS, **(section.get("options") or {})}}


def _section(pics: dict[str, Any]) -> dict[str, Any]:
    return (pics.get("features", pics) or {}).get("charging") or pics.get("charging") or {}


def _option(config: pytest.Config, name: str) -> Any:
    try:
        return config.getoption(name)
    except ValueError:  # the plugin that declares it is not loaded
        return None


def external_sut(config: pytest.Config, pics: dict[str, Any], pixit: dict[str, Any]) -> ExternalSut | None:
    """The external SUT named by the options / PIXIT bus and the PICS role, or None (our simulators)."""
    bus = pixit.get("charging") or {}
    interface = _option(config, "can_interface") or bus.get("interface")
    if not interface:
        return None
    channel = _option(config, "can_channel") or bus.get("channel")
    section = _section(pics)
    described = [r for r in ("charger", "bms") if section.get(r)]
    role = section.get("role") or (described[0] if len(described) == 1 else None)
    if role not in ("charger", "bms"):
        raise pytest.UsageError("an external charging SUT needs its role in the PICS: charging.role: charger|bms")
    version = str((section.get(role) or {}).get("version", "2015"))
    if version not in NODE_VERSIONS:
        raise pytest.UsageError(f"PICS charging.{role}.version {version!r}: one of {NODE_VERSIONS}")
    command = bus.get("start_command") or ()
    if isinstance(command, str):
        command = shlex.split(command)

    def number(key: str) -> float | None:
        return float(bus[key]) if bus.get(key) is not None else None

    return ExternalSut(role, version, str(interface), str(channel) if channel else None, tuple(map(str, command)),
                       quiet=number("quiet"), session_gap=number("session_gap"), start_wait=number("start_wait"),
                       limit=number("limit"), clock_tolerance=number("clock_tolerance") or 0.005)


def _charging_timers(timers: Timers) -> Timers:
    return Timers().with_(**{k: v for k, v in vars(timers).items()
                             if k.startswith(("charge_", "j1939_")) and v != getattr(Timers(), k)})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Against an external SUT a case runs in real time, bounded by its own session limits (several
    sessions for the fleet case), so the suite-wide pytest-timeout would cut it short: widen it."""
    path = config.getoption("pixit", None)
    pixit = (yaml_load(path) if path else {}) or {}
    bus = pixit.get("charging") or {}
    if not (_option(config, "can_interface") or bus.get("interface")):
        return
    timers = Timers().with_(**{k: v for k, v in (pixit.get("timers") or {}).items()
                               if k.startswith(("charge_", "j1939_"))})
    limit = float(bus.get("limit") or external_limit(timers))
    start_wait = float(bus.get("start_wait") or limit + gaps(timers).session_gap)
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.timeout(4 * (limit + start_wait) + 60))


def yaml_load(path: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


@pytest.fixture
def charging(pics: dict[str, Any], pixit: dict[str, Any], timers: Timers, expect: Expect,
             pytestconfig: pytest.Config) -> Rig:
    """The test system for one charging case: SUT and tester simulators on the virtual bus, or the
    tester alone against an external SUT on the bus the options / PIXIT name."""
    chosen = charging_pics(pics)
    external = external_sut(pytestconfig, pics, pixit)
    requested = frozenset(pytestconfig.getoption("sut_defect") or ())
    # defects are switched on in our simulators; an external SUT keeps them all (the rig says INCONC)
    defects = requested if external is not None else frozenset(d for d in requested if d in DEFECTS)
    # charging timers are the standard's unless the PIXIT overrides them: the clock is simulated, so
    # a 10-minute pause costs no wall time and compressing would only change what is tested
    charging_timers = _charging_timers(timers)
    if external is not None:
        expect.note(f"SUT: {external}; the harness plays the other role in real time; options {chosen['options']}")
    else:
        expect.note(f"SUT versions: charger {chosen['charger']}, BMS {chosen['bms']}; options {chosen['options']}")
    return Rig(charging_timers, chosen["charger"], chosen["bms"], defects, chosen["options"], expect,
               external=external)
