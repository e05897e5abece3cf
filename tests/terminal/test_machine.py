"""The sans-IO terminal with a fake clock: login, periods, reissue, platform commands, both editions."""

from __future__ import annotations

import pytest

from harness.protocol import Frame, crypto, encode
from harness.protocol.schema import Timestamp
from harness.protocol.timers import Timers
from harness.terminal.generator import Generator
from harness.terminal.machine import DEFECTS, Close, Connect, Terminal, Upgrade, parse_upgrade

from . import checks
from .checks import ts
from .helpers import FAST, ICCID, VIN, answer, bench, command, set_command


@pytest.mark.parametrize("edition", [2016, 2025])
def test_login_flow(edition):
    checks.check_login_flow(edition=edition)


def test_login_retry_and_backoff():
    checks.check_login_retry_backoff()


def test_login_error_answer_counts_as_failure():
    b = bench(login_flag=0x02).start()
    b.run(130)
    assert b.times(0x01) == [0, 60, 120]
    assert [t for t, a in b.actions if isinstance(a, Close)] == [120], "third error answer closes at once"
    assert not b.terminal.online


def test_refused_connection_counts_as_failed_login():
    b = bench(refuse={("127.0.0.1", 32960)}).start()
    b.run(800)
    connects = [t for t, a in b.actions if isinstance(a, Connect)]
    assert connects == [0, 60, 120, 720, 780], connects  # 3 refusals, 600 s backoff, again
    assert not b.frames(0x01)


def test_login_serials_and_daily_cycle():
    checks.check_login_serials()


def test_login_serial_wraps_at_65531():
    b = bench().start()
    b.terminal._serial = 65531
    b.drop()
    b.run(10)
    assert b.frames(0x01)[-1].frame.body["serial"] == 1


@pytest.mark.parametrize("edition", [2016, 2025])
def test_periodic_reports_and_heartbeat(edition):
    checks.check_periodic(edition=edition)


def test_reissue_after_link_loss():
    checks.check_reissue()


def test_storage_is_bounded_by_count_cap():
    b = bench(store_cap=10).start()
    b.run(5)
    b.refuse.add(("127.0.0.1", 32960))
    b.drop()
    b.run(500)
    assert len(b.terminal.backlog) == 10
    times = [s.t for s in b.terminal.backlog]
    assert times == sorted(times) and times[-1] == 500, "the newest are kept (circular overwrite)"
    assert b.terminal.stats["stored_dropped"] == b.terminal.stats["stored"] - 10


def test_level3_alarm_period_and_prefault_reissue():
    checks.check_level3_alarm()


def test_level3_alarm_while_offline_stores_prefault_samples():
    b = bench().start()
    b.run(45)
    b.refuse.add(("127.0.0.1", 32960))
    b.drop()
    b.run(100)
    b.do(b.terminal.raise_alarm, 3, 100.0)
    b.run(110)
    stored = [s.t for s in b.terminal.backlog]
    assert stored == sorted(stored) and len(set(stored)) == len(stored)
    assert set(range(70, 100)) <= set(stored), "1 s pre-fault samples are kept for reissue"
    assert set(range(100, 111)) <= set(stored), "1 s samples during the alarm"


def test_error_answer_to_data_is_resent_three_times():
    checks.check_data_error_resend()


def test_heartbeat_without_answers_drops_the_link():
    b = bench(answer_heartbeats=False).start()
    b.run(100)
    assert b.times(0x07) == [30, 60, 90]
    b.run(125)
    assert [t for t, a in b.actions if isinstance(a, Close)] == [120]
    assert b.times(0x01) == [0, 120], "reconnects and logs in again"


def test_time_sync_retried_until_answered():
    def policy(frame, bench_):
        if frame.command == 0x08:
            return []
        from .helpers import default_policy
        return default_policy(frame, bench_)

    b = bench(policy=policy).start()
    b.run(30)
    assert b.times(0x08) == [0, 5, 10]
    assert b.terminal.stats["time_sync_failed"] == 1


@pytest.mark.parametrize("edition", [2016, 2025])
def test_query_answer(edition):
    checks.check_query(edition=edition)


def test_query_answer_2025_period_params_are_bytes():
    b = bench(2025).start()
    b.run(1)
    b.deliver(command(0x80, {"time": ts(1), "ids": [0x02, 0x03]}, 2025))
    ans = b.frames(0x80)[-1]
    assert ans.raw[:2] == b"$$"
    assert ans.raw[24 + 6:24 + 6 + 5] == bytes([2, 0x02, 10, 0x03, 1]), "BYTE values in 2025"


def test_set_read_only_refused():
    checks.check_set_refusal()


def test_set_unknown_id_refused_as_a_whole():
    b = bench().start()
    b.run(1)
    data = set_command({"time": ts(1), "params": [{"id": 0x02, "value": 20}, {"id": 0x20, "value": b"\x01"}]})
    b.deliver(data)
    ans = [s for s in b.frames(0x81) if s.frame.is_response]
    assert [a.frame.ack for a in ans] == [0x02] and ans[0].frame.body == {"time": ts(1)}
    assert b.terminal.params[0x02] == 10


def test_set_out_of_range_refused():
    b = bench(2025).start()
    b.run(1)
    b.deliver(set_command({"time": ts(1), "params": [{"id": 0x02, "value": 31}]}, 2025))  # 2025: 1..30 s
    assert [s.frame.ack for s in b.frames(0x81)] == [0x02]


def test_set_applies_periods():
    b = bench().start()
    b.run(1)
    b.deliver(set_command({"time": ts(1), "params": [{"id": 0x02, "value": 20}, {"id": 0x09, "value": 15}]}))
    assert [s.frame.ack for s in b.frames(0x81)] == [0x01]
    assert b.frames(0x81)[0].frame.body == {"time": ts(1)}, "time-only answer keeps the command's time"
    b.run(100)
    assert b.times(0x02) == [0, 10, 30, 50, 70, 90]
    assert b.times(0x07) == [30, 45, 60, 75, 90]
    b.deliver(command(0x80, {"time": ts(100), "ids": [0x02, 0x09]}))
    got = {p["id"]: p["value"] for p in b.frames(0x80)[-1].frame.body["params"]}
    assert got == {0x02: 20, 0x09: 15}


def test_set_ip_move_and_restore():
    checks.check_set_ip_move_restore()


def test_set_ip_move_success_stays_on_new_platform():
    b = bench().start()
    b.run(5)
    body = {"time": ts(5), "params": [{"id": 0x04, "value": 9}, {"id": 0x05, "value": "127.0.0.3"},
                                      {"id": 0x06, "value": 40001}]}
    b.deliver(set_command(body))
    assert b.links["main"] == ("127.0.0.3", 40001) and b.terminal.online
    assert b.frames(0x01)[-1].now == 5
    b.run(100)
    assert b.links["main"] == ("127.0.0.3", 40001)
    assert not [s for s in b.frames(0x81) if s.frame.ack == 0x02]


def _control(b, cmd, params, edition=2016, t=1.0):
    body = {"time": ts(t), "command": cmd, "params": params}
    b.deliver(encode(Frame(0x82, 0xFE, VIN, body, edition)))
    return [s for s in b.frames(0x82) if s.frame.is_response]


# binary address/port/deadline as EMQX sends them; str values carry raw bytes as surrogate escapes
UPGRADE_B16 = (b"CMNET;user;pw;\x00\x00\x7f\x00\x00\x01;\x1f\x90;ABCD;H1.00;F2.00;ftp://127.0.0.1/fw.bin;\x00\x3c"
               .decode("ascii", "surrogateescape"))
UPGRADE_URL_FIRST = "ftp://127.0.0.1/fw.bin;CMNET;user;pw;127.0.0.1;8080;ABCD;H1.00;F2.00;60"


@pytest.mark.parametrize("text", [UPGRADE_B16, UPGRADE_URL_FIRST])
def test_control_remote_upgrade(text):
    b = bench().start()
    b.run(1)
    acks = _control(b, 0x01, text)
    assert [a.frame.ack for a in acks] == [0x01] and acks[0].frame.body == {"time": ts(1)}
    ups = [a for _, a in b.actions if isinstance(a, Upgrade)]
    assert len(ups) == 1 and ups[0].url == "ftp://127.0.0.1/fw.bin"
    assert ups[0].deadline == pytest.approx(1 + 3600)
    assert ups[0].fields["address"] == "127.0.0.1" and ups[0].fields["port"] == 8080
    assert ups[0].fields["firmware_version"] == "F2.00"
    b.do(b.terminal.upgrade_done, "F2.00", 1.0)
    assert b.frames(0x01)[-1].now == 1 and len(b.frames(0x01)) == 2, "reconnects and logs in"
    b.deliver(command(0x80, {"time": ts(1), "ids": [0x08]}))
    assert b.frames(0x80)[-1].frame.body["params"] == [{"id": 0x08, "value": "F2.00"}]


def test_parse_upgrade_rejects_garbage_and_handles_semicolons_in_binary():
    assert parse_upgrade("nonsense") is None
    assert parse_upgrade(";;;;;;;;;") is None  # no URL
    # the binary port 0x3B3B contains ';' twice
    text = "apn;;;\x00\x00\x7f\x00\x00\x01;;;ABCD;H1.00;F2.00;ftp://127.0.0.1/x;\x00\x05".replace(";;;A", ";\x3b\x3b;A")
    fields = parse_upgrade(text)
    assert fields is not None and fields["port"] == 0x3B3B and fields["connect_deadline_min"] == 5
    assert fields["url"] == "ftp://127.0.0.1/x" and fields["dial_user"] == ""


def test_control_power_off_reset_factory_disconnect_warning():
    b = bench().start()
    b.run(1)
    b.deliver(set_command({"time": ts(1), "params": [{"id": 0x02, "value": 20}]}))
    acks = _control(b, 0x04, b"")  # factory reset
    assert acks[-1].frame.ack == 0x01 and b.terminal.params[0x02] == 10
    acks = _control(b, 0x06, {"level": 2, "info": b"\x01\x02"})
    assert acks[-1].frame.ack == 0x01 and b.terminal.warnings == [(1.0, 2, b"\x01\x02")]
    n = len(b.frames(0x01))
    _control(b, 0x03, b"")  # reset: re-login
    assert len(b.frames(0x01)) == n + 1
    acks = _control(b, 0x05, b"")  # disconnect
    assert acks[-1].frame.ack == 0x01 and "main" not in b.links
    b.run(70)
    assert b.terminal.online and b.frames(0x01)[-1].now == 61, "reconnects after the login retry time"


def test_control_power_off_logs_out():
    checks.check_power_off_logout()
    b = bench().start()
    b.run(10)
    acks = _control(b, 0x02, b"", t=10)
    assert acks[-1].frame.ack == 0x01
    b.run(300)
    assert b.times(0x04) == [190]


def test_control_invalid_is_ignored():
    b = bench().start()
    b.run(1)
    assert _control(b, 0x08, b"") == []
    assert _control(b, 0x01, "not an upgrade") == []
    assert _control(b, 0x06, {"level": 9, "info": b""}) == []
    assert _control(b, 0x07, b"") == [], "no public platform configured"


def test_sampling_link_opens_reports_and_closes():
    b = bench().start()
    b.run(1)
    body = {"time": ts(1), "params": [{"id": 0x0D, "value": 9}, {"id": 0x0E, "value": "127.0.0.9"},
                                      {"id": 0x0F, "value": 33000}]}
    b.deliver(set_command(body))
    acks = _control(b, 0x07, b"")
    assert acks[-1].frame.ack == 0x01
    assert b.links["sampling"] == ("127.0.0.9", 33000) and b.terminal.params[0x10] == 1
    assert b.frames(0x01, link="sampling")[0].frame.body["serial"] == 2
    b.run(31)
    assert b.times(0x02, link="sampling") == [1, 11, 21, 31]
    assert b.times(0x02, link="main") == [0, 10, 20, 30], "the main link goes on"
    b.deliver(set_command({"time": ts(31), "params": [{"id": 0x10, "value": 2}]}))
    assert b.frames(0x04, link="sampling")[0].frame.body["serial"] == 2
    assert "sampling" not in b.links and b.terminal.params[0x10] == 2
    b.run(60)
    assert b.times(0x02, link="sampling")[-1] == 31


def test_sampling_link_ends_when_closed_by_the_platform():
    b = bench().start()
    b.run(1)
    body = {"time": ts(1), "params": [{"id": 0x0D, "value": 9}, {"id": 0x0E, "value": "127.0.0.9"},
                                      {"id": 0x0F, "value": 33000}]}
    b.deliver(set_command(body))
    _control(b, 0x07, b"")
    b.drop("sampling")
    assert b.terminal.params[0x10] == 2 and "sampling" not in b.terminal.sessions
    b.run(100)
    assert "sampling" not in b.links


def test_commands_before_login_and_foreign_vin_are_ignored():
    b = bench(answer_logins=False).start()
    b.deliver(command(0x80, {"time": ts(0), "ids": [0x02]}))
    assert not b.frames(0x80)
    b.answer_logins = True
    b.run(61)
    b.deliver(command(0x80, {"time": ts(0), "ids": [0x02]}, vin="LSIMOTHER00000001"))
    assert not b.frames(0x80) and b.terminal.stats["foreign_frames"] == 1


def test_2025_login_with_pack_codes_and_activation():
    b = bench(2025, activate=True, packs_per_bms=[1, 2]).start()
    b.run(1)
    act = b.frames(0x09)
    assert len(act) == 1 and act[0].raw[:2] == b"$$" and act[0].frame.body["vin"] == VIN
    assert len(act[0].frame.body["chip_id"]) == 16
    login = b.frames(0x01)[0].frame.body
    assert login["packs_per_bms"] == [1, 2] and len(login["pack_codes"]) == 3
    assert all(len(c) == 24 for c in login["pack_codes"])
    assert b.terminal.activated and b.terminal.online
    b.drop()
    b.run(10)
    assert len(b.frames(0x09)) == 1, "activation happens once, before the first login"


def test_2025_activation_failure_is_retried_like_a_login():
    def policy(frame, bench_):
        if frame.command == 0x09:
            return [encode(Frame(0x0A, 0xFE, VIN, {"status": 2, "info": 2}, 2025))]
        return None

    b = bench(2025, activate=True, policy=policy).start()
    b.run(130)
    assert b.times(0x09) == [0, 60, 120] and not b.frames(0x01)


def test_2025_power_off_reports_at_5930_then_logs_out():
    b = bench(2025).start()
    b.run(20)
    b.do(b.terminal.power_off, 20.0)
    b.run(4000)
    after = [t for t in b.times(0x02) if t > 20]
    assert after == [20 + 3600 - 30]
    assert b.times(0x04) == [3620]


def test_2016_realtime_frames_and_2025_signature():
    b = bench(2025, sign=True).start()
    b.run(1)
    body = b.frames(0x02)[0].frame.body
    assert body["signature"]["algorithm"] == 1 and len(body["signature"]["r"]) == 32
    assert [i["type"] for i in body["items"]] == [0x01, 0x02, 0x05, 0x06, 0x07, 0x08]


def test_set_edition_takes_effect_at_next_login():
    b = bench(2016).start()
    b.run(5)
    b.terminal.set_edition(2025)
    b.run(10)
    assert b.frames(0x02)[-1].raw[:2] == b"##"
    b.drop()
    b.run(20)
    assert b.frames(0x01)[-1].raw[:2] == b"$$" and b.frames(0x02)[-1].raw[:2] == b"$$"


def test_compressed_timers_keep_distinct_collection_times():
    k = 60
    timers = Timers().compressed(k)
    term = Terminal(VIN, 2016, timers, Generator(1, alarm_rate=0), iccid=ICCID, time_scale=1 / k)
    from .helpers import Bench

    b = Bench(term).start()
    b.run(2.0)  # two real seconds = two simulated minutes
    times = [s.frame.body["time"] for s in b.frames(0x02)]
    assert len(times) == 13 and len(set(times)) == 13
    assert times[1] == Timestamp(25, 6, 1, 8, 0, 10)
    assert term.params[0x02] == 10 and term.params[0x09] == 30, "params stay in standard units"


def test_unknown_defect_rejected_and_all_documented():
    with pytest.raises(ValueError):
        bench(defects=frozenset({"no-such-thing"}))
    assert all(isinstance(v, str) and v for v in DEFECTS.values())


def test_every_frame_sent_decodes_in_a_long_mixed_run():
    from .helpers import Bench, make_terminal

    for edition in (2016, 2025):
        gen = Generator(3, cells=300, probes=40, alarm_rate=20, level3_share=0.2)
        b = Bench(make_terminal(edition, generator=gen)).start()
        b.run(3 * 3600)
        assert all(s.frame is not None for s in b.sent)
        assert len(b.frames(0x02)) > 1000
    assert FAST.report_period == 10


def test_answer_helper_roundtrip():
    # the scripted platform's answer is a well-formed time-only response
    b = bench().start()
    login = b.frames(0x01)[0].frame
    raw = answer(login)
    assert raw[3] == 0x01 and len(raw) == 25 + 6


def test_initial_params_override_only_what_they_name():
    b = bench(params={0x09: 12}).start()
    b.run(40)
    assert b.times(0x07) == [12, 24, 36] and b.times(0x02)[:3] == [0, 10, 20]
    assert b.terminal.params[0x09] == 12


@pytest.mark.parametrize("defects", [frozenset(), frozenset({"ignore-key-exchange"})])
def test_key_exchange_from_the_platform_switches_the_data_unit_key(defects):
    k1, k2 = bytes(16), bytes(range(16))
    b = bench(2025, defects=defects, crypto=crypto.FrameCrypto(keys=crypto.Keys(sm4=k1), encryption=crypto.SM4))
    b.start().run(15)
    assert b.terminal.online
    body = {"key_type": crypto.SM4, "key": k2, "valid_from": ts(0), "expires": ts(3600)}
    platform = crypto.FrameCrypto(keys=crypto.Keys(sm4=k1), encryption=crypto.SM4)
    b.deliver(platform.seal(Frame(0x0B, 0xFE, VIN, body, 2025)))  # sent under the current key
    assert [s.raw[3] for s in b.frames(0x0B)] == [0x01]  # answered success, with or without the defect
    since = b.now
    b.run(since + 30)
    reports = b.frames(0x02, since=since + 1e-9)
    current = k1 if defects else k2  # the defect keeps the old key
    assert len(reports) >= 2 and all(r.raw[21] == crypto.SM4 for r in reports)
    assert all(crypto.FrameCrypto(keys=crypto.Keys(sm4=current)).open(r.raw).body["items"] for r in reports)
