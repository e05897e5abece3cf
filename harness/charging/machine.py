"""The charger and the BMS of GB/T 27930 as sans-IO state machines (spec gbt27930.md §3, §4).

Each node consumes frames and the time (`start`, `on_frame`, `on_time`) and returns frames to
send; `next_time()` says when it next needs `on_time`. Nothing reads a clock or a bus, so a
session runs on a fake clock (`harness.charging.session`) and the 10-minute pause limit takes
milliseconds. Every timer comes from `Timers`.

Versions: "2011", "2015" and "2015-compat" (a charger that falls back to the 2011 flow when no
BHM arrives within `charge_fallback`; a BMS that starts in 2011 mode and switches to 2015 on CHM).

`defects` switch on one named misbehaviour each (`DEFECTS`), for the self-tests only. `mute`
is a test stimulus, not a defect: message name -> seconds after its first transmission from which
the node stops sending it (0: never sent), as the GB/T 34658 negative cases need.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.charging import messages as m
from harness.charging.can import BMS, CHARGER, Frame
from harness.charging.j1939 import Hook, TpReceiver, TpSender, no_fault
from harness.protocol.timers import Timers

NODE_VERSIONS = ("2011", "2015", "2015-compat")
DEFECTS: dict[str, str] = {
    "wrong_version": "protocol version bytes 00 01 01 (V1.1 written big-endian) in CHM/BRM",
    "sizes_2011": "2011 field sizes (CRM, BRM, CML, CCS, CSD) in a 2015 session",
    "big_endian": "multi-byte values sent big-endian",
    "zero_reserved": "reserved bits and unused bytes filled with 0 instead of 1",
    "slow_timeout": "5 s where 1 s is due (charger: BCL; BMS: CCS)",
    "no_bhm": "BMS: never answers CHM with BHM",
    "no_fallback": "2015-compat charger: no fallback to the 2011 flow when BHM is missing",
    "drop_ccs": "charger: CCS goes missing while BCL and BCS keep arriving",
    "ccs_early": "charger: starts CCS after only one of BCL and BCS",
}
TERMINAL = ("done", "failed", "aborted")


@dataclass
class Node:
    version: str
    timers: Timers
    defects: frozenset[str] = frozenset()
    mute: dict[str, float] = field(default_factory=dict)
    tp_hook: Hook = no_fault
    delay: dict[str, float] = field(default_factory=dict)  # stimulus: message -> held back this long
    linger: frozenset[str] = frozenset()  # stimulus: messages that keep going after their phase ends
    mute_attempts: int = 1 << 30  # stimulus: `mute` applies only before this many reconnections
    state: str = "off"
    wire: str = "2015"
    attempts: int = 0  # reconnections after an error
    log: list[tuple[float, str]] = field(default_factory=list)
    periodic: dict[str, float] = field(default_factory=dict)  # message -> next due time
    deadlines: dict[str, float] = field(default_factory=dict)  # timer name -> expiry
    first_sent: dict[str, float] = field(default_factory=dict)

    addr = 0
    peer = 0

    def __post_init__(self) -> None:
        if self.version not in NODE_VERSIONS:
            raise ValueError(f"version {self.version!r}: one of {NODE_VERSIONS}")
        unknown = set(self.defects) - set(DEFECTS)
        if unknown:
            raise ValueError(f"unknown defect switches: {sorted(unknown)}")
        self.style = m.Style(byteorder="big" if "big_endian" in self.defects else "little",
                             fill=0x00 if "zero_reserved" in self.defects else 0xFF)
        self.rx = TpReceiver(self.addr, self.timers, self.tp_hook)
        self.tx: TpSender | None = None
        self.tx_queue: list[str] = []
        self._pending: dict[str, bytes] = {}  # data of the queued TP messages

    # ------------------------------------------------------------------ driver interface

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    def next_time(self) -> float:
        times = [*self.periodic.values(), *self.deadlines.values(), self.rx.deadline]
        if self.tx is not None:
            times.append(self.tx.deadline)
        return min(times, default=float("inf"))

    def on_frame(self, fr: Frame, now: float) -> list[Frame]:
        if fr.dst != self.addr or self.finished:
            return []
        out: list[Frame] = []
        if fr.pgn in (0xEC00, 0xEB00):
            if self.tx is not None:
                out += self.tx.on_frame(fr, now)
                out += self._next_tp(now)
            done_before = len(self.rx.completed)
            out += self.rx.on_frame(fr, now)
            for pgn, data in self.rx.completed[done_before:]:
                msg = m.BY_KEY.get((pgn >> 8, self.peer))
                if msg is not None:
                    out += self._receive(msg, data, now)
            return out
        msg = m.identify(fr)
        if msg is None or msg.sender != self.peer:
            return out
        return out + self._receive(msg, fr.data, now)

    def on_time(self, now: float) -> list[Frame]:
        out: list[Frame] = []
        out += self.rx.on_time(now)
        if self.tx is not None:
            out += self.tx.on_time(now)
            out += self._next_tp(now)
        for name, when in sorted(self.deadlines.items(), key=lambda kv: kv[1]):
            if when <= now and self.deadlines.get(name) == when:
                del self.deadlines[name]
                out += self.expired(name, now)
        for name, due in list(self.periodic.items()):
            if due <= now and name in self.periodic:
                self.periodic[name] = due + getattr(self.timers, m.MESSAGES[name].period)
                if self.periodic[name] <= now:  # never fall behind by more than one period
                    self.periodic[name] = now + getattr(self.timers, m.MESSAGES[name].period)
                out += self.send(name, now)
        return out

    # ------------------------------------------------------------------ helpers for the roles

    def note(self, now: float, text: str) -> None:
        self.log.append((round(now, 6), text))

    def layout_version(self, name: str) -> str:
        if "sizes_2011" in self.defects and "2011" in m.MESSAGES[name].layouts:
            return "2011"
        return self.wire if self.wire in m.MESSAGES[name].layouts else "2015"

    def values(self, name: str, now: float) -> dict[str, Any]:
        return {}

    def send(self, name: str, now: float) -> list[Frame]:
        """One transmission of `name` now (unless muted); TP messages queue behind a running transfer."""
        first = self.first_sent.setdefault(name, now)
        if name in self.mute and now - first >= self.mute[name] and self.attempts < self.mute_attempts:
            return []
        if now - first < self.delay.get(name, 0.0):
            return []
        msg = m.MESSAGES[name]
        data = m.encode(name, self.layout_version(name), self.values(name, now), self.style)
        if not msg.tp:
            return [Frame(msg.can_id, data)]
        if name in self.tx_queue:
            return []
        self._pending[name] = data
        self.tx_queue.append(name)
        return self._next_tp(now)

    def _next_tp(self, now: float) -> list[Frame]:
        if self.tx is not None and self.tx.state in ("wait_cts", "wait_eoma"):
            return []
        if self.tx is not None and self.tx.state == "aborted":
            self.note(now, f"TP {m.BY_KEY[(self.tx.pgn >> 8, self.addr)].name}: {self.tx.reason}")
        self.tx = None
        while self.tx_queue:
            name = self.tx_queue.pop(0)
            data = self._pending.pop(name)
            self.tx = TpSender(self.addr, self.peer, m.MESSAGES[name].pgn, data, self.timers, self.tp_hook)
            return self.tx.start(now)
        return []

    def kick(self, name: str, now: float) -> list[Frame]:
        """Send `name` at once (its content changed) and count its period from now."""
        if name in self.periodic:
            self.periodic[name] = now + getattr(self.timers, m.MESSAGES[name].period)
        return self.send(name, now)

    def start_periodic(self, now: float, *names: str) -> list[Frame]:
        out: list[Frame] = []
        for name in names:
            if name not in self.periodic:
                self.periodic[name] = now + getattr(self.timers, m.MESSAGES[name].period)
                out += self.send(name, now)
        return out

    def stop_periodic(self, *names: str) -> None:
        for name in names or list(self.periodic):
            if name in self.linger:
                continue
            self.periodic.pop(name, None)
            if name in self.tx_queue:
                self.tx_queue.remove(name)
                self._pending.pop(name, None)

    def arm(self, now: float, **timers: float) -> None:
        for name, after in timers.items():
            self.deadlines[name] = now + after

    def disarm(self, *names: str) -> None:
        for name in names or list(self.deadlines):
            self.deadlines.pop(name, None)

    def _receive(self, msg: m.Message, data: bytes, now: float) -> list[Frame]:
        version = self.wire if self.wire in msg.layouts else "2015"
        try:
            values = m.decode(msg.name, version, data, strict=msg.tp)
        except m.DecodeError as exc:
            self.note(now, f"ignored: {exc}")  # not a complete, correct packet: as if not received
            return []
        handler = getattr(self, "on_" + msg.name, None)
        return handler(values, now, data) if handler is not None else []

    def expired(self, name: str, now: float) -> list[Frame]:
        raise NotImplementedError

    def timeout_error(self, now: float, key: str | None, message: str, **wait: float) -> list[Frame]:
        """The error phase both sides share: stop what runs, count the attempt and report the timeout
        `key` in `message` (CEM/BEM, its field already set by the caller), sent periodically until the
        reconnection timer `wait` expires, or once when the attempts are used up (state "failed")."""
        self.stop_periodic()
        self.disarm()
        self.state = "error"
        self.attempts += 1
        if key:
            self.note(now, f"timeout {key.upper()}: {message}")
        if self.attempts > self.timers.charge_retries:
            out = self.send(message, now) if key else []
            self.finish(now, "failed", f"gives up after {self.timers.charge_retries} reconnections")
            return out
        self.arm(now, **wait)
        return self.start_periodic(now, message) if key else []

    def finish(self, now: float, state: str, why: str) -> None:
        self.stop_periodic()
        self.disarm()
        self.state = state
        self.note(now, f"{state}: {why}")


def _pause_windows(spec: Iterable[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    return tuple((float(a), float(b)) for a, b in spec)


@dataclass
class Charger(Node):
    """An off-board DC charger (address 0x56)."""

    charger_no: int = 1
    stop_after: float | None = None  # the charger's own (manual) stop, seconds into charging
    cro_delay: float | None = None  # stimulus: CRO 0x00 this long before 0xAA (default one period)
    cem_at: float | None = None  # stimulus: a CEM (BCS) this long into charging
    addr = CHARGER
    peer = BMS

    def __post_init__(self) -> None:
        super().__post_init__()
        self.bhm_seen = False
        self.peer_version = ""  # "2015" or "2011", from BHM and BRM
        self.demand: dict[str, Any] = {}
        self.got_bcl = self.got_bcs = False
        self.charging_since = 0.0
        self.paused_since: float | None = None
        self.cem: dict[str, int] = {}
        self.cst: dict[str, dict[str, int]] = {}
        self.bsd_seen = False

    def start(self, now: float) -> list[Frame]:
        if self.version == "2011":
            self.wire = "2011"
            return self.recognition(now)
        self.wire, self.state = "2015", "handshake"
        self.note(now, "handshake: CHM")
        self.arm(now, bhm=self.timers.charge_fallback)
        return self.start_periodic(now, "CHM")

    def recognition(self, now: float) -> list[Frame]:
        self.state, self.crm = "recognition", 0x00
        self.stop_periodic()
        self.disarm()
        self.arm(now, brm=self.timers.charge_timeout)
        return self.start_periodic(now, "CRM")

    def values(self, name: str, now: float) -> dict[str, Any]:
        if name == "CHM":
            return {"version": b"\x00\x01\x01" if "wrong_version" in self.defects else m.V11}
        if name == "CRM":
            return {"result": self.crm, "charger_no": self.charger_no, "region": None}
        if name == "CTS":
            return {"bcd_time": bytes.fromhex("00304511062620")}  # 2026-06-11 11:45:00
        if name == "CML":
            return {"max_voltage": 7500, "min_voltage": 2000, "max_current": 1500, "min_current": 4000}
        if name == "CRO":
            return {"ready": self.cro}
        if name == "CCS":
            paused = self.paused_since is not None
            return {"voltage": self.demand.get("voltage_demand", 0), "current": 4000 if paused else
                    self.demand.get("current_demand", 4000), "minutes": int((now - self.charging_since) // 60),
                    "permit": {"en": 0 if paused else 1}}
        if name == "CST":
            return self.cst
        if name == "CSD":
            return {"minutes": int((now - self.charging_since) // 60), "energy": 123, "charger_no": self.charger_no}
        if name == "CEM":
            return {"timeouts": self.cem}
        return {}

    def expired(self, name: str, now: float) -> list[Frame]:
        if name == "bhm":
            if self.version == "2015-compat" and "no_fallback" not in self.defects:
                self.wire = "2011"
                self.note(now, "no BHM: falls back to the 2011 flow")
                return self.recognition(now)
            self.finish(now, "aborted", "no BHM: not backward compatible with a 2011 BMS")
            return []
        if name == "precharge":
            self.cro = 0xAA
            self.arm(now, bcl=self.timers.charge_timeout if "slow_timeout" in self.defects
                     else self.timers.charge_fast_timeout, bcs=self.timers.charge_timeout)
            return self.kick("CRO", now)
        if name == "retry":
            self.note(now, f"reconnection {self.attempts}")
            self.cem = {}
            return self.recognition(now)
        if name == "drop_ccs":
            self.stop_periodic("CCS")
            return []
        if name == "pause":
            return self.stop(now, {"fault": {"other": 1}}, "pause longer than the limit")
        if name == "own_stop":
            return self.stop(now, {"stop_reason": {"manual": 1}}, "manual stop")
        if name == "end":
            self.finish(now, "done", "session complete")
            return []
        key = {"brm": "brm", "bcp": "bcp", "bro": "bro", "bro_aa": "bro", "bcl": "bcl", "bcs": "bcs",
               "bst": "bst", "bsd": "bsd", "cem_at": "bcs"}[name]
        return self.error(now, key)

    def error(self, now: float, key: str | None) -> list[Frame]:
        """CEM for a timeout (or none when the BMS reported one), then a reconnection or giving up."""
        if key:
            self.cem = {key: 1}
        out = self.timeout_error(now, key, "CEM", retry=self.timers.charge_retry_wait)
        if self.state != "failed":
            return out
        self.cst = {"stop_reason": {"fault": 1}, "fault": {"other": 1}}
        return out + self.send("CST", now)

    def stop(self, now: float, cst: dict[str, Any], why: str) -> list[Frame]:
        self.stop_periodic()
        self.disarm()
        self.cst, self.state = cst, "stopping"
        self.note(now, f"stop: {why}")
        self.arm(now, bst=self.timers.charge_timeout)
        return self.start_periodic(now, "CST")

    # ------------------------------------------------------------------ received messages

    def on_BHM(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state != "handshake":
            return []
        self.bhm_seen = True
        self.note(now, "BHM: insulation test at %.1f V, then recognition" % (v["max_voltage"] / 10))
        return self.recognition(now)

    def on_BRM(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state != "recognition" or self.crm != 0x00:
            return []
        is_2015 = self.bhm_seen or (len(data) == 49 and data[:2] == b"\x01\x01")
        self.peer_version = "2015" if is_2015 else "2011"
        self.note(now, f"BRM {len(data)} B, version {v['version'].hex()}: BMS speaks {self.peer_version}"
                  + ("" if is_2015 else " (needs retrofit)"))
        self.crm = 0xAA
        self.disarm("brm")
        self.arm(now, bcp=self.timers.charge_timeout)
        return self.kick("CRM", now)

    def on_BCP(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state != "recognition" or self.crm != 0xAA:
            return []
        self.state = "parameters"
        self.stop_periodic("CRM")
        self.disarm("bcp")
        self.arm(now, bro=self.timers.charge_timeout, bro_aa=self.timers.charge_ready_timeout)
        return self.start_periodic(now, "CTS", "CML")

    def on_BRO(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state != "parameters":
            return []
        self.disarm("bro")
        if v["ready"] != 0xAA:
            return []
        self.disarm("bro_aa")
        self.stop_periodic("CTS", "CML")
        self.state, self.cro = "ready", 0x00
        self.arm(now, precharge=self.timers.charge_period if self.cro_delay is None else self.cro_delay)
        return self.start_periodic(now, "CRO")

    def _maybe_charge(self, now: float) -> list[Frame]:
        if self.state != "ready" or self.cro != 0xAA:
            return []
        both = self.got_bcl and self.got_bcs
        if not (both or ("ccs_early" in self.defects and (self.got_bcl or self.got_bcs))):
            return []
        self.state, self.charging_since = "charging", now
        self.stop_periodic("CRO")
        self.note(now, "charging: CCS")
        if "drop_ccs" in self.defects:
            self.arm(now, drop_ccs=self.timers.charge_period)
        if self.stop_after is not None:
            self.arm(now, own_stop=self.stop_after)
        if self.cem_at is not None and self.attempts == 0:
            self.arm(now, cem_at=self.cem_at)
        return self.start_periodic(now, "CCS")

    def on_BCL(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state not in ("ready", "charging") or (self.state == "ready" and self.cro != 0xAA):
            return []
        self.demand, self.got_bcl = v, True
        self.arm(now, bcl=self.timers.charge_timeout if "slow_timeout" in self.defects
                 else self.timers.charge_fast_timeout)
        return self._maybe_charge(now)

    def on_BCS(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state not in ("ready", "charging") or (self.state == "ready" and self.cro != 0xAA):
            return []
        self.got_bcs = True
        self.arm(now, bcs=self.timers.charge_timeout)
        return self._maybe_charge(now)

    def on_BSM(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state != "charging":
            return []
        status = {k: x for k, x in {**v["status"], **v["status2"]}.items() if not k.startswith("_")}
        faults = {k: x for k, x in status.items() if k != "permit" and x not in (0, 3)}
        if faults:
            return self.stop(now, {"stop_reason": {"fault": 1}, "fault": {"other": 1}},
                             f"BSM abnormal: {', '.join(sorted(faults))}")
        if self.wire != "2015":
            return []  # 2011 BMSs: no pause semantics (spec §4)
        if status["permit"] == 0 and self.paused_since is None:
            self.paused_since = now
            self.note(now, "BSM forbids charging: paused")
            self.arm(now, pause=self.timers.charge_pause_limit)
        elif status["permit"] == 1 and self.paused_since is not None:
            self.paused_since = None
            self.disarm("pause")
            self.note(now, "BSM permits charging: resumed")
        return []

    def on_BST(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state not in ("charging", "stopping", "ready"):
            return []
        out: list[Frame] = []
        if self.state != "stopping":
            reason = {"bms_stopped": 1} if self.wire == "2015" else {"condition_reached": 1}
            out += self.stop(now, {"stop_reason": reason}, "BST received")
        self.stop_periodic("CST")  # one CST answers; CSD follows
        self.disarm("bst")
        self.state = "statistics"
        self.arm(now, bsd=self.timers.charge_end_timeout)
        return out + self.start_periodic(now, "CSD")

    def on_BSD(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state != "statistics" or self.bsd_seen:
            return []
        self.bsd_seen = True
        self.disarm("bsd")
        # CSD goes on for one more period so the BMS sees it, then the session ends
        self.arm(now, end=self.timers.charge_period * 1.5)
        return self.kick("CSD", now)

    def on_BEM(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        # while CRM 0x00 goes out after a reconnection, a BEM is the BMS's stale one: BRM answers it
        stale = self.state == "recognition" and self.crm == 0x00
        if self.state in ("error", "off", "handshake") or stale or self.finished:
            return []
        bits = {k for k, x in v["timeouts"].items() if x == 1 and not k.startswith("_")}
        if not bits:
            return []
        self.note(now, f"BEM {sorted(bits)}: stops and reconnects")
        return self.error(now, None)


@dataclass
class Bms(Node):
    """A battery management system (address 0xF4) with a simple battery model."""

    soc_start: float = 50.0
    soc_target: float = 52.0
    charge_seconds: float = 5.0  # simulated charging time to reach the target SOC
    pauses: tuple[tuple[float, float], ...] = ()  # (start, length) seconds into charging: BSM permit 00
    fault_at: float | None = None  # seconds into charging: BSM reports over-temperature
    bro_delay: float | None = None  # BRO 0x00 this long before 0xAA (default one period)
    bem_at: float | None = None  # stimulus: a BEM (CCS) this long into charging
    cells: int = 0  # >0: also send the optional BMV (this many cells) and BMT (cells // 8 probes)
    addr = BMS
    peer = CHARGER

    def __post_init__(self) -> None:
        super().__post_init__()
        self.pauses = _pause_windows(self.pauses)
        self.charging_since = self.stopped_at = 0.0
        self.bem: dict[str, int] = {}
        self.bst: dict[str, Any] = {}
        self.bro = 0x00

    def start(self, now: float) -> list[Frame]:
        self.wire = "2015" if self.version == "2015" else "2011"
        self.state = "wait"
        self.arm(now, crm=self.timers.charge_crm_wait)
        self.note(now, "powered: waits for CHM or CRM")
        return []

    def soc(self, now: float) -> float:
        if not self.charging_since:
            return self.soc_start
        if self.state != "charging":
            now = self.stopped_at
        frac = min(1.0, (now - self.charging_since) / max(self.charge_seconds, 1e-9))
        return self.soc_start + frac * (self.soc_target - self.soc_start)

    def permit(self, now: float) -> int:
        t = now - self.charging_since
        return 0 if any(a <= t < a + b for a, b in self.pauses) else 1

    def values(self, name: str, now: float) -> dict[str, Any]:
        version = b"\x00\x01\x01" if "wrong_version" in self.defects else (m.V11 if self.wire == "2015" else m.V10)
        if name == "BHM":
            return {"max_voltage": 4200}
        if name == "BRM":
            return {"version": version, "battery_type": 0x03, "capacity": 1500, "rated_voltage": 3500,
                    "manufacturer": "CATL", "pack_serial": b"\x00\x00\x00\x01", "production_year": 2024 - 1985,
                    "production_month": 6, "production_day": 1, "charge_count": 12, "ownership": 1,
                    "vin": "LSVAU2180N2183294", "software_version": b"\x01\x02\x03\x04\x05\x06\x07\x08"}
        if name == "BCP":
            return {"max_cell_voltage": 365, "max_current": 2000, "energy": 700, "max_voltage": 4200,
                    "max_temperature": 105, "soc": int(self.soc_start * 10), "voltage": 3500}
        if name == "BRO":
            return {"ready": self.bro}
        if name == "BCL":
            return {"voltage_demand": 4000, "current_demand": 3000, "mode": 0x02}
        if name == "BCS":
            return {"voltage": 3600, "current": 3000, "cell_max": {"cell_voltage": 345, "group": 1},
                    "soc": int(self.soc(now)), "remaining": 30}
        if name == "BSM":
            hot = self.fault_at is not None and now - self.charging_since >= self.fault_at
            return {"max_cell_no": 12, "max_temperature": 75, "max_probe": 3, "min_temperature": 70, "min_probe": 7,
                    "status": {"overtemp": 1 if hot else 0}, "status2": {"permit": self.permit(now)}}
        if name == "BMV":  # 3.45 V per cell, group 1 (bits 13-16)
            return {"cells": b"".join(((1 << 12) | 345).to_bytes(2, "little") for _ in range(self.cells))}
        if name == "BMT":
            return {"probes": bytes([75] * max(1, self.cells // 8))}
        if name == "BST":
            return self.bst
        if name == "BSD":
            return {"soc": int(self.soc(now)), "min_cell_voltage": 330, "max_cell_voltage": 345,
                    "min_temperature": 70, "max_temperature": 75}
        if name == "BEM":
            return {"timeouts": self.bem}
        return {}

    def handshake_again(self, now: float) -> list[Frame]:
        self.stop_periodic()
        self.disarm()
        self.bem = {}
        return []

    def expired(self, name: str, now: float) -> list[Frame]:
        if name == "bro_ready":
            self.bro = 0xAA
            self.arm(now, cro=self.timers.charge_timeout, cro_aa=self.timers.charge_ready_timeout)
            return self.kick("BRO", now)
        if name == "soc_reached":
            return self.stop(now, {"stop_reason": {"soc_reached": 1}}, "target SOC reached")
        if name == "reconnect":
            self.finish(now, "failed", "no CRM after the error")
            return []
        if name == "end":
            self.finish(now, "done", "session complete")
            return []
        key = {"crm": "crm_00", "crm_aa": "crm_aa", "cml": "cts_cml", "cro": "cro", "cro_aa": "cro", "ccs": "ccs",
               "cst": "cst", "csd": "csd", "bem_at": "ccs"}[name]
        return self.error(now, key)

    def error(self, now: float, key: str | None) -> list[Frame]:
        """BEM for a timeout (or none when the charger reported one), then a reconnection or giving up."""
        if key:
            self.bem = {key: 1}
        return self.timeout_error(now, key, "BEM", reconnect=self.timers.charge_reconnect_wait)

    def stop(self, now: float, bst: dict[str, Any], why: str) -> list[Frame]:
        self.stop_periodic()
        self.disarm()
        self.bst, self.state, self.stopped_at = bst, "stopping", now
        self.note(now, f"stop: {why}")
        self.arm(now, cst=self.timers.charge_timeout)
        return self.start_periodic(now, "BST")

    # ------------------------------------------------------------------ received messages

    def on_CHM(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.version == "2011" or self.state not in ("wait", "error", "handshake"):
            return []
        if self.state == "error":
            self.handshake_again(now)
        self.wire, self.state = "2015", "handshake"
        if "crm" not in self.deadlines:
            self.arm(now, crm=self.timers.charge_crm_wait)
        if "no_bhm" in self.defects:
            return []
        return self.start_periodic(now, "BHM")

    def on_CRM(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if v["result"] == 0x00 and self.state in ("wait", "handshake", "error"):
            if self.state == "error":
                self.note(now, f"CRM 0x00 after the error: re-handshake (reconnection {self.attempts})")
            self.handshake_again(now)
            self.state = "recognition"
            self.arm(now, crm_aa=self.timers.charge_timeout)
            return self.start_periodic(now, "BRM")
        if v["result"] == 0xAA and self.state == "recognition":
            self.state = "parameters"
            self.stop_periodic("BRM")
            self.disarm("crm_aa")
            self.arm(now, cml=self.timers.charge_timeout)
            return self.start_periodic(now, "BCP")
        return []

    def on_CML(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state != "parameters":
            return []
        self.state = "ready"
        self.stop_periodic("BCP")
        self.disarm("cml")
        self.bro = 0x00
        self.arm(now, bro_ready=self.timers.charge_period if self.bro_delay is None else self.bro_delay)
        return self.start_periodic(now, "BRO")

    def on_CRO(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state != "ready" or self.bro != 0xAA:
            return []
        self.disarm("cro")
        if v["ready"] != 0xAA:
            return []
        self.disarm("cro_aa")
        self.stop_periodic("BRO")
        self.state, self.charging_since = "charging", now
        ccs_due = self.timers.charge_timeout if "slow_timeout" in self.defects else self.timers.charge_fast_timeout
        self.arm(now, ccs=ccs_due, soc_reached=self.charge_seconds)
        if self.bem_at is not None and self.attempts == 0:
            self.arm(now, bem_at=self.bem_at)
        return self.start_periodic(now, "BCL", "BCS", "BSM", *(("BMV", "BMT") if self.cells else ()))

    def on_CCS(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state != "charging":
            return []
        self.arm(now, ccs=self.timers.charge_timeout if "slow_timeout" in self.defects
                 else self.timers.charge_fast_timeout)
        return []

    def on_CST(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state not in ("charging", "stopping", "ready", "parameters"):
            return []
        out: list[Frame] = []
        if self.state != "stopping":
            reason = {"charger_stopped": 1} if self.wire == "2015" else {}
            out += self.stop(now, {"stop_reason": reason}, "CST received")
        self.stop_periodic("BST")  # one BST answers; BSD follows
        self.disarm("cst")
        self.state = "statistics"
        self.arm(now, csd=self.timers.charge_end_timeout)
        return out + self.start_periodic(now, "BSD")

    def on_CSD(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state != "statistics":
            return []
        self.disarm("csd")
        self.arm(now, end=self.timers.charge_period * 1.5)
        return []

    def on_CEM(self, v: dict[str, Any], now: float, data: bytes) -> list[Frame]:
        if self.state in ("error", "wait") or self.finished:
            return []
        bits = {k for k, x in v["timeouts"].items() if x == 1 and not k.startswith("_")}
        if not bits:
            return []
        self.note(now, f"CEM {sorted(bits)}: stops and waits for CRM")
        return self.error(now, None)
