"""What the rig does with an external SUT before any session: N/A for the other role, INCONC for what
the harness cannot do to a device, INCONC when no session starts; and how the PICS/PIXIT name it."""

import pytest

from harness.charging.bus import gaps
from harness.protocol.timers import Timers
from scenarios.gbt27930.cases import CASES
from scenarios.gbt27930.conftest import external_sut
from scenarios.gbt27930.rig import ExternalSut, Rig

BY_ID = {c.id: c for c in CASES}


def _rig(role: str = "charger", **kw) -> Rig:
    return Rig(Timers(), external=ExternalSut(role, "2015", "virtual", "ext-rig-empty", start_wait=0.3), **kw)


def _skip_reason(fn) -> str:
    with pytest.raises(pytest.skip.Exception) as exc:
        fn()
    return str(exc.value)


def test_the_other_role_is_na():
    assert _skip_reason(lambda: _rig("bms").applies("charger")).startswith("N/A: the SUT is a bms")
    _rig("charger").applies("charger")  # no skip for its own role
    Rig(Timers()).applies("bms")  # our simulators play both roles


def test_what_the_harness_cannot_do_to_a_device_is_inconclusive_not_na():
    defect = _skip_reason(lambda: BY_ID["DP.1001/01"].run(_rig(defects=frozenset({"zero_reserved"}))))
    set_up = _skip_reason(lambda: BY_ID["DP.4002/01"].run(_rig()))
    power = _skip_reason(lambda: BY_ID["BN.1001/01"].run(_rig("bms")))
    for reason in (defect, set_up, power):
        assert not reason.startswith("N/A"), reason  # the plugin makes these INCONC
    assert "cannot switch a defect on" in defect and "stop_after=1.0" in set_up and "power" in power


def test_no_session_from_the_device_is_no_decision():
    reason = _skip_reason(lambda: BY_ID["DP.1003/01"].run(_rig()))  # nobody serves this channel
    assert reason.startswith("no decision: the external charger did not start a session within 0.3 s (it sent nothing)")


def test_gaps_come_from_the_timers():
    g = gaps(Timers())
    assert g.quiet == 3.5 + 0.5 and g.session_gap == 2 * 4.0 + 1.0
    assert gaps(Timers().with_(charge_retry_wait=0.1)).quiet == 1.25 + 0.5  # J1939 T3: a BMS waiting for CTS
    assert gaps(Timers().with_(charge_retry_wait=0.1, j1939_t2=0.1, j1939_t3=0.1, j1939_t1=0.1, j1939_t4=0.1)
                ).quiet == 1.0  # at least four periods
    assert gaps(Timers(), quiet=2.0, session_gap=5.0) == type(g)(2.0, 5.0)


class _Config:
    def __init__(self, **options):
        self.options = options

    def getoption(self, name):
        return self.options.get(name)


def test_pics_and_pixit_name_the_external_sut():
    assert external_sut(_Config(), {"charging": {"role": "bms"}}, {}) is None  # no bus: our simulators
    ext = external_sut(_Config(), {"charging": {"bms": {"version": "2011"}}},
                       {"charging": {"interface": "socketcan", "channel": "can0", "start_command": "relay plug 1",
                                     "quiet": 6}})
    assert (ext.role, ext.version, ext.interface, ext.channel) == ("bms", "2011", "socketcan", "can0")
    assert ext.start_command == ("relay", "plug", "1") and ext.quiet == 6.0
    ext = external_sut(_Config(can_interface="virtual", can_channel="x"),
                       {"charging": {"role": "charger"}}, {"charging": {"interface": "socketcan", "channel": "can0"}})
    assert (ext.role, ext.version, ext.interface, ext.channel) == ("charger", "2015", "virtual", "x")
    with pytest.raises(pytest.UsageError, match="charging.role"):
        external_sut(_Config(can_interface="virtual"), {"charging": {"charger": {}, "bms": {}}}, {})


def _trace(*items):
    from harness.charging import messages as m
    from harness.charging.can import Frame
    from harness.charging.session import Outcome, Record, Trace

    trace = Trace([Record(at, Frame(m.MESSAGES[name].can_id, b"\xff" * 4)) for at, name in items])
    return Outcome(None, None, trace, items[-1][0])


def test_a_bms_that_stops_by_itself_too_early_is_inconclusive():
    rig = _rig("bms")
    reason = _skip_reason(lambda: rig._kept_charging(_trace((1.0, "CCS"), (1.5, "BST")), 1.0))
    assert reason.startswith("precondition not met: the BMS stopped by itself (BST) 0.500 s into charging")
    rig._kept_charging(_trace((1.0, "CCS"), (2.5, "BST")), 1.0)  # long enough: the case judges
    rig._kept_charging(_trace((1.0, "CCS"), (1.4, "CST"), (1.5, "BST")), 1.0)  # BST answered our CST
    assert "precondition met: the BMS did not stop by itself within 1 s" in rig.expect.evidence.notes[-1]
