"""The plugin's verdicts, selection and exit codes (pytester: each test runs its own pytest session)."""

import re

import pytest

pytest_plugins = ["pytester"]

CASES = '''
import pytest, time
from harness.plugin import NotApplicable

case = pytest.mark.case

@case("X-1/1.1/01", requirement="passes")
def test_pass():
    assert True is True

@case("X-1/1.2/01", requirement="fails")
def test_fail():
    assert 1 == 2, "the SUT answered 2"

@case("X-1/1.3/01", requirement="no answer")
def test_timeout_error():
    raise TimeoutError("no frame within 1 s")

@case("X-1/2.1/01", requirement="harness breaks")
def test_harness_error():
    raise RuntimeError("the harness broke")

@case("X-1/2.2/01", requirement="skipped")
def test_skip():
    pytest.skip("cannot decide here")

@case("X-1/2.3/01", requirement="needs sm4")
@pytest.mark.needs(pics="encryption.sm4")
def test_needs_sm4():
    assert True

@case("X-1/3.1/01", requirement="declared failing, fails")
def test_expected_failure():
    assert False, "known defect"

@case("X-1/3.2/01", requirement="declared failing, passes")
def test_unexpected_pass():
    assert True

@case("X-1/4.1/01", requirement="hangs")
@pytest.mark.timeout(0.5)
def test_hang():
    time.sleep(3)

@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")

@case("X-1/4.2/01", requirement="setup breaks")
def test_setup_error(broken):
    pass

def test_not_a_case():
    assert True
'''

PICS = '''
features:
  encryption: {sm4: false}
expected_failures:
  "X-1/3.1/01": "known defect, ticket 12"
  "X-1/3.2/01": "was failing once"
'''


def _verdicts(result) -> dict[str, str]:
    out = {}
    for line in result.outlines:
        m = re.match(r"^(PASS|FAIL|ERROR|INCONC|N/A|XFAIL|XPASS) (X-1/\S+)$", line.strip())
        if m:
            out[m.group(2)] = m.group(1)
    return out


def _summary(result) -> str:
    return next(line for line in result.outlines if line.startswith("total:"))


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(test_cases=CASES)
    pytester.makefile(".yaml", pics=PICS)
    return pytester


def test_every_outcome_maps_to_its_verdict(suite):
    result = suite.runpytest("--pics", "pics.yaml", "-p", "no:cacheprovider")
    total = _summary(result)
    for expected in ("1 PASS", "2 FAIL", "2 ERROR", "2 INCONC", "1 N/A", "1 XFAIL", "1 XPASS"):
        assert expected in total, total
    red = _verdicts(result)  # failures and inconclusive ones are listed with their reasons
    assert red["X-1/1.2/01"] == "FAIL" and red["X-1/1.3/01"] == "FAIL"
    assert red["X-1/2.1/01"] == "ERROR" and red["X-1/4.2/01"] == "ERROR"
    assert red["X-1/2.2/01"] == "INCONC" and red["X-1/4.1/01"] == "INCONC"
    assert red["X-1/3.2/01"] == "XPASS"
    assert result.ret == 1


def test_skip_and_timeout_alone_are_never_a_pass(suite):
    result = suite.runpytest("--case", "X-1/2.2/*", "--case", "X-1/4.1/*", "-p", "no:cacheprovider")
    assert "PASS" not in _summary(result).replace("XPASS", "")
    assert "2 INCONC" in _summary(result)


def test_nothing_selected_is_not_a_pass(suite):
    result = suite.runpytest("--case", "NO-SUCH/*", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_na_comes_from_the_pics(suite):
    # an external SUT without a PICS claims only the basics (no encryption)
    result = suite.runpytest("--case", "X-1/2.3/*", "--sut", "tcp://127.0.0.1:9", "-p", "no:cacheprovider")
    assert "1 N/A" in _summary(result) and result.ret == 0
    # our reference platform, without --pics, is judged by its own PICS (it claims SM4)
    result = suite.runpytest("--case", "X-1/2.3/*", "-p", "no:cacheprovider")
    assert "1 PASS" in _summary(result)
    suite.makefile(".yaml", sm4="features:\n  encryption: {sm4: true}\n")
    result = suite.runpytest("--case", "X-1/2.3/*", "--pics", "sm4.yaml", "-p", "no:cacheprovider")
    assert "1 PASS" in _summary(result)


def test_xfail_passes_quietly_and_xpass_is_red(suite):
    result = suite.runpytest("--case", "X-1/3.1/*", "--pics", "pics.yaml", "-p", "no:cacheprovider")
    assert "1 XFAIL" in _summary(result) and result.ret == 0
    result = suite.runpytest("--case", "X-1/3.2/*", "--pics", "pics.yaml", "-p", "no:cacheprovider")
    assert "1 XPASS" in _summary(result) and result.ret == 1


def test_selection_by_case_id_and_clause(suite):
    result = suite.runpytest("--case", "X-1/1.*", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2, deselected=8)
    result = suite.runpytest("--clause", "2.", "--pics", "pics.yaml", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, skipped=2, deselected=8)


def test_a_passing_selection_exits_zero(suite):
    result = suite.runpytest("--case", "X-1/1.1/01", "-p", "no:cacheprovider")
    assert result.ret == 0 and "1 PASS" in _summary(result)


def test_list_shows_cases_and_requirements_without_running(suite):
    result = suite.runpytest("--list-cases", "-p", "no:cacheprovider")
    text = result.stdout.str()
    assert "X-1/1.2/01" in text and "fails" in text and "10 cases" in text
    assert "passed" not in text and "failed" not in text


def test_a_run_whose_only_failure_is_an_inconc_is_not_red(suite):
    result = suite.runpytest("--case", "X-1/4.1/*", "-p", "no:cacheprovider")  # a hang: INCONC, no decision
    assert "1 INCONC" in _summary(result) and result.ret == 0
    result = suite.runpytest("--case", "X-1/4.1/*", "--case", "X-1/2.1/*", "-p", "no:cacheprovider")
    assert result.ret == 1  # with an ERROR beside it the run is red
