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
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.charging.machine import DEFECTS
from harness.plugin import Expect
from harness.protocol.timers import Timers
from scenarios.gbt27930.rig import DEFAULT_OPTIONS, Rig


def charging_pics(pics: dict[str, Any]) -> dict[str, Any]:
    section = (pics.get("features", pics) or {}).get("charging") or pics.get("charging") or {}
    return {"charger": (section.get("charger") or {}).get("version", "2015-compat"),
            "bms": (section.get("bms") or {}).get("version", "2015-compat"),
            "options": {**DEFAULT_OPTIONS, **(section.get("options") or {})}}


@pytest.fixture
def charging(pics: dict[str, Any], timers: Timers, expect: Expect, pytestconfig: pytest.Config) -> Rig:
    """The test system for one charging case: SUT and tester simulators on the virtual bus."""
    chosen = charging_pics(pics)
    defects = frozenset(d for d in (pytestconfig.getoption("sut_defect") or ()) if d in DEFECTS)
    # charging timers are the standard's unless the PIXIT overrides them: the clock is simulated, so
    # a 10-minute pause costs no wall time and compressing would only change what is tested
    charging_timers = Timers().with_(**{k: v for k, v in vars(timers).items()
                                        if k.startswith(("charge_", "j1939_")) and v != getattr(Timers(), k)})
    expect.note(f"SUT versions: charger {chosen['charger']}, BMS {chosen['bms']}; options {chosen['options']}")
    return Rig(charging_timers, chosen["charger"], chosen["bms"], defects, chosen["options"], expect)
