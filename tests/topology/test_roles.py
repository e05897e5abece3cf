"""A local or national platform as the SUT: the harness plays the enterprise platform."""

import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", "conformance", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("role", ["local", "national"])
def test_platform_login_cases_pass_and_catch_a_bad_password_defect(role):
    # the charging cases run under any platform role: select the platform-login clause
    clean = _run("--role", role, "--clause", "5.1")
    assert clean.returncode == 0 and "total: 2 PASS" in clean.stdout, clean.stdout[-2000:]
    broken = _run("--role", role, "--clause", "5.1", "--sut-defect", "accept-bad-password")
    assert broken.returncode == 1 and "FAIL GBT32960.3-2016/5.1/02" in broken.stdout, broken.stdout[-2000:]


def test_terminal_role_is_an_error_not_a_pass():
    result = _run("--role", "terminal", "--case", "GBT32960.3-2016/B.1/01")
    assert result.returncode != 0
