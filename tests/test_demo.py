"""`gbt32960 demo`: the embedded chain runs and its summary holds (small fleet, a few seconds)."""

from harness.cli import main


def test_demo_stores_and_relays_everything(capsys, tmp_path):
    status = main(["demo", "--vehicles", "30", "--duration", "4", "--rate", "0.5", "--quiet",
                   "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "every data frame stored ........ YES" in out
    assert "every public frame relayed ..... YES" in out
    assert status == 0
    assert (tmp_path / "enterprise.sqlite").exists() and (tmp_path / "local.sqlite").exists()
