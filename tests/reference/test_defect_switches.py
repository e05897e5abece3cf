"""Self-test of the defect switches: each one makes at least one behaviour check fail.

This proves both sides: the switch really breaks the platform, and the check really notices.
"""

import pytest

from reference_impl.defects import DEFECTS
from reference_impl.embedded import start_trio

from .checks import CHECKS
from .conftest import FAST, VEHICLES, until

CAUGHT_BY = {
    "no-reissue": "check_reissue_after_outage",
    "relay-private": "check_relay_public_only_byte_identical",
    "relay-wrong-region": "check_relay_public_only_byte_identical",
    "ignore-duplicate-login": "check_new_connection_replaces_old",
    "wrong-bcc-on-ack": "check_login_answered",
    "accept-bad-password": "check_platform_login_refused_with_wrong_password",
    "drop-data-call": "check_data_call_streams_then_stops",
    "alter-relayed-bytes": "check_relay_public_only_byte_identical",
    "ack-realtime": "check_realtime_not_acked",
    "no-error-flag": "check_bad_data_gets_error_flag_and_link_survives",
    "accept-before-login": "check_data_before_login_refused",
    "no-heartbeat-answer": "check_heartbeat_answered",
    "no-idle-timeout": "check_idle_link_closed",
    "no-command-resend": "check_command_resent_three_times",
    "no-login-backoff": "check_upstream_login_backoff",
    "no-warning": "check_threshold_warning",
    "reissue-as-realtime": "check_reissue_after_outage",
    "lose-queue-on-restart": "test_durability.py::test_lose_queue_on_restart_switch_is_caught",
    # caught by conformance cases: tests/scenarios/test_mutation.py runs each with its switch on
    "answer-in-2016-framing": "case GBT32960.3-*/6.2/01",
    "close-on-bad-frame": "case GBT32960.3-*/6.2/07",
    "no-reassembly": "case GBT32960.3-*/6.2/08",
    "first-frame-only": "case GBT32960.3-*/6.2/09",
    "accept-bad-encryption": "case GBT32960.3-*/6.2/05",
    "flags-2016-only": "case GBT32960.3-2025/6.2/03",
    "time-sync-wrong-time": "case GBT32960.3-*/B.2.5/01",
    "ignore-logout": "case GBT32960.3-*/B.1/05",
    "no-duplicate-flag": "case GBT32960.3-*/B.1/04",
    "reissue-stored-as-realtime": "case GBT32960.3-*/B.2.8/01",
    "no-duplicate-detection": "case GBT32960.3-*/B.2.8/03",
    "drop-custom-types": "case GBT32960.3-*/B.2.1/04",
    "alter-stored-bytes": "case GBT32960.3-*/B.2.1/01",
    "ignore-upstream-acks": "case GBT32960.3-*/5.2.2/01",
    "answer-responses": "case GBT32960.3-*/6.3.2/01",
    "no-activation-answer": "case GBT32960.3-2025/B.3/01",
    "query-ids-off-by-one": "case GBT32960.3-*/B.2.2/01",
    "too-many-command-resends": "case GBT32960.3-*/B.2.2/02",
    "ignore-command-answers": "case GBT32960.3-*/B.2.2/03",
    "set-port-little-endian": "case GBT32960.3-*/B.2.3/01",
    "set-periods-as-word": "case GBT32960.3-2025/B.2.3/01",
    "set-read-only-params": "case GBT32960.3-*/B.2.3/02",
    "retry-on-failure-answer": "case GBT32960.3-*/B.2.3/03",
    "no-move-record": "case GBT32960.3-*/B.2.3/04",
    "move-on-failure": "case GBT32960.3-*/B.2.3/05",
    "control-params-dropped": "case GBT32960.3-*/B.2.4/01",
    "drop-frequent-data": "case GBT32960.3-*/5.2.4/01",
    "drop-stale-reissue": "case GBT32960.3-*/5.2.4/02",
    "no-level3-record": "case GBT32960.3-*/5.2.4/03",
    "activation-always-ok": "case GBT32960.3-2025/B.3/03",
    "no-key-exchange-answer": "case GBT32960.3-2025/T31/01",
    "accept-expired-key": "case GBT32960.3-2025/T31/02",
    "accept-any-edition": "case GBT32960.3-2025/6.2/10",
    "login-retry-fast": "case GBT32960.3-*/5.1/03",
    "no-resend-on-error": "case GBT32960.3-*/5.2.2/02",
    "relay-batched": "case GBT32960.3-*/5.2.3/01",
    # the notice's forwarding under faults (scenarios/notice/test_forwarding*.py)
    "relay-lose-some": "case NOTICE-2016/1.2/b/03",
    "resend-unbounded": "case NOTICE-2016/1.2/b/06",
    "unacked-taken-as-done": "case NOTICE-2016/1.2/g/02",
    "inflight-lost-on-disconnect": "case NOTICE-2016/1.2/g/04",
    "queue-every-vehicle-offline": "case NOTICE-2016/1.2/g/05",
    # notice data calls, access, stored data, 2.2/c and upgrades (scenarios/notice)
    "accept-unknown-call-vins": "case NOTICE-2016/1.2/d/02",
    "one-data-call-at-a-time": "case NOTICE-2016/1.2/d/03",
    "ignore-end-call": "case NOTICE-2016/1.2/d/04",
    "endless-data-call": "case NOTICE-2016/1.2/d/01",
    "spot-check-oldest": "case NOTICE-2016/1.2/c/01",
    "spot-check-always-ok": "case NOTICE-2016/1.2/c/02",
    "relay-custom-types": "case NOTICE-2016/2.2/c/02",
    "accept-unknown-platform": "case NOTICE-2016/1.2/g/41 (--role local)",
    "local-requests-custom": "case NOTICE-2016/2.2/c/01 (--role local)",
    "stored-frames-lost-on-restart": "case NOTICE-2016/1.2/g/44",
    "upgrade-assumed-done": "case NOTICE-2016/1.2/f/03",
    "no-upgrade-deadline": "case NOTICE-2016/1.2/f/04",
    "reject-edition-change": "case NOTICE-2016/1.2/f/05",
    # confidentiality and integrity: sans-IO tests in test_security.py
    "skip-signature-check": "test_security.py::test_skip_signature_check_switch_breaks_it",
    "accept-wrong-key": "test_security.py::test_accept_wrong_key_switch_breaks_it",
    "ignore-key-validity": "test_security.py::test_key_not_yet_valid_is_refused_and_switch_breaks_it",
    "relay-ciphertext": "case NOTICE-2016/1.2/g/10",
    "relay-without-signature": "case NOTICE-2016/3/01",
    "bcc-over-plaintext": "case NOTICE-2016/1.2/g/16",
    "echo-key-exchange": "case NOTICE-2016/1.2/g/27",
    "key-exchange-plaintext": "case NOTICE-2016/1.2/g/28",
    "relay-not-decrypted": "case NOTICE-2016/2.2/d/10 (--role local)",
}


def test_every_switch_has_a_catching_check():
    assert set(CAUGHT_BY) == set(DEFECTS)


@pytest.mark.parametrize("defect", sorted(d for d in DEFECTS if CAUGHT_BY.get(d) in CHECKS))
async def test_switch_is_caught(tmp_path, defect):
    trio = await start_trio(tmp_path, VEHICLES, timers=FAST, defects=frozenset({defect}))
    try:
        await until(lambda: all(u.state == "online" for u in trio.enterprise.core.uplinks.values()))
        with pytest.raises((AssertionError, TimeoutError, ConnectionError)):
            await CHECKS[CAUGHT_BY[defect]](trio)
    finally:
        await trio.stop()
