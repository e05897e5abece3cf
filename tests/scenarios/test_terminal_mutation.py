"""Mutation self-test of the terminal-as-SUT catalogue: each simulator defect switch makes the cases
declared to catch it FAIL (tests/scenarios/terminal_mutations.py), and the clean simulator passes them."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.terminal.machine import DEFECTS

from .runner import verdicts
from .terminal_mutations import CATALOGUE, CAUGHT, NOT_IN_CATALOGUE

# the module fixture runs every declared pair before the first test: minutes, more on a loaded machine
pytestmark = pytest.mark.timeout(1800)
WORKERS = 3


def test_every_switch_is_declared():
    assert set(CAUGHT) | set(NOT_IN_CATALOGUE) == set(DEFECTS)
    assert not set(CAUGHT) & set(NOT_IN_CATALOGUE)


@pytest.fixture(scope="module")
def mutated() -> dict[str, dict[str, str]]:
    """{switch: {case: verdict}} for every declared pair (one subprocess per switch)."""
    def run(defect: str) -> tuple[str, dict[str, str]]:
        return defect, verdicts(CATALOGUE, defects=(defect,), cases=tuple(CAUGHT[defect]), role="terminal")

    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(pool.map(run, sorted(CAUGHT)))


@pytest.mark.parametrize("defect", sorted(CAUGHT))
def test_switch_fails_its_cases(mutated, defect):
    wanted = CAUGHT[defect]
    assert {c: mutated[defect].get(c, "not run") for c in wanted} == {c: "FAIL" for c in wanted}
