"""Defect switches: each makes a reference platform misbehave in one named way.

For the harness's self-tests only: a conformance case earns its place by failing against the
platform with the matching switch on. All are off unless named explicitly.
"""

DEFECTS: dict[str, str] = {
    "no-reissue": "after an upstream outage, queued frames are discarded instead of sent as reissue 0x03",
    "relay-private": "private vehicles are relayed to the local platform too",
    "relay-wrong-region": "public-service vehicles are relayed to every local platform, not only their region's",
    "ignore-duplicate-login": "a second login for a VIN online elsewhere is accepted and the old link kept",
    "wrong-bcc-on-ack": "answers carry a wrong check code",
    "accept-bad-password": "platform login succeeds whatever the password",
    "drop-data-call": "a national real-time data call is acknowledged but nothing is streamed",
    "alter-relayed-bytes": "relayed real-time frames have one data byte changed",
    "ack-realtime": "correct terminal real-time data is answered (Annex B says it must not be)",
    "no-error-flag": "ill-formed data units are dropped silently instead of answered with the error flag",
    "accept-before-login": "data from a vehicle that has not logged in is stored",
    "no-heartbeat-answer": "heartbeats are not answered",
    "no-idle-timeout": "silent links are never closed",
    "no-command-resend": "query/set/control are sent once and never resent on timeout",
    "no-login-backoff": "the enterprise platform keeps re-logging in upstream every retry interval, never backing off",
    "no-warning": "threshold violations are not warned",
    "reissue-as-realtime": "backlog is relayed as real-time 0x02 instead of reissue 0x03",
    "lose-queue-on-restart": "the forwarding queue is kept in memory only",
    # platform-as-SUT catalogue (scenarios/gbt32960_3, scenarios/robustness)
    "answer-in-2016-framing": "answers to 2025 '$$' frames are framed with the 2016 start symbol '##'",
    "close-on-bad-frame": "a frame that fails to frame or decode (BCC, length, garbage, body) closes the link",
    "no-reassembly": "a frame split across TCP reads is discarded (each read starts framing afresh)",
    "first-frame-only": "only the first frame of each TCP read is handled; the rest are dropped",
    "accept-bad-encryption": "a reserved data-unit encryption byte is read as 0x01 and the frame accepted",
    "flags-2016-only": "2025 frames get the 2016 error flag 0x02 instead of 0x04-0x07",
    "time-sync-wrong-time": "time sync 0x08 is answered with a time one hour behind the platform's clock",
    "ignore-logout": "after vehicle logout 0x04 the link stays logged in and its data is still accepted",
    "no-duplicate-flag": "a repeated login on the same link (same serial) is answered 0x01, not 0x03",
    "reissue-stored-as-realtime": "reissue 0x03 is stored with command 0x02",
    "no-duplicate-detection": "a repeated data frame (same VIN, command and time) is taken as new and relayed again",
    "drop-custom-types": "custom information types (0x80-0xFE) are stripped from stored frames",
    "alter-stored-bytes": "every stored frame has one data-unit byte changed",
    "answer-responses": "a frame that is itself an answer (flag not 0xFE) is answered 0x01",
    "no-activation-answer": "2025 activation 0x09 is stored but never answered with 0x0A",
    "ignore-upstream-acks": "acks of relayed data are ignored: relayed frames are resent and stay queued",
    # query/set/control from the platform (Annex B.2.2-B.2.4)
    "query-ids-off-by-one": "query 0x80 asks for every parameter id one lower (a 0-based parameter table)",
    "set-port-little-endian": "set 0x81 encodes the port parameters 0x06/0x0F little-endian",
    "set-periods-as-word": "2025 set 0x81 encodes params 0x02/0x03 as WORD (the 2016 widths)",
    "set-read-only-params": "set 0x81 of the read-only params 0x07/0x08 is sent to the vehicle",
    "control-params-dropped": "control 0x82 is sent without its parameters (upgrade string, warning level)",
    "too-many-command-resends": "an unanswered query/set/control is resent 6 times, not 3",
    "ignore-command-answers": "answers to query/set/control are stored but not matched: resent until given up",
    "retry-on-failure-answer": "a failure answer (flag not 0x01) to query/set/control counts as no answer: resent",
    "no-move-record": "a successful set of the platform domain/port (0x04-0x06) is not recorded as a move",
    "move-on-failure": "a set of the platform domain/port is recorded as a move even when the vehicle refuses it",
    # level-3 alarm data (§5.2.4)
    "drop-frequent-data": "real-time frames less than 10 s (collection time) after the vehicle's last are dropped",
    "drop-stale-reissue": "reissue 0x03 older than the vehicle's latest real-time frame is discarded as stale",
    "no-level3-record": "a level-3 alarm reported by a vehicle is not recorded",
    # edition behaviour (2025)
    "activation-always-ok": "every activation 0x09 is answered 01/00, even a chip or VIN already activated",
    "no-key-exchange-answer": "2025 key exchange 0x0B is stored but never answered",
    "accept-expired-key": "a key exchange whose key has already expired is accepted",
    "accept-any-edition": "the configured editions are ignored: a 2016-only platform accepts 2025 frames",
    # upstream platform exchange (§5.1, §5.2)
    "login-retry-fast": "the upstream re-login interval is a quarter of platform_login_retry",
    "no-resend-on-error": "an error answer to relayed data is taken as done: the data is not resent",
    "relay-batched": "relayed real-time data is held and sent in batches every 8 report periods",
    # the notice's forwarding under faults (scenarios/notice/test_forwarding*.py)
    "relay-lose-some": "one frame in 16 to relay is never queued for the local platform",
    "unacked-taken-as-done": "a relayed frame not answered within the response timeout is taken as delivered",
    "resend-unbounded": "an unanswered relayed frame is resent every response timeout until it is answered",
    "inflight-lost-on-disconnect": "relayed frames still unanswered when the upstream link drops are taken as "
                                   "delivered",
    "queue-every-vehicle-offline": "while a local platform's link is down, every vehicle's frames (private, other "
                                   "regions) are queued for it",
    # confidentiality and integrity (reference_impl/security.py)
    "skip-signature-check": "2025 signatures are not verified: a tampered real-time/reissue/activation frame is "
                            "accepted",
    "accept-wrong-key": "a data unit that does not decrypt (wrong or missing key) is answered 0x01 and stored as "
                        "received",
    "ignore-key-validity": "data-unit keys set by key exchange 0x0B are used outside their validity window",
    "relay-ciphertext": "a decrypted frame is relayed as the ciphertext the vehicle sent (the local platform has "
                        "not its key), not as the plaintext (or re-encrypted) frame",
    "relay-without-signature": "relayed 2025 frames are re-encoded from their values without the vehicle's "
                               "signature block",
    "bcc-over-plaintext": "an encrypted frame's BCC is also checked over its decrypted data unit, so one whose BCC "
                          "covers the ciphertext (as the standard says) is refused",
    "key-exchange-plaintext": "a key exchange 0x0B the platform starts goes to the vehicle unencrypted (the key "
                              "leaks on the wire)",
    "echo-key-exchange": "an encrypted key exchange 0x0B is answered with its data unit repeated in plaintext (the "
                         "key leaks)",
    "relay-not-decrypted": "a local/national platform answers encrypted relayed data 0x01 and stores it as received, "
                           "never decrypted (nothing in it is read)",
    # data calls, access, stored data and upgrades (notice 1.2/c, 1.2/d, 1.2/f, 1.2/g, 2.2/c)
    "accept-unknown-call-vins": "a data call's unknown VINs are answered accepted (status 01, flag 0x01)",
    "one-data-call-at-a-time": "a new national data call ends the calls still running",
    "endless-data-call": "a data call keeps streaming after its duration",
    "ignore-end-call": "an end of data call 0xC2 is answered but the call keeps streaming",
    "spot-check-oldest": "a spot check is answered with the vehicle's oldest stored real-time frame",
    "spot-check-always-ok": "a spot check of a vehicle without real-time data is answered 0x01 (empty data)",
    "relay-custom-types": "custom data units (0x80-0xFE) are relayed though the peers did not agree to them",
    "accept-unknown-platform": "a platform login from a platform id with no credentials here is accepted",
    "local-requests-custom": "a local platform asks each enterprise platform that logs in for custom data (0xD0)",
    "stored-frames-lost-on-restart": "stored frames live in memory only: a restart loses them",
    "reject-edition-change": "a vehicle's login in another edition than its first login's is refused 0x02",
    "upgrade-assumed-done": "a remote upgrade counts as done when the terminal acknowledges 0x82/0x01",
    "no-upgrade-deadline": "a remote upgrade whose terminal misses its reconnection deadline is not reported",
}
