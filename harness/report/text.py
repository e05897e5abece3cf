"""Small shared wording and ordering rules of the reports (labels, sort keys, the overall result)."""

from __future__ import annotations

import re
from typing import Any

from .model import RED, VERDICTS, CaseResult, RunResult

__all__ = ["VERDICT_MEANING", "case_key", "clause_key", "natural_key", "overall", "slug", "sut_label"]

VERDICT_MEANING = {
    "PASS": "the requirement was shown to hold",
    "FAIL": "the requirement was shown not to hold",
    "ERROR": "the harness or its environment failed; nothing is known about the SUT",
    "INCONC": "could not be decided (a skip, a timeout); never counts as a pass",
    "N/A": "the PICS says the SUT does not claim the feature",
    "XFAIL": "a declared expected failure (with its reason) that did fail",
    "XPASS": "a declared expected failure that passed: the declaration is stale (red)",
}
assert set(VERDICT_MEANING) == set(VERDICTS)


def sut_label(run: RunResult) -> str:
    """The SUT's name as a reader knows it: its given name, else image, address or kind."""
    s = run.sut
    return s.name or s.image or s.address or s.kind or "SUT"


def natural_key(text: str) -> list[tuple[int, Any]]:
    """Sort key where B.3.5.10 comes after B.3.5.2 and case 10 after case 9."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p]


def clause_key(standard: str, clause: str) -> tuple[list[tuple[int, Any]], list[tuple[int, Any]]]:
    return natural_key(standard), natural_key(clause)


def case_key(case: CaseResult) -> tuple[Any, ...]:
    return (*clause_key(case.standard, case.clause), natural_key(case.case_id))


def overall(run: RunResult) -> str:
    """One word for the whole run: FAIL beats ERROR beats INCONC; PASS only when nothing else is left.

    An empty run is never a pass (design §3.5): it is "NO CASES".
    """
    verdicts = {c.verdict for c in run.cases}
    if not verdicts:
        return "NO CASES"
    for word, members in (("FAIL", {"FAIL", "XPASS"}), ("ERROR", {"ERROR"}), ("INCONC", {"INCONC"})):
        if verdicts & members:
            return word
    if verdicts & RED:  # an unknown red verdict added to the model later
        return "FAIL"
    return "PASS"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def slug(text: str) -> str:
    """A file name for a case id or SUT name: GBT32960.3-2016/B.3.5.2/01 -> GBT32960.3-2016_B.3.5.2_01."""
    s = _UNSAFE.sub("_", text).strip("._") or "x"
    return s[:120]
