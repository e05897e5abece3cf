"""`gbt32960 quality` over a platform store, a pcap and a raw stream, with a reference."""

from __future__ import annotations

import json

from harness.cli import main
from harness.quality import synth


def test_store_with_reference_writes_json_and_html(tmp_path, capsys):
    fl = synth.fleet(3, 900, seed=2, inject=synth.Injection(null=0.05, duplicate=0.02))
    db = synth.write_store(fl, tmp_path / "enterprise.db")
    ref = fl.write_reference(tmp_path / "truth.csv")
    status = main(["quality", "--store", str(db), "--reference", str(ref), "--out", str(tmp_path / "q")])
    out = capsys.readouterr().out
    assert status == 1  # 5 % null is over the default limit
    assert "verdict: FAIL" in out
    res = json.loads((tmp_path / "q" / "quality.json").read_text())
    assert res["records"]["records"] == fl.records
    assert res["records"]["null_records"] == fl.truth["null_records"]
    assert res["timing"]["counts"]["duplicates"] == fl.truth["duplicate"]  # the store flags them
    by = {i["item"]: i for i in res["reference"]["items"]}
    # a null speed cannot match the reference; every other record matches
    assert by["vehicle.speed"]["compared"] - by["vehicle.speed"]["matched"] == fl.truth["null:vehicle.speed"]
    assert by["vehicle.soc"]["match_rate"] == 1.0
    page = (tmp_path / "q" / "quality.html").read_text()
    assert "<svg" in page and "Reporting intervals" in page and "vehicle.speed" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained


def test_pcap_of_a_clean_fleet_passes(tmp_path, capsys):
    fl = synth.fleet(2, 600, seed=8)
    pcap = synth.write_pcap(fl, tmp_path / "run.pcap")
    status = main(["quality", str(pcap), "--out", str(tmp_path / "q")])
    out = capsys.readouterr().out
    res = json.loads((tmp_path / "q" / "quality.json").read_text())
    assert res["records"]["records"] == fl.records
    assert status == 0, out
    assert "verdict: PASS" in out


def test_bad_input_is_exit_2(tmp_path, capsys):
    assert main(["quality", str(tmp_path / "missing.pcap"), "--out", str(tmp_path)]) == 2
    assert main(["quality", "--out", str(tmp_path)]) == 2
    (tmp_path / "junk.bin").write_bytes(b"not frames at all")
    assert main(["quality", str(tmp_path / "junk.bin"), "--out", str(tmp_path / "q")]) == 2


def test_thresholds_file_changes_the_verdict(tmp_path, capsys):
    import pytest
    import yaml

    from harness.quality.assess import Assessor
    from harness.quality.thresholds import load

    fl = synth.fleet(2, 900, seed=2, inject=synth.Injection(null=0.05))
    db = synth.write_store(fl, tmp_path / "s.db")
    assert main(["quality", "--store", str(db), "--out", str(tmp_path / "a")]) == 1
    loose = tmp_path / "loose.yaml"
    loose.write_text(yaml.safe_dump({"rates": {"default": {"null": 0.2}}, "records": {"nvr": 0.2}}))
    assert main(["quality", "--store", str(db), "--thresholds", str(loose), "--out", str(tmp_path / "b")]) == 0
    res = json.loads((tmp_path / "b" / "quality.json").read_text())
    assert res["records"]["null_records"] == fl.truth["null_records"] > 0  # measured the same, judged looser
    assert res["records"]["limits"]["avr"] == 0.01  # keys not in the file keep the defaults
    with pytest.raises(ValueError, match="vehicle"):
        Assessor(load(overrides={"consistency": {"alarm_rules": [{"bit": 1, "item": "extremes.max_temperature",
                                                                  "below": 0}]}}))
