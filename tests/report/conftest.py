from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.report.model import RunResult

from .runs import make_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run() -> RunResult:
    return make_run()


@pytest.fixture(scope="session")
def artefacts() -> Path:
    """Where report tests leave files for a human (CI uploads this folder): screenshots, a sample report."""
    path = Path(os.environ.get("GBT32960_TEST_ARTEFACTS", ROOT / "reports" / "test-artefacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path
