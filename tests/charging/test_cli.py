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


def test_serve_help_explains_sessions_and_flags(capsys):
    import pytest

    with pytest.raises(SystemExit) as exc:
        main(["charging", "serve", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in ("--role", "--interface", "--channel", "--defect", "--duration", "--pixit", "session gap", "vcan0"):
        assert word in out, word


def test_serve_on_a_missing_socketcan_interface_is_bad_input(capsys):
    assert main(["charging", "serve", "--role", "bms", "--interface", "socketcan", "--channel", "nosuchcan9",
                 "--duration", "0.1"]) == 2
    assert main(["charging", "serve", "--role", "bms", "--interface", "socketcan", "--duration", "0.1"]) == 2


def test_serve_runs_a_bms_that_a_harness_charger_completes_a_session_with(tmp_path, capsys):
    """The CLI's simulator SUT in a thread (python-can's virtual bus is per process) and the harness's
    charger against it in real time: the session completes as seen on the bus, and the CLI prints it."""
    import threading

    import yaml

    from harness.charging.bus import open_bus, run_external
    from harness.charging.machine import Charger
    from harness.protocol.timers import Timers

    timers = {"charge_retry_wait": 0.5, "charge_end_timeout": 2.0}
    pixit = tmp_path / "pixit.yaml"
    pixit.write_text(yaml.safe_dump({"timers": timers}))
    log = tmp_path / "served.log"
    rc: list[int] = []
    args = ["charging", "serve", "--role", "bms", "--version", "2015", "--interface", "virtual", "--channel",
            "cli-serve-1", "--pixit", str(pixit), "--duration", "12", "--log", str(log)]
    th = threading.Thread(target=lambda: rc.append(main(args)))
    bus = open_bus("virtual", "cli-serve-1")
    th.start()
    try:
        trace, _, state = run_external(Charger("2015", Timers().with_(**timers)), bus, timers=Timers().with_(**timers))
    finally:
        bus.shutdown()
        th.join(timeout=30)
    assert rc == [0]
    assert state == "done" and trace.frames("BSD", 0xF4)
    out = capsys.readouterr().out
    assert "# serving bms 2015 on virtual:cli-serve-1" in out
    assert "182756F4  [2] 68 10" in out and "BHM max_voltage=420.0" in out  # the BMS's own frames, decoded
    assert "# session 1 over" in out and "bms done" in out
    assert "# served 1 session(s): done" in out
    assert main(["charging", "decode", str(log)]) == 0
