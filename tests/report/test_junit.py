"""junit.xml: one testcase per case, verdicts mapped to failure / error / skipped, properties kept."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.report.junit import write_junit


def _props(el):
    return {p.get("name"): p.get("value") for p in el.find("properties")}


def test_counts_and_mapping(run, tmp_path):
    root = ET.parse(write_junit(run, tmp_path / "junit.xml")).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    for el in (root, suite):
        assert (el.get("tests"), el.get("failures"), el.get("errors"), el.get("skipped")) == ("7", "1", "2", "3")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [c.case_id for c in run.cases]
    outcome = {}
    for tc in cases:
        kids = [k for k in tc if k.tag in ("failure", "error", "skipped")]
        assert len(kids) <= 1
        outcome[_props(tc)["verdict"]] = (kids[0].tag, kids[0].get("message")) if kids else None
    assert outcome["PASS"] is None
    assert outcome["FAIL"][0] == "failure" and "0x03" in outcome["FAIL"][1]
    assert outcome["ERROR"][0] == "error" and outcome["XPASS"][0] == "error"
    assert outcome["INCONC"] == ("skipped", "inconclusive: " + run.cases[3].reason)
    assert outcome["N/A"] == ("skipped", "not applicable: PICS encryption.sm4 = false")
    assert outcome["XFAIL"] == ("skipped", "expected failure: " + run.cases[5].reason)


def test_properties(run, tmp_path):
    suite = ET.parse(write_junit(run, tmp_path / "junit.xml")).getroot().find("testsuite")
    props = _props(suite)
    assert props["SUT"] == "Reference enterprise platform 0.1"
    assert (props["role"], props["edition"]) == ("enterprise", "mixed")
    assert props["timers"].startswith("compressed")
    for tc, case in zip(suite.findall("testcase"), run.cases, strict=True):
        p = _props(tc)
        assert tc.get("classname") == f"{case.standard}/{case.clause}"
        assert {k: p[k] for k in ("case_id", "clause", "edition", "role", "verdict")} == {
            "case_id": case.case_id, "clause": case.clause, "edition": case.edition, "role": case.role,
            "verdict": case.verdict}
        assert float(tc.get("time")) == case.duration
    fail = suite.findall("testcase")[1]
    assert "second_login_ack.header.response" in fail.find("failure").text
    assert "listening on 0.0.0.0:32960" in fail.find("system-err").text


def test_control_characters_do_not_break_the_xml(run, tmp_path):
    run.cases[1].reason = "VIN 'LGB\x00\x00' answered \x1b[31mred\x1b[0m"
    run.cases[1].evidence.party_logs["raw"] = "bytes \x01\x02 then \ufffe"
    tc = ET.parse(write_junit(run, tmp_path / "junit.xml")).getroot().find("testsuite").findall("testcase")[1]
    assert tc.find("failure").get("message") == "VIN 'LGB\\x00\\x00' answered \\x1b[31mred\\x1b[0m"
