"""results.json: written, validated against the published schema, loaded back unchanged."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
from jsonschema import Draft202012Validator

from harness.report import model
from harness.report.json_report import ResultsError, load, load_dict, schema, validate, write_json


def test_schema_is_valid_draft_2020_12_and_versioned():
    s = schema()
    Draft202012Validator.check_schema(s)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["properties"]["schema_version"]["const"] == model.SCHEMA_VERSION == "1.0"


def _properties(node, where="$"):
    """Every property schema in the document, with where it is."""
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            yield f"{where}.{name}", sub
        for key, sub in node.items():
            yield from _properties(sub, f"{where}.{key}")
    elif isinstance(node, list):
        for n, sub in enumerate(node):
            yield from _properties(sub, f"{where}[{n}]")


def test_every_property_is_documented():
    s = schema()
    missing = [where for where, sub in _properties(s)
               if "description" not in sub and not ("$ref" in sub and "description" in _resolve(s, sub["$ref"]))]
    assert not missing, f"properties without a description: {missing}"
    for name, sub in s["$defs"].items():
        assert sub.get("description"), f"$defs.{name} has no description"


def _resolve(s, ref):
    node = s
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


@pytest.mark.parametrize(("cls", "ref"), [
    (model.RunResult, None), (model.Sut, "sut"), (model.CaseResult, "case"), (model.Evidence, "evidence"),
    (model.FrameEvidence, "frame"), (model.FieldDiff, "diff")])
def test_schema_matches_the_model(cls, ref):
    """The schema and the dataclasses are one contract: a field added to one must be added to the other."""
    s = schema() if ref is None else schema()["$defs"][ref]
    fields = {f.name for f in dataclasses.fields(cls)}
    if ref is None:
        fields |= {"schema_version", "counts"}
    assert set(s["properties"]) == fields
    assert set(s["required"]) == fields  # to_dict always writes every field


def test_written_results_validate_and_load_back(run, tmp_path):
    path = write_json(run, tmp_path)
    assert path == tmp_path / "results.json"
    doc = json.loads(path.read_text("utf-8"))
    validate(doc)
    assert doc["counts"] == {v: 1 for v in model.VERDICTS}
    assert load(tmp_path) == run  # a folder works as well as the file
    assert load(path).to_dict() == run.to_dict()
    assert load_dict(path) == doc


def test_awkward_values_still_make_valid_json(run, tmp_path):
    """Evidence is Any by contract: bytes, tuples and NaN must not produce an invalid file."""
    case = run.cases[1]
    case.evidence.diff.append(model.FieldDiff("answer", b"\x23\x23\x01", (1, 2)))
    case.evidence.counts["latency s"] = float("nan")
    doc = json.loads(write_json(run, tmp_path).read_text("utf-8"))
    assert doc["cases"][1]["evidence"]["diff"][-1] == {"path": "answer", "expected": "232301", "actual": [1, 2]}
    assert doc["cases"][1]["evidence"]["counts"]["latency s"] is None


def _broken(doc):
    """(what, broken copy) pairs, each one departure from the schema."""
    def edit(fn):
        d = copy.deepcopy(doc)
        fn(d)
        return d

    return [
        ("missing case_id", edit(lambda d: d["cases"][0].pop("case_id"))),
        ("unknown verdict", edit(lambda d: d["cases"][0].update(verdict="SKIPPED"))),
        ("wrong schema version", edit(lambda d: d.update(schema_version="1.7"))),
        ("other major version", edit(lambda d: d.update(schema_version="2.0"))),
        ("started is text", edit(lambda d: d.update(started="yesterday"))),
        ("frame hex is not hex", edit(lambda d: d["cases"][0]["evidence"]["frames"][0].update(raw_hex="zz"))),
        ("bad direction", edit(lambda d: d["cases"][0]["evidence"]["frames"][0].update(direction=">>"))),
        ("unknown property", edit(lambda d: d["cases"][0].update(verdicts="PASS"))),
        ("counts disagree with cases", edit(lambda d: d["counts"].update(PASS=5))),
        ("count missing", edit(lambda d: d["counts"].pop("XPASS"))),
        ("party log not text", edit(lambda d: d["cases"][1]["evidence"]["party_logs"].update(x=1))),
    ]


def test_broken_results_do_not_validate(run):
    doc = json.loads(json.dumps(run.to_dict()))
    validate(doc)
    for what, bad in _broken(doc):
        with pytest.raises(ResultsError) as info:
            validate(bad)
        assert str(info.value), what


def test_load_names_the_problem_and_the_file(run, tmp_path):
    doc = json.loads(json.dumps(run.to_dict()))
    doc["cases"][2]["verdict"] = "OK"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsError) as info:
        load(path)
    assert str(path) in str(info.value) and "$.cases[2].verdict" in str(info.value)
    path.write_text("{not json")
    with pytest.raises(ResultsError, match="not JSON"):
        load(path)
    with pytest.raises(ResultsError, match="cannot read"):
        load(tmp_path / "nothing.json")
