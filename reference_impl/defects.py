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
}
