"""Which reference-platform defect switch each platform-as-SUT case is declared to catch.

tests/scenarios/test_mutation.py proves every pair (the case FAILs with the switch on);
scripts/mutation_table.py runs the whole catalogue once per switch and writes docs/mutation-table.md,
which also shows the other cases a switch happens to fail.
"""

from __future__ import annotations

# the catalogue the table runs: the enterprise-role cases of GB/T 32960.3, robustness and the notice relay
CATALOGUE = ("scenarios/gbt32960_3", "scenarios/robustness", "scenarios/notice")


def both(*ids: str) -> list[str]:
    """Case ids for both editions, from ids written with '{e}' for the edition."""
    return [i.format(e=e) for i in ids for e in (2016, 2025)]


CAUGHT: dict[str, list[str]] = {
    # framing (§6.2)
    "answer-in-2016-framing": both("GBT32960.3-{e}/6.2/01"),
    "close-on-bad-frame": both("GBT32960.3-{e}/6.2/02", "GBT32960.3-{e}/6.2/04", "GBT32960.3-{e}/6.2/07",
                               "GBT32960.3-{e}/6.2/20"),
    "no-reassembly": both("GBT32960.3-{e}/6.2/08"),
    "first-frame-only": both("GBT32960.3-{e}/6.2/09"),
    "accept-bad-encryption": both("GBT32960.3-{e}/6.2/05"),
    "flags-2016-only": ["GBT32960.3-2025/6.2/03", "GBT32960.3-2025/6.2/05", "GBT32960.3-2025/B.1/02"],
    "answer-responses": both("GBT32960.3-{e}/6.3.2/01"),
    "no-activation-answer": ["GBT32960.3-2025/B.3/01", "GBT32960.3-2025/B.3/02"],
    "no-error-flag": both("GBT32960.3-{e}/6.2/03", "GBT32960.3-{e}/6.2/05", "GBT32960.3-{e}/B.2.1/03"),
    # sessions (Annex B)
    "accept-before-login": both("GBT32960.3-{e}/6.2/06", "GBT32960.3-{e}/B.2.1/05"),
    "no-duplicate-flag": both("GBT32960.3-{e}/B.1/04"),
    "ignore-logout": both("GBT32960.3-{e}/B.1/05"),
    "time-sync-wrong-time": both("GBT32960.3-{e}/B.2.5/01"),
    "no-heartbeat-answer": both("GBT32960.3-{e}/B.2.6/01"),
    "ignore-duplicate-login": both("GBT32960.3-{e}/B.2.7/01", "GBT32960.3-{e}/B.2.7/23"),
    "no-idle-timeout": both("GBT32960.3-{e}/B.2.7/02", "GBT32960.3-{e}/B.2.7/20", "GBT32960.3-{e}/B.2.7/21",
                            "GBT32960.3-{e}/B.2.7/22"),
    # data and reissue
    "alter-stored-bytes": both("GBT32960.3-{e}/B.2.1/01", "GBT32960.3-{e}/B.1/03", "GBT32960.3-{e}/B.2.8/01"),
    "ack-realtime": both("GBT32960.3-{e}/B.2.1/02"),
    "drop-custom-types": both("GBT32960.3-{e}/B.2.1/04"),
    "reissue-stored-as-realtime": both("GBT32960.3-{e}/B.2.8/01", "GBT32960.3-{e}/B.2.8/02"),
    "no-duplicate-detection": both("GBT32960.3-{e}/B.2.8/03"),
    # platform exchange (§5) and the notice's relay
    "ignore-upstream-acks": both("GBT32960.3-{e}/5.2.2/01") + ["NOTICE-2016/1.2/b/06"],
    "no-reissue": both("GBT32960.3-{e}/5.5/01") + ["NOTICE-2016/1.2/b/04", "NOTICE-2016/1.2/g/04",
                                                      "NOTICE-2016/1.2/g/06"],
    "reissue-as-realtime": both("GBT32960.3-{e}/5.5/01") + ["NOTICE-2016/1.2/b/04"],
    "alter-relayed-bytes": ["NOTICE-2016/1.2/b/01"],
    "relay-private": ["NOTICE-2016/1.2/g/01"],
    "relay-wrong-region": ["NOTICE-2016/1.2/g/01"],
    # every reply is checked for well-formedness
    "wrong-bcc-on-ack": both("GBT32960.3-{e}/6.2/21"),
    # query, set and control from the platform (Annex B.2.2-B.2.4)
    "query-ids-off-by-one": both("GBT32960.3-{e}/B.2.2/01"),
    "no-command-resend": both("GBT32960.3-{e}/B.2.2/02", "GBT32960.3-{e}/B.2.4/02"),
    "too-many-command-resends": both("GBT32960.3-{e}/B.2.2/02", "GBT32960.3-{e}/B.2.4/02"),
    "ignore-command-answers": both("GBT32960.3-{e}/B.2.2/03"),
    "set-port-little-endian": both("GBT32960.3-{e}/B.2.3/01"),
    "set-periods-as-word": ["GBT32960.3-2025/B.2.3/01"],
    "set-read-only-params": both("GBT32960.3-{e}/B.2.3/02"),
    "retry-on-failure-answer": both("GBT32960.3-{e}/B.2.3/03"),
    "no-move-record": both("GBT32960.3-{e}/B.2.3/04"),
    "move-on-failure": both("GBT32960.3-{e}/B.2.3/05"),
    "control-params-dropped": both("GBT32960.3-{e}/B.2.4/01"),
    "no-warning": both("GBT32960.3-{e}/B.2.4/03"),
    # level-3 alarms (§5.2.4)
    "drop-frequent-data": both("GBT32960.3-{e}/5.2.4/01"),
    "drop-stale-reissue": both("GBT32960.3-{e}/5.2.4/02"),
    "no-level3-record": both("GBT32960.3-{e}/5.2.4/03"),
    # edition behaviour (2025 activation, key exchange, a 2016-only platform)
    "activation-always-ok": ["GBT32960.3-2025/B.3/03", "GBT32960.3-2025/B.3/04", "NOTICE-2016/1.2/g/25"],
    "no-key-exchange-answer": ["GBT32960.3-2025/T31/01", "GBT32960.3-2025/T31/02"],
    "accept-expired-key": ["GBT32960.3-2025/T31/02"],
    "accept-any-edition": ["GBT32960.3-2025/6.2/10", "GBT32960.3-2025/6.2/11"],
    # the enterprise platform as the client of the local platform (§5.1-5.2)
    "login-retry-fast": both("GBT32960.3-{e}/5.1/03"),
    "no-login-backoff": both("GBT32960.3-{e}/5.1/04") + ["NOTICE-2016/1.2/b/05"],
    "no-resend-on-error": both("GBT32960.3-{e}/5.2.2/02"),
    "relay-batched": both("GBT32960.3-{e}/5.2.3/01") + ["NOTICE-2016/1.2/b/02"],
    # the notice's forwarding, also under faults (scenarios/notice/test_forwarding*.py)
    "relay-lose-some": ["NOTICE-2016/1.2/b/03"],
    "resend-unbounded": ["NOTICE-2016/1.2/b/06"],
    "unacked-taken-as-done": ["NOTICE-2016/1.2/g/02"],
    "lose-queue-on-restart": ["NOTICE-2016/1.2/g/03"],
    "inflight-lost-on-disconnect": ["NOTICE-2016/1.2/g/04"],
    "queue-every-vehicle-offline": ["NOTICE-2016/1.2/g/05"],
    # confidentiality and integrity (scenarios/notice/test_confidentiality.py, notice 1.2/g and 3)
    "relay-ciphertext": [f"NOTICE-2016/1.2/g/{n}" for n in range(10, 16)],
    "bcc-over-plaintext": ["NOTICE-2016/1.2/g/16", "NOTICE-2016/1.2/g/17"],
    "accept-wrong-key": ["NOTICE-2016/1.2/g/18", "NOTICE-2016/1.2/g/19", "NOTICE-2016/1.2/g/20"],
    "skip-signature-check": ["NOTICE-2016/1.2/g/21", "NOTICE-2016/1.2/g/22", "NOTICE-2016/1.2/g/23",
                             "NOTICE-2016/1.2/g/24", "NOTICE-2016/1.2/g/25"],
    "ignore-key-validity": ["NOTICE-2016/1.2/g/26"],
    "echo-key-exchange": ["NOTICE-2016/1.2/g/27"],
    "key-exchange-plaintext": ["NOTICE-2016/1.2/g/28"],
    "relay-without-signature": ["NOTICE-2016/3/01", "NOTICE-2016/3/02", "NOTICE-2016/3/03"],
    # notice data calls and spot checks (1.2/c, 1.2/d), access, stored data (1.2/g), 2.2/c, upgrades (1.2/f)
    "drop-data-call": ["NOTICE-2016/1.2/d/01", "NOTICE-2016/1.2/d/03", "NOTICE-2016/1.2/d/04",
                       "NOTICE-2016/1.2/d/05"],
    "accept-unknown-call-vins": ["NOTICE-2016/1.2/d/02"],
    "one-data-call-at-a-time": ["NOTICE-2016/1.2/d/03"],
    "ignore-end-call": ["NOTICE-2016/1.2/d/04"],
    "endless-data-call": ["NOTICE-2016/1.2/d/01", "NOTICE-2016/1.2/d/03"],
    "spot-check-oldest": ["NOTICE-2016/1.2/c/01"],
    "spot-check-always-ok": ["NOTICE-2016/1.2/c/02"],
    "relay-custom-types": ["NOTICE-2016/2.2/c/02"],
    "stored-frames-lost-on-restart": ["NOTICE-2016/1.2/g/44"],
    "upgrade-assumed-done": ["NOTICE-2016/1.2/f/03", "NOTICE-2016/1.2/f/04", "NOTICE-2016/1.2/f/06"],
    "no-upgrade-deadline": ["NOTICE-2016/1.2/f/03", "NOTICE-2016/1.2/f/04"],
    "reject-edition-change": ["NOTICE-2016/1.2/f/05", "NOTICE-2016/1.2/f/06"],
}

# switches no enterprise-role case of this catalogue can reach, and why (each is caught by a behaviour
# check in tests/reference instead)
NOT_IN_CATALOGUE: dict[str, str] = {
    "accept-bad-password": "local/national role: caught by GBT32960.3-2016/5.1/02 with --role local",
    "accept-unknown-platform": "local/national role: caught by NOTICE-2016/1.2/g/41 with --role local",
    "local-requests-custom": "local role: caught by NOTICE-2016/2.2/c/01 with --role local",
    "relay-not-decrypted": "local/national role: caught by NOTICE-2016/2.2/d/10-14 with --role local",
}

# notice cases also caught by switches declared above (appended, so the entries above stay as written)
for _switch, _cases in {
    "control-params-dropped": ["NOTICE-2016/1.2/f/01", "NOTICE-2016/1.2/f/02"],
    "accept-before-login": ["NOTICE-2016/1.2/g/40"],
    "alter-stored-bytes": ["NOTICE-2016/1.2/g/43"],
    "drop-custom-types": ["NOTICE-2016/1.2/g/43"],
    "no-reissue": ["NOTICE-2016/1.2/d/05"],
    "reissue-as-realtime": ["NOTICE-2016/1.2/d/05"],
    "no-activation-answer": ["NOTICE-2016/1.2/f/05"],
}.items():
    CAUGHT[_switch] = CAUGHT[_switch] + _cases
