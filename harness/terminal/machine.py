"""The vehicle terminal (T-Box) as a sans-IO state machine (GB/T 32960.3 Annex B; design.md §3.2).

Like h11, the `Terminal` owns no socket, reads no clock and never sleeps. A driver feeds it events
and carries out the actions it returns:

    inputs   start(now), connected(now, link), data_received(data, now, link), connection_lost(now, link),
             tick(now), power_off(now), power_on(now), raise_alarm(level, now), set_edition(edition),
             upgrade_done(firmware_version, now)
    outputs  Send(data, link), Connect(host, port, link), Close(link), Upgrade(url, deadline, fields)
    timing   next_deadline() -> when tick() must be called next (None: nothing scheduled)

`now` is the driver's clock in seconds (a fake clock in tests, `loop.time()` in asyncio). The
terminal's calendar clock (collection times, the daily login-serial cycle) is
`epoch + now / time_scale`: with timers compressed k times, pass `time_scale=1/k` so that simulated
time runs k times faster and every frame still carries a distinct, plausible collection time.

Links: "main" is the enterprise platform (params 0x04-0x06); "sampling" is the public platform's
sampling-monitoring link opened by control 0x82/0x07 (params 0x0D-0x0F, 0x10).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from harness.protocol import errors
from harness.protocol.codec import Frame, assemble, decode, encode
from harness.protocol.crypto import FrameCrypto, public_key_bytes
from harness.protocol.framer import Framer
from harness.protocol.messages import PARAM_LENGTH_OF, READ_ONLY_PARAMS, parameters
from harness.protocol.schema import Scalar, Timestamp
from harness.protocol.timers import Timers
from harness.protocol.upgrade import parse_upgrade

from .generator import Generator, Snapshot

DEFECTS: dict[str, str] = {
    "no-heartbeat": "never sends heartbeat 0x07",
    "no-reissue": "drops locally stored data instead of reissuing it as 0x03 (and the level-3 pre-fault samples)",
    "duplicate-reissue": "sends every stored sample twice as 0x03",
    "reissue-newest-first": "reissues the backlog newest first instead of oldest first",
    "wrong-login-serial": "login serial does not advance from one login to the next",
    "ignore-query": "does not answer parameter query 0x80",
    "accept-read-only-set": "accepts a set 0x81 of the read-only parameters 0x07/0x08",
    "late-reports": "real-time report period is twice the configured one",
    "no-alarm-period": "keeps the normal report period during a level-3 alarm",
    "bad-bcc": "every frame sent carries a wrong check code",
    "no-logout": "powers off without sending vehicle logout 0x04",
    "no-backoff": "after the login tries keeps retrying instead of waiting login_backoff",
    "no-restore": "after a failed move to a new platform (set 0x05/0x06) does not go back to the old one",
    "no-time-sync": "never sends time sync 0x08",
    "stuck-sensor": "the pack current reads its first value for ever (a stuck sensor)",
    "cells-dont-add-up": "the pack voltage is sent 5 % above the sum of its cell voltages",
    "bad-iccid": "the login carries an ICCID with letters in it (an ICCID is 20 digits)",
    "fast-login-retry": "an unanswered login is retried after the response timeout, not the login retry interval",
    "logout-at-power-off": "logs out at once at power-off: no after-off data (2016) or post-drive monitoring (2025)",
    "no-data-resend": "real-time data answered with an error flag is never resent",
    "query-answers-all": "a parameter query 0x80 is answered with every parameter, not the ones asked",
    "set-not-applied": "a parameter set 0x81 is answered success but nothing changes",
    "partial-set": "a set 0x81 with one invalid item applies the valid ones and answers success",
    "ignore-address-set": "a set of the platform address 0x05/0x06 is answered success but the terminal stays",
    "ignore-control": "never answers or carries out a terminal control 0x82",
    "factory-reset-noop": "control 0x82/0x04 (factory reset) is answered success but the parameters stay",
    "no-activation": "a 2025 terminal logs in without activating first (0x09)",
    "ignore-key-exchange": "a 2025 key exchange 0x0B is answered success but the data units stay under the old key",
}

MAIN, SAMPLING = "main", "sampling"
DEFAULT_EPOCH = _dt.datetime(2025, 6, 1, 8, 0, 0)  # GMT+8 wall time at now == 0
MAX_SERIAL = 65531

# session states
IDLE, CONNECTING, ACTIVATING, LOGIN, ONLINE, OFF = "idle", "connecting", "activating", "login", "online", "off"


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes
    link: str = MAIN


@dataclass(frozen=True, slots=True)
class Connect:
    host: str
    port: int
    link: str = MAIN


@dataclass(frozen=True, slots=True)
class Close:
    link: str = MAIN


@dataclass(frozen=True, slots=True)
class Upgrade:
    """Remote upgrade ordered by control 0x82/0x01: fetch `url`, then call `upgrade_done` before
    `deadline` (driver clock)."""

    url: str
    deadline: float
    fields: dict[str, Any] = field(default_factory=dict, compare=False)


Action = Send | Connect | Close | Upgrade


@dataclass
class _Session:
    link: str
    host: str
    port: int
    state: str = IDLE
    framer: Framer = field(default_factory=Framer)
    next_connect: float | None = None
    login_due: float | None = None  # next login (or activation) attempt
    answer_due: float | None = None  # outstanding login/activation answer times out here
    attempt_at: float = 0.0
    failures: int = 0
    serial: int = 0  # login serial used on this session (logout repeats it)
    next_report: float | None = None  # sampling link only; the main link reports on the terminal clock
    next_heartbeat: float | None = None
    hb_missing: int = 0
    hb_outstanding: bool = False
    sync_due: float | None = None
    sync_tries: int = 0
    next_reissue: float | None = None
    sent: OrderedDict[tuple[int, Timestamp], list[Any]] = field(default_factory=OrderedDict)
    resends: list[tuple[float, tuple[int, Timestamp]]] = field(default_factory=list)
    move: dict[str, Any] | None = None  # set 0x05/0x06: the old settings, until the new login works
    restore_answer: Timestamp | None = None  # after a failed move: "setting failed" answer to send

    def deadlines(self) -> list[float]:
        out = [d for d in (self.next_connect, self.login_due, self.answer_due, self.next_report,
                           self.next_heartbeat, self.sync_due, self.next_reissue) if d is not None]
        out.extend(r[0] for r in self.resends)
        return out


class Terminal:
    """One T-Box. See the module docstring for inputs and outputs."""

    def __init__(self, vin: str, edition: int, timers: Timers, generator: Generator, *, iccid: str,
                 params: dict[int, Any] | None = None, defects: frozenset[str] = frozenset(),
                 host: str = "127.0.0.1", port: int = 32960, time_scale: float = 1.0,
                 epoch: _dt.datetime = DEFAULT_EPOCH, activate: bool = False, chip_id: str | None = None,
                 ress_codes: list[str] | None = None, packs_per_bms: list[int] | None = None,
                 pack_codes: list[str] | None = None, sample_period: float | None = None,
                 reissue_batch: int = 5, reissue_gap: float | None = None, store_cap: int = 20000,
                 reconnect_delay: float | None = None, heartbeat_dead_after: int = 3,
                 sign: bool = False, crypto: FrameCrypto | None = None) -> None:
        unknown = set(defects) - DEFECTS.keys()
        if unknown:
            raise ValueError(f"unknown defect switch(es): {sorted(unknown)}; known: {sorted(DEFECTS)}")
        if edition not in (2016, 2025):
            raise ValueError("edition must be 2016 or 2025")
        if len(vin.encode()) > 17 or len(iccid.encode()) > 20:
            raise ValueError("VIN is at most 17 and ICCID at most 20 characters")
        self.vin = vin
        self.edition = edition
        self._pending_edition: int | None = None
        self.timers = timers
        self.gen = generator
        self.iccid = iccid
        self.defects = frozenset(defects)
        self.scale = time_scale
        self.epoch = epoch
        self.activate = activate and edition == 2025
        self.activated = False
        self.chip_id = (chip_id or vin[-16:]).ljust(16)[:16]
        self.ress_codes = ress_codes if ress_codes is not None else [""]
        self.packs_per_bms = packs_per_bms if packs_per_bms is not None else [1]
        self.pack_codes = pack_codes if pack_codes is not None else [
            ("P" + vin + f"{i:06d}")[:24].ljust(24, "0") for i in range(sum(self.packs_per_bms))]
        self.sign = sign
        # harness.protocol.crypto: encrypt frames sent with crypto.encryption, sign 2025 real-time/reissue/
        # activation with crypto.signing_key, decrypt frames received, take 0x0B keys. None: all plaintext.
        self.crypto = crypto
        self.store_cap = store_cap
        self.reissue_batch = reissue_batch
        self._reissue_gap = reissue_gap
        self.reconnect_delay = timers.response_timeout if reconnect_delay is None else reconnect_delay
        self.heartbeat_dead_after = heartbeat_dead_after
        self.sample_period = timers.alarm_period if sample_period is None else sample_period

        # parameters (raw values as on the wire) and the effective durations they drive
        self.params: dict[int, Any] = self._default_params(host, port)
        if params:
            self.params.update(params)
            self._fix_lengths()
        self._eff: dict[int, float] = {}
        self._sync_effective(self.params.keys(), from_timers=True)
        if params:
            self._sync_effective(params.keys())  # only what the caller set comes from the parameters
        self._factory = dict(self.params)
        self._factory_eff = dict(self._eff)

        self.sessions: dict[str, _Session] = {
            MAIN: _Session(MAIN, self.params[0x05], self.params[0x06])}
        self.powered = False
        self.started = False
        self._serial = 0
        self._serial_day: _dt.date | None = None
        self._next_sample: float | None = None
        self._next_report: float | None = None  # main link report/store clock
        self._logout_at: float | None = None
        self._post_report_at: float | None = None  # 2025: the one report at 59:30 of post-drive monitoring
        self._last: Snapshot | None = None
        self._ring: deque[Snapshot] = deque(maxlen=self._ring_len())
        self._used: set[int] = set()  # sample numbers already sent or stored (each goes exactly once)
        self.backlog: deque[Snapshot] = deque()
        self._prefault: list[Snapshot] = []
        self._reported_at: float | None = None
        self._alarm_active = False
        self._fault_t = 0.0
        self.stats: Counter[str] = Counter()
        self.sent_by_command: Counter[int] = Counter()
        self.warnings: list[tuple[float, int, bytes]] = []
        self.upgrades: list[Upgrade] = []
        self.platform_time: Timestamp | None = None
        self.log: deque[tuple[float, str, str]] = deque(maxlen=64)

    # ------------------------------------------------------------------ parameters

    def _default_params(self, host: str, port: int) -> dict[int, Any]:
        t, k = self.timers, self.scale
        b25 = self.edition == 2025
        domain = host
        return {
            0x01: _clamp(round(t.report_period / k * 1000), 0, 60000),
            0x02: _clamp(round(t.report_period / k), 1, 30 if b25 else 600),
            # 2016: milliseconds (WORD); 2025: seconds (BYTE, 0-1)
            0x03: (_clamp(round(t.alarm_period / k), 0, 1) if b25
                   else _clamp(round(t.alarm_period / k * 1000), 0, 60000)),
            0x04: len(domain.encode()),
            0x05: domain,
            0x06: port,
            0x07: "H1.00",
            0x08: "F1.00",
            0x09: _clamp(round(t.heartbeat / k), 1, 240),
            0x0A: _clamp(round(t.response_timeout / k), 1, 600),
            0x0B: _clamp(round(t.response_timeout / k), 1, 600),
            0x0C: _clamp(round(t.login_backoff / k / 60), 1, 240),
            0x0D: 0,
            0x0E: "",
            0x0F: 0,
            0x10: 2,
        }

    def _fix_lengths(self) -> None:
        for length_id, value_id in PARAM_LENGTH_OF.items():
            self.params[length_id] = len(str(self.params[value_id]).encode())

    def _sync_effective(self, ids: Any, *, from_timers: bool = False) -> None:
        """Effective durations (driver seconds). Why both: the timers give exact compressed values,
        while a parameter set by the platform is an integer in standard units."""
        t, k, p = self.timers, self.scale, self.params
        for pid in ids:
            if pid == 0x02:
                self._eff[0x02] = t.report_period if from_timers else p[0x02] * k
            elif pid == 0x03:
                v = p[0x03] * k if self.edition == 2025 else p[0x03] / 1000 * k
                self._eff[0x03] = t.alarm_period if from_timers or v <= 0 else v
            elif pid == 0x09:
                self._eff[0x09] = t.heartbeat if from_timers else p[0x09] * k
            elif pid == 0x0A:
                self._eff[0x0A] = t.response_timeout if from_timers else p[0x0A] * k
            elif pid == 0x0C:
                self._eff[0x0C] = t.login_backoff if from_timers else p[0x0C] * 60 * k
        for pid in (0x02, 0x03, 0x09, 0x0A, 0x0C):
            if pid not in self._eff:
                self._sync_effective((pid,), from_timers=True)

    @property
    def report_period(self) -> float:
        base = self._eff[0x03] if self._alarm_active and "no-alarm-period" not in self.defects else self._eff[0x02]
        return base * 2 if "late-reports" in self.defects else base

    @property
    def heartbeat_period(self) -> float:
        return self._eff[0x09]

    @property
    def response_timeout(self) -> float:
        return self._eff[0x0A]

    @property
    def login_backoff(self) -> float:
        return self._eff[0x0C]

    @property
    def reissue_gap(self) -> float:
        # idle time between real-time uploads: a few slots per normal report period
        return self._reissue_gap if self._reissue_gap is not None else self._eff[0x02] / 4

    def _ring_len(self) -> int:
        if self.sample_period <= 0:
            return 4
        return int(self.timers.alarm_window / self.sample_period) + 4

    # ------------------------------------------------------------------ clocks

    def sim(self, now: float) -> float:
        """Simulation seconds for driver time `now`."""
        return now / self.scale

    def wall(self, sim_t: float) -> _dt.datetime:
        return self.epoch + _dt.timedelta(seconds=sim_t)

    def timestamp(self, sim_t: float) -> Timestamp:
        return Timestamp.from_datetime(self.wall(sim_t))

    # ------------------------------------------------------------------ public inputs

    def start(self, now: float) -> list[Action]:
        """Power on and connect to the platform."""
        self.started = True
        self.powered = True
        self.gen.power_on(self.sim(now))
        self._sample(now)
        self._next_sample = now + self.sample_period if self.sample_period > 0 else None
        self._next_report = now + self.report_period
        return self._connect(self.sessions[MAIN], now)

    def connected(self, now: float, link: str = MAIN) -> list[Action]:
        s = self.sessions.get(link)
        if s is None or s.state != CONNECTING:
            return []
        s.framer = Framer()
        if link == MAIN and self.activate and not self.activated and "no-activation" not in self.defects:
            return self._send_activation(s, now)
        return self._send_login(s, now)

    def connection_lost(self, now: float, link: str = MAIN) -> list[Action]:
        """The link dropped, or a Connect failed (both mean: no link now)."""
        s = self.sessions.get(link)
        if s is None or s.state in (IDLE, OFF):
            return []
        was = s.state
        self._reset_link(s)
        self.stats["links_lost"] += 1
        self._log(now, "link_lost", f"{link} in {was}")
        if link == SAMPLING:
            return self._end_sampling(now, send_logout=False)
        if not self.powered and self._logout_at is None:
            s.state = OFF
            return []
        if was in (CONNECTING, ACTIVATING, LOGIN):
            return self._login_failed(s, now, link_up=False)  # a refused connection is a failed login
        s.state = IDLE
        s.next_connect = now + self.reconnect_delay
        return []

    def data_received(self, data: bytes, now: float, link: str = MAIN) -> list[Action]:
        s = self.sessions.get(link)
        if s is None or s.state in (IDLE, OFF):
            return []
        out: list[Action] = []
        for item in s.framer.feed(data):
            if isinstance(item, errors.ProtocolError):
                self.stats["framing_errors"] += 1
                continue
            try:
                frame = decode(item, crypto=self.crypto)
            except errors.UnknownParameter:
                out += self._answer_raw_set_failure(s, item)
                continue
            except errors.ProtocolError as exc:
                self.stats["decode_errors"] += 1
                self._log(now, "decode_error", str(exc))
                continue
            out += self._handle(s, frame, now)
        return out

    def tick(self, now: float) -> list[Action]:
        out: list[Action] = []
        if self._next_sample is not None and now >= self._next_sample:
            self._sample(now)
            self._next_sample = max(self._next_sample + self.sample_period, now)
        if self._logout_at is not None and now >= self._logout_at:
            return out + self._finish_power_off(now)
        if self._post_report_at is not None and now >= self._post_report_at:
            self._post_report_at = None
            out += self._main_report(now)
        if self._next_report is not None and now >= self._next_report:
            out += self._main_report(now)
            self._next_report = max(self._next_report + self.report_period, now + 1e-9)
            if self.edition == 2025 and not self.powered:
                self._next_report = None  # 2025: after HV-off only the 59:30 report (Annex B)
        for s in list(self.sessions.values()):
            out += self._tick_session(s, now)
        return out

    def next_deadline(self) -> float | None:
        ds = [d for d in (self._next_sample, self._next_report, self._logout_at, self._post_report_at)
              if d is not None]
        for s in self.sessions.values():
            ds.extend(s.deadlines())
        return min(ds) if ds else None

    def power_off(self, now: float) -> list[Action]:
        """Key off. 2016: keep reporting `after_power_off`, then logout 0x04 and close. 2025: monitor
        for `post_drive_monitoring`, report once at 59:30 of it, then logout and close."""
        if not self.powered:
            return []
        self.powered = False
        self.gen.power_off(self.sim(now))
        if "logout-at-power-off" in self.defects:
            self._logout_at = now
        elif self.edition == 2016:
            self._logout_at = now + self.timers.after_power_off
        else:
            self._logout_at = now + self.timers.post_drive_monitoring
            self._post_report_at = self._logout_at - 30 * self.scale
            self._next_report = None
        self._log(now, "power_off", "")
        return self.tick(now)

    def shutdown(self, now: float, *, logout: bool = True) -> list[Action]:
        """Stop at once (a harness stop, not a vehicle event): logout 0x04 on every logged-in link
        when `logout`, close every link, schedule nothing more."""
        self.powered = False
        return self._finish_power_off(now, logout=logout)

    def power_on(self, now: float) -> list[Action]:
        if self.powered:
            return []
        self._logout_at = self._post_report_at = None
        s = self.sessions[MAIN]
        self.powered = True
        self.gen.power_on(self.sim(now))
        self._next_report = now + self.report_period
        if self.sample_period > 0:
            self._next_sample = now + self.sample_period
        if s.state in (IDLE, OFF):
            return self._connect(s, now)
        return []

    def raise_alarm(self, level: int, now: float, duration: float | None = None) -> list[Action]:
        """Operator: the vehicle develops an alarm of `level` now (duration in driver seconds)."""
        if not 1 <= level <= (3 if self.edition == 2016 else 4):
            raise ValueError(f"alarm level {level} is not defined in the {self.edition} edition")
        span = 2 * self.timers.alarm_window if duration is None else duration
        self.gen.force_alarm(level, self.sim(now), self.sim(span))
        self._sample(now, force=True)
        return self.tick(now)

    def set_edition(self, edition: int) -> None:
        """Switch the protocol edition; it takes effect at the next login (the upgrade duty)."""
        if edition not in (2016, 2025):
            raise ValueError("edition must be 2016 or 2025")
        self._pending_edition = edition

    def upgrade_done(self, firmware_version: str, now: float) -> list[Action]:
        """The driver finished a remote upgrade: report the new firmware (param 0x08), reconnect."""
        self.params[0x08] = firmware_version[:5].ljust(5)
        self._factory[0x08] = self.params[0x08]
        self.stats["upgrades"] += 1
        return self._reconnect(self.sessions[MAIN], now)

    # ------------------------------------------------------------------ frames out

    def _frame(self, command: int, body: Any, ack: int = 0xFE) -> bytes:
        data = encode(Frame(command, ack, self.vin, body, self.edition), crypto=self.crypto)
        return self._finish(data)

    def _finish(self, data: bytes) -> bytes:
        if "bad-bcc" in self.defects:
            data = data[:-1] + bytes((data[-1] ^ 0x5A,))
        return data

    def _send(self, s: _Session, command: int, data: bytes) -> Send:
        self.sent_by_command[command] += 1
        return Send(data, s.link)

    def _answer(self, s: _Session, command: int, ack: int, when: Timestamp) -> Send:
        """Time-only answer (main-body style: keep the time, drop the rest; spec §2.2)."""
        data = self._finish(assemble(self.edition, command, ack, self.vin, bytes(when)))
        return self._send(s, command, data)

    # ------------------------------------------------------------------ connection and login

    def _connect(self, s: _Session, now: float | None = None) -> list[Action]:
        s.state = CONNECTING
        s.next_connect = s.login_due = s.answer_due = None
        if now is not None:
            s.attempt_at = now
        if s.link == MAIN and self._pending_edition is not None:
            self.edition, self._pending_edition = self._pending_edition, None
        return [Connect(s.host, s.port, s.link)]

    def _reset_link(self, s: _Session) -> None:
        s.login_due = s.answer_due = s.next_heartbeat = s.sync_due = s.next_reissue = None
        s.next_report = None
        s.resends.clear()
        s.sent.clear()
        s.hb_missing = 0
        s.hb_outstanding = False

    def _reconnect(self, s: _Session, now: float) -> list[Action]:
        out: list[Action] = []
        if s.state not in (IDLE, OFF):
            out.append(Close(s.link))
        self._reset_link(s)
        self.stats["reconnects"] += 1
        return out + self._connect(s, now)

    def _next_serial(self, now: float) -> int:
        day = self.wall(self.sim(now)).date()
        if day != self._serial_day:
            self._serial_day = day
            self._serial = 0  # the cycle restarts every day
        if "wrong-login-serial" not in self.defects or self._serial == 0:
            self._serial = self._serial + 1 if self._serial < MAX_SERIAL else 1
        return self._serial

    def _send_login(self, s: _Session, now: float) -> list[Action]:
        s.state = LOGIN
        s.serial = self._next_serial(now)
        s.attempt_at = now
        s.login_due = None
        s.answer_due = now + self.response_timeout
        iccid = "8986ABCDEF" + self.iccid[10:] if "bad-iccid" in self.defects else self.iccid
        body: dict[str, Any] = {"time": self.timestamp(self.sim(now)), "serial": s.serial, "iccid": iccid}
        if self.edition == 2016:
            width = max((len(c) for c in self.ress_codes), default=0)
            body |= {"code_length": width, "subsystem_codes": [c.ljust(width) for c in self.ress_codes]}
        else:
            body |= {"packs_per_bms": self.packs_per_bms, "pack_codes": self.pack_codes}
        self.stats["login_attempts"] += 1
        return [self._send(s, 0x01, self._frame(0x01, body))]

    def _send_activation(self, s: _Session, now: float) -> list[Action]:
        s.state = ACTIVATING
        s.attempt_at = now
        s.login_due = None
        s.answer_due = now + self.response_timeout
        key = hashlib.sha256(b"pk" + self.vin.encode()).digest() * 2  # placeholder public key (64 bytes)
        if self.crypto is not None and self.crypto.signing_key is not None:
            key = public_key_bytes(self.crypto.signing_key, self.crypto.options)  # signed for real by _frame
        when = self.timestamp(self.sim(now))
        body = {"time": when, "chip_id": self.chip_id, "public_key": key, "vin": self.vin,
                **_placeholder_signature(bytes(when) + self.vin.encode())}
        return [self._send(s, 0x09, self._frame(0x09, body))]

    def _login_failed(self, s: _Session, now: float, *, link_up: bool = True) -> list[Action]:
        """A login (or activation) got no answer, an error answer, or had no link to go on."""
        s.answer_due = s.login_due = None
        s.failures += 1
        self.stats["login_failures"] += 1
        retry = self.response_timeout if "fast-login-retry" in self.defects else self.timers.terminal_login_retry
        retry_at = max(now, s.attempt_at + retry)
        if s.failures < self.timers.login_tries or "no-backoff" in self.defects:
            if link_up:
                s.login_due = retry_at  # retry on the same link
            else:
                s.state = IDLE
                s.next_connect = retry_at
            return []
        # login_tries failures: give up on this link
        s.failures = 0
        out: list[Action] = [Close(s.link)] if link_up else []
        self._reset_link(s)
        s.state = IDLE
        if s.link == SAMPLING:
            return out + self._end_sampling(now, send_logout=False, closed=True)
        if s.move is not None and "no-restore" not in self.defects:
            # B.2.3: the login to the new platform failed: restore the old settings and go back
            old = s.move
            s.move = None
            self.params.update(old["params"])
            s.host, s.port = self.params[0x05], self.params[0x06]
            s.restore_answer = old["time"]
            self.stats["platform_restored"] += 1
            self._log(now, "move_failed", f"back to {s.host}:{s.port}")
            return out + self._connect(s, now)
        s.next_connect = now + self.login_backoff  # wait (param 0x0C), then reconnect
        self.stats["login_backoffs"] += 1
        return out

    def _online(self, s: _Session, now: float) -> list[Action]:
        s.state = ONLINE
        s.failures = 0
        s.answer_due = s.login_due = None
        s.move = None
        self.stats["logins"] += 1
        self._log(now, "online", s.link)
        out: list[Action] = []
        if s.restore_answer is not None:
            out.append(self._answer(s, 0x81, 0x02, s.restore_answer))  # "修改错误应答" to the old platform
            s.restore_answer = None
        if "no-heartbeat" not in self.defects:
            s.next_heartbeat = now + self.heartbeat_period
        if "no-time-sync" not in self.defects:
            out.append(self._send(s, 0x08, self._frame(0x08, None)))
            s.sync_tries = 1
            s.sync_due = now + self.response_timeout
        if s.link == MAIN:
            out += self._main_report(now)
            if self._next_report is not None:
                self._next_report = now + self.report_period
            if self.backlog:
                s.next_reissue = now + self.reissue_gap
        else:
            out += self._session_report(s, now)
            s.next_report = now + self._eff[0x02]
        return out

    # ------------------------------------------------------------------ periodic work

    def _tick_session(self, s: _Session, now: float) -> list[Action]:
        out: list[Action] = []
        if s.next_connect is not None and now >= s.next_connect:
            s.next_connect = None
            return self._connect(s, now)
        if s.answer_due is not None and now >= s.answer_due:
            self._log(now, "login_timeout", s.link)
            out += self._login_failed(s, now)
        if s.login_due is not None and now >= s.login_due:
            if s.state in (LOGIN, ACTIVATING):
                out += self._send_activation(s, now) if s.state == ACTIVATING else self._send_login(s, now)
            else:
                s.login_due = None  # stale: the link moved on
        if s.state != ONLINE:
            return out
        if s.resends and s.resends[0][0] <= now:
            out += self._do_resends(s, now)
        if s.sync_due is not None and now >= s.sync_due:
            if s.sync_tries < self.timers.data_tries:
                s.sync_tries += 1
                s.sync_due = now + self.response_timeout
                out.append(self._send(s, 0x08, self._frame(0x08, None)))
            else:
                s.sync_due = None
                self.stats["time_sync_failed"] += 1
        if s.next_heartbeat is not None and now >= s.next_heartbeat:
            if s.hb_outstanding:
                s.hb_missing += 1
            s.hb_outstanding = True
            if self.heartbeat_dead_after and s.hb_missing >= self.heartbeat_dead_after:
                self.stats["heartbeat_dead"] += 1
                if s.link == MAIN:
                    return out + self._reconnect(s, now)
                return out + self._end_sampling(now, send_logout=False)
            out.append(self._send(s, 0x07, self._frame(0x07, None)))
            s.next_heartbeat = max(s.next_heartbeat + self.heartbeat_period, now + 1e-9)
        if s.link == SAMPLING and s.next_report is not None and now >= s.next_report:
            out += self._session_report(s, now)
            s.next_report = max(s.next_report + self._eff[0x02], now + 1e-9)
        if s.link == MAIN:
            if self._prefault:
                out += self._send_prefault(s)
            if s.next_reissue is not None and now >= s.next_reissue:
                out += self._reissue(s, now)
        return out

    def _sample(self, now: float, force: bool = False) -> Snapshot:
        t = self.sim(now)
        if not force and self._last is not None and self._last.t >= t:
            return self._last
        snap = self.gen.advance(t)
        prev = self._last
        if prev is not None and prev.t == snap.t:
            # a forced re-sample at the same instant replaces the previous one; if that collection
            # time already went out (or into storage) it must not go twice
            if self._ring and self._ring[-1].seq == prev.seq:
                self._ring.pop()
            if prev.seq in self._used:
                self._used.add(snap.seq)
        self._last = snap
        self._ring.append(snap)
        if len(self._used) > 4 * (self._ring.maxlen or 1) + 64:
            oldest = self._ring[0].seq
            self._used = {q for q in self._used if q >= oldest}
        self._check_alarm(snap, now)
        return snap

    def _check_alarm(self, snap: Snapshot, now: float) -> None:
        window = self.sim(self.timers.alarm_window)
        if snap.alarm_level >= 3 and not self._alarm_active:
            self._alarm_active = True
            self._fault_t = snap.t
            self.stats["level3_faults"] += 1
            # the 30 s before the fault go as reissue 0x03 (§2.4, B.2.1)
            pre = [x for x in self._ring if snap.t - window <= x.t < snap.t and x.seq not in self._used]
            for x in pre:
                self._used.add(x.seq)
            if "no-reissue" not in self.defects:
                if self.sessions[MAIN].state == ONLINE:
                    self._prefault.extend(pre)
                else:
                    self._store_many(pre)
            self._next_report = now  # the fault sample itself goes out now, as real-time data
        elif self._alarm_active and snap.alarm_level < 3 and snap.t >= self._fault_t + window:
            self._alarm_active = False
            if self._next_report is not None:
                self._next_report = now + self.report_period

    def _main_report(self, now: float) -> list[Action]:
        s = self.sessions[MAIN]
        snap = self._sample(now)
        if snap.seq in self._used:
            return []
        self._used.add(snap.seq)
        if s.state != ONLINE:
            if "no-reissue" not in self.defects:
                self._store_many([snap])
            return []
        self._reported_at = now
        return [self._send_sample(s, 0x02, snap)]

    def _session_report(self, s: _Session, now: float) -> list[Action]:
        return [self._send_sample(s, 0x02, self._sample(now))]

    def _send_sample(self, s: _Session, command: int, snap: Snapshot) -> Send:
        data = self._render(command, snap, self.edition)
        if command in (0x02, 0x03):
            # keep the snapshot, not the bytes: rendering is deterministic, and 10,000 terminals
            # holding 64 frames each would cost hundreds of MB
            s.sent[(command, self.timestamp(snap.t))] = [snap, 0, self.edition]
            if len(s.sent) > 64:
                s.sent.popitem(last=False)
        return self._send(s, command, data)

    def _render(self, command: int, snap: Snapshot, edition: int) -> bytes:
        when = self.timestamp(snap.t)
        body = self.gen.render(snap, edition, when)
        if "stuck-sensor" in self.defects or "cells-dont-add-up" in self.defects:
            self._bad_data(body, edition)
        if self.sign and edition == 2025:
            body["signature"] = _placeholder_signature(bytes(when) + self.vin.encode())
        data = encode(Frame(command, 0xFE, self.vin, body, edition), crypto=self.crypto)
        return self._finish(data)

    def _bad_data(self, body: dict[str, Any], edition: int) -> None:
        """Data-quality defect switches (GB/T 32960.4 self-tests): edit the rendered body only."""
        items = body["items"]
        if "stuck-sensor" in self.defects:
            veh = items[0]["data"]
            veh["total_current"] = self.__dict__.setdefault("_stuck_current", veh["total_current"])
        if "cells-dont-add-up" in self.defects:
            for item in items:
                if item["type"] == (0x08 if edition == 2016 else 0x07):
                    unit = item["data"]["subsystems" if edition == 2016 else "packs"][0]
                    unit["voltage"] += unit["voltage"] // 20

    def _store_many(self, snaps: list[Snapshot]) -> None:
        if not snaps:
            return
        if self.backlog and snaps[0].t < self.backlog[-1].t:
            merged = sorted([*self.backlog, *snaps], key=lambda x: x.t)
            self.backlog = deque(merged)
        else:
            self.backlog.extend(snaps)
        # bounded by the count cap and the reissue window (circular overwrite, [P2] 4.2.5)
        horizon = snaps[-1].t - self.timers.terminal_reissue_window
        while self.backlog and (len(self.backlog) > self.store_cap or self.backlog[0].t < horizon):
            self.backlog.popleft()
            self.stats["stored_dropped"] += 1
        self.stats["stored"] += len(snaps)

    def _send_prefault(self, s: _Session) -> list[Action]:
        out: list[Action] = [self._send_sample(s, 0x03, x) for x in self._prefault]
        self.stats["reissued"] += len(self._prefault)
        self._prefault.clear()
        return out

    def _reissue(self, s: _Session, now: float) -> list[Action]:
        out: list[Action] = []
        s.next_reissue = None
        if not self.backlog:
            return out
        if self._reported_at == now:
            s.next_reissue = now + self.reissue_gap / 2  # never in the same slot as a real-time upload
            return out
        for _ in range(self.reissue_batch):
            if not self.backlog:
                break
            snap = self.backlog.pop() if "reissue-newest-first" in self.defects else self.backlog.popleft()
            out.append(self._send_sample(s, 0x03, snap))
            if "duplicate-reissue" in self.defects:
                out.append(self._send_sample(s, 0x03, snap))
            self.stats["reissued"] += 1
        if self.backlog:
            s.next_reissue = now + self.reissue_gap
        return out

    def _do_resends(self, s: _Session, now: float) -> list[Action]:
        out: list[Action] = []
        while s.resends and s.resends[0][0] <= now:
            _, key = s.resends.pop(0)
            entry = s.sent.get(key)
            if entry is None:
                continue
            self.stats["resent"] += 1
            out.append(self._send(s, key[0], self._render(key[0], entry[0], entry[2])))
        return out

    # ------------------------------------------------------------------ frames in

    def _handle(self, s: _Session, frame: Frame, now: float) -> list[Action]:
        if frame.vin.rstrip("\0") != self.vin:
            self.stats["foreign_frames"] += 1
            return []
        cmd = frame.command
        if frame.is_response:
            if frame.ack != 0x01:
                self.stats["error_answers"] += 1
            if cmd == 0x01:
                if s.state != LOGIN:
                    return []
                return self._online(s, now) if frame.ack == 0x01 else self._login_failed(s, now)
            if cmd in (0x02, 0x03):
                return self._data_answer(s, frame, now)
            if cmd == 0x07:
                s.hb_outstanding = False
                s.hb_missing = 0
            elif cmd == 0x08 and s.sync_due is not None:
                if frame.ack == 0x01:
                    s.sync_due = None
                    if isinstance(frame.body, dict):
                        self.platform_time = frame.body.get("time")
            return []
        if cmd == 0x0A:
            return self._activation_result(s, frame, now)
        if cmd == 0x0B and self.crypto is not None and isinstance(frame.body, dict):
            return self._key_exchange(s, frame.body, now)
        if s.state != ONLINE or cmd not in (0x80, 0x81, 0x82) or not isinstance(frame.body, dict):
            return []
        self.stats[f"commands_{cmd:02x}"] += 1
        if cmd == 0x80:
            return self._query(s, frame.body)
        if cmd == 0x81:
            return self._set(s, frame.body, now)
        return self._control(s, frame.body, now)

    def _key_exchange(self, s: _Session, body: dict[str, Any], now: float) -> list[Action]:
        """2025 0x0B from the platform: the new data-unit key replaces ours at once (we keep no window:
        the platform accepts the old key until it expires); answered success with our time."""
        assert self.crypto is not None
        key, keys = bytes(body["key"]), self.crypto.keys
        if body["key_type"] in (0x03, 0x05) and "ignore-key-exchange" in self.defects:
            return [self._answer(s, 0x0B, 0x01, self.timestamp(self.sim(now)))]  # success, old key kept
        if body["key_type"] == 0x03:
            self.crypto.keys = dataclasses.replace(keys, aes=key)
        elif body["key_type"] == 0x05:
            self.crypto.keys = dataclasses.replace(keys, sm4=key)
        else:  # an RSA/SM2 key type names no data-unit key we could switch to
            return [self._answer(s, 0x0B, 0x02, self.timestamp(self.sim(now)))]
        self.stats["keys_set"] += 1
        return [self._answer(s, 0x0B, 0x01, self.timestamp(self.sim(now)))]

    def _data_answer(self, s: _Session, frame: Frame, now: float) -> list[Action]:
        if frame.ack == 0x01 or "no-data-resend" in self.defects:
            return []
        when = frame.body.get("time") if isinstance(frame.body, dict) else None
        key = (frame.command, when if isinstance(when, Timestamp) else Timestamp(0, 0, 0, 0, 0, 0))
        if key not in s.sent:
            # Annex B answers may carry the platform's time: fall back to the latest frame of the kind
            keys = [k for k in s.sent if k[0] == frame.command]
            if not keys:
                return []
            key = keys[-1]
        entry = s.sent[key]
        if entry[1] >= self.timers.data_tries:
            self.stats["data_given_up"] += 1
            del s.sent[key]
            return []
        entry[1] += 1
        s.resends.append((now + self.timers.data_resend, key))
        s.resends.sort(key=lambda r: r[0])
        return []

    def _activation_result(self, s: _Session, frame: Frame, now: float) -> list[Action]:
        if s.state != ACTIVATING or not isinstance(frame.body, dict):
            return []
        status, info = frame.body.get("status"), frame.body.get("info")
        if status == 0x01 or info == 0x01:  # ok, or the chip was activated before
            self.activated = True
            self.stats["activations"] += 1
            return self._send_login(s, now)
        return self._login_failed(s, now)

    def _query(self, s: _Session, body: dict[str, Any]) -> list[Action]:
        if "ignore-query" in self.defects:
            return []
        table = parameters(self.edition)
        ids = [i for i in body.get("ids", []) if i in table]
        if "query-answers-all" in self.defects:
            ids = list(table)
        # a domain's length must precede it (0x04 before 0x05, 0x0D before 0x0E)
        for length_id, value_id in PARAM_LENGTH_OF.items():
            if value_id in ids and length_id not in ids:
                ids.insert(ids.index(value_id), length_id)
        params = [{"id": pid, "value": self.params[pid]} for pid in ids]
        data = self._frame(0x80, {"time": body["time"], "params": params}, ack=0x01)
        return [self._send(s, 0x80, data)]

    def _set(self, s: _Session, body: dict[str, Any], now: float) -> list[Action]:
        when = body["time"]
        items = {p["id"]: p["value"] for p in body.get("params", [])}
        if "set-not-applied" in self.defects:
            return [self._answer(s, 0x81, 0x01, when)]
        if not self._valid_set(items):
            if "partial-set" in self.defects:
                items = {k: v for k, v in items.items() if self._valid_set({k: v})}
                self.params.update(items)
                self._sync_effective(items.keys())
                return [self._answer(s, 0x81, 0x01, when)]
            self.stats["set_refused"] += 1
            return [self._answer(s, 0x81, 0x02, when)]
        if "ignore-address-set" in self.defects:
            items = {k: v for k, v in items.items() if k not in (0x04, 0x05, 0x06)}
        old = {k: self.params[k] for k in (0x04, 0x05, 0x06)}
        self.params.update(items)
        self._fix_lengths()
        self._sync_effective(items.keys())
        out: list[Action] = [self._answer(s, 0x81, 0x01, when)]
        main = self.sessions[MAIN]
        if (self.params[0x05], self.params[0x06]) != (old[0x05], old[0x06]):
            # B.2.3: ack, then log into the new platform; on failure restore and go back
            main.move = {"params": old, "time": when}
            main.host, main.port = self.params[0x05], self.params[0x06]
            main.failures = 0
            self.stats["platform_moves"] += 1
            out += self._reconnect(main, now)
        if items.get(0x10) == 0x02 and SAMPLING in self.sessions:
            out += self._end_sampling(now)
        return out

    def _valid_set(self, items: dict[int, Any]) -> bool:
        table = parameters(self.edition)
        for pid, value in items.items():
            node = table.get(pid)
            if node is None:
                return False
            if pid in READ_ONLY_PARAMS and "accept-read-only-set" not in self.defects:
                return False
            if isinstance(node, Scalar) and not (node.in_range(value) and node.sentinel(value) is None):
                return False
        for length_id, value_id in PARAM_LENGTH_OF.items():
            if (length_id in items) != (value_id in items):
                return False  # a domain without its length (or the reverse) cannot be applied
        if 0x06 in items and items[0x06] == 0:
            return False
        return True

    def _control(self, s: _Session, body: dict[str, Any], now: float) -> list[Action]:
        when, cmd, arg = body["time"], body["command"], body.get("params")
        if "ignore-control" in self.defects:
            return []
        if cmd == 0x01:
            fields = parse_upgrade(arg if isinstance(arg, (str, bytes)) else "")
            if fields is None:
                self.stats["commands_invalid"] += 1
                return []
            deadline = now + float(fields.get("connect_deadline_min") or 0) * 60 * self.scale
            up = Upgrade(str(fields["url"]), deadline, fields)
            self.upgrades.append(up)
            return [self._answer(s, 0x82, 0x01, when), up]
        if cmd == 0x02:
            return [self._answer(s, 0x82, 0x01, when), *self.power_off(now)]
        if cmd == 0x03:
            self.stats["resets"] += 1
            return [self._answer(s, 0x82, 0x01, when), *self._reconnect(self.sessions[MAIN], now)]
        if cmd == 0x04:
            keep = {k: self.params[k] for k in (0x04, 0x05, 0x06, 0x07, 0x08)}
            if "factory-reset-noop" not in self.defects:
                self.params = {**self._factory, **keep}
                self._eff = dict(self._factory_eff)
            self.stats["factory_resets"] += 1
            return [self._answer(s, 0x82, 0x01, when)]
        if cmd == 0x05:
            out: list[Action] = [self._answer(s, 0x82, 0x01, when), Close(s.link)]
            self._reset_link(s)
            if s.link == SAMPLING:
                return out + self._end_sampling(now, send_logout=False, closed=True)
            s.state = IDLE
            s.next_connect = now + self.timers.terminal_login_retry
            return out
        if cmd == 0x06:
            if not isinstance(arg, dict):
                self.stats["commands_invalid"] += 1
                return []
            level = arg.get("level")
            if level is None or not (0 <= level <= (3 if self.edition == 2016 else 4) or level == 0xFF):
                self.stats["commands_invalid"] += 1
                return []
            self.warnings.append((now, level, bytes(arg.get("info", b""))))
            return [self._answer(s, 0x82, 0x01, when)]
        if cmd == 0x07:
            host, port = self.params[0x0E], self.params[0x0F]
            if not host or not port:
                self.stats["commands_invalid"] += 1
                return []
            out = [self._answer(s, 0x82, 0x01, when)]
            self.params[0x10] = 0x01
            old = self.sessions.get(SAMPLING)
            if old is not None and old.state not in (IDLE, OFF):
                out.append(Close(SAMPLING))
            sess = _Session(SAMPLING, host, port)
            self.sessions[SAMPLING] = sess
            self.stats["sampling_links"] += 1
            return out + self._connect(sess, now)
        self.stats["commands_invalid"] += 1
        return []

    def _end_sampling(self, now: float, *, send_logout: bool = True, closed: bool = False) -> list[Action]:
        s = self.sessions.pop(SAMPLING, None)
        self.params[0x10] = 0x02
        if s is None:
            return []
        out: list[Action] = []
        if send_logout and s.state == ONLINE:
            out.append(self._send(s, 0x04, self._frame(0x04, {"time": self.timestamp(self.sim(now)),
                                                              "serial": s.serial})))
        if not closed and s.state not in (IDLE, OFF):
            out.append(Close(SAMPLING))
        return out

    def _answer_raw_set_failure(self, s: _Session, data: bytes) -> list[Action]:
        # a set naming a parameter id the edition does not define: the whole set fails (T B.13)
        if len(data) < 32 or data[2] != 0x81 or data[3] != 0xFE or s.state != ONLINE \
                or data[4:21].rstrip(b"\0") != self.vin.encode():
            self.stats["decode_errors"] += 1
            return []
        self.stats["set_refused"] += 1
        return [self._answer(s, 0x81, 0x02, Timestamp(*data[24:30]))]

    def _finish_power_off(self, now: float, *, logout: bool = True) -> list[Action]:
        self._logout_at = self._post_report_at = None
        self._next_report = self._next_sample = None
        out: list[Action] = []
        for s in list(self.sessions.values()):
            if s.state == ONLINE and logout and "no-logout" not in self.defects:
                body = {"time": self.timestamp(self.sim(now)), "serial": s.serial}
                out.append(self._send(s, 0x04, self._frame(0x04, body)))
            if s.state not in (IDLE, OFF):
                out.append(Close(s.link))
            self._reset_link(s)
            s.state = OFF
            s.next_connect = None
        self.sessions = {MAIN: self.sessions[MAIN]}
        self.params[0x10] = 0x02
        self._log(now, "logged_out", "")
        return out

    def _log(self, now: float, kind: str, detail: str) -> None:
        self.log.append((now, kind, detail))

    # ------------------------------------------------------------------ views for drivers

    @property
    def state(self) -> str:
        return self.sessions[MAIN].state

    @property
    def online(self) -> bool:
        return self.sessions[MAIN].state == ONLINE


# ---------------------------------------------------------------------- helpers


def _clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


def _placeholder_signature(data: bytes) -> dict[str, Any]:
    """A signature block of SM2 shape (32-byte R and S). Not verifiable: the crypto module owns keys."""
    digest = hashlib.sha512(data).digest()
    return {"algorithm": 0x01, "r": digest[:32], "s": digest[32:]}
