"""The enterprise platform's link to one upstream (local or national) platform, sans-IO.

Login (main body §5.1): 0x05 with a per-day serial; no answer within the retry interval means
log in again, every `platform_login_retry` (1 min); after `login_tries` (3) failures, close and wait
`login_backoff` (30 min) before reconnecting.

Store and forward (§5.2, §5.5): every frame to relay is first put in the durable queue. While the
link is up, a fresh frame goes out at once, bytes unchanged (0x02). Whatever was queued while the
link was down, or was not acknowledged, goes out after the next login as reissue 0x03 with its
original collection time, oldest first, a few per tick (the idle time between real-time uploads).
An entry leaves the queue only when the upstream acknowledges it; an error answer is resent every
`data_resend` (1 min) at most `data_tries` (3) times.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.protocol import errors
from harness.protocol.codec import COMMAND_FLAG, Frame, decode, encode
from harness.protocol.framer import Framer

if TYPE_CHECKING:
    from .config import Upstream
    from .core import Action, PlatformCore, Send

log = logging.getLogger("reference_impl.uplink")

WINDOW = 16384  # frames in flight without an answer: a loop turn of a busy platform can last a second
REISSUE_PER_TICK = 256  # backlog frames per tick: leaves room for live data
MAX_PENDING_FRESH = 50_000  # fresh frames held in memory for the window; beyond, the durable queue serves them


@dataclass
class InFlight:
    key: tuple[str, str]  # (VIN, collection time)
    raw: bytes
    sent_at: float
    tries: int


class Uplink:
    def __init__(self, cfg: Upstream, core: PlatformCore) -> None:
        self.cfg = cfg
        self.core = core
        self.conn: int | None = None
        self.state = "idle"  # idle | connecting | login | login-wait | online | backoff
        self.failures = 0
        self.next_attempt = 0.0
        self.login_deadline = 0.0
        self.login_serial = 0
        self._serial_day: dt.date | None = None
        self.framer = Framer()
        self.inflight: OrderedDict[tuple[str, str], InFlight] = OrderedDict()
        self._pending_fresh: list[tuple[tuple[str, str], bytes]] = []
        self.backlog_cursor = 0
        self.backlog_end = 0
        self._last_batch = 0.0  # defect relay-batched only
        self._enqueued = 0  # defect relay-lose-some only
        self.stats = dict(logins=0, login_failures=0, sent_live=0, sent_reissue=0, acked=0, errors=0, dropped=0)

    # ------------------------------------------------------------------ connection life
    def start(self, now: float) -> list[Action]:
        return self._connect(now)

    def _connect(self, now: float) -> list[Action]:
        from .core import Connect

        self.state = "connecting"
        return [Connect(self.cfg.name, self.cfg.host, self.cfg.port)]

    def connected(self, conn: int, now: float) -> list[Action]:
        self.conn = conn
        self.framer = Framer()
        self.state = "login"
        return [self._login(now)]

    def connect_failed(self, now: float) -> list[Action]:
        self.conn = None
        return self._failed(now, "connection refused")

    def lost(self, now: float) -> list[Action]:
        self.conn = None
        if "inflight-lost-on-disconnect" in self.core.defects:
            for key in self.inflight:
                self.core.store.done(self.cfg.name, key)
        self.inflight.clear()
        self._pending_fresh.clear()
        if self.state in ("online", "login", "login-wait"):
            self.state = "idle"
            self.next_attempt = now + self.core.timers.platform_login_retry
        return []

    def _failed(self, now: float, why: str) -> list[Action]:
        from .core import Close

        self.failures += 1
        self.stats["login_failures"] += 1
        log.info("upstream %s: login failure %d (%s)", self.cfg.name, self.failures, why)
        if self.failures >= self.core.timers.login_tries and "no-login-backoff" not in self.core.defects:
            actions: list[Action] = []
            if self.conn is not None:
                actions.append(Close(self.conn, "3 logins unanswered: backing off"))
                self.conn = None
            self.state = "backoff"
            self.failures = 0
            self.next_attempt = now + self.core.timers.login_backoff
            return actions
        # log in again one retry interval after the last attempt (§5.1: every 1 min)
        self.state = "login-wait" if self.conn is not None else "idle"
        self.next_attempt = max(now, self.login_deadline) if self.conn is not None \
            else now + self.core.timers.platform_login_retry
        return []

    def _login(self, now: float) -> Send:
        from .core import now_timestamp

        stamp = now_timestamp(now)
        day = dt.date(2000 + stamp.year, stamp.month, stamp.day)
        if day != self._serial_day:  # the login serial cycles per day
            self._serial_day, self.login_serial = day, 0
        self.login_serial = self.login_serial % 65531 + 1
        body = {"time": stamp, "serial": self.login_serial, "username": self.cfg.username,
                "password": self.cfg.password, "encryption_rule": self.cfg.encryption_rule}
        retry = self.core.timers.platform_login_retry
        self.login_deadline = now + (retry / 4 if "login-retry-fast" in self.core.defects else retry)
        return self.send(encode(Frame(0x05, COMMAND_FLAG, self.platform_id, body, self.cfg.edition)))

    @property
    def platform_id(self) -> str:
        return self.cfg.platform_id or self.core.cfg.name

    def send(self, data: bytes) -> Send:
        from .core import Send

        assert self.conn is not None
        return Send(self.conn, data)

    # ------------------------------------------------------------------ the queue
    def enqueue(self, vin: str, collected: str, raw: bytes, now: float) -> None:
        raw = self.core.security.for_upstream(self.cfg, raw)  # §5.2.5: the encryption agreed at platform login
        self._enqueued += 1
        if "relay-lose-some" in self.core.defects and self._enqueued % 16 == 0:
            return
        online = self.state == "online"
        self.core.store.enqueue(self.cfg.name, vin, collected, raw, live=online, now=now)
        if not online:
            return
        if len(self._pending_fresh) < MAX_PENDING_FRESH:
            # held until the window has room (a frame that finds the window full is not dropped: it waits)
            self._pending_fresh.append(((vin, collected), raw))
        else:
            # too far behind for memory: everything not sent yet is reissued from the durable queue
            self._pending_fresh.clear()
            self.core.store.flush()
            row = self.core.store.db.execute("SELECT MAX(id) FROM queue WHERE upstream = ?",
                                             (self.cfg.name,)).fetchone()
            self.backlog_end = max(self.backlog_end, row[0] or 0)

    def received(self, data: bytes, now: float) -> list[Action]:
        actions: list[Action] = []
        for item in self.framer.feed(data):
            if isinstance(item, errors.ProtocolError):
                log.info("upstream %s sent a bad frame: %s", self.cfg.name, item)
                continue
            if self.core.observers:
                self.core.observe("in", f"upstream:{self.cfg.name}", item)
            try:
                frame = decode(item)
            except errors.ProtocolError as exc:
                log.info("upstream %s sent a bad frame: %s", self.cfg.name, exc)
                continue
            if frame.command == 0x05 and frame.is_response:
                actions += self._login_answer(frame, now)
            elif frame.is_response and frame.command in (0x02, 0x03):
                self._data_answer(frame, now)
            elif not frame.is_response:
                actions += self.core.upstream_command(self, frame, now)
        if self.state == "online" and self._pending_fresh:
            actions += self._send_fresh(now)  # answers opened the window: refill it now, not at the next tick
        return actions

    def _login_answer(self, frame: Frame, now: float) -> list[Action]:
        if frame.ack != 0x01:
            return self._failed(now, f"answer flag 0x{frame.ack:02X}")
        self.state = "online"
        self.failures = 0
        self.stats["logins"] += 1
        self.core.store.flush()
        # everything queued up to now is backlog: reissue it
        row = self.core.store.db.execute("SELECT MAX(id) FROM queue WHERE upstream = ?", (self.cfg.name,)).fetchone()
        self.backlog_end = row[0] or 0
        self.backlog_cursor = 0
        cutoff = _collected_cutoff(now - self.core.timers.reissue_window)
        expired = self.core.store.drop_expired(self.cfg.name, cutoff)
        if expired:
            self.core.store.warn("", "reissue-expired", f"{expired} frames older than the reissue window dropped", now)
        if "no-reissue" in self.core.defects:
            self.core.store.db.execute("DELETE FROM queue WHERE upstream = ? AND id <= ?",
                                       (self.cfg.name, self.backlog_end))
            self.backlog_end = 0
        return []

    def _data_answer(self, frame: Frame, now: float) -> None:
        from .core import time_text

        body = frame.body if isinstance(frame.body, dict) else {}
        key = (frame.vin, time_text(body.get("time")) or "")
        entry = self.inflight.get(key)
        if "ignore-upstream-acks" in self.core.defects:
            return
        if entry is None:
            if frame.ack == 0x01:  # a late answer, after the resends gave up: still delivered, not to reissue
                self.core.store.done(self.cfg.name, key)
            return
        if frame.ack == 0x01 or "no-resend-on-error" in self.core.defects:
            del self.inflight[key]
            self.core.store.done(self.cfg.name, key)
            self.stats["acked"] += 1
            self.core.stats["acked_upstream"] += 1
        else:
            self.stats["errors"] += 1
            entry.sent_at = now - self.core.timers.response_timeout + self.core.timers.data_resend

    def tick(self, now: float) -> list[Action]:
        if self.state in ("idle", "backoff") and now >= self.next_attempt:
            return self._connect(now)
        if self.state == "login-wait" and now >= self.next_attempt:
            self.state = "login"
            return [self._login(now)]
        if self.state == "login" and now >= self.login_deadline:
            return self._failed(now, "no answer")
        if self.state != "online":
            return []
        return self.pump(now)

    def _send_fresh(self, now: float) -> list[Action]:
        """Fresh frames, oldest first, as far as the window allows; the rest wait for the next answers."""
        room = WINDOW - len(self.inflight)
        if room <= 0 or not self._pending_fresh:
            return []
        if "relay-batched" in self.core.defects:
            if now - self._last_batch < 8 * self.core.timers.report_period:
                return []
            self._last_batch = now
        fresh = self._pending_fresh[:room]
        del self._pending_fresh[:room]
        actions: list[Action] = []
        for key, raw in fresh:
            if key in self.inflight:
                continue
            data = _alter(raw) if "alter-relayed-bytes" in self.core.defects else raw
            self.inflight[key] = InFlight(key, data, now, 1)
            actions.append(self.send(data))
            self.stats["sent_live"] += 1
            self.core.stats["relayed"] += 1
        return actions

    def pump(self, now: float) -> list[Action]:
        """Send fresh frames, resend unanswered ones, then a few backlog frames."""
        from .core import rewrite_command

        actions = self._send_fresh(now)
        for entry in list(self.inflight.values()):
            if now - entry.sent_at >= self.core.timers.response_timeout:
                if "unacked-taken-as-done" in self.core.defects:
                    del self.inflight[entry.key]
                    self.core.store.done(self.cfg.name, entry.key)
                    continue
                if entry.tries >= self.core.timers.data_tries and "resend-unbounded" not in self.core.defects:
                    del self.inflight[entry.key]  # stays queued: reissued after the next login
                    self.stats["dropped"] += 1
                    continue
                entry.tries += 1
                entry.sent_at = now
                actions.append(self.send(entry.raw))
        if self.backlog_cursor < self.backlog_end:
            budget = min(REISSUE_PER_TICK, WINDOW - len(self.inflight))
            if budget > 0:
                self.core.store.flush()  # acknowledged entries leave the table before it is read
                for e in self.core.store.queue_head(self.cfg.name, self.backlog_cursor, budget):
                    if e.id > self.backlog_end:
                        self.backlog_cursor = self.backlog_end
                        break
                    self.backlog_cursor = e.id
                    key = (e.vin, e.collected_at)
                    if key in self.inflight:
                        continue
                    cmd = 0x02 if "reissue-as-realtime" in self.core.defects else 0x03
                    data = rewrite_command(e.raw, cmd)
                    self.inflight[key] = InFlight(key, data, now, 1)
                    actions.append(self.send(data))
                    self.stats["sent_reissue"] += 1
                    self.core.stats["relayed"] += 1
                else:
                    if len(self.core.store.queue_head(self.cfg.name, self.backlog_cursor, 1)) == 0:
                        self.backlog_cursor = self.backlog_end
        return actions

    def status(self) -> dict[str, Any]:
        depth = self.core.store.queue_depth(self.cfg.name)
        return {"state": self.state, "inflight": len(self.inflight), "waiting": len(self._pending_fresh),
                "queue": depth, **self.stats}


def _collected_cutoff(when: float) -> str:
    from .core import now_timestamp

    return str(now_timestamp(when))


def _alter(raw: bytes) -> bytes:
    from .core import rewrite_command

    mutated = bytearray(raw)
    mutated[-2] ^= 0x01  # one data byte changed; BCC recomputed so only the content is wrong
    return rewrite_command(bytes(mutated), raw[2])
