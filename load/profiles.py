"""Campaign profiles: each a real situation, with its pass thresholds.

A profile is data (a `Profile`); the built-in ones are below, and `--profile FILE.yaml` reads one
from YAML with the same fields (`events` and `thresholds` as mappings). An event's `at` is a
fraction of the run's duration (so a short CI run and a long lab run keep the same shape); other
times are seconds.

Events the campaign greenlet on the master runs:
    {"at": f, "action": "partition", "seconds": T}     all vehicle links cut through the fault proxy
    {"at": f, "action": "alarm", "share": f, "level": 3}  a share of the fleet develops a level-3 alarm
    {"at": f, "action": "data_call", "share": f, "duration": s}  national real-time data calls via Control
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.protocol.timers import Timers


@dataclass(frozen=True)
class Thresholds:
    """Pass thresholds; None: not checked. Why each: error_rate and p99 are the operator's service
    level; lost frames and drain time are the standard's duties (nothing accepted is lost, reissue
    after recovery)."""

    error_rate: float | None = 0.001  # failures / protocol exchanges (acks awaited, links)
    p99_ack_ms: float | None = 100.0  # p99 of login, heartbeat and time-sync round trips once all were online
    p99_ramp_ack_ms: float | None = 5000.0  # the same before (the login storm of the start)
    lost_frames: int | None = 0  # data frames sent but not stored (server-side truth)
    relay_lost: int | None = 0  # public-service frames stored but not at the local platform
    online_share: float | None = 0.99  # vehicles online at the end / vehicles started
    reissue_drained_within: float | None = None  # s after the heal until every backlog is empty
    data_calls_answered: float | None = None  # share of national data calls answered
    expected_failures: tuple[str, ...] = ()  # request names whose failures the profile causes on purpose


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    vehicles: int = 100
    duration: float = 60.0
    spawn_rate: float = 500.0  # vehicles started per second (login storm control)
    report_period: float = 10.0
    heartbeat: float = 30.0
    edition: str = "2016"  # 2016 | 2025 | mixed
    mix: float = 0.5  # share of 2025 vehicles when mixed
    public_share: float = 0.1  # registered as public-service vehicles (relayed to the local platform)
    timers: dict[str, float] = field(default_factory=dict)  # further Timers overrides
    # how often a vehicle samples its sensors between reports (0: only when it reports); None: every
    # `alarm_period` (1 s, the T-Box's own rate, kept for the 30 s pre-fault reissue of a level-3 alarm)
    # when the profile raises alarms, else 0: nothing reads the samples between reports then, and
    # sampling every second costs the load generator three times the CPU of the reports themselves.
    # The frames on the wire are the same (a report samples the vehicle at its own time).
    sample_period: float | None = None
    events: tuple[dict[str, Any], ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)

    def make_timers(self) -> Timers:
        """The timers of the campaign: the standard's, with the profile's periods and overrides."""
        changes: dict[str, float] = {"report_period": self.report_period, "heartbeat": self.heartbeat,
                                     "idle_timeout": 3 * self.heartbeat}
        changes.update(self.timers)
        return Timers().with_(**changes)

    def terminal_sample_period(self) -> float:
        """The sample period each vehicle's terminal gets (see `sample_period`)."""
        if self.sample_period is not None:
            return self.sample_period
        if any(e.get("action") == "alarm" for e in self.events):
            return self.make_timers().alarm_period
        return 0.0

    def with_(self, **changes: Any) -> Profile:
        return dataclasses.replace(self, **changes)

    def with_thresholds(self, **changes: Any) -> Profile:
        return dataclasses.replace(self, thresholds=dataclasses.replace(self.thresholds, **changes))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# After an outage a 2025 terminal re-logs in every 3 min (B.1), and after 3 failed logins waits 30 min
# (param 0x0C). The outage profile shortens both (a lab setting, in the profile's timers) so the drain
# time measures the platform, not the timers.
OUTAGE_RETRY = 5.0

PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("steady", "N vehicles at the normal 10 s period, heartbeat 30 s"),
    Profile("rush-hour", "ramp to N, then 10 % go into level-3 alarms (reports at <= 1 s, pre-fault reissue)",
            spawn_rate=200.0, events=({"at": 0.5, "action": "alarm", "share": 0.1, "level": 3},),
            thresholds=Thresholds(p99_ack_ms=200.0)),
    Profile("outage", "all vehicle links cut through the fault proxy for T, then healed: login storm and "
            "reissue storm", duration=120.0,
            timers={"terminal_login_retry": OUTAGE_RETRY, "login_backoff": 2 * OUTAGE_RETRY, "response_timeout": 5.0},
            events=({"at": 0.25, "action": "partition", "seconds": 20.0},),
            thresholds=Thresholds(p99_ack_ms=500.0, error_rate=None, reissue_drained_within=60.0,
                                  expected_failures=("disconnect", "connect failed", "login"))),
    Profile("data-call", "steady load; the national platform calls real-time data for 5 % of the fleet",
            events=({"at": 0.3, "action": "data_call", "share": 0.05, "duration": 20},),
            thresholds=Thresholds(data_calls_answered=1.0)),
    Profile("mixed-editions", "2016 and 2025 vehicles together (half each) at the normal period",
            edition="mixed"),
)}


def load_profile(name_or_path: str) -> Profile:
    """A built-in profile by name, or one from a YAML file (fields of `Profile`; unknown keys are an error)."""
    if name_or_path in PROFILES:
        return PROFILES[name_or_path]
    path = Path(name_or_path)
    if not path.exists():
        raise ValueError(f"no profile {name_or_path!r}: built-in ones are {', '.join(PROFILES)}, or give a YAML file")
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return from_dict(data)


def from_dict(data: dict[str, Any]) -> Profile:
    data = dict(data)
    known = {f.name for f in dataclasses.fields(Profile)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown profile keys: {', '.join(sorted(unknown))}")
    th = data.pop("thresholds", None) or {}
    th_known = {f.name for f in dataclasses.fields(Thresholds)}
    if set(th) - th_known:
        raise ValueError(f"unknown threshold keys: {', '.join(sorted(set(th) - th_known))}")
    if "expected_failures" in th:
        th["expected_failures"] = tuple(th["expected_failures"])
    data["events"] = tuple(dict(e) for e in data.get("events", ()))
    return Profile(thresholds=Thresholds(**th), **data)
