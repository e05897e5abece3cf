"""The platform core: one sans-IO state machine for the enterprise, local and national roles.

Events go in (a connection opened, bytes received, a connection closed, a clock tick, an operator
request); actions come out (`Send`, `Close`, `Connect`). The asyncio driver in `server.py` is a thin
shell around it, and tests drive it with a fake clock. Storage is the only side effect the core
performs itself: rows are grouped and committed by `flush()` before the actions of the same turn
leave (the driver calls it), so nothing that was answered or relayed is missing from the store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.protocol import datacall, errors
from harness.protocol.codec import COMMAND_FLAG, Frame, assemble, bcc, decode, encode
from harness.protocol.framer import Framer
from harness.protocol.messages import PARAM_LENGTH_OF, READ_ONLY_PARAMS, command_body
from harness.protocol.schema import Timestamp
from harness.protocol.timers import Timers

from .config import Account, PlatformConfig, Upstream, Vehicle
from .security import PlatformSecurity, Refusal
from .store import Store
from .upgrades import UpgradeTracker
from .uplink import Uplink
from .warnings import ThresholdMonitor

log = logging.getLogger("reference_impl")

DATA_COMMANDS = (0x02, 0x03)


@dataclass(frozen=True)
class Send:
    conn: int
    data: bytes


@dataclass(frozen=True)
class Close:
    conn: int
    reason: str


@dataclass(frozen=True)
class Connect:
    upstream: str
    host: str
    port: int


Action = Send | Close | Connect

# (direction "in"/"out", link name, the frame's bytes): see PlatformCore.observers
FrameObserver = Callable[[str, str, bytes], None]


@dataclass
class Link:
    """One TCP connection into this platform: a vehicle, or a platform logging in here."""

    conn: int
    peer: str
    opened_at: float
    last_frame_at: float
    framer: Framer = field(default_factory=Framer)
    kind: str = "unknown"  # unknown | vehicle | platform
    identity: str = ""  # VIN, or the platform's unique id
    edition: int = 2016
    logged_in: bool = False
    login_serial: int | None = None
    frames_in: int = 0


@dataclass
class PendingCommand:
    """A query/set/control sent to a vehicle, resent on timeout (Annex B.2.2-B.2.4)."""

    vin: str
    command: int
    frame: bytes
    deadline: float
    interval: float
    tries: int = 1
    answer: Frame | None = None
    failed: bool = False
    body: dict = field(default_factory=dict)  # what was asked (a set's params: the move it records)


@dataclass
class DataCall:
    call_id: int
    vins: tuple[str, ...]
    until: float
    upstream: str  # the caller (enterprise role) or the callee platform id (national role)
    results: dict[str, str] = field(default_factory=dict)
    answered: bool = False
    linked: tuple[str, ...] = ()  # terminal-link mode: vehicles told to open their own link


def now_timestamp(now: float) -> Timestamp:
    """Collection/answer time: Beijing time (GMT+8) from a POSIX clock value."""
    return Timestamp.from_datetime(dt.datetime.fromtimestamp(now, dt.timezone(dt.timedelta(hours=8))))


def time_text(t: Any) -> str | None:
    return str(Timestamp(*t)) if t is not None else None


class PlatformCore:
    """The platform logic; see the module docstring for the event/action contract."""

    def __init__(self, config: PlatformConfig, store: Store | None = None) -> None:
        self.cfg = config
        self.timers = config.timers
        self.defects = set(config.defects)
        self.store = store or Store(config.storage)
        self.links: dict[int, Link] = {}
        self.online: dict[str, int] = {}  # VIN or platform id -> conn
        self.pending: dict[tuple[str, int], PendingCommand] = {}
        self.completed: list[PendingCommand] = []
        self.calls: dict[int, DataCall] = {}
        self.spot_checks: dict[str, Any] = {}
        self.activations: dict[str, str] = {}  # 2025 activation: chip id -> VIN
        self.keys: dict[str, dict] = {}  # 2025 key exchange 0x0B: VIN -> the key's fields (crypto lives elsewhere)
        self._last_live: dict[str, Any] = {}  # VIN -> collection time of its latest real-time frame
        # collection times are calendar time, so the ≤1 s rule is checked uncompressed
        self.monitor = ThresholdMonitor(config.thresholds)
        self._next_idle_scan = 0.0
        self.uplinks = {u.name: Uplink(u, self) for u in config.upstreams} if config.role == "enterprise" else {}
        if "lose-queue-on-restart" in self.defects:
            self.store.db.execute("DELETE FROM queue")
        if "stored-frames-lost-on-restart" in self.defects:  # as if the frames table lived in memory
            self.store.db.execute("DELETE FROM frames")
        self._conn_ids = itertools.count(1_000_000)  # ids the core hands out for upstream links
        self._call_ids = itertools.count(1)
        self.stats = dict(frames_in=0, stored=0, rejected=0, answered=0, relayed=0, acked_upstream=0,
                          duplicates=0, warnings=0, level3_alarms=0, logins=0)
        # called with every frame received ("in", once it is handled) and sent ("out", by the driver
        # through `sent`) on every link; empty unless someone watches (the control service's StreamFrames)
        self.observers: list[FrameObserver] = []
        self.security = PlatformSecurity(config.security, self.defects)  # keys, decryption, 2025 signatures
        self.upgrades = UpgradeTracker(self)  # remote-upgrade outcomes (notice 1.2/f)
        self._editions: dict[str, int] = {}  # VIN -> edition of its first login (the reject-edition-change switch)

    # ================================================================== events from the driver
    def opened(self, conn: int, peer: str, now: float) -> list[Action]:
        self.links[conn] = Link(conn, peer, now, now)
        return []

    def closed(self, conn: int, now: float) -> list[Action]:
        link = self.links.pop(conn, None)
        for up in self.uplinks.values():
            if up.conn == conn:
                return up.lost(now)
        if link and link.identity and self.online.get(link.identity) == conn:
            del self.online[link.identity]
        return []

    def received(self, conn: int, data: bytes, now: float) -> list[Action]:
        for up in self.uplinks.values():
            if up.conn == conn:
                return up.received(data, now)
        link = self.links.get(conn)
        if link is None:
            return []
        actions: list[Action] = []
        if "no-reassembly" in self.defects:
            link.framer = Framer()
        for n, item in enumerate(link.framer.feed(data)):
            if isinstance(item, errors.ProtocolError):
                self.stats["rejected"] += 1
                log.info("%s: %s", link.peer, item)
                if "close-on-bad-frame" in self.defects:
                    self._forget(link)
                    return actions + [Close(conn, f"bad frame: {item}")]
                continue
            if n and "first-frame-only" in self.defects:
                break
            link.last_frame_at = now
            link.frames_in += 1
            self.stats["frames_in"] += 1
            actions += self._frame(link, item, now)
            if self.observers:  # after handling it, so a login frame is shown on the link it named
                self.observe("in", label_of(link), item)
            if conn not in self.links:
                break
        return actions

    def tick(self, now: float) -> list[Action]:
        actions: list[Action] = []
        # the idle scan walks every link: at 10,000+ links doing it every tick was a quarter of the
        # platform's CPU, so it runs every idle_timeout / 20 (a close at most 5 % late)
        if "no-idle-timeout" not in self.defects and now >= self._next_idle_scan:
            self._next_idle_scan = now + self.timers.idle_timeout / 20
            for link in list(self.links.values()):
                # platform links have no heartbeat (§5.4: closed only on TCP loss)
                if link.kind != "platform" and now - link.last_frame_at > self.timers.idle_timeout:
                    actions.append(Close(link.conn, f"no frame for {self.timers.idle_timeout:g} s"))
                    self._forget(link)
        for key, p in list(self.pending.items()):
            if p.deadline <= now:
                actions += self._command_timeout(key, p, now)
        for call in list(self.calls.values()):
            if self.cfg.role == "enterprise" and call.until <= now and "endless-data-call" not in self.defects:
                actions += self._end_call(call, now)
        for up in self.uplinks.values():
            actions += up.tick(now)
        self.upgrades.tick(now)
        return actions

    def start(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for up in self.uplinks.values():
            actions += up.start(now)
        return actions

    def upstream_connected(self, name: str, now: float) -> tuple[int, list[Action]]:
        conn = next(self._conn_ids)
        return conn, self.uplinks[name].connected(conn, now)

    def upstream_failed(self, name: str, now: float) -> list[Action]:
        return self.uplinks[name].connect_failed(now)

    def flush(self) -> None:
        self.store.flush()

    def sent(self, conn: int, data: bytes) -> None:
        """The driver wrote `data` on `conn` (only frame observers care)."""
        if self.observers:
            self.observe("out", self.link_label(conn), data)

    # ================================================================== frame observers
    def observe(self, direction: str, link: str, raw: bytes) -> None:
        for observer in self.observers:
            observer(direction, link, raw)

    def link_label(self, conn: int) -> str:
        """The name of a link: vehicle:VIN, platform:ID, upstream:NAME or peer:HOST:PORT."""
        for up in self.uplinks.values():
            if up.conn == conn:
                return f"upstream:{up.cfg.name}"
        link = self.links.get(conn)
        return label_of(link) if link is not None else f"conn:{conn}"

    # ================================================================== one frame from a link
    def _frame(self, link: Link, raw: bytes, now: float) -> list[Action]:
        if "bcc-over-plaintext" in self.defects:  # self-test: decrypts first, checks the BCC over the plaintext
            raw = self.security.bcc_over_plaintext(raw, now)
        try:
            frame = decode(raw)
        except errors.BadEncryption as exc:
            if "accept-bad-encryption" not in self.defects:
                return self._reject(link, raw, exc, now)
            patched = raw[:21] + b"\x01" + raw[22:-1]
            raw = patched + bytes((bcc(patched[2:]),))
            frame = decode(raw)
        except errors.ProtocolError as exc:
            return self._reject(link, raw, exc, now)
        if frame.edition not in self.cfg.editions and "accept-any-edition" not in self.defects:
            if self.cfg.foreign_edition == "drop":  # the configured answer to a foreign edition: none
                self.stats["rejected"] += 1
                log.info("%s: edition %d frame dropped (not accepted here)", link.peer, frame.edition)
                return []
            foreign = errors.ProtocolError(f"edition {frame.edition} is not accepted here", offset=0,
                                           path="header.start")
            foreign.response_flag = {2016: 0x02, 2025: 0x02}  # the one error flag both editions know
            return self._reject(link, raw, foreign, now)
        if frame.encryption != 0x01 or frame.edition == 2025:  # decrypt, verify signatures (security.py)
            frame, raw, refusal = self.security.inbound(frame, raw, now, link.kind)
            if refusal is not None:
                return self._refuse(link, frame, raw, refusal, now)
        if frame.is_response:
            if "answer-responses" in self.defects:
                return self._response(link, frame, raw, now) + [self._answer(link, frame, 0x01, raw[24:-1][:6])]
            return self._response(link, frame, raw, now)
        if link.kind == "unknown":
            link.kind = "platform" if frame.command in (0x05, 0x06) else "vehicle"
            link.edition = frame.edition
        if link.kind == "platform":
            return self._platform_frame(link, frame, raw, now)
        return self._vehicle_frame(link, frame, raw, now)

    def _refuse(self, link: Link, frame: Frame, raw: bytes, refusal: Refusal, now: float) -> list[Action]:
        """A frame security.py refused: answered with its flag (2025: 0x07 decryption, 0x05 signature),
        keeping the sender's time when the data unit could be read."""
        self.stats["rejected"] += 1
        log.info("%s %s: refused: %s", link.peer, link.identity or "-", refusal.error)
        if refusal.store:
            self._store(link, frame, raw, now)
        keep = _kept_in_answer(frame.edition, frame.command)
        if frame.is_response or keep is None or ("no-error-flag" in self.defects and refusal.flag != 0x01):
            return []
        plain = refusal.plaintext or b""
        body = (plain[:6] if len(plain) >= 6 else bytes(now_timestamp(now))) if keep else b""
        return [self._answer_raw(link, frame.edition, frame.command, refusal.flag, raw[4:21], body)]

    def _reject(self, link: Link, raw: bytes, exc: errors.ProtocolError, now: float) -> list[Action]:
        self.stats["rejected"] += 1
        log.info("%s %s: rejected: %s", link.peer, link.identity or "-", exc)
        if "close-on-bad-frame" in self.defects:
            self._forget(link)
            return [Close(link.conn, f"bad frame: {exc}")]
        if "no-error-flag" in self.defects or len(raw) < 25:
            return []
        if raw[3] != COMMAND_FLAG:
            return []  # never answer an answer
        edition = 2025 if raw[:2] == b"$$" else 2016
        keep = _kept_in_answer(edition, raw[2])
        if keep is None:
            return []  # no time to keep in an answer (a downlink command sent up): dropped, logged above
        body = b""
        if keep:  # a data unit too short to hold its time is answered with ours, so the answer stays well-formed
            body = raw[24:30] if len(raw) >= 31 else bytes(now_timestamp(now))
        return [self._answer_raw(link, edition, raw[2], exc.flag(edition), raw[4:21], body)]

    # ------------------------------------------------------------------ vehicles (Annex B)
    def _vehicle_frame(self, link: Link, frame: Frame, raw: bytes, now: float) -> list[Action]:
        cmd = frame.command
        if cmd == 0x01:
            return self._vehicle_login(link, frame, raw, now)
        if cmd == 0x07:
            if not link.logged_in or "no-heartbeat-answer" in self.defects:
                return []
            return [self._answer(link, frame, 0x01, b"")]
        if cmd == 0x08:
            skew = 3600 if "time-sync-wrong-time" in self.defects else 0
            return [self._answer(link, frame, 0x01, bytes(now_timestamp(now - skew)))]
        # 2025 activation 0x09 comes before the first login (a new terminal, or one moving from 2016): allowed
        if (not link.logged_in or frame.vin != link.identity) and not (cmd == 0x09 and frame.edition == 2025):
            if "accept-before-login" in self.defects and cmd in DATA_COMMANDS:
                self._store(link, frame, raw, now)
                return []
            if _kept_in_answer(frame.edition, cmd) is None:
                return []  # see _reject: an answer without its time would be ill-formed
            return [self._answer(link, frame, 0x02, raw[24:30])]
        if cmd in DATA_COMMANDS:
            return self._vehicle_data(link, frame, raw, now)
        if cmd == 0x04:
            self._store(link, frame, raw, now)
            if "ignore-logout" in self.defects:
                return []
            link.logged_in = False
            self.online.pop(link.identity, None)
            return []
        if cmd == 0x09:  # 2025 activation: accepted for registered vehicles
            self._store(link, frame, raw, now)
            if "no-activation-answer" in self.defects:
                return []
            body = self._activate(frame)
            if body.get("status") == 1:
                self.security.bind_activation(frame)  # the verified public key and chip id now belong to the VIN
            return [Send(link.conn, encode(Frame(0x0A, COMMAND_FLAG, frame.vin, body, frame.edition)))]
        if cmd == 0x0B and frame.edition == 2025:
            return self._key_exchange(link, frame, raw, now)
        self._store(link, frame, raw, now)
        return []

    def _activate(self, frame: Frame) -> dict[str, int]:
        """T B.4 result: 01/00 activated; 02/01 the chip is activated for another VIN; 02/02 the VIN is
        activated with another chip (VIN duplicate). Activating the same chip and VIN again is fine."""
        chip, vin = str(frame.body["chip_id"]).strip(), frame.vin
        owner = self.activations.get(chip)
        if "activation-always-ok" not in self.defects:
            if owner is not None and owner != vin:
                return {"status": 2, "info": 1}
            if owner is None and vin in self.activations.values():
                return {"status": 2, "info": 2}
        self.activations[chip] = vin
        return {"status": 1, "info": 0}

    def _key_exchange(self, link: Link, frame: Frame, raw: bytes, now: float) -> list[Action]:
        """2025 0x0B from a vehicle: the key is recorded and the frame answered with its body repeated
        (its data unit starts with no time to keep); a key already expired is refused 0x02. One that came
        encrypted is answered with our time instead, so its key never goes back in plaintext."""
        self._store(link, frame, raw, now)
        unit = self.security.key_exchange_answer_unit(frame, raw[24:-1], now)
        if "no-key-exchange-answer" in self.defects:
            return []
        body = frame.body
        try:
            expires = Timestamp(*body["expires"]).to_datetime()
            valid_from = Timestamp(*body["valid_from"]).to_datetime()
        except (ValueError, TypeError):
            return [self._answer_raw(link, 2025, 0x0B, 0x06, raw[4:21], unit)]
        current = now_timestamp(now).to_datetime()
        if (expires <= current or expires <= valid_from) and "accept-expired-key" not in self.defects:
            return [self._answer_raw(link, 2025, 0x0B, 0x02, raw[4:21], unit)]
        self.keys[frame.vin] = {"key_type": body["key_type"], "key": body["key"], "valid_from": str(
            Timestamp(*body["valid_from"])), "expires": str(Timestamp(*body["expires"]))}
        return [self._answer_raw(link, 2025, 0x0B, 0x01, raw[4:21], unit)]

    def _vehicle_login(self, link: Link, frame: Frame, raw: bytes, now: float) -> list[Action]:
        vin = frame.vin
        actions: list[Action] = []
        if not _is_vin(vin):
            return [self._answer(link, frame, errors.BadVin("").flag(frame.edition), raw[24:30])]
        if vin not in self.cfg.vehicles and not self.cfg.accept_unknown_vins:
            return [self._answer(link, frame, 0x04 if frame.edition == 2025 else 0x02, raw[24:30])]
        serial = frame.body["serial"]
        if "reject-edition-change" in self.defects and self._editions.setdefault(vin, frame.edition) != frame.edition:
            return [self._answer(link, frame, 0x02, raw[24:30])]  # self-test: a vehicle pinned to its first edition
        if link.logged_in and link.identity == vin and link.login_serial == serial \
                and "no-duplicate-flag" not in self.defects:
            return [self._answer(link, frame, 0x03, raw[24:30])]  # a repeated login on the same link
        old = self.online.get(vin)
        if old is not None and old != link.conn and "ignore-duplicate-login" not in self.defects:
            # B.2.7: a new connection with the same identity closes the old one
            actions.append(Close(old, f"{vin} logged in again from another connection"))
            old_link = self.links.get(old)
            if old_link:
                self._forget(old_link)
        link.identity, link.logged_in, link.login_serial, link.edition = vin, True, serial, frame.edition
        self.online[vin] = link.conn
        self.stats["logins"] += 1
        self._store(link, frame, raw, now)
        actions.append(self._answer(link, frame, 0x01, raw[24:30]))
        return actions + self.upgrades.logged_in(vin, now)

    def _vehicle_data(self, link: Link, frame: Frame, raw: bytes, now: float) -> list[Action]:
        if self._defect_drops(frame):
            return []
        stored = raw
        if "reissue-stored-as-realtime" in self.defects and frame.command == 0x03:
            stored = rewrite_command(raw, 0x02)
        if "drop-custom-types" in self.defects and any(i.get("type", 0) >= 0x80 for i in frame.body["items"]):
            body = dict(frame.body, items=[i for i in frame.body["items"] if i.get("type", 0) < 0x80])
            stored = encode(dataclasses.replace(frame, body=body))
        duplicate = self._store(link, frame, stored, now)
        if "no-duplicate-detection" in self.defects:
            duplicate = False
        actions: list[Action] = []
        if "ack-realtime" in self.defects:
            actions.append(self._answer(link, frame, 0x01, raw[24:30]))
        if frame.command == 0x02:
            actions += self._check_thresholds(link, frame, now)
        if not duplicate:
            self._relay(frame, raw, now)
        return actions

    def _defect_drops(self, frame: Frame) -> bool:
        """Self-test switches that lose level-3 alarm data (§5.2.4): frequent frames, pre-fault reissue."""
        if not {"drop-frequent-data", "drop-stale-reissue"} & self.defects:
            return False
        try:
            when = Timestamp(*frame.body["time"]).to_datetime()
        except (ValueError, TypeError, KeyError):
            return False
        last = self._last_live.get(frame.vin)
        if frame.command == 0x02:
            if "drop-frequent-data" in self.defects and last is not None and 0 <= (when - last).total_seconds() < 10:
                return True
            self._last_live[frame.vin] = max(when, last) if last is not None else when
            return False
        return "drop-stale-reissue" in self.defects and last is not None and when < last

    def _check_thresholds(self, link: Link, frame: Frame, now: float) -> list[Action]:
        found = self.monitor.check(frame.vin, frame.edition, frame.body)
        actions: list[Action] = []
        for kind, detail, level3 in found:
            self.stats["warnings"] += 1
            self.stats["level3_alarms"] += int(level3)
            if not (level3 and "no-level3-record" in self.defects):
                self.store.warn(frame.vin, kind, detail, now)
            if "no-warning" in self.defects or level3:
                continue  # a level-3 alarm comes from the vehicle itself; no warning back
            actions += self.command(frame.vin, 0x82, {"command": 0x06, "params": {
                "level": self.cfg.thresholds.warning_level, "info": b""}}, now)
        return actions

    # ------------------------------------------------------------------ relay (enterprise)
    def _relay(self, frame: Frame, raw: bytes, now: float) -> None:
        if self.cfg.role != "enterprise":
            return
        raw = self.security.relay_bytes(frame, raw)  # the plaintext frame, its signature kept (notice 3)
        vehicle = self.cfg.vehicles.get(frame.vin)
        collected = time_text(frame.body.get("time")) if isinstance(frame.body, dict) else None
        if collected is None:
            return
        public = vehicle is not None and vehicle.public_service
        raw = self._without_custom_units(frame, raw)
        if public or "relay-private" in self.defects:
            region = vehicle.region if vehicle else ""
            for up in self.uplinks.values():
                if up.cfg.role != "local":
                    continue
                if up.cfg.region == region or "relay-wrong-region" in self.defects:
                    up.enqueue(frame.vin, collected, raw, now)
        elif "queue-every-vehicle-offline" in self.defects:  # the offline queue forgets who may be relayed
            for up in self.uplinks.values():
                if up.cfg.role == "local" and up.state != "online":
                    up.enqueue(frame.vin, collected, raw, now)
        for call in self.calls.values():
            if frame.vin in call.vins and (call.until > now or "endless-data-call" in self.defects) \
                    and "drop-data-call" not in self.defects:
                self.uplinks[call.upstream].enqueue(frame.vin, collected, raw, now)

    def _without_custom_units(self, frame: Frame, raw: bytes) -> bytes:
        """2.2/c: custom data units (0x80-0xFE) leave only when the peers agreed (relay_custom_units).
        A 2025 frame is signed over its whole data unit, so it cannot be trimmed and leaves whole."""
        if self.cfg.relay_custom_units or "relay-custom-types" in self.defects or frame.edition != 2016:
            return raw
        items = frame.body.get("items", ())
        if not any(0x80 <= i.get("type", 0) <= 0xFE for i in items):
            return raw
        body = dict(frame.body, items=[i for i in items if not 0x80 <= i.get("type", 0) <= 0xFE])
        return encode(dataclasses.replace(frame, body=body))

    # ------------------------------------------------------------------ platforms logging in here
    def _platform_frame(self, link: Link, frame: Frame, raw: bytes, now: float) -> list[Action]:
        if frame.command == 0x05:
            account = self.cfg.accounts.get(frame.identity)
            body = frame.body
            ok = account is not None and body["username"].rstrip("\0") == account.username and (
                body["password"].rstrip("\0") == account.password or "accept-bad-password" in self.defects)
            ok = ok or (account is None and "accept-unknown-platform" in self.defects)
            if not ok:
                log.info("%s: platform login refused for %r", link.peer, frame.vin)
                return [self._answer(link, frame, 0x02, raw[24:30])]
            link.identity, link.logged_in = frame.identity, True
            old = self.online.get(link.identity)
            actions: list[Action] = []
            if old is not None and old != link.conn:
                actions.append(Close(old, "platform logged in again"))
                if old in self.links:
                    self._forget(self.links[old])
            self.online[link.identity] = link.conn
            self._store(link, frame, raw, now)
            actions.append(self._answer(link, frame, 0x01, raw[24:30]))
            if self.cfg.role == "local" and "local-requests-custom" in self.defects:  # 2.2/c self-test
                actions.append(Send(link.conn, assemble(link.edition, 0xD0, COMMAND_FLAG, frame.identity,
                                                        bytes(now_timestamp(now)) + b"\x80")))
            return actions
        if not link.logged_in:
            if "accept-before-login" in self.defects and frame.command in DATA_COMMANDS:
                self._store(link, frame, raw, now)
                return [self._answer(link, frame, 0x01, raw[24:30])]
            return [self._answer(link, frame, 0x02, raw[24:30])]
        if frame.command == 0x06:
            self._store(link, frame, raw, now)
            link.logged_in = False
            self.online.pop(link.identity, None)
            return []
        if frame.command in DATA_COMMANDS:
            self._store(link, frame, raw, now)
            return [self._answer(link, frame, 0x01, raw[24:30])]  # §5.2.2: the server answers correct data
        self._store(link, frame, raw, now)
        return []

    # ------------------------------------------------------------------ answers to our commands
    def _response(self, link: Link, frame: Frame, raw: bytes, now: float) -> list[Action]:
        self._store(link, frame, raw, now)
        key = (frame.vin, frame.command)
        pending = self.pending.get(key)
        if pending is not None and "ignore-command-answers" not in self.defects:
            if frame.ack != 0x01 and "retry-on-failure-answer" in self.defects:
                return []  # as if unanswered: the timeout resends it
            del self.pending[key]
            pending.answer = frame
            self.completed.append(pending)
            self._command_answered(pending, frame, now)
            return []
        if self.cfg.role == "national" and frame.command in (datacall.DATA_CALL, datacall.SPOT_CHECK):
            return self._call_answer(link, frame, now)
        return []

    # ================================================================== operator requests
    def command(self, vin: str, command: int, body: dict, now: float) -> list[Action]:
        """Send query 0x80, set 0x81 or control 0x82 to an online vehicle, resent on timeout."""
        conn = self.online.get(vin)
        link = self.links.get(conn) if conn is not None else None
        if link is None:
            raise LookupError(f"vehicle {vin} is not online")
        if command == 0x81 and "set-read-only-params" not in self.defects:
            read_only = sorted({i["id"] for i in body.get("params", ())} & READ_ONLY_PARAMS)
            if read_only:  # T B.12: 0x07/0x08 are read-only
                raise ValueError("parameters " + ", ".join(f"0x{i:02X}" for i in read_only) + " are read-only")
        data = encode(Frame(command, COMMAND_FLAG, vin, {"time": now_timestamp(now), **body}, link.edition))
        data = _command_defects(self.defects, data, command, vin, body, now, link.edition)
        interval = self.timers.control_resend if command == 0x82 else self.timers.response_timeout
        self.pending[(vin, command)] = PendingCommand(vin, command, data, now + interval, interval, body=body)
        if command == 0x82:
            self.upgrades.ordered(vin, body, now)
        return [Send(link.conn, data)]

    def _command_answered(self, p: PendingCommand, frame: Frame, now: float) -> None:
        """B.2.3: a failure answer is recorded; a set of the platform address that succeeded is recorded
        as the vehicle's move (the terminal logs in to the new platform next)."""
        ok = frame.ack == 0x01
        if not ok:
            self.store.warn(p.vin, "command-failed", f"0x{p.command:02X} answered 0x{frame.ack:02X}", now)
        self.upgrades.answered(p.vin, p.command, ok, frame, now)
        params = {i["id"]: i["value"] for i in p.body.get("params", ())} if p.command == 0x81 else {}
        if {0x05, 0x06} & set(params) and (ok or "move-on-failure" in self.defects) \
                and "no-move-record" not in self.defects:
            self.store.warn(p.vin, "moved", f"{params.get(0x05, '')}:{params.get(0x06, '')}", now)

    def _command_timeout(self, key: tuple[str, int], p: PendingCommand, now: float) -> list[Action]:
        conn = self.online.get(p.vin)
        tries = self.timers.command_tries * (2 if "too-many-command-resends" in self.defects else 1)
        if p.tries >= tries or conn is None or "no-command-resend" in self.defects:
            p.failed = True
            del self.pending[key]
            self.completed.append(p)
            self.store.warn(p.vin, "command-unanswered", f"0x{p.command:02X} after {p.tries} tries", now)
            return []
        p.tries += 1
        p.deadline = now + p.interval
        return [Send(conn, p.frame)]

    def set_public_platform(self, vin: str, host: str, port: int, active: bool, now: float) -> list[Action]:
        """terminal-link data call: point the vehicle at the public platform (params 0x0D-0x10)."""
        params = [{"id": 0x0D, "value": len(host)}, {"id": 0x0E, "value": host}, {"id": 0x0F, "value": port},
                  {"id": 0x10, "value": 1 if active else 2}]
        assert PARAM_LENGTH_OF[0x0D] == 0x0E
        return self.command(vin, 0x81, {"params": params}, now)

    # ------------------------------------------------------------------ registry, timers, defects
    def register_vehicle(self, vehicle: Vehicle) -> bool:
        """Register (or re-register) a vehicle; True when it replaced a registration."""
        replaced = vehicle.vin in self.cfg.vehicles
        self.cfg.vehicles[vehicle.vin] = vehicle
        return replaced

    def remove_vehicle(self, vin: str, now: float) -> list[Action]:
        """Deregister a vehicle (KeyError if unknown); an online one is disconnected, since an
        unregistered vehicle's data would otherwise keep being accepted on its old link."""
        del self.cfg.vehicles[vin]
        return self._disconnect(vin, f"{vin} deregistered")

    def register_platform(self, account: Account) -> bool:
        """Issue login credentials to a platform; True when they replaced earlier ones."""
        replaced = account.platform_id in self.cfg.accounts
        self.cfg.accounts[account.platform_id] = account
        return replaced

    def remove_platform(self, platform_id: str, now: float) -> list[Action]:
        """Withdraw a platform's credentials (KeyError if unknown); its link, if any, is closed."""
        del self.cfg.accounts[platform_id]
        return self._disconnect(platform_id, f"{platform_id} credentials withdrawn")

    def _disconnect(self, identity: str, reason: str) -> list[Action]:
        conn = self.online.get(identity)
        if conn is None:
            return []
        link = self.links.get(conn)
        if link is not None:
            self._forget(link)
        return [Close(conn, reason)]

    def set_timers(self, **changes: float) -> Timers:
        """Replace timers by name (config and core alike); counts must be whole, everything positive."""
        fields = {f.name: f for f in dataclasses.fields(Timers)}
        clean: dict[str, float | int] = {}
        for name, value in changes.items():
            f = fields.get(name)
            if f is None:
                raise ValueError(f"no timer named {name!r} (known: {', '.join(fields)})")
            if not value > 0 or value == float("inf"):
                raise ValueError(f"timer {name} must be positive and finite, not {value}")
            if f.type in ("int", int):
                if value != int(value):
                    raise ValueError(f"timer {name} is a count: a whole number, not {value}")
                clean[name] = int(value)
            else:
                clean[name] = float(value)
        self.timers = self.cfg.timers = self.timers.with_(**clean)
        return self.timers

    def set_defect(self, name: str, on: bool) -> None:
        """Switch a defect on or off (KeyError if unknown); the config follows."""
        from .defects import DEFECTS

        if name not in DEFECTS:
            raise KeyError(name)
        if on:
            self.defects.add(name)
        else:
            self.defects.discard(name)
        self.cfg.defects = frozenset(self.defects)

    # ------------------------------------------------------------------ data calls
    def data_call(self, platform_id: str, vins: list[str], duration: int, now: float) -> tuple[int, list[Action]]:
        """National role: ask an enterprise platform to stream these vehicles for `duration` s."""
        conn = self.online.get(platform_id)
        if conn is None:
            raise LookupError(f"platform {platform_id} is not logged in")
        call_id = next(self._call_ids)
        body = {"time": now_timestamp(now), "call_id": call_id, "duration": duration, "vins": list(vins)}
        self.calls[call_id] = DataCall(call_id, tuple(vins), now + duration, platform_id)
        data = assemble(self.links[conn].edition, datacall.DATA_CALL, COMMAND_FLAG, platform_id,
                        datacall.encode_body(datacall.DATA_CALL, False, body))
        return call_id, [Send(conn, data)]

    def spot_check(self, platform_id: str, vin: str, now: float) -> list[Action]:
        conn = self.online.get(platform_id)
        if conn is None:
            raise LookupError(f"platform {platform_id} is not logged in")
        body = {"time": now_timestamp(now), "vin": vin}
        self.spot_checks.pop(vin, None)
        return [Send(conn, assemble(self.links[conn].edition, datacall.SPOT_CHECK, COMMAND_FLAG, platform_id,
                                    datacall.encode_body(datacall.SPOT_CHECK, False, body)))]

    def _call_answer(self, link: Link, frame: Frame, now: float) -> list[Action]:
        body = datacall.decode_body(frame.command, True, frame.body)
        if frame.command == datacall.SPOT_CHECK:
            self.spot_checks[body["vin"]] = (frame.ack, body["latest"])
        else:
            call = self.calls.get(body["call_id"])
            if call is not None:
                call.answered = True
                call.results = {r["vin"]: datacall.CALL_STATUS.get(r["status"], "?") for r in body["results"]}
        return []

    def upstream_command(self, up: Uplink, frame: Frame, now: float) -> list[Action]:
        """Enterprise role: a custom command from an upstream (national) platform."""
        if frame.command == datacall.DATA_CALL:
            req = datacall.decode_body(datacall.DATA_CALL, False, frame.body)
            results = []
            accepted = []
            if "one-data-call-at-a-time" in self.defects:
                self.calls.clear()  # self-test: the earlier calls are forgotten
            for vin in req["vins"]:
                known = vin in self.cfg.vehicles or "accept-unknown-call-vins" in self.defects
                results.append({"vin": vin, "status": 1 if known else 2})
                if known:
                    accepted.append(vin)
            call = DataCall(req["call_id"], tuple(accepted), now + req["duration"], up.cfg.name)
            self.calls[req["call_id"]] = call
            flag = 0x01 if len(accepted) == len(req["vins"]) else 0x02
            answer = {"time": req["time"], "call_id": req["call_id"], "results": results}
            actions = [up.send(assemble(frame.edition, datacall.DATA_CALL, flag, frame.vin,
                                        datacall.encode_body(datacall.DATA_CALL, True, answer)))]
            if self.cfg.data_call_mode == "terminal-link" and "drop-data-call" not in self.defects:
                for vin in accepted:
                    if vin in self.online:
                        actions += self.set_public_platform(vin, up.cfg.host, up.cfg.port, True, now)
                        actions += self.command(vin, 0x82, {"command": 0x07, "params": b""}, now) \
                            if (vin, 0x82) not in self.pending else []
                call.linked, call.vins = tuple(accepted), ()  # the vehicles stream themselves
            return actions
        if frame.command == datacall.SPOT_CHECK:
            req = datacall.decode_body(datacall.SPOT_CHECK, False, frame.body)
            latest = self.store.frames(vin=req["vin"], commands=(0x02,))
            pick = 0 if "spot-check-oldest" in self.defects else -1
            data = latest[pick].raw[24:-1] if latest else b""
            answer = {"time": req["time"], "vin": req["vin"], "latest": data}
            ok = bool(latest) or "spot-check-always-ok" in self.defects
            return [up.send(assemble(frame.edition, datacall.SPOT_CHECK, 0x01 if ok else 0x02, frame.vin,
                                     datacall.encode_body(datacall.SPOT_CHECK, True, answer)))]
        if frame.command == datacall.END_CALL:
            req = datacall.decode_body(datacall.END_CALL, False, frame.body)
            call = self.calls.get(req["call_id"])
            actions = self._end_call(call, now) if call and "ignore-end-call" not in self.defects else []
            return actions + [up.send(assemble(frame.edition, datacall.END_CALL, 0x01 if call else 0x02, frame.vin,
                                               datacall.encode_body(datacall.END_CALL, True, req)))]
        return []

    def _end_call(self, call: DataCall, now: float) -> list[Action]:
        self.calls.pop(call.call_id, None)
        actions: list[Action] = []
        for vin in call.linked:  # terminal-link: sampling off (param 0x10 = 02) closes their link
            if vin in self.online:
                actions += self.command(vin, 0x81, {"params": [{"id": 0x10, "value": 2}]}, now)
        return actions

    # ================================================================== helpers
    def _store(self, link: Link, frame: Frame, raw: bytes, now: float) -> bool:
        if "alter-stored-bytes" in self.defects and len(raw) > 31:
            raw = raw[:30] + bytes((raw[30] ^ 0x01,)) + raw[31:]  # first byte after the time
        body = frame.body
        collected = time_text(body.get("time")) if isinstance(body, dict) else None
        duplicate = self.store.add_frame(link=link.identity or link.peer, vin=frame.identity,
                                         command=frame.command, ack=frame.ack, edition=frame.edition,
                                         collected_at=collected, raw=raw, decoded=body if isinstance(body, dict)
                                         else None, received_at=now)
        self.stats["stored"] += 1
        self.stats["duplicates"] += int(duplicate)
        return duplicate

    def _answer(self, link: Link, frame: Frame, flag: int, time_body: bytes) -> Send:
        raw_vin = frame.vin.encode("ascii", "surrogateescape")
        body = time_body if self.cfg.response_style == "time-only" else encode(frame)[24:-1]
        return self._answer_raw(link, frame.edition, frame.command, flag, raw_vin, body)

    def _answer_raw(self, link: Link, edition: int, command: int, flag: int, vin: bytes, body: bytes) -> Send:
        if edition == 2025 and "flags-2016-only" in self.defects and flag in (0x04, 0x05, 0x06, 0x07):
            flag = 0x02
        data = assemble(edition, command, flag, vin, body)
        if edition == 2025 and "answer-in-2016-framing" in self.defects:
            data = b"##" + data[2:]
        if "wrong-bcc-on-ack" in self.defects:
            data = data[:-1] + bytes((data[-1] ^ 0x55,))
        self.stats["answered"] += 1
        return Send(link.conn, data)

    def _forget(self, link: Link) -> None:
        self.links.pop(link.conn, None)
        if link.identity and self.online.get(link.identity) == link.conn:
            del self.online[link.identity]

    def new_upstream_conn(self) -> int:
        return next(self._conn_ids)

    def upstream_config(self, name: str) -> Upstream:
        return self.uplinks[name].cfg


def label_of(link: Link) -> str:
    """vehicle:VIN or platform:ID once the link logged in, else peer:HOST:PORT."""
    if link.identity and link.kind in ("vehicle", "platform"):
        return f"{link.kind}:{link.identity}"
    return f"peer:{link.peer}"


def _kept_in_answer(edition: int, command: int) -> bool | None:
    """What an answer to `command` keeps (6.3.2): True its time, False nothing (an empty data unit, or a
    custom command), None when it cannot be answered well-formed (its data unit starts with no time)."""
    node = command_body(edition, command)
    if node is None or not node.fields:
        return False
    return True if node.fields[0].name == "time" else None


def _command_defects(defects: set[str], data: bytes, command: int, vin: str, body: dict, now: float,
                     edition: int) -> bytes:
    """Self-test switches that mis-encode query/set/control (Annex B.2.2-B.2.4); `data` when none applies."""
    unit = bytearray(data[24:-1])
    if command == 0x80 and "query-ids-off-by-one" in defects:
        unit[7:] = bytes((i - 1) & 0xFF for i in unit[7:])
    elif command == 0x81 and edition == 2025 and "set-periods-as-word" in defects \
            and {0x02, 0x03} & {i["id"] for i in body.get("params", ())}:
        unit = bytearray(encode(Frame(0x81, COMMAND_FLAG, vin, {"time": now_timestamp(now), **body}, 2016))[24:-1])
    elif command == 0x81 and "set-port-little-endian" in defects:
        params = [dict(i, value=int.from_bytes(i["value"].to_bytes(2, "big"), "little"))
                  if i["id"] in (0x06, 0x0F) else i for i in body.get("params", ())]
        unit = bytearray(encode(Frame(0x81, COMMAND_FLAG, vin, {"time": now_timestamp(now), "count": body.get(
            "count", len(params)), "params": params}, edition))[24:-1])
    elif command == 0x82 and "control-params-dropped" in defects:
        del unit[7:]
    else:
        return data
    return assemble(edition, command, COMMAND_FLAG, vin, bytes(unit))


def _is_vin(vin: str) -> bool:
    return len(vin) == 17 and vin.isascii() and vin.isalnum()


def rewrite_command(raw: bytes, command: int) -> bytes:
    """The same frame with another command byte (real-time -> reissue) and a fresh BCC."""
    body = raw[:2] + bytes((command,)) + raw[3:-1]
    return body + bytes((bcc(body[2:]),))
