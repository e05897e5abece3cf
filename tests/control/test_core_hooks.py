"""The platform core's hooks for the control service, sans-IO with a fake clock."""

from __future__ import annotations

import pytest

from reference_impl.config import Account, PlatformConfig, Vehicle
from reference_impl.core import Close, PlatformCore, Send

from ..reference.conftest import PUBLIC, login, realtime


def _core() -> PlatformCore:
    return PlatformCore(PlatformConfig(role="local", storage=":memory:", vehicles={PUBLIC: Vehicle(PUBLIC)}))


def test_observers_see_frames_in_and_out_on_named_links():
    core = _core()
    seen: list[tuple[str, str, bytes]] = []
    core.observers.append(lambda *event: seen.append(event))
    core.opened(1, "127.0.0.1:5000", 0.0)
    actions = core.received(1, login(PUBLIC) + realtime(PUBLIC, 1), 0.0)
    for a in actions:  # what the driver does after writing
        assert isinstance(a, Send)
        core.sent(a.conn, a.data)
    answer = actions[0].data
    assert seen == [("in", f"vehicle:{PUBLIC}", login(PUBLIC)), ("in", f"vehicle:{PUBLIC}", realtime(PUBLIC, 1)),
                    ("out", f"vehicle:{PUBLIC}", answer)]
    core.opened(2, "127.0.0.1:5001", 0.0)
    core.received(2, realtime(PUBLIC, 2), 0.0)  # not logged in: the link has no name yet
    assert seen[-1][:2] == ("in", "peer:127.0.0.1:5001")
    core.observers.clear()
    core.received(1, realtime(PUBLIC, 3), 0.0)
    assert len(seen) == 4


def test_registry_changes_and_removal_disconnects():
    core = _core()
    core.opened(1, "127.0.0.1:5000", 0.0)
    core.received(1, login(PUBLIC), 0.0)
    assert core.register_vehicle(Vehicle(PUBLIC, True, "110000")) is True
    assert core.cfg.vehicles[PUBLIC].public_service
    actions = core.remove_vehicle(PUBLIC, 1.0)
    assert actions == [Close(1, f"{PUBLIC} deregistered")] and PUBLIC not in core.online
    with pytest.raises(KeyError):
        core.remove_vehicle(PUBLIC, 1.0)
    assert core.register_platform(Account("ENT", "u", "p")) is False
    assert core.remove_platform("ENT", 1.0) == []  # not logged in: nothing to close


def test_set_timers_and_defects():
    core = _core()
    timers = core.set_timers(heartbeat=5, command_tries=2.0)
    assert core.timers is core.cfg.timers is timers
    assert timers.heartbeat == 5.0 and timers.command_tries == 2 and isinstance(timers.command_tries, int)
    for bad in ({"nope": 1.0}, {"command_tries": 2.5}, {"tick": 0.0}, {"heartbeat": float("inf")}):
        with pytest.raises(ValueError):
            core.set_timers(**bad)
    core.set_defect("no-heartbeat-answer", True)
    assert "no-heartbeat-answer" in core.defects and "no-heartbeat-answer" in core.cfg.defects
    core.set_defect("no-heartbeat-answer", False)
    assert not core.defects and not core.cfg.defects
    with pytest.raises(KeyError):
        core.set_defect("no-such-switch", True)
