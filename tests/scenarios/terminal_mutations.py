"""Which terminal-simulator defect switch each terminal-as-SUT case is declared to catch
(--role terminal). tests/scenarios/test_terminal_mutation.py proves every pair."""

from __future__ import annotations

from .mutations import both

# the terminal-role catalogue: Annex B from the vehicle's side, and the GB/T 32960.4 data-quality cases
CATALOGUE = ("scenarios/gbt32960_3/test_terminal_session.py", "scenarios/gbt32960_3/test_terminal_commands.py",
             "scenarios/quality")

CAUGHT: dict[str, list[str]] = {
    # login and logout (B.1)
    "bad-iccid": both("GBT32960.3-{e}/B.1/51"),
    "wrong-login-serial": both("GBT32960.3-{e}/B.1/52"),
    "fast-login-retry": both("GBT32960.3-{e}/B.1/53"),
    "no-backoff": both("GBT32960.3-{e}/B.1/54"),
    "no-logout": both("GBT32960.3-{e}/B.1/55"),
    "no-activation": ["GBT32960.3-2025/B.3/51"],
    # data-unit key exchange 0x0B from the platform (2025 T31)
    "ignore-key-exchange": ["GBT32960.3-2025/T31/51"],
    # real-time data, alarms, reissue (B.2.1, B.2.8)
    "late-reports": both("GBT32960.3-{e}/B.2.1/51"),
    "no-alarm-period": both("GBT32960.3-{e}/B.2.1/52"),
    "no-reissue": both("GBT32960.3-{e}/B.2.1/53", "GBT32960.3-{e}/B.2.8/51"),
    "no-data-resend": both("GBT32960.3-{e}/B.2.1/54"),
    "logout-at-power-off": both("GBT32960.3-{e}/B.2.1/55"),
    "duplicate-reissue": both("GBT32960.3-{e}/B.2.8/52"),
    # heartbeat, time sync, framing
    "no-heartbeat": both("GBT32960.3-{e}/B.2.6/51"),
    "no-time-sync": both("GBT32960.3-{e}/B.2.5/51"),
    "bad-bcc": both("GBT32960.3-{e}/6.2/51"),
    # query, set, control (B.2.2-B.2.4)
    "ignore-query": both("GBT32960.3-{e}/B.2.2/51"),
    "query-answers-all": both("GBT32960.3-{e}/B.2.2/52"),
    "set-not-applied": both("GBT32960.3-{e}/B.2.3/51", "GBT32960.3-{e}/B.2.3/56"),
    "accept-read-only-set": both("GBT32960.3-{e}/B.2.3/52"),
    "partial-set": both("GBT32960.3-{e}/B.2.3/53"),
    "ignore-address-set": both("GBT32960.3-{e}/B.2.3/54"),
    "no-restore": both("GBT32960.3-{e}/B.2.3/55"),
    "ignore-control": both("GBT32960.3-{e}/B.2.4/51", "GBT32960.3-{e}/B.2.4/52", "GBT32960.3-{e}/B.2.4/54",
                           "GBT32960.3-{e}/B.2.4/55", "GBT32960.3-{e}/B.2.4/56", "GBT32960.3-{e}/B.2.4/57"),
    "factory-reset-noop": both("GBT32960.3-{e}/B.2.4/53"),
    # data quality (GB/T 32960.4-2025)
    "stuck-sensor": both("GBT32960.4-2025/6.3/02-{e}"),
    "cells-dont-add-up": both("GBT32960.4-2025/6.3/02-{e}"),
}

# switches the terminal catalogue does not declare, and why
NOT_IN_CATALOGUE: dict[str, str] = {
    "reissue-newest-first": "the reissue order is not specified by the standard (spec notes 2.5): a SHOULD-level "
                            "check only; caught by tests/terminal/checks.py",
}
