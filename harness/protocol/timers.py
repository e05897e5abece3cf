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
    # charger <-> BMS, GB/T 27930 (spec gbt27930.md §1, §3): application timeouts and periods
    charge_timeout: float = 5.0  # general rule: a complete packet missing 5 s -> BEM/CEM
    charge_fast_timeout: float = 1.0  # BCL (charger) and CCS (BMS) missing 1 s
    charge_ready_timeout: float = 60.0  # no BRO 0xAA / CRO 0xAA within 60 s
    charge_crm_wait: float = 60.0  # BMS: CRM after power-up or CHM
    charge_end_timeout: float = 10.0  # BSD/CSD missing 10 s after BST/CST
    charge_fallback: float = 5.0  # 2015-compat charger: no BHM within 5 s -> 2011 flow
    charge_pause_limit: float = 600.0  # BSM pause longer than 10 min ends the charge
    charge_retry_wait: float = 3.5  # charger restarts from CRM 0x00 this long after an error
    charge_reconnect_wait: float = 30.0  # BMS waits this long for CRM after a BEM/CEM
    charge_retries: int = 3  # reconnections before giving up
    charge_period: float = 0.25  # CHM, BHM, CRM, BRM, CML, BRO, CRO, BSM, BSD, CSD, BEM, CEM, BCS
    charge_period_fast: float = 0.05  # BCL, CCS
    charge_period_slow: float = 0.5  # BCP, CTS
    charge_period_stop: float = 0.01  # BST, CST
    charge_period_info: float = 10.0  # BMV, BMT, BSP (optional, no timeout at the charger)
    # SAE J1939-21 transport (RTS/CTS)
    j1939_t1: float = 0.75  # receiver: first DT after CTS
    j1939_t2: float = 1.25  # receiver: between DTs
    j1939_t3: float = 1.25  # sender: waiting for CTS or EndOfMsgAck
    j1939_t4: float = 1.05  # sender: hold (CTS with 0 packets)
    j1939_tr: float = 0.2  # a node answers within Tr

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
