"""Every timer of the standards, in one value, so a suite can run with them compressed.

Defaults are the standard's figures where it gives one (spec gbt32960.md §2.4-2.5) and a
documented choice where it does not (the response timeout: 8 s as in EMQX; idle disconnect: three
heartbeat periods). `compressed(k)` divides every duration by k; counts never change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

DAY = 86400.0


@dataclass(frozen=True)
class Timers:
    # terminal <-> platform (Annex B)
    report_period: float = 10.0  # normal real-time period, at most 30 s (B.2.1; param 0x02)
    alarm_period: float = 1.0  # period during a level-3 alarm, at most 1 s (param 0x03)
    alarm_window: float = 30.0  # data 30 s before and after a level-3 fault time
    heartbeat: float = 30.0  # heartbeat period (param 0x09, 1-240 s)
    idle_timeout: float = 90.0  # platform closes a link silent this long (B.2.7 gives no number)
    response_timeout: float = 8.0  # wait for an answer (params 0x0A/0x0B give 1-600 s, no default)
    command_tries: int = 3  # query/set/control: tries before giving up (B.2.2-B.2.4)
    control_resend: float = 60.0  # control resend interval, every 1 min (B.2.4)
    terminal_login_retry: float = 180.0  # terminal re-login, 3 min (B.1; 2025)
    login_tries: int = 3  # failures before the long wait
    login_backoff: float = 1800.0  # wait after 3 failed logins, 30 min (param 0x0C)
    after_power_off: float = 180.0  # 2016: keep reporting 3 min after power-off (B.2.1)
    post_drive_monitoring: float = 3600.0  # 2025: monitor 1 h after HV-off
    terminal_reissue_window: float = 7 * DAY  # 2016 Annex B says 3 days, 2025 says 7
    # platform <-> platform (main body §5)
    platform_login_retry: float = 60.0  # re-login every 1 min (§5.1)
    data_resend: float = 60.0  # resend data after an error answer, every 1 min, at most 3 times (§5.2.2)
    data_tries: int = 3
    reissue_window: float = 7 * DAY  # platform stores and reissues 7 days (§5.5)
    # harness
    tick: float = 0.05  # granularity of the drivers' timer wheel

    def compressed(self, factor: float) -> Timers:
        """Every duration divided by `factor` (the reissue windows are calendar facts and stay)."""
        keep = {"tick", "reissue_window", "terminal_reissue_window"}
        changes = {
            f.name: getattr(self, f.name) / factor
            for f in dataclasses.fields(self)
            if f.type in ("float", float) and f.name not in keep
        }
        return dataclasses.replace(self, **changes)

    def with_(self, **changes: Any) -> Timers:
        return dataclasses.replace(self, **changes)


STANDARD = Timers()
COMPRESSED = STANDARD.compressed(60)  # 1 min -> 1 s, 30 min -> 30 s: what suites use by default
