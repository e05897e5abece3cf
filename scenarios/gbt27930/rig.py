"""The test system of the GB/T 27930 cases: it plays the SUT's counterpart and judges the bus.

A `Rig` builds the SUT (a charger or a BMS: our simulator, configured from the PICS) and the
tester (our simulator of the other role, with the case's stimulus: muted messages, transport
faults, lingering messages, patient timers), runs them over python-can's virtual bus on a fake
clock, keeps the frames as evidence and offers the checks the cases share. Verdicts are judged
from the frames the SUT put on the bus, never from its internal state.

With `external` set, the SUT is a device on a python-can bus (a lab's BMS or charger, or our
simulator run by `gbt32960 charging serve`): only the tester is ours, the run is in real time
(`harness.charging.bus.run_external`), and whether a session "completed" is judged from the bus.
A case that needs the harness to configure the SUT, switch a defect on in it or power it up is
skipped as INCONC for an external SUT (never PASS); a case for the other role is N/A.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.charging import messages as m
from harness.charging.bus import ExternalSide, NoSession, external_limit, open_bus, run_external
from harness.charging.can import BMS, CHARGER
from harness.charging.j1939 import ABORT, RTS, is_cm
from harness.charging.machine import Bms, Charger
from harness.charging.session import Outcome, Trace, describe, run
from harness.plugin import Expect
from harness.protocol.timers import Timers
from harness.report.model import Evidence, FrameEvidence

# the tester never gives up first: the SUT's reaction is what a negative case observes
PATIENT = {"charge_timeout": 1e6, "charge_fast_timeout": 1e6, "charge_ready_timeout": 1e6, "charge_crm_wait": 1e6,
           "charge_end_timeout": 1e6, "charge_reconnect_wait": 1e6}
DEFAULT_OPTIONS: dict[str, Any] = {"ccs_dlc": "7", "bcs_group_offset": 0}
EVIDENCE_FRAMES = 400  # frames kept per session (first and last halves)


@dataclass(frozen=True)
class ExternalSut:
    """A charger or BMS on a python-can bus that the harness does not run (PICS role/version, PIXIT bus)."""

    role: str  # "charger" or "bms"
    version: str
    interface: str
    channel: str | None
    start_command: tuple[str, ...] = ()  # run before each session (a lab's plug/power relay), argv
    quiet: float | None = None  # PIXIT overrides of harness.charging.bus.gaps()
    session_gap: float | None = None
    start_wait: float | None = None
    limit: float | None = None
    clock_tolerance: float = 0.005  # frame timestamps on a real bus: a timeout may show this much early

    def __str__(self) -> str:
        return f"external {self.role} {self.version} on {self.interface}:{self.channel or '-'}"


@dataclass
class Rig:
    timers: Timers
    charger_version: str = "2015-compat"  # the SUT's version when the SUT is a charger
    bms_version: str = "2015-compat"  # ... when it is a BMS
    defects: frozenset[str] = frozenset()  # self-tests: switched on in the SUT
    options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_OPTIONS))
    expect: Expect = field(default_factory=lambda: Expect(Evidence()))
    bus: str = "virtual"
    outcomes: list[Outcome] = field(default_factory=list)
    external: ExternalSut | None = None

    @property
    def tolerance(self) -> float:
        """How far a time may sit beyond a bound: float noise on the simulated clock, the timestamp
        resolution (PIXIT clock_tolerance) on a real bus."""
        return self.external.clock_tolerance if self.external is not None else 1e-6

    # ------------------------------------------------------------------ what an external SUT allows

    def applies(self, role: str) -> None:
        """N/A when the external SUT plays the other role (our simulators play both)."""
        if self.external is not None and self.external.role != role:
            pytest.skip(f"N/A: the SUT is a {self.external.role} (PICS charging.role); this case tests a {role}")

    def needs_power_up(self, why: str) -> None:
        """INCONC for an external BMS: the case times it from power-up, which the harness does not control."""
        if self.external is not None:
            pytest.skip(f"the case times the SUT from its power-up ({why}); the harness cannot power an "
                        f"{self.external}")

    def _external_ok(self, role: str, sut: dict[str, Any] | None) -> ExternalSut:
        ext = self.external
        assert ext is not None
        self.applies(role)
        if self.defects:
            pytest.skip(f"--sut-defect {', '.join(sorted(self.defects))}: the harness cannot switch a defect on in "
                        f"an {ext}")
        if sut:
            pytest.skip(f"the case sets the SUT up ({', '.join(f'{k}={v}' for k, v in sut.items())}); the harness "
                        f"cannot configure an {ext}")
        return ext

    # ------------------------------------------------------------------ sessions

    def charger_sut(self, *, bms: str = "2015", patient: bool = False, sut: dict[str, Any] | None = None,
                    **tester: Any) -> Outcome:
        """The SUT charger against a tester BMS of version `bms` with the stimulus in `tester`."""
        if self.external is not None:
            ext = self._external_ok("charger", sut)
            b = Bms(bms, self.timers.with_(**PATIENT) if patient else self.timers, **tester)
            return self._run_external(ext, b, f"{ext} (SUT) <-> BMS {bms} (tester)")
        c = Charger(self.charger_version, self.timers, self.defects, **(sut or {}))
        b = Bms(bms, self.timers.with_(**PATIENT) if patient else self.timers, **tester)
        return self._run(c, b, c, patient, f"charger {self.charger_version} (SUT) <-> BMS {bms} (tester)")

    def bms_sut(self, *, charger: str = "2015", patient: bool = False, sut: dict[str, Any] | None = None,
                keep_charging: float | None = None, **tester: Any) -> Outcome:
        """The SUT BMS against a tester charger of version `charger`.

        keep_charging: the case needs the BMS to charge at least this long (its stimulus comes first).
        Our simulator is set to charge 30 s; an external BMS charges as long as it likes, so the rig
        checks on the bus that it did (no BST before then) and says INCONC when it did not.
        """
        if self.external is not None:
            ext = self._external_ok("bms", sut)
            c = Charger(charger, self.timers.with_(**PATIENT) if patient else self.timers, **tester)
            o = self._run_external(ext, c, f"charger {charger} (tester) <-> {ext} (SUT)")
            if keep_charging is not None:
                self._kept_charging(o, keep_charging)
            return o
        if keep_charging is not None:
            sut = {"charge_seconds": 30.0, **(sut or {})}
        c = Charger(charger, self.timers.with_(**PATIENT) if patient else self.timers, **tester)
        b = Bms(self.bms_version, self.timers, self.defects, **(sut or {}))
        return self._run(c, b, b, patient, f"charger {charger} (tester) <-> BMS {self.bms_version} (SUT)")

    def _run(self, c: Charger, b: Bms, sut: Charger | Bms, patient: bool, label: str) -> Outcome:
        # a patient tester never gives up: the run ends with the SUT; otherwise both finish
        until = (lambda: sut.finished) if patient else None
        o = run(c, b, bus=self.bus, limit=self.timers.charge_pause_limit * 2 + 300, until=until)
        self.outcomes.append(o)
        self.expect.note(f"{label}: {len(o.trace.records)} frames, {o.end:.3f} s simulated, "
                         f"charger {c.state}, BMS {b.state}")
        return self._evidence(o, c.wire)

    def _kept_charging(self, o: Outcome, seconds: float) -> None:
        """INCONC unless the external BMS was still charging `seconds` after the first CCS."""
        ccs = next((r.at for r in o.trace.frames("CCS", CHARGER)), None)
        bst = next((r.at for r in o.trace.frames("BST", BMS)), None)
        # "by itself": before the tester stopped (CST) or reported an error (CEM)
        prompted = any(r.at <= (bst or 0.0) for name in ("CST", "CEM") for r in o.trace.frames(name, CHARGER))
        if ccs is not None and bst is not None and bst - ccs < seconds and not prompted:
            pytest.skip(f"precondition not met: the BMS stopped by itself (BST) {bst - ccs:.3f} s into charging; "
                        f"the case needs it to charge at least {seconds:g} s")
        if ccs is not None:
            self.expect.note(f"precondition met: the BMS did not stop by itself within {seconds:g} s of charging")

    def _run_external(self, ext: ExternalSut, tester: Charger | Bms, label: str) -> Outcome:
        if ext.start_command:
            # a lab's way to plug in or power up the SUT; a failure here is the harness's (ERROR)
            subprocess.run(list(ext.start_command), check=True, timeout=60)
        bus = open_bus(ext.interface, ext.channel)
        try:
            trace, end, state = run_external(tester, bus, timers=self.timers, limit=ext.limit, quiet=ext.quiet,
                                             session_gap=ext.session_gap, start_wait=ext.start_wait)
        except NoSession as exc:
            pytest.skip(f"no decision: {exc}")
        finally:
            bus.shutdown()
        side = ExternalSide(ext.role, ext.version, state, tester.wire)
        c, b = (side, tester) if ext.role == "charger" else (tester, side)
        o = Outcome(c, b, trace, end)  # type: ignore[arg-type]  # the SUT's side is what the bus showed
        self.outcomes.append(o)
        limit = ext.limit if ext.limit is not None else external_limit(self.timers)
        self.expect.note(f"{label}: {len(trace.records)} frames, {end:.3f} s wall clock, tester {tester.state}, "
                         f"SUT {state} (judged from the bus); the run ended "
                         + (f"at its {limit:g} s limit" if end >= limit else "when the SUT fell silent"))
        return self._evidence(o, tester.wire)

    def _evidence(self, o: Outcome, wire: str) -> Outcome:
        base = time.time()
        recs = o.trace.records
        kept = recs if len(recs) <= EVIDENCE_FRAMES else recs[: EVIDENCE_FRAMES // 2] + recs[-EVIDENCE_FRAMES // 2:]
        for r in kept:
            self.expect.evidence.frames.append(FrameEvidence(
                base + r.at, "CAN charger<->BMS", "->" if r.frame.src == CHARGER else "<-",
                # raw: the 29-bit id (4 bytes) then the data, as hex (the report schema wants pure hex)
                f"{r.frame.can_id:08X}{r.frame.data.hex().upper()}", f"{r.frame} t={r.at:.3f} {r.sender}: "
                + describe(r.frame, wire)))
        return o

    # ------------------------------------------------------------------ checks

    def option(self, name: str) -> Any:
        value = self.options.get(name, DEFAULT_OPTIONS[name])
        self.expect.note(f"PICS option {name}={value}")
        return value

    def well_formed(self, o: Outcome, sut: int, version: str) -> None:
        """Every message the SUT sent fits `version`'s layout: DLC, reserved bits 1, version bytes, ranges."""
        ccs_dlc = {int(x) for x in str(self.option("ccs_dlc")).split("|")}
        for r in o.trace.records:
            fr = r.frame
            if fr.src != sut:
                continue
            msg = m.identify(fr)
            if msg is None:
                continue  # TP.CM/DT frames: the transfers are checked below
            self._message_ok(msg, fr.data, version, f"t={r.at:.3f} {fr}", ccs_dlc)
        for at, name, data in o.trace.transfers():
            if m.MESSAGES[name].sender == sut:
                self._message_ok(m.MESSAGES[name], data, version, f"t={at:.3f} {name} transfer", ccs_dlc)

    def _message_ok(self, msg: m.Message, data: bytes, version: str, where: str, ccs_dlc: set[int]) -> None:
        e = self.expect
        v = version if version in msg.layouts else "2015"
        size = msg.size(v)
        allowed = ccs_dlc if (msg.name == "CCS" and v == "2015") else {size}
        if size is not None:
            e.equal(f"{msg.name}.dlc", sorted(allowed), sorted(allowed | {len(data)}),
                    f"{where}: {msg.name} has {len(data)} bytes, GB/T 27930-{v} gives {sorted(allowed)}")
        values = m.decode(msg.name, v, data[:size] if size is not None else data)
        for f in msg.layouts[v]:
            val = values[f.name]
            if isinstance(f, m.Bits):
                e.true(val["_reserved_ok"], f"{where}: {msg.name}.{f.name} reserved bits not all 1",
                       path=f"{msg.name}.{f.name}", expected="reserved bits 1", actual=data.hex())
            elif isinstance(f, m.Text):
                e.true(val == "" or val.isprintable() and val.isascii(),
                       f"{where}: {msg.name}.{f.name} is neither ASCII nor 0xFF fill: {val!r}",
                       path=f"{msg.name}.{f.name}", expected="ASCII or FF", actual=val)
            elif isinstance(f, m.Raw) and f.name == "reserved" and f.size:
                e.equal(f"{msg.name}.reserved", "ff" * f.size, val.hex(), f"{where}: reserved byte not 0xFF")
            elif isinstance(f, m.Raw) and f.name == "version":
                want = m.V11 if v == "2015" else m.V10
                e.equal(f"{msg.name}.version", want.hex(), val.hex(), f"{where}: protocol version bytes")
            elif isinstance(f, m.Uint) and f.size > 1 and val != (1 << (8 * f.size)) - 1:
                limit = {"V": 10000 if f.scale == 0.1 else 500, "A": 8000, "min": 600, "%": 1000}.get(f.unit)
                if limit is not None:
                    e.true(val <= limit, f"{where}: {msg.name}.{f.name} raw {val} beyond any plausible value "
                           f"({limit}): byte order?", path=f"{msg.name}.{f.name}", expected=f"<= {limit}", actual=val)
        if msg.name in ("BCS", "BSD") and values.get("soc", 0) > 100 and values["soc"] != 0xFF:
            raise AssertionError(f"{where}: SOC {values['soc']} % (1 %/bit) above 100")

    def decode(self, name: str, data: bytes, version: str = "2015") -> dict[str, Any]:
        """Values of a message the SUT sent; data that does not fit the layout is a FAIL, not an error."""
        try:
            return m.decode(name, version, data, strict=False)
        except m.DecodeError as exc:
            raise AssertionError(f"undecodable {name}: {exc}") from exc

    def nth(self, o: Outcome, name: str, index: int = 0, version: str = "2015") -> dict[str, Any]:
        """Decoded values of the `index`-th `name` frame on the bus (a FAIL when there is none)."""
        frames = o.trace.frames(name)
        self.expect.true(-len(frames) <= index < len(frames), f"no {name} #{index} on the bus", path=name,
                         expected="present", actual=len(frames))
        return self.decode(name, frames[index].frame.data, version)

    def reacts(self, o: Outcome, name: str, sender: int, hex_data: str, start: float, due: float,
               what: str) -> None:
        """The first `name` from `sender` after `start` carries `hex_data` and comes `due` s after it."""
        e = self.expect
        r = next((r for r in o.trace.frames(name, sender) if r.at >= start), None)
        e.true(r is not None, f"no {name} after {what}", path=name, expected=hex_data, actual=None)
        assert r is not None
        e.equal(f"{name}.data", hex_data, r.frame.data.hex(), f"{name} bits for {what}")
        late = r.at - start
        e.count(f"{name} after (s)", round(late, 3))
        tol = self.timers.charge_period  # one period of CEM/BEM
        e.true(due - self.tolerance <= late <= due + tol,
               f"{name} for {what} came {late:.3f} s after it started, due {due:g} s (+{tol:g})",
               path=f"{name}.delay", expected=due, actual=round(late, 3))

    def never(self, o: Outcome, name: str, sender: int, after: float = -1.0, before: float = float("inf"),
              why: str = "") -> None:
        hits = [r for r in o.trace.frames(name, sender) if after < r.at < before]
        self.expect.true(not hits, f"{name} sent at t={hits[0].at:.3f} {why}" if hits else "",
                         path=name, expected=0, actual=len(hits))

    def first(self, o: Outcome, name: str, sender: int | None = None, after: float = -1.0) -> float:
        r = next((r for r in o.trace.frames(name, sender) if r.at > after), None)
        self.expect.true(r is not None, f"no {name} on the bus" + (f" after t={after:.3f}" if after >= 0 else ""),
                         path=name, expected="present", actual=None)
        assert r is not None
        return r.at

    def periodic(self, o: Outcome, name: str, sender: int, period: float, tol: float = 0.1,
                 until: float = float("inf")) -> None:
        """Consecutive frames of one content come every `period` (±tol)."""
        by_data: dict[bytes, list[float]] = {}
        for r in o.trace.frames(name, sender):
            if r.at < until:
                by_data.setdefault(r.frame.data, []).append(r.at)
        gaps = [b - a for times in by_data.values() for a, b in zip(times, times[1:], strict=False)]
        self.expect.true(bool(gaps), f"{name} sent fewer than twice", path=name, expected="periodic", actual=0)
        bad = [g for g in gaps if abs(g - period) > period * tol]
        self.expect.true(not bad, f"{name} period {bad[0]:.3f} s, expected {period:g} s ±{tol:.0%}" if bad else "",
                         path=f"{name}.period", expected=period, actual=bad[0] if bad else period)

    def completed(self, o: Outcome) -> None:
        self.expect.true(o.completed, f"session did not complete: charger {o.charger.state}, BMS {o.bms.state}",
                         path="session", expected="done/done", actual=f"{o.charger.state}/{o.bms.state}")


def classify(trace: Trace) -> str:
    """What the charger side can tell of a BMS: 2015 if BHM was seen or BRM is 49 B with 01 01 (SK)."""
    if trace.frames("BHM", BMS):
        return "2015"
    brm = [d for _, n, d in trace.transfers() if n == "BRM"]
    return "2015" if brm and len(brm[0]) == 49 and brm[0][:2] == b"\x01\x01" else "2011"


def tp_aborts(trace: Trace, sender: int) -> list[float]:
    return [r.at for r in trace.records if r.frame.src == sender and is_cm(r.frame) and r.frame.data[0] == ABORT]


def rts_times(trace: Trace, sender: int, pgn: int) -> list[float]:
    return [r.at for r in trace.records if r.frame.src == sender and is_cm(r.frame) and r.frame.data[0] == RTS
            and int.from_bytes(r.frame.data[5:8], "little") == pgn]
