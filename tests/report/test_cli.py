"""`gbt32960 report html|merge|junit`."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from harness.cli import main
from harness.report.json_report import write_json
from harness.report.writer import write_all

from .htmlcheck import Page
from .runs import make_run


def test_html_from_results_into_another_folder(tmp_path, capsys):
    run = make_run()
    write_all(run, tmp_path / "out")
    assert main(["report", "html", str(tmp_path / "out" / "results.json"), "-o", str(tmp_path / "html")]) == 0
    index = tmp_path / "html" / "index.html"
    assert capsys.readouterr().out.strip() == str(index)
    assert not Page(index.read_text("utf-8")).problems
    # the folder is self-contained: results and evidence came along
    assert (tmp_path / "html" / "results.json").exists()
    assert sorted(p.name for p in (tmp_path / "html" / "evidence").iterdir()) == sorted(
        p.name for p in (tmp_path / "out" / "evidence").iterdir())


def test_merge(tmp_path, capsys):
    for name, folder in (("SUT one", "out1"), ("SUT two", "out2")):
        write_all(make_run(name), tmp_path / folder)
    argv = ["report", "merge", str(tmp_path / "out1" / "results.json"), str(tmp_path / "out2"),
            "-o", str(tmp_path / "merged")]
    assert main(argv) == 0
    text = (tmp_path / "merged" / "index.html").read_text("utf-8")
    assert "SUT one" in text and "SUT two" in text
    assert (tmp_path / "merged" / "sut-2-SUT_two" / "results.json").exists()
    assert (tmp_path / "merged" / "sut-1-SUT_one" / "cases").is_dir()


def test_junit(tmp_path, capsys):
    write_json(make_run(), tmp_path)
    assert main(["report", "junit", str(tmp_path), "-o", str(tmp_path / "j" / "junit.xml")]) == 0
    assert ET.parse(tmp_path / "j" / "junit.xml").getroot().get("tests") == "7"


def test_bad_input_exits_2_and_says_why(tmp_path, capsys):
    doc = make_run().to_dict()
    doc["cases"][0]["verdict"] = "GREEN"
    (tmp_path / "results.json").write_text(json.dumps(doc))
    assert main(["report", "html", str(tmp_path / "results.json"), "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "$.cases[0].verdict" in err and "GREEN" in err
    assert main(["report", "merge", str(tmp_path / "none.json"), "-o", str(tmp_path / "x")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["report", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "merge" in out and "html" in out and "junit" in out
