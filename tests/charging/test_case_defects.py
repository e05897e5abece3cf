"""Each GB/T 27930 case passes against our simulators and FAILs with each defect switch it claims to catch."""

import pytest

from harness.charging.machine import DEFECTS
from harness.protocol.timers import Timers
from scenarios.gbt27930 import table
from scenarios.gbt27930.cases import CASES
from scenarios.gbt27930.rig import Rig

PAIRS = [(c, d) for c in CASES for d in c.caught_by]


@pytest.mark.parametrize("c,defect", PAIRS, ids=[f"{c.id}-{d}" for c, d in PAIRS])
def test_case_catches_its_defect(c, defect):
    rig = Rig(Timers(), defects=frozenset({defect}))
    with pytest.raises(AssertionError):
        c.run(rig)


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_case_passes_without_defects(c):
    c.run(Rig(Timers()))


def test_at_least_sixty_cases_each_caught_by_a_defect():
    assert len(CASES) >= 60
    assert len({c.full_id for c in CASES}) == len(CASES)
    assert all(c.caught_by and set(c.caught_by) <= set(DEFECTS) for c in CASES)


def test_every_defect_switch_is_caught_by_some_case():
    assert {d for c in CASES for d in c.caught_by} == set(DEFECTS)


def test_generated_table_is_current():
    assert table.DOC.read_text(encoding="utf-8") == table.render(), "run: python -m scenarios.gbt27930.table"


def test_a_2011_bms_is_flagged_needs_retrofit_not_failed():
    up_02 = next(c for c in CASES if c.id == "4.6/02")
    rig = Rig(Timers(), bms_version="2011")
    up_02.run(rig)
    assert any("needs retrofit" in n for n in rig.expect.evidence.notes)


def test_a_strict_2015_charger_fails_the_compat_case():
    up_03 = next(c for c in CASES if c.id == "4.6/03")
    with pytest.raises(AssertionError, match="no CRM on the bus"):
        up_03.run(Rig(Timers(), charger_version="2015"))


def test_pics_options_are_named_in_the_evidence():
    bp_3002 = next(c for c in CASES if c.id == "BP.3002/01")
    rig = Rig(Timers(), options={"ccs_dlc": "7|8", "bcs_group_offset": 1})
    with pytest.raises(AssertionError, match="group 1 outside"):
        bp_3002.run(Rig(Timers(), options={"ccs_dlc": "7", "bcs_group_offset": 2}))
    bp_3002.run(rig)
    assert "PICS option bcs_group_offset=1" in rig.expect.evidence.notes
