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
}
