"""The GB/T 27930 case catalogue, in the style of GB/T 34658 (spec gbt27930.md §5).

Ids: `GBT27930-2015/<D|B><P|N>.<phase><nnn>/<nn>`; D = charger under test, B = BMS under test,
P = normal flow, N = timeout or abnormal message; phases 1 handshake, 2 parameters, 3 charging,
4 end. Upgrade (backward-compatibility) cases are filed under clause 4.6 of the 2015 edition.

Each case is plain code over a `Rig`, so the pytest cases (`test_cases.py`) and the self-tests
(`tests/charging/test_case_defects.py`) run the same logic. `caught_by` names the defect switches
shown to turn the case red; the self-tests prove each one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.charging import messages as m
from harness.charging.can import BMS, CHARGER
from harness.charging.j1939 import Faults
from scenarios.gbt27930.rig import Rig, classify, rts_times, tp_aborts

C, B = CHARGER, BMS


@dataclass(frozen=True)
class Case:
    id: str
    sut: str  # "charger" or "bms"
    requirement: str
    run: Callable[[Rig], None]
    caught_by: tuple[str, ...]

    @property
    def full_id(self) -> str:
        return f"GBT27930-2015/{self.id}"


CASES: list[Case] = []


def case(cid: str, sut: str, requirement: str, caught_by: tuple[str, ...]) -> Callable[[Callable[[Rig], None]], Case]:
    def deco(fn: Callable[[Rig], None]) -> Case:
        c = Case(cid, sut, requirement, fn, caught_by)
        CASES.append(c)
        return c

    return deco


def _one(items, what: str):
    """The first item, or a FAIL naming what was missing (never a StopIteration: that would be an ERROR)."""
    for item in items:
        return item
    raise AssertionError(f"not on the bus: {what}")


def _last(items, what: str):
    """The last item, or a FAIL naming what was missing."""
    items = list(items)
    if not items:
        raise AssertionError(f"not on the bus: {what}")
    return items[-1]


def _crm(o, value: int) -> float:
    return _one((r.at for r in o.trace.frames("CRM", C) if r.frame.data[0] == value), f"CRM 0x{value:02X}")


def _ready(o, name: str, sender: int) -> float:
    return _one((r.at for r in o.trace.frames(name, sender) if r.frame.data == b"\xaa"), f"{name} 0xAA")


def _timeout_case(rig: Rig, o, name: str, hex_data: str, start: float, due: float, what: str, sut: int,
                  version: str = "2015") -> None:
    rig.reacts(o, name, sut, hex_data, start, due, what)
    rig.well_formed(o, sut, version)



# ====================================================================== charger under test, phase 1


@case("DP.1001/01", "charger", "A 2015 charger starts with CHM (0x1826F456, DLC 3, version 01 01 00) every 250 ms "
      "(±10 %) until BHM (§3 phase 2; 34658 DP.1001).",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved"))
def dp_1001(rig: Rig) -> None:
    o = rig.charger_sut(bms="2015", delay={"BHM": 1.0})  # BHM from 1 s: a few CHM periods to judge
    first = o.trace.records[0]
    rig.expect.equal("first frame id", "1826F456", f"{first.frame.can_id:08X}", "the first frame is not CHM")
    rig.periodic(o, "CHM", C, rig.timers.charge_period)
    rig.well_formed(o, C, "2015")


@case("DP.1002/01", "charger", "After BHM the charger sends CRM 0x00 every 250 ms until BRM is complete; CRM has "
      "the 2015 layout (8 bytes, charger number 4 B, region filled with 0xFF).",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved"))
def dp_1002(rig: Rig) -> None:
    o = rig.charger_sut(delay={"BRM": 1.0})
    bhm = rig.first(o, "BHM", B)
    crm0 = _crm(o, 0x00)
    rig.expect.true(crm0 >= bhm, "CRM before BHM", path="CRM", expected=f">= {bhm}", actual=crm0)
    rig.periodic(o, "CRM", C, rig.timers.charge_period, until=o.trace.transfers()[0][0])
    rig.well_formed(o, C, "2015")


@case("DP.1003/01", "charger", "Once BRM is complete the charger sends CRM 0xAA (250 ms) until BCP, and never "
      "CRM 0xAA before BRM is complete.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "drop_ccs"))
def dp_1003(rig: Rig) -> None:
    o = rig.charger_sut()
    brm_done = _one((at for at, n, _ in o.trace.transfers() if n == "BRM"), "a complete BRM transfer")
    aa = _crm(o, 0xAA)
    rig.expect.true(aa >= brm_done, "CRM 0xAA before BRM was complete", path="CRM.AA", expected=brm_done, actual=aa)
    rig.completed(o)
    rig.well_formed(o, C, "2015")


@case("DN.1001/01", "charger", "No BRM: the charger sends CEM with SPN3921 (FD F0 C0 FC) 5 s after CRM 0x00.",
      ("wrong_version", "big_endian", "zero_reserved"))
def dn_1001(rig: Rig) -> None:
    o = rig.charger_sut(mute={"BRM": 0}, patient=True)
    _timeout_case(rig, o, "CEM", "fdf0c0fc", _crm(o, 0), rig.timers.charge_timeout, "BRM timeout", C)


def _brm_tp_fault(faults: Faults) -> Callable[[Rig], None]:
    def run(rig: Rig) -> None:
        o = rig.charger_sut(tp_hook=faults, patient=True)
        aa = [r for r in o.trace.frames("CRM", C) if r.frame.data[0] == 0xAA]
        rig.expect.true(not aa, "CRM 0xAA although no BRM transfer completed", path="CRM.AA", expected=0,
                        actual=len(aa))
        _timeout_case(rig, o, "CEM", "fdf0c0fc", _crm(o, 0), rig.timers.charge_timeout, "BRM transfer broken", C)
    return run


for _n, (_faults, _what) in enumerate([(Faults(drop_dt={7}), "last DT dropped"),
                                       (Faults(wrong_seq={2}), "wrong DT sequence number"),
                                       (Faults(abort_at="dt"), "sender aborts instead of a DT"),
                                       (Faults(wrong_size=7), "RTS announces 7 bytes too many")], start=1):
    case(f"DN.1002/{_n:02d}", "charger", f"BRM transport abnormal ({_what}): the charger does not accept BRM "
         "and sends CEM SPN3921 after 5 s.", ("wrong_version", "big_endian", "zero_reserved"))(_brm_tp_fault(_faults))


@case("DN.1003/01", "charger", "BHM keeps arriving while CRM 0x00 is sent, no BRM: CEM SPN3921 after 5 s.",
      ("wrong_version", "big_endian", "zero_reserved"))
def dn_1003(rig: Rig) -> None:
    o = rig.charger_sut(mute={"BRM": 0}, linger=frozenset({"BHM"}), patient=True)
    _timeout_case(rig, o, "CEM", "fdf0c0fc", _crm(o, 0), rig.timers.charge_timeout, "BRM timeout (BHM goes on)", C)


@case("DN.1004/01", "charger", "BRM keeps arriving while CRM 0xAA is sent, no BCP: CEM SPN3922 (FC F1 C0 FC) "
      "5 s after CRM 0xAA.",
      ("wrong_version", "big_endian", "zero_reserved"))
def dn_1004(rig: Rig) -> None:
    o = rig.charger_sut(mute={"BCP": 0}, linger=frozenset({"BRM"}), patient=True)
    _timeout_case(rig, o, "CEM", "fcf1c0fc", _crm(o, 0xAA), rig.timers.charge_timeout, "BCP timeout", C)


# ====================================================================== charger under test, phase 2


@case("DP.2001/01", "charger", "CML (8 bytes in 2015) and CTS start only after BCP, at 250 ms and 500 ms; CML "
      "values are plausible little-endian figures.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "drop_ccs"))
def dp_2001(rig: Rig) -> None:
    o = rig.charger_sut(bro_delay=2.0)
    bcp = _one((at for at, n, _ in o.trace.transfers() if n == "BCP"), "a complete BCP transfer")
    rig.expect.true(rig.first(o, "CML", C) >= bcp and rig.first(o, "CTS", C) >= bcp, "CML/CTS before BCP",
                    path="CML", expected=f">= {bcp}")
    rig.periodic(o, "CML", C, rig.timers.charge_period)
    rig.periodic(o, "CTS", C, rig.timers.charge_period_slow)
    rig.well_formed(o, C, "2015")


@case("DP.2002/01", "charger", "While BRO is 0x00 the charger keeps CML going and sends no CRO.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved"))
def dp_2002(rig: Rig) -> None:
    o = rig.charger_sut(bro_delay=3.0)
    aa = _ready(o, "BRO", B)
    rig.never(o, "CRO", C, before=aa, why="while BRO was 0x00")
    cml = [r for r in o.trace.frames("CML", C) if r.at < aa]
    rig.expect.true(len(cml) >= int(3.0 / rig.timers.charge_period), "CML stopped while BRO was 0x00",
                    path="CML", expected=">= 12", actual=len(cml))
    rig.well_formed(o, C, "2015")


@case("DP.2003/01", "charger", "After BRO 0xAA the charger sends CRO 0x00, then CRO 0xAA (250 ms); CRO 0xAA "
      "never before BRO 0xAA.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "drop_ccs"))
def dp_2003(rig: Rig) -> None:
    o = rig.charger_sut()
    bro = _ready(o, "BRO", B)
    cro = [r for r in o.trace.frames("CRO", C)]
    rig.expect.true(bool(cro) and cro[0].at >= bro and cro[0].frame.data == b"\x00",
                    "CRO did not start with 0x00 after BRO 0xAA", path="CRO")
    rig.expect.true(_ready(o, "CRO", C) >= bro, "CRO 0xAA before BRO 0xAA", path="CRO.AA")
    rig.completed(o)
    rig.well_formed(o, C, "2015")


@case("DN.2001/01", "charger", "No BCP: CEM SPN3922 (FC F1 C0 FC) 5 s after CRM 0xAA.",
      ("wrong_version", "big_endian", "zero_reserved"))
def dn_2001(rig: Rig) -> None:
    o = rig.charger_sut(mute={"BCP": 0}, patient=True)
    _timeout_case(rig, o, "CEM", "fcf1c0fc", _crm(o, 0xAA), rig.timers.charge_timeout, "BCP timeout", C)


for _n, (_faults, _what) in enumerate([(Faults(drop_dt={2}), "last DT dropped"),
                                       (Faults(wrong_seq={1}), "wrong DT sequence number"),
                                       (Faults(abort_at="dt"), "sender aborts")], start=1):
    def _bcp_fault(rig: Rig, faults: Faults = _faults) -> None:
        o = rig.charger_sut(tp_hook=_only_pgn(0x0600, faults), patient=True)
        rig.never(o, "CML", C, why="although no BCP transfer completed")
        _timeout_case(rig, o, "CEM", "fcf1c0fc", _crm(o, 0xAA), rig.timers.charge_timeout, "BCP transfer broken", C)

    case(f"DN.2002/{_n:02d}", "charger", f"BCP transport abnormal ({_what}): no CML; CEM SPN3922 after 5 s.",
         ("wrong_version", "big_endian", "zero_reserved"))(_bcp_fault)


def _only_pgn(pgn: int, faults: Faults) -> Callable:
    """Apply `faults` to the transfers of one PGN only (the other messages go through)."""
    from harness.charging.j1939 import cm_pgn, is_cm

    state = {"pgn": 0}

    def hook(step, fr):
        if is_cm(fr):
            state["pgn"] = cm_pgn(fr)
        return faults(step, fr) if state["pgn"] == pgn else fr
    return hook


@case("DN.2003/01", "charger", "No BRO at all: CEM SPN3923 (FC F4 C0 FC) 5 s after CML starts.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved"))
def dn_2003(rig: Rig) -> None:
    o = rig.charger_sut(mute={"BRO": 0}, patient=True)
    _timeout_case(rig, o, "CEM", "fcf4c0fc", rig.first(o, "CML", C), rig.timers.charge_timeout, "BRO timeout", C)


@case("DN.2005/01", "charger", "BRO stays 0x00: CEM SPN3923 60 s after CML starts (not after 5 s).",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved"))
def dn_2005(rig: Rig) -> None:
    o = rig.charger_sut(bro_delay=1e6, patient=True)
    _timeout_case(rig, o, "CEM", "fcf4c0fc", rig.first(o, "CML", C), rig.timers.charge_ready_timeout,
                  "BRO 0xAA timeout", C)


@case("DN.2006/01", "charger", "BCP keeps arriving while CTS/CML are sent and no BRO follows: CEM SPN3923 "
      "after 5 s.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved"))
def dn_2006(rig: Rig) -> None:
    o = rig.charger_sut(mute={"BRO": 0}, linger=frozenset({"BCP"}), patient=True)
    _timeout_case(rig, o, "CEM", "fcf4c0fc", rig.first(o, "CML", C), rig.timers.charge_timeout,
                  "BRO timeout (BCP goes on)", C)


# ====================================================================== charger under test, phase 3


@case("DP.3001/01", "charger", "CCS has the 2015 format (DLC per the PICS: 7 by 34658 DP.3001, permit byte "
      "0xFC|en) and comes every 50 ms (±10 %) from the start of charging until CST.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "drop_ccs"))
def dp_3001(rig: Rig) -> None:
    o = rig.charger_sut()
    cst = rig.first(o, "CST", C)
    rig.periodic(o, "CCS", C, rig.timers.charge_period_fast, until=cst)
    last = _last((r.at for r in o.trace.frames("CCS", C) if r.at < cst), "CCS before CST")
    rig.expect.true(cst - last <= rig.timers.charge_period_fast * 1.1, f"CCS stopped {cst - last:.3f} s before CST",
                    path="CCS.last", expected=cst, actual=last)
    rig.well_formed(o, C, "2015")


@case("DP.3002/01", "charger", "The charger starts CCS only after both BCL and BCS have arrived.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "ccs_early"))
def dp_3002(rig: Rig) -> None:
    o = rig.charger_sut()
    ccs = rig.first(o, "CCS", C)
    bcs = _one((i for i, r in enumerate(o.trace.records) if r.frame.can_id == 0x1CECF456
               and r.frame.data[0] == 0x13 and r.frame.data[6] == 0x11), "EndOfMsgAck of a BCS transfer")
    first_ccs = _one((i for i, r in enumerate(o.trace.records) if r.at == ccs and m.identify(r.frame)
                     and m.identify(r.frame).name == "CCS"), "CCS")
    rig.expect.true(first_ccs > bcs, "CCS before the first BCS transfer completed", path="CCS.first",
                    expected="after BCS", actual="before BCS")
    rig.well_formed(o, C, "2015")


@case("DP.3003/01", "charger", "CCS reports the output that follows BCL's demand (voltage, current) within CML.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved"))
def dp_3003(rig: Rig) -> None:
    o = rig.charger_sut()
    ccs = rig.nth(o, "CCS", 2)
    rig.expect.equal("CCS.voltage", 4000, ccs["voltage"], "CCS voltage does not follow BCL (400.0 V)")
    rig.expect.equal("CCS.current", 3000, ccs["current"], "CCS current does not follow BCL (-100 A)")
    rig.well_formed(o, C, "2015")


@case("DP.3004/01", "charger", "BSM SPN3096 = 00 pauses (CCS permit 00, no current) within one CCS period; "
      "01 resumes.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "drop_ccs"))
def dp_3004(rig: Rig) -> None:
    o = rig.charger_sut(pauses=((1.0, 2.0),), charge_seconds=6.0)
    start = rig.first(o, "CCS", C)
    bsm_pause = _one((r.at for r in o.trace.frames("BSM", B) if r.frame.data[6] & 0x30 == 0), "BSM with SPN3096 = 00")
    paused = [r for r in o.trace.frames("CCS", C) if r.frame.data[6:7] == b"\xfc"]
    rig.expect.true(bool(paused), "CCS never paused (permit 00)", path="CCS.permit", expected="FC", actual="FD")
    rig.expect.true(paused[0].at - bsm_pause <= rig.timers.charge_period_fast + rig.tolerance,
                    "pause took longer than one CCS period", path="CCS.pause", expected=bsm_pause, actual=paused[0].at)
    resumed = [r for r in o.trace.frames("CCS", C) if r.at > paused[-1].at and r.frame.data[6:7] == b"\xfd"]
    rig.expect.true(bool(resumed), "CCS did not resume", path="CCS.permit")
    rig.expect.true(all(r.frame.data[2:4] == b"\xa0\x0f" for r in paused), "current during the pause",
                    path="CCS.current")
    rig.expect.count("pause start after CCS (s)", round(paused[0].at - start, 3))
    rig.well_formed(o, C, "2015")


@case("DP.3005/01", "charger", "A BSM fault (over-temperature) stops the charger: CST with the fault bit.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved"))
def dp_3005(rig: Rig) -> None:
    o = rig.charger_sut(fault_at=1.0, charge_seconds=30.0)
    cst = o.trace.frames("CST", C)
    rig.expect.true(bool(cst), "no CST after a BSM fault", path="CST")
    rig.expect.equal("CST.stop_reason.fault", 1, rig.decode("CST", cst[0].frame.data)["stop_reason"]["fault"])
    rig.well_formed(o, C, "2015")


@case("DP.3006/01", "charger", "A pause longer than 10 min (Annex C) ends the charge with CST; the charger "
      "keeps CCS with permit 00 meanwhile.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "drop_ccs"))
def dp_3006(rig: Rig) -> None:
    o = rig.charger_sut(pauses=((1.0, 1e9),), charge_seconds=1e9)
    pause = _one((r.at for r in o.trace.frames("CCS", C) if r.frame.data[6:7] == b"\xfc"), "CCS with permit 00")
    cst = rig.first(o, "CST", C)
    limit = rig.timers.charge_pause_limit
    rig.expect.true(abs(cst - pause - limit) <= rig.timers.charge_period, f"CST {cst - pause:.2f} s into the "
                    f"pause, limit {limit:g} s", path="CST.at", expected=limit, actual=round(cst - pause, 3))
    rig.periodic(o, "CCS", C, rig.timers.charge_period_fast, until=cst)
    rig.well_formed(o, C, "2015")


@case("DP.3007/01", "charger", "CCS carries the accumulated charging time in minutes (0-600).",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "drop_ccs"))
def dp_3007(rig: Rig) -> None:
    o = rig.charger_sut(charge_seconds=130.0)
    last = rig.nth(o, "CCS", -1)
    rig.expect.equal("CCS.minutes", 2, last["minutes"], "accumulated minutes after 130 s of charging")
    rig.well_formed(o, C, "2015")


@case("DN.3001/01", "charger", "Only BCL, no BCS: the charger sends no CCS and CEM SPN3924 (FC F0 C1 FC) 5 s "
      "after CRO 0xAA (34658 DN.3001).",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "ccs_early"))
def dn_3001(rig: Rig) -> None:
    o = rig.charger_sut(mute={"BCS": 0}, patient=True)
    rig.never(o, "CCS", C, why="with BCL only")
    _timeout_case(rig, o, "CEM", "fcf0c1fc", _ready(o, "CRO", C), rig.timers.charge_timeout, "BCS timeout", C)


@case("DN.3002/01", "charger", "Only BCS, no BCL: no CCS, and CEM SPN3925 (FC F0 C4 FC) 1 s after CRO 0xAA "
      "(34658 DN.3002).",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "slow_timeout", "ccs_early"))
def dn_3002(rig: Rig) -> None:
    o = rig.charger_sut(mute={"BCL": 0}, patient=True)
    rig.never(o, "CCS", C, why="with BCS only")
    _timeout_case(rig, o, "CEM", "fcf0c4fc", _ready(o, "CRO", C), rig.timers.charge_fast_timeout, "BCL timeout", C)


@case("DN.3003/01", "charger", "BCS transfers broken during charging (last DT dropped): CEM SPN3924 5 s after "
      "the last complete BCS.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved"))
def dn_3003(rig: Rig) -> None:
    n = {"count": 0}
    drop = Faults(drop_dt={2})

    def hook(step, fr):  # the first four BCS transfers go through, then every one loses its last DT
        if step == "rts" and fr.data[5:8] == b"\x00\x11\x00":
            n["count"] += 1
        return drop(step, fr) if n["count"] > 4 and fr.data[0] == 2 and step == "dt" else fr
    o = rig.charger_sut(tp_hook=hook, patient=True, charge_seconds=60.0)
    last = _last((at for at, name, _ in o.trace.transfers() if name == "BCS"), "a complete BCS transfer")
    _timeout_case(rig, o, "CEM", "fcf0c1fc", last, rig.timers.charge_timeout, "BCS transfer broken", C)


@case("DN.3005/01", "charger", "BCS interrupted during charging: CEM SPN3924 5 s after the last BCS.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved"))
def dn_3005(rig: Rig) -> None:
    o = rig.charger_sut(mute={"BCS": 2.0}, patient=True, charge_seconds=60.0)
    last = _last((at for at, name, _ in o.trace.transfers() if name == "BCS"), "a complete BCS transfer")
    _timeout_case(rig, o, "CEM", "fcf0c1fc", last, rig.timers.charge_timeout, "BCS timeout", C)


@case("DN.3006/01", "charger", "BCL interrupted during charging: CEM SPN3925 1 s after the last BCL (not 5 s).",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "slow_timeout"))
def dn_3006(rig: Rig) -> None:
    o = rig.charger_sut(mute={"BCL": 2.0}, patient=True, charge_seconds=60.0)
    last = _last(o.trace.frames("BCL", B), "BCL").at
    _timeout_case(rig, o, "CEM", "fcf0c4fc", last, rig.timers.charge_fast_timeout, "BCL timeout", C)


@case("DN.3008/01", "charger", "BSM going missing is no timeout in GB/T 27930 (CEM has no BSM bit): the charger "
      "charges on and sends no CEM.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "drop_ccs"))
def dn_3008(rig: Rig) -> None:
    o = rig.charger_sut(mute={"BSM": 0.5})
    rig.never(o, "CEM", C, why="for a missing BSM")
    rig.completed(o)
    rig.well_formed(o, C, "2015")


# ====================================================================== charger under test, phase 4


@case("DP.4001/01", "charger", "On BST the charger answers CST (2015: SPN3521 'BMS stopped'), then CSD (8 "
      "bytes); the session ends normally.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "drop_ccs"))
def dp_4001(rig: Rig) -> None:
    o = rig.charger_sut()
    bst = rig.first(o, "BST", B)
    cst = o.trace.frames("CST", C)
    rig.expect.true(bool(cst) and cst[0].at - bst <= rig.timers.charge_period_stop + rig.tolerance,
                    "CST not within 10 ms of BST", path="CST")
    rig.expect.equal("CST.stop_reason.bms_stopped", 1,
                     rig.decode("CST", cst[0].frame.data)["stop_reason"].get("bms_stopped"))
    rig.first(o, "CSD", C, after=bst - 1e-9)
    rig.completed(o)
    rig.well_formed(o, C, "2015")


@case("DP.4002/01", "charger", "The charger's own (manual) stop: CST with SPN3521 'manual' every 10 ms until "
      "BST, then CSD.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved"))
def dp_4002(rig: Rig) -> None:
    o = rig.charger_sut(sut={"stop_after": 1.0}, charge_seconds=30.0)
    cst = rig.first(o, "CST", C)
    rig.expect.equal("CST.stop_reason.manual", 1,
                     rig.nth(o, "CST")["stop_reason"]["manual"])
    rig.first(o, "CSD", C, after=cst)
    rig.completed(o)
    rig.well_formed(o, C, "2015")


@case("DN.4001/01", "charger", "The charger stops and no BST follows: CEM SPN3926 (FC F0 D0 FC) 5 s after CST.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved"))
def dn_4001(rig: Rig) -> None:
    o = rig.charger_sut(sut={"stop_after": 1.0}, mute={"BST": 0}, patient=True, charge_seconds=30.0)
    _timeout_case(rig, o, "CEM", "fcf0d0fc", rig.first(o, "CST", C), rig.timers.charge_timeout, "BST timeout", C)


@case("DN.4002/01", "charger", "No BSD after BST/CST: CEM SPN3927 (FC F0 C0 FD) 10 s after CSD starts.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved"))
def dn_4002(rig: Rig) -> None:
    o = rig.charger_sut(mute={"BSD": 0}, patient=True)
    _timeout_case(rig, o, "CEM", "fcf0c0fd", rig.first(o, "CSD", C), rig.timers.charge_end_timeout, "BSD timeout", C)


@case("DN.4003/01", "charger", "A BEM during charging: the charger stops CCS at once and reconnects with CRM "
      "0x00 after the retry wait; the second attempt completes.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "drop_ccs"))
def dn_4003(rig: Rig) -> None:
    o = rig.charger_sut(bem_at=1.0)
    bem = rig.first(o, "BEM", B)
    rig.never(o, "CCS", C, after=bem, before=bem + rig.timers.charge_retry_wait, why="after BEM")
    again = _one((r.at for r in o.trace.frames("CRM", C) if r.at > bem), "CRM after the BEM")
    rig.expect.true(abs(again - bem - rig.timers.charge_retry_wait) <= rig.timers.charge_period,
                    f"reconnection {again - bem:.3f} s after BEM", path="CRM.retry",
                    expected=rig.timers.charge_retry_wait, actual=round(again - bem, 3))
    rig.completed(o)
    rig.well_formed(o, C, "2015")


@case("DN.4004/01", "charger", "Error handling gives up after 3 reconnections: CRM 0x00 four times, then CST "
      "with the fault bit, and nothing more.",
      ("wrong_version", "big_endian", "zero_reserved"))
def dn_4004(rig: Rig) -> None:
    o = rig.charger_sut(mute={"BRM": 0}, patient=True)
    starts = [r.at for r in o.trace.frames("CEM", C)]
    cst = rig.first(o, "CST", C)
    period = rig.timers.charge_period
    crm = [r.at for r in o.trace.frames("CRM", C)]
    # a restart is a CRM with none one period (±10 %, as `periodic` allows) before it
    restarts = [t for t in crm if not any(abs(t - period - p) < period * 0.1 for p in crm)]
    rig.expect.equal("reconnections", rig.timers.charge_retries + 1, len(restarts), "CRM 0x00 restarts")
    rig.never(o, "CRM", C, after=cst, why="after giving up")
    rig.expect.true(bool(starts), "no CEM", path="CEM")
    rig.expect.equal("CST.stop_reason.fault", 1, rig.nth(o, "CST")["stop_reason"]["fault"])
    rig.well_formed(o, C, "2015")


# ====================================================================== BMS under test


@case("BP.1001/01", "bms", "A 2015 BMS answers CHM with BHM (0x182756F4, DLC 2, max voltage) every 250 ms.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def bp_1001(rig: Rig) -> None:
    o = rig.bms_sut(charger="2015", delay={"CRM": 1.0})  # CRM from 1 s: a few BHM periods to judge
    bhm = rig.first(o, "BHM", B)
    rig.expect.true(bhm - rig.first(o, "CHM", C) <= rig.timers.charge_period, "BHM not within a period of CHM",
                    path="BHM")
    rig.periodic(o, "BHM", B, rig.timers.charge_period)
    rig.well_formed(o, B, "2015")


@case("BP.1002/01", "bms", "On CRM 0x00 the BMS sends BRM by TP: 49 bytes in 7 packets (RTS 10 31 00 07 FF 00 02 "
      "00), version 01 01 00.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def bp_1002(rig: Rig) -> None:
    o = rig.bms_sut()
    rts = _one((r for r in o.trace.records if r.frame.src == B and r.frame.can_id == 0x1CEC56F4), "RTS from the BMS")
    rig.expect.equal("BRM.RTS", "10310007ff000200", rts.frame.data.hex(), "BRM RTS")
    rig.well_formed(o, B, "2015")


@case("BP.1003/01", "bms", "On CRM 0xAA the BMS stops BRM and sends BCP (13 bytes by TP, 500 ms).",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def bp_1003(rig: Rig) -> None:
    o = rig.bms_sut(sut={"bro_delay": 0.0})
    aa = _crm(o, 0xAA)
    late_brm = [t for t in rts_times(o.trace, B, 0x0200) if t > aa]
    rig.expect.true(not late_brm, "BRM after CRM 0xAA", path="BRM", expected=0, actual=len(late_brm))
    rig.expect.true(any(n == "BCP" and len(d) == 13 for _, n, d in o.trace.transfers()), "no 13-byte BCP",
                    path="BCP")
    rig.well_formed(o, B, "2015")


@case("BP.2001/01", "bms", "BRO 0x00/0xAA only after CML; BCP stops once CML arrives.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def bp_2001(rig: Rig) -> None:
    o = rig.bms_sut()
    cml = rig.first(o, "CML", C)
    rig.never(o, "BRO", B, before=cml, why="before CML")
    late = [t for t in rts_times(o.trace, B, 0x0600) if t > cml]
    rig.expect.true(not late, "BCP after CML", path="BCP", expected=0, actual=len(late))
    rig.well_formed(o, B, "2015")


@case("BP.2002/01", "bms", "BCP values are plausible little-endian figures (SOC 0.1 %/bit, voltages 0.1 V/bit).",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def bp_2002(rig: Rig) -> None:
    o = rig.bms_sut()
    bcp = rig.decode("BCP", _one((d for _, n, d in o.trace.transfers() if n == "BCP"), "a complete BCP transfer"))
    rig.expect.true(bcp["soc"] <= 1000, f"BCP SOC {bcp['soc'] / 10} %", path="BCP.soc", expected="<= 1000",
                    actual=bcp["soc"])
    rig.well_formed(o, B, "2015")


@case("BP.3001/01", "bms", "After CRO 0xAA the BMS sends BCL (DLC 5, 50 ms), BSM (DLC 7, 250 ms) and BCS "
      "(9 bytes by TP, 250 ms).",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def bp_3001(rig: Rig) -> None:
    o = rig.bms_sut()
    bst = rig.first(o, "BST", B)
    rig.periodic(o, "BCL", B, rig.timers.charge_period_fast, until=bst)
    rig.periodic(o, "BSM", B, rig.timers.charge_period, until=bst)
    bcs = [at for at, n, d in o.trace.transfers() if n == "BCS" and len(d) == 9]
    rig.expect.true(len(bcs) >= 2, "fewer than two BCS transfers", path="BCS")
    rig.well_formed(o, B, "2015")


@case("BP.3002/01", "bms", "BCS: SOC in 1 %/bit (<= 100), remaining time <= 600 min, and the highest-cell group "
      "number per the PICS option (0-15 or 1-16).",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved"))
def bp_3002(rig: Rig) -> None:
    o = rig.bms_sut()
    offset = int(rig.option("bcs_group_offset"))
    for _, n, d in o.trace.transfers():
        if n != "BCS":
            continue
        bcs = rig.decode("BCS", d)
        rig.expect.true(bcs["soc"] <= 100, f"BCS SOC {bcs['soc']}", path="BCS.soc", expected="<= 100",
                        actual=bcs["soc"])
        rig.expect.true(bcs["remaining"] <= 600, "BCS remaining time", path="BCS.remaining", actual=bcs["remaining"])
        group = bcs["cell_max"]["group"]
        rig.expect.true(offset <= group <= 15 + offset, f"BCS group {group} outside the PICS range",
                        path="BCS.group", expected=f"{offset}..{15 + offset}", actual=group)
    rig.well_formed(o, B, "2015")


@case("BP.4001/01", "bms", "At its target SOC the BMS sends BST (SPN3511 SOC reached) until CST, then BSD.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def bp_4001(rig: Rig) -> None:
    o = rig.bms_sut()
    bst = rig.nth(o, "BST")
    rig.expect.equal("BST.stop_reason.soc_reached", 1, bst["stop_reason"]["soc_reached"])
    rig.first(o, "BSD", B, after=rig.first(o, "CST", C) - 1e-9)
    rig.completed(o)
    rig.well_formed(o, B, "2015")


@case("BP.4002/01", "bms", "On CST the BMS answers BST (2015: 'charger stopped') and BSD; the session ends.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def bp_4002(rig: Rig) -> None:
    o = rig.bms_sut(stop_after=1.0, keep_charging=1.0)
    bst = rig.nth(o, "BST")
    rig.expect.equal("BST.stop_reason.charger_stopped", 1, bst["stop_reason"]["charger_stopped"])
    rig.completed(o)
    rig.well_formed(o, B, "2015")


@case("BN.1001/01", "bms", "No CHM and no CRM: BEM SPN3901 (F1 F0 F0 FC) 60 s after power-up.",
      ("big_endian", "zero_reserved"))
def bn_1001(rig: Rig) -> None:
    rig.needs_power_up("BEM 60 s after power-up")
    o = rig.bms_sut(charger="2011", mute={"CRM": 0}, patient=True)
    _timeout_case(rig, o, "BEM", "f1f0f0fc", 0.0, rig.timers.charge_crm_wait, "CRM timeout", B)


@case("BN.1002/01", "bms", "CHM but no CRM: the BMS answers BHM and sends BEM SPN3901 60 s after CHM.",
      ("big_endian", "zero_reserved", "no_bhm"))
def bn_1002(rig: Rig) -> None:
    o = rig.bms_sut(mute={"CRM": 0}, patient=True)
    rig.first(o, "BHM", B)
    _timeout_case(rig, o, "BEM", "f1f0f0fc", rig.first(o, "CHM", C), rig.timers.charge_crm_wait, "CRM timeout", B)


@case("BN.1003/01", "bms", "CRM 0x00 but never 0xAA (the BRM transfer is never accepted): BEM SPN3902 "
      "(F4 F0 F0 FC) 5 s after CRM 0x00.",
      ("big_endian", "zero_reserved", "no_bhm"))
def bn_1003(rig: Rig) -> None:
    o = rig.bms_sut(tp_hook=Faults(never_cts=True), patient=True)
    _timeout_case(rig, o, "BEM", "f4f0f0fc", _crm(o, 0), rig.timers.charge_timeout, "CRM 0xAA timeout", B)


@case("BN.1004/01", "bms", "The charger never answers RTS with CTS: the BMS aborts the BRM transfer after T3 "
      "and sends RTS again.",
      ("big_endian", "zero_reserved", "no_bhm"))
def bn_1004(rig: Rig) -> None:
    o = rig.bms_sut(tp_hook=Faults(never_cts=True), patient=True)
    rts = rts_times(o.trace, B, 0x0200)
    aborts = tp_aborts(o.trace, B)
    rig.expect.true(bool(aborts), "no TP Abort from the BMS", path="TP.Abort")
    rig.expect.true(abs(aborts[0] - rts[0] - rig.timers.j1939_t3) <= rig.timers.j1939_tr,
                    f"Abort {aborts[0] - rts[0]:.3f} s after RTS, T3 is {rig.timers.j1939_t3:g} s",
                    path="TP.Abort.at", expected=rig.timers.j1939_t3, actual=round(aborts[0] - rts[0], 3))
    rig.expect.true(any(t > aborts[0] for t in rts), "no new RTS after the Abort", path="TP.RTS")
    rig.well_formed(o, B, "2015")


@case("BN.2001/01", "bms", "No CML/CTS after BCP: BEM SPN3903 (F0 F1 F0 FC) 5 s after CRM 0xAA.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def bn_2001(rig: Rig) -> None:
    o = rig.bms_sut(mute={"CML": 0, "CTS": 0}, patient=True)
    _timeout_case(rig, o, "BEM", "f0f1f0fc", _crm(o, 0xAA), rig.timers.charge_timeout, "CML timeout", B)


@case("BN.2002/01", "bms", "No CRO after BRO 0xAA: BEM SPN3904 (F0 F4 F0 FC) 5 s after BRO 0xAA.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def bn_2002(rig: Rig) -> None:
    o = rig.bms_sut(mute={"CRO": 0}, patient=True)
    _timeout_case(rig, o, "BEM", "f0f4f0fc", _ready(o, "BRO", B), rig.timers.charge_timeout, "CRO timeout", B)


@case("BN.2003/01", "bms", "CRO stays 0x00: BEM SPN3904 60 s after BRO 0xAA.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def bn_2003(rig: Rig) -> None:
    o = rig.bms_sut(cro_delay=1e6, patient=True)
    _timeout_case(rig, o, "BEM", "f0f4f0fc", _ready(o, "BRO", B), rig.timers.charge_ready_timeout,
                  "CRO 0xAA timeout", B)


@case("BN.3001/01", "bms", "No CCS after CRO 0xAA: BEM SPN3905 (F0 F0 F1 FC) 1 s later (not 5 s).",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "slow_timeout", "no_bhm"))
def bn_3001(rig: Rig) -> None:
    o = rig.bms_sut(mute={"CCS": 0}, patient=True)
    _timeout_case(rig, o, "BEM", "f0f0f1fc", _ready(o, "CRO", C), rig.timers.charge_fast_timeout, "CCS timeout", B)


@case("BN.3002/01", "bms", "CCS interrupted during charging: BEM SPN3905 1 s after the last CCS.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "slow_timeout", "no_bhm"))
def bn_3002(rig: Rig) -> None:
    o = rig.bms_sut(mute={"CCS": 2.0}, patient=True, keep_charging=2.0 + rig.timers.charge_fast_timeout)
    last = _last(o.trace.frames("CCS", C), "CCS").at
    _timeout_case(rig, o, "BEM", "f0f0f1fc", last, rig.timers.charge_fast_timeout, "CCS timeout", B)


@case("BN.4001/01", "bms", "The BMS stops and no CST follows: BEM SPN3906 (F0 F0 F4 FC) 5 s after BST.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def bn_4001(rig: Rig) -> None:
    o = rig.bms_sut(mute={"CST": 0}, patient=True)
    _timeout_case(rig, o, "BEM", "f0f0f4fc", rig.first(o, "BST", B), rig.timers.charge_timeout, "CST timeout", B)


@case("BN.4002/01", "bms", "No CSD after CST: BEM SPN3907 (F0 F0 F0 FD) 10 s after CST.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def bn_4002(rig: Rig) -> None:
    o = rig.bms_sut(mute={"CSD": 0}, patient=True)
    _timeout_case(rig, o, "BEM", "f0f0f0fd", rig.first(o, "CST", C), rig.timers.charge_end_timeout, "CSD timeout", B)


@case("BN.4003/01", "bms", "A CEM during charging: the BMS stops BCL/BCS and re-handshakes (BRM) on the next "
      "CRM 0x00.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def bn_4003(rig: Rig) -> None:
    o = rig.bms_sut(cem_at=1.0, keep_charging=1.0)
    cem = rig.first(o, "CEM", C)
    rig.never(o, "BCL", B, after=cem, before=cem + rig.timers.charge_retry_wait, why="after CEM")
    crm = _one((r.at for r in o.trace.frames("CRM", C) if r.at > cem), "CRM after the CEM")
    rig.expect.true(any(t >= crm for t in rts_times(o.trace, B, 0x0200)), "no BRM after the new CRM 0x00",
                    path="BRM")
    rig.well_formed(o, B, "2015")


@case("BN.4004/01", "bms", "After its BEM the BMS clears BEM on CRM 0x00 and completes the reconnection.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "slow_timeout", "no_bhm"))
def bn_4004(rig: Rig) -> None:
    o = rig.bms_sut(mute={"CCS": 0}, mute_attempts=1)
    bem = rig.first(o, "BEM", B)
    rig.expect.true(bem - _ready(o, "CRO", C) <= rig.timers.charge_fast_timeout + rig.timers.charge_period,
                    "BEM for CCS late", path="BEM.at")
    crm = _one((r.at for r in o.trace.frames("CRM", C) if r.at > bem), "CRM after the BEM")
    rig.never(o, "BEM", B, after=crm, why="after the reconnection's CRM 0x00")
    rig.completed(o)
    rig.well_formed(o, B, "2015")


# ====================================================================== upgrade behaviour (2015 §4.6)


@case("4.6/01", "bms", "A 2015 BMS is recognised as 2015: BHM answers CHM and BRM is 49 bytes with version "
      "01 01 00.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def up_01(rig: Rig) -> None:
    o = rig.bms_sut(charger="2015-compat")
    got = classify(o.trace)
    rig.expect.note(f"BMS classified as {got}")
    rig.expect.equal("classification", "2015", got, "the BMS is not recognisable as 2015")
    brm = _one((d for _, n, d in o.trace.transfers() if n == "BRM"), "a complete BRM transfer")
    rig.expect.equal("BRM.length", 49, len(brm))
    rig.completed(o)
    rig.well_formed(o, B, "2015")


@case("4.6/02", "bms", "A BMS that speaks only 2011 is flagged 'needs retrofit', not failed, when it charges "
      "through a 2015-compat charger's 2011 flow.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def up_02(rig: Rig) -> None:
    o = rig.bms_sut(charger="2015-compat")
    got = classify(o.trace)
    rig.expect.note("needs retrofit: the BMS speaks GB/T 27930-2011" if got == "2011" else f"BMS speaks {got}")
    rig.completed(o)
    rig.well_formed(o, B, got)


@case("4.6/03", "charger", "A 2015-compat charger serves a 2011 BMS: no BHM within 5 s -> CRM 0x00 (2011 flow), "
      "2011 layouts, complete session.",
      ("wrong_version", "big_endian", "zero_reserved", "no_fallback", "drop_ccs"))
def up_03(rig: Rig) -> None:
    o = rig.charger_sut(bms="2011")
    crm = rig.first(o, "CRM", C)
    rig.expect.true(crm <= rig.timers.charge_fallback + rig.timers.charge_period, f"first CRM at {crm:.3f} s",
                    path="CRM.at", expected=rig.timers.charge_fallback, actual=crm)
    rig.completed(o)
    rig.well_formed(o, C, "2011")


@case("4.6/04", "charger", "A 2015-compat charger serves a 2015 BMS in the 2015 flow (CHM, 8-byte CML, 7-byte "
      "CCS).",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "drop_ccs"))
def up_04(rig: Rig) -> None:
    o = rig.charger_sut(bms="2015")
    rig.completed(o)
    rig.well_formed(o, C, "2015")


@case("4.6/05", "charger", "A 2015-compat charger serves an upgraded BMS that starts in 2011 mode and switches "
      "to 2015 on CHM.",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "drop_ccs"))
def up_05(rig: Rig) -> None:
    o = rig.charger_sut(bms="2015-compat")
    rig.expect.equal("classification", "2015", classify(o.trace))
    rig.completed(o)
    rig.well_formed(o, C, "2015")


@case("4.6/06", "bms", "A BMS after retrofit passes with a strict 2015 charger (no fallback available).",
      ("wrong_version", "sizes_2011", "big_endian", "zero_reserved", "no_bhm"))
def up_06(rig: Rig) -> None:
    o = rig.bms_sut(charger="2015")
    rig.completed(o)
    rig.well_formed(o, B, "2015")


@case("4.6/07", "bms", "An upgraded BMS still charges on a 2011 charger that never sends CHM (41-byte BRM, "
      "version 00 01 00).",
      ("wrong_version", "big_endian", "zero_reserved"))
def up_07(rig: Rig) -> None:
    o = rig.bms_sut(charger="2011")
    rig.completed(o)
    rig.well_formed(o, B, "2011")


FLEET = (("LSVAU2180N2183294", "2015"), ("LSVAU2180N2183295", "2011"), ("LSVAU2180N2183296", "2015-compat"),
         ("LSVAU2180N2183297", "2011"))


@case("4.6/08", "charger", "Fleet report: the charger serves every vehicle of a mixed fleet and the report lists "
      "which vehicles still speak 2011.",
      ("sizes_2011", "no_fallback", "drop_ccs"))
def up_08(rig: Rig) -> None:
    still_2011 = []
    for vin, version in FLEET:
        o = rig.charger_sut(bms=version)
        rig.completed(o)
        got = classify(o.trace)
        if got == "2011":
            still_2011.append(vin)
    rig.expect.note("vehicles that still speak GB/T 27930-2011 (need retrofit): " + ", ".join(still_2011))
    rig.expect.equal("fleet.2011", [v for v, ver in FLEET if ver == "2011"], still_2011)
