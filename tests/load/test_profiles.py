import pytest

from harness.cli import build_parser
from harness.protocol.timers import Timers
from load.cli import build_profile
from load.profiles import PROFILES, from_dict, load_profile


def _profile(*argv):
    return build_profile(build_parser().parse_args(["load", *argv]))


def test_every_issue_profile_exists_with_thresholds():
    assert set(PROFILES) == {"steady", "rush-hour", "outage", "data-call", "mixed-editions"}
    assert PROFILES["outage"].thresholds.reissue_drained_within is not None
    assert PROFILES["data-call"].thresholds.data_calls_answered == 1.0
    assert PROFILES["mixed-editions"].edition == "mixed"
    assert any(e["action"] == "alarm" and e["level"] == 3 for e in PROFILES["rush-hour"].events)
    for p in PROFILES.values():
        assert p.thresholds.lost_frames == 0  # nothing accepted is ever lost, in every situation


def test_timers_come_from_the_timers_value():
    t = PROFILES["outage"].make_timers()
    assert isinstance(t, Timers)
    assert t.report_period == 10.0 and t.heartbeat == 30.0 and t.idle_timeout == 90.0
    assert t.terminal_login_retry == 5.0  # the profile's lab setting


def test_command_line_changes_the_profile():
    p = _profile("--profile", "outage", "--vehicles", "7", "--period", "1", "--outage", "4",
                 "--threshold", "p99_ack_ms=20", "--threshold", "error_rate=none")
    assert p.vehicles == 7 and p.report_period == 1
    assert p.events[0]["seconds"] == 4
    assert p.thresholds.p99_ack_ms == 20 and p.thresholds.error_rate is None


def test_profile_from_yaml_and_unknown_keys(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("name: lab\ndescription: x\nvehicles: 5\n"
                 "thresholds: {p99_ack_ms: 50, expected_failures: [disconnect]}\n"
                 "events: [{at: 0.5, action: partition, seconds: 2}]\n")
    p = load_profile(str(f))
    assert p.vehicles == 5 and p.thresholds.p99_ack_ms == 50 and p.thresholds.expected_failures == ("disconnect",)
    assert from_dict(p.as_dict()) == p  # what the master hands its workers as JSON comes back the same
    with pytest.raises(ValueError, match="unknown profile keys"):
        from_dict({"name": "x", "description": "", "vehicels": 3})
    with pytest.raises(ValueError, match="no profile"):
        load_profile("no-such-profile")


def test_vehicles_sample_every_second_only_when_the_profile_raises_alarms():
    assert PROFILES["rush-hour"].terminal_sample_period() == 1.0  # the 30 s pre-fault reissue needs 1 s samples
    assert PROFILES["steady"].terminal_sample_period() == 0.0  # nothing reads them: sample only to report
    assert _profile("--sample-period", "1").terminal_sample_period() == 1.0
