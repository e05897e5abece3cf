"""Assessing a store in several processes (vehicles split by VIN) gives the serial result."""

from __future__ import annotations

from harness.quality import synth
from harness.quality.assess import assess_store


def _strip(res):
    res = dict(res)
    # the pictured vehicles are a sample (the first seen per process): not part of the equality
    assert len(res.pop("series")) == 3
    res["timing"] = dict(res["timing"], gaps=sorted(res["timing"]["gaps"], key=lambda g: (g["vin"], g["from"])))
    res["consistency"] = [dict(c, worst=sorted(w["miss"] for w in c["worst"])) for c in res["consistency"]]
    return res


def test_parallel_equals_serial(tmp_path):
    inj = synth.Injection(null=0.03, abnormal=0.02, out_of_range=0.02, late=0.02, duplicate=0.02, inconsistent=0.03,
                          reissue=0.02, gaps_per_vehicle=1)
    fl = synth.fleet(7, 1800, seed=12, inject=inj)
    db = synth.write_store(fl, tmp_path / "s.db")
    serial = assess_store(str(db))
    for workers in (2, 3):
        par = assess_store(str(db), workers=workers)
        assert par["records"]["records"] == fl.records
        assert _strip(par) == _strip(serial)
