"""Mutation self-test of the platform-as-SUT catalogue: each reference defect switch makes the cases
declared to catch it FAIL (tests/scenarios/mutations.py). Only the declared pairs run here, one
subprocess per switch; scripts/mutation_table.py runs the whole catalogue per switch for the table."""

import pytest

from reference_impl.defects import DEFECTS

from .mutations import CATALOGUE, CAUGHT, NOT_IN_CATALOGUE
from .runner import verdicts


def test_every_switch_is_declared():
    assert set(CAUGHT) | set(NOT_IN_CATALOGUE) == set(DEFECTS)
    assert not set(CAUGHT) & set(NOT_IN_CATALOGUE)


@pytest.mark.parametrize("defect", sorted(CAUGHT))
def test_switch_fails_its_cases(defect):
    wanted = CAUGHT[defect]
    got = verdicts(CATALOGUE, defects=(defect,), cases=tuple(wanted))
    assert {c: got.get(c, "not run") for c in wanted} == {c: "FAIL" for c in wanted}
