"""Full simulated sessions on python-can's virtual bus, with the standard's timers on a fake clock."""

import pytest

from harness.charging import messages as m
from harness.charging.can import CHARGER
from harness.charging.machine import Bms, Charger
from harness.charging.session import annotate, read_candump, run
from harness.protocol.timers import Timers

T = Timers()


def session(charger="2015", bms="2015", cdef=(), bdef=(), bus="virtual", ckw=None, bkw=None, **kw):
    return run(Charger(charger, T, frozenset(cdef), **(ckw or {})), Bms(bms, T, frozenset(bdef), **(bkw or {})),
               bus=bus, **kw)


def names(trace, sender):
    return [m.identify(r.frame).name for r in trace.frames(sender=sender) if m.identify(r.frame)]


def test_2015_with_2015():
    o = session()
    assert o.completed and o.charger.peer_version == "2015"
    seq = names(o.trace, CHARGER)
    assert seq[0] == "CHM" and seq.index("CRM") < seq.index("CML") < seq.index("CRO") < seq.index("CCS")
    assert seq.index("CST") < seq.index("CSD")
    assert [len(d) for _, n, d in o.trace.transfers() if n == "BRM"] == [49]


def test_2011_with_2011():
    o = session("2011", "2011")
    assert o.completed and o.charger.peer_version == "2011"
    assert "CHM" not in names(o.trace, CHARGER)
    assert {len(r.frame.data) for r in o.trace.frames("CCS")} == {6}
    assert [len(d) for _, n, d in o.trace.transfers() if n == "BRM"] == [41]


def test_2015_compat_charger_serves_a_2011_bms():
    o = session("2015-compat", "2011")
    assert o.completed and o.charger.peer_version == "2011"
    first_crm = o.trace.first("CRM")
    assert first_crm.at == pytest.approx(T.charge_fallback)
    assert any("falls back" in text for _, text in o.charger.log)
    assert any("needs retrofit" in text for _, text in o.charger.log)


def test_2015_charger_with_2011_bms_fails_at_the_handshake():
    o = session("2015", "2011")
    assert not o.completed
    assert o.charger.state == "aborted" and "no BHM" in o.charger.log[-1][1]
    assert o.trace.first("CRM") is None and o.trace.first("BRM") is None
    chm = o.trace.frames("CHM")
    assert chm[-1].at < T.charge_fallback + T.charge_period
    # the BMS, never recognised, reports the CRM timeout with BEM (SPN3901)
    bem = o.trace.first("BEM")
    assert bem.at == pytest.approx(T.charge_crm_wait) and bem.frame.data.hex() == "f1f0f0fc"


def test_2015_compat_bms_switches_on_chm():
    o = session("2015", "2015-compat")
    assert o.completed and o.charger.peer_version == "2015"
    o = session("2011", "2015-compat")
    assert o.completed and o.charger.peer_version == "2011"


def test_virtual_bus_and_memory_give_the_same_trace():
    a, b = session(bus="virtual"), session(bus="memory")
    assert [(r.at, r.frame) for r in a.trace.records] == [(r.at, r.frame) for r in b.trace.records]


def test_pause_and_resume_by_bsm():
    o = session(bkw={"pauses": ((1.0, 2.0),), "charge_seconds": 5.0})
    assert o.completed
    ccs = o.trace.frames("CCS")
    start = o.trace.first("CCS").at
    paused = [r for r in ccs if r.frame.data[6] == 0xFC]
    assert paused and paused[0].at - start <= 1.0 + T.charge_period + 0.001
    assert any(r.frame.data[6] == 0xFD and r.at > paused[-1].at for r in ccs)
    assert {r.frame.data[2:4] for r in paused} == {(4000).to_bytes(2, "little")}  # no current while paused


def test_pause_longer_than_ten_minutes_ends_the_charge():
    o = session(bkw={"pauses": ((1.0, 3600.0),), "charge_seconds": 7200.0})
    cst = o.trace.first("CST")
    start = o.trace.first("CCS").at
    assert cst is not None and cst.at - start == pytest.approx(1.0 + T.charge_pause_limit, abs=T.charge_period)


def test_bms_fault_stops_the_charger():
    o = session(bkw={"fault_at": 1.0, "charge_seconds": 50.0})
    cst = o.trace.first("CST")
    assert cst is not None and m.decode("CST", "2015", cst.frame.data)["stop_reason"]["fault"] == 1


def test_charger_manual_stop():
    o = session(ckw={"stop_after": 1.0}, bkw={"charge_seconds": 50.0})
    assert o.completed
    bst = o.trace.first("BST")
    assert m.decode("BST", "2015", bst.frame.data)["stop_reason"]["charger_stopped"] == 1


def test_three_reconnections_then_give_up():
    o = session(bkw={"mute": {"BRM": 0}})
    cems = [r for r in o.trace.frames("CEM")]
    assert {r.frame.data.hex() for r in cems} == {"fdf0c0fc"}
    crm_restarts = [r for r in o.trace.frames("CRM") if r.frame.data[0] == 0
                    and not any(p.at == pytest.approx(r.at - T.charge_period) for p in o.trace.frames("CRM"))]
    assert len(crm_restarts) == 1 + T.charge_retries
    assert o.charger.state == "failed" and o.charger.attempts == T.charge_retries + 1
    cst = o.trace.first("CST")
    assert cst is not None and m.decode("CST", "2015", cst.frame.data)["stop_reason"]["fault"] == 1


def test_reconnection_recovers_after_a_transient_fault():
    # BCS missing in the first attempt: no CCS, so the BMS reports the CCS timeout (BEM SPN3905) after
    # 1 s; the charger reconnects and the second attempt completes
    c = Charger("2015", T)
    b = Bms("2015", T, mute={"BCS": 0})
    orig = b.handshake_again

    def clear(now):
        if b.state == "error":
            b.mute.clear()
        return orig(now)

    b.handshake_again = clear  # the stimulus ends when the charger reconnects
    o = run(c, b)
    bem = o.trace.first("BEM")
    assert bem.frame.data.hex() == "f0f0f1fc"
    assert bem.at - o.trace.first("CRO").at == pytest.approx(T.charge_period + T.charge_fast_timeout)
    assert c.attempts == 1 and b.attempts == 1 and o.completed


def test_candump_log_round_trip_and_annotation():
    o = session()
    back = read_candump(o.trace.candump())
    assert [r.frame for r in back.records] == [r.frame for r in o.trace.records]
    lines = annotate(back)
    assert "CHM version=010100" in lines[0]
    assert any("= BRM (49 B)" in line and "vin=LSVAU2180N2183294" in line for line in lines)


def test_unknown_version_and_defect_rejected():
    with pytest.raises(ValueError):
        Charger("2023", T)
    with pytest.raises(ValueError):
        Bms("2015", T, frozenset({"nonsense"}))


def test_timers_compress_the_charging_fields():
    fast = T.compressed(10)
    assert fast.charge_timeout == pytest.approx(0.5) and fast.charge_pause_limit == pytest.approx(60)
    assert fast.charge_retries == 3
    o = run(Charger("2015-compat", fast), Bms("2011", fast))
    assert o.completed and o.trace.first("CRM").at == pytest.approx(0.5)


def test_optional_bmv_bmt_go_by_transport_every_10_s():
    o = session(bkw={"cells": 96, "charge_seconds": 25.0})
    assert o.completed
    bmv = [(at, d) for at, n, d in o.trace.transfers() if n == "BMV"]
    bmt = [(at, d) for at, n, d in o.trace.transfers() if n == "BMT"]
    assert [len(d) for _, d in bmv] == [192] * 3 and [len(d) for _, d in bmt] == [12] * 3
    assert bmv[1][0] - bmv[0][0] == pytest.approx(T.charge_period_info)
    rts = [r.frame.data for r in o.trace.records if r.frame.data[:1] == b"\x10" and r.frame.data[6] == 0x15]
    assert rts[0].hex() == "10c0001cff001500"  # 192 bytes in 28 packets
    cells = m.decode("BMV", "2015", bmv[0][1])["cells"]
    assert int.from_bytes(cells[:2], "little") == (1 << 12) | 345
    assert o.trace.first("CEM") is None  # the charger applies no timeout to BMV/BMT/BSP
