"""harness.protocol.upgrade (both 2016 field orders) and harness.upgrade (firmware server, fetching hook,
campaign view and its CLI)."""

import asyncio

import pytest

from harness.protocol.upgrade import TB16_ORDER, build_upgrade, parse_upgrade
from harness.terminal.machine import Upgrade
from harness.terminal.machine import parse_upgrade as terminal_parse
from harness.upgrade import Campaign, FirmwareServer, VehicleState, campaign, closed_port_url, fetching_hook, main

FIELDS = dict(url="http://127.0.0.1:8080/fw/F2.01.bin", firmware_version="F2.01", hardware_version="H1.00",
              maker_id="HRNS", address="127.0.0.1", port=8080, connect_deadline_min=5)


@pytest.mark.parametrize("url_first", [False, True])
def test_both_orders_round_trip_in_both_parsers(url_first):
    text = build_upgrade(**FIELDS, url_first=url_first)
    assert text.startswith("http://") == url_first
    for parse in (parse_upgrade, terminal_parse):
        got = parse(text)
        assert got is not None
        assert {k: got[k] for k in FIELDS} == FIELDS


def test_tb16_order_is_what_we_send():
    text = build_upgrade(**FIELDS)
    assert text.split(";")[TB16_ORDER.index("url")] == FIELDS["url"]
    assert text.split(";")[-1] == "5"


def test_binary_address_port_and_limit_may_hold_the_separator():
    raw = b";".join([b"apn", b"", b"", b"\0\0\x7f\0\0\x01", b"\x1f\x3b", b"HRNS", b"H1.00", b"F2.01",
                     b"http://127.0.0.1/fw.bin", b"\x00\x3b"])
    got = parse_upgrade(raw)
    assert got is not None
    assert (got["address"], got["port"], got["connect_deadline_min"]) == ("127.0.0.1", 0x1F3B, 0x3B)


def test_invalid_strings_are_refused():
    assert parse_upgrade("") is None
    assert parse_upgrade("a;b;c") is None  # too few fields
    with pytest.raises(ValueError):
        build_upgrade(**{**FIELDS, "maker_id": "A;B"})
    with pytest.raises(ValueError):
        build_upgrade(**{**FIELDS, "connect_deadline_min": 60001})


class _Terminal:
    vin = "LTEST000000000001"

    def __init__(self):
        self.done = []

    def upgrade_done(self, version, now):
        self.done.append(version)
        return []

    def set_edition(self, edition):
        self.edition = edition


class _Driver:
    def __init__(self):
        self.loop = asyncio.get_running_loop()
        self.terminals = [_Terminal()]
        self.closed = False

    def apply(self, tid, actions):
        pass


async def _wait(cond):
    for _ in range(200):
        if cond():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_hook_fetches_for_real_and_reports_the_new_firmware():
    image = bytes(range(256)) * 4
    with FirmwareServer({"/fw/F3.00.bin": image}) as server:
        driver, results = _Driver(), []
        hook = fetching_hook(results, editions={"F3.00": 2025})
        hook(driver, 0, Upgrade(server.url("/fw/F3.00.bin"), driver.loop.time() + 60, {"firmware_version": "F3.00"}))
        assert await _wait(lambda: results)
    assert results[0].ok and results[0].detail == f"{len(image)} bytes" and not results[0].late
    assert [f.status for f in server.fetches] == [200]
    assert driver.terminals[0].done == ["F3.00"] and driver.terminals[0].edition == 2025


async def test_hook_failure_keeps_the_old_firmware():
    driver, results = _Driver(), []
    hook = fetching_hook(results, timeout=2)
    hook(driver, 0, Upgrade(closed_port_url(), driver.loop.time() + 60, {"firmware_version": "F2.00"}))
    assert await _wait(lambda: results)
    assert not results[0].ok and driver.terminals[0].done == []
    with FirmwareServer({}) as server:  # a 404 is a failure too
        hook(driver, 0, Upgrade(server.url("/missing.bin"), driver.loop.time() + 60, {"firmware_version": "F2"}))
        assert await _wait(lambda: len(results) == 2)
    assert not results[1].ok and "404" in results[1].detail


class _Control:
    """A Control client stand-in: stored logins and warnings per VIN."""

    def __init__(self, logins, warnings):
        self.logins, self.warns = logins, warnings

    def query_frames(self, vin="", commands=(), decode=True):
        return {"frames": [{"edition": e} for e in self.logins.get(vin, [])]}

    def warnings(self, vin="", since=0.0):
        return [w for w in self.warns.get(vin, []) if w["at"] >= since]


def test_campaign_view_lists_old_protocol_and_failures():
    control = _Control({"A": [2016, 2025], "B": [2016], "C": [2025]},
                       {"A": [{"at": 5, "kind": "upgrade-done", "detail": "firmware F3.00"}],
                        "B": [{"at": 1, "kind": "upgrade-done", "detail": "old campaign"},
                              {"at": 6, "kind": "upgrade-failed", "detail": "no reconnection before the deadline"}]})
    view = campaign(control, ["A", "B", "C", "D"], since=2)
    assert view.old_protocol == ["B"] and view.failed == ["B"] and view.never_seen == ["D"]
    assert [v.upgrade for v in view.vehicles] == ["done", "failed", "none", "none"]
    assert "failed upgrades: 1 (B)" in view.text()
    assert Campaign([VehicleState("X", 2016, "none")]).as_dict()["old_protocol"] == ["X"]


def test_cli_against_a_reference_platform(tmp_path, capsys):
    from harness.control import ControlClient
    from reference_impl.config import PlatformConfig, Vehicle
    from reference_impl.core import PlatformCore
    from reference_impl.server import PlatformServer

    async def up():
        cfg = PlatformConfig(role="enterprise", name="ENT", storage=str(tmp_path / "e.sqlite"), control_port=0,
                             vehicles={"LTEST000000000001": Vehicle("LTEST000000000001")})
        server = await PlatformServer(PlatformCore(cfg)).start()
        server.core.store.warn("LTEST000000000001", "upgrade-failed", "no reconnection before the deadline", 10.0)
        server.core.flush()
        return server

    loop = asyncio.new_event_loop()
    import threading

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(up(), loop).result(10)
    try:
        ControlClient(f"127.0.0.1:{server.control_port}").wait_ready(10)
        code = main(["--control", f"127.0.0.1:{server.control_port}", "--json", "LTEST000000000001"])
        out = capsys.readouterr().out
        assert code == 1 and '"failed_upgrades": [\n    "LTEST000000000001"' in out
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
