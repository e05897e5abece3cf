"""Meta-test: every defect switch makes at least one behaviour check fail.

This proves the checks can fail: a check that passes with the defect on would be a check that does
not look. The switch is run, not skipped, and the failure must be an AssertionError (a wrong
behaviour seen), not a crash.
"""

from __future__ import annotations

import pytest

from harness.terminal.machine import DEFECTS
from tests.scenarios.terminal_mutations import CAUGHT as TERMINAL_CAUGHT

from . import checks

CAUGHT_BY = {
    "no-heartbeat": "periodic",
    "no-reissue": "reissue",
    "duplicate-reissue": "reissue",
    "reissue-newest-first": "reissue",
    "wrong-login-serial": "login_serials",
    "ignore-query": "query",
    "accept-read-only-set": "set_refusal",
    "late-reports": "periodic",
    "no-alarm-period": "level3_alarm",
    "bad-bcc": "login_flow",
    "no-logout": "power_off_logout",
    "no-backoff": "login_retry_backoff",
    "no-restore": "set_ip_move_restore",
    "no-time-sync": "login_flow",
    "stuck-sensor": "data_consistency",
    "cells-dont-add-up": "data_consistency",
}


def test_every_defect_has_a_check():
    # unit-level checks here, or a terminal-as-SUT conformance case (tests/scenarios/test_terminal_mutation.py)
    assert set(CAUGHT_BY) | set(TERMINAL_CAUGHT) == set(DEFECTS)


@pytest.mark.parametrize("defect", sorted(CAUGHT_BY))
def test_defect_makes_its_check_fail(defect):
    check = checks.CHECKS[CAUGHT_BY[defect]]
    with pytest.raises(AssertionError):
        check(frozenset({defect}))


@pytest.mark.parametrize("name", sorted(checks.CHECKS))
def test_checks_pass_without_defects(name):
    checks.CHECKS[name]()
