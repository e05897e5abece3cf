"""Mutation self-test of the platform-as-SUT catalogue: each reference defect switch makes the cases
declared to catch it FAIL (tests/scenarios/mutations.py). Only the declared pairs run here, in
subprocesses run a few at a time; scripts/mutation_table.py runs the whole catalogue per switch."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from reference_impl.defects import DEFECTS

from .mutations import CATALOGUE, CAUGHT, NOT_IN_CATALOGUE
from .runner import verdicts

# the module fixture runs every declared pair before the first test: minutes, more on a loaded machine
pytestmark = pytest.mark.timeout(1800)
CHUNK = 4  # cases per subprocess: the slow ones (idle timeouts, partitions) spread over workers
WORKERS = 4  # the runs mostly wait on timers, so more than the 2 cores


def test_every_switch_is_declared():
    assert set(CAUGHT) | set(NOT_IN_CATALOGUE) == set(DEFECTS)
    assert not set(CAUGHT) & set(NOT_IN_CATALOGUE)


@pytest.fixture(scope="module")
def mutated() -> dict[str, dict[str, str]]:
    """{switch: {case: verdict}} for every declared pair."""
    jobs = [(d, tuple(cases[k:k + CHUNK])) for d, cases in sorted(CAUGHT.items()) for k in range(0, len(cases), CHUNK)]
    with ThreadPoolExecutor(WORKERS) as pool:
        runs = list(pool.map(lambda job: (job[0], verdicts(CATALOGUE, defects=(job[0],), cases=job[1])), jobs))
    out: dict[str, dict[str, str]] = {}
    for defect, got in runs:
        out.setdefault(defect, {}).update(got)
    return out


@pytest.mark.parametrize("defect", sorted(CAUGHT))
def test_switch_fails_its_cases(mutated, defect):
    wanted = CAUGHT[defect]
    assert {c: mutated[defect].get(c, "not run") for c in wanted} == {c: "FAIL" for c in wanted}
