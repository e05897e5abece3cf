"""`gbt32960 charging session|decode`."""

from harness.cli import main


def test_session_prints_the_annotated_trace_and_writes_a_log(tmp_path, capsys):
    log = tmp_path / "s.log"
    assert main(["charging", "session", "--bms", "2011", "--charger", "2015-compat", "--log", str(log)]) == 0
    out = capsys.readouterr().out
    assert "CHM version=010100" in out
    assert "falls back to the 2011 flow" in out and "BMS speaks 2011" in out
    assert "= BRM (41 B)" in out
    lines = log.read_text().splitlines()
    assert lines[0] == "(0.000000) vcan0 1826F456#010100"
    assert main(["charging", "decode", str(log)]) == 0
    decoded = capsys.readouterr().out.splitlines()
    assert len(decoded) > len(lines) and decoded[0].endswith("CHM version=010100")


def test_2015_charger_with_2011_bms_exits_1(capsys):
    assert main(["charging", "session", "--bms", "2011", "--charger", "2015", "--quiet"]) == 1
    assert "aborted: no BHM" in capsys.readouterr().out


def test_defect_switch_on_the_command_line(capsys):
    assert main(["charging", "session", "--charger-defect", "zero_reserved", "--quiet"]) == 0
    assert main(["charging", "session", "--bms-defect", "sizes_2011"]) == 1  # 41-byte BRM in a 2015 session
    assert "ignored: BRM (2015): 41 bytes, layout has 49" in capsys.readouterr().out


def test_decode_of_a_bad_file_is_bad_input(tmp_path):
    bad = tmp_path / "bad.log"
    bad.write_text("not a candump line\n")
    assert main(["charging", "decode", str(bad)]) == 2
    assert main(["charging", "decode", str(tmp_path / "missing.log")]) == 2
