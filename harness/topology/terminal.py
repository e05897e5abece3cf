"""A terminal (T-Box) as the SUT: the harness plays the enterprise platform it reports to.

Two kinds of SUT behind one interface (`TerminalSut`), so a case never knows which it drives:
- `SimulatedTerminal` (`--sut reference`, the default): our own simulator, made fresh for every
  case on the case's event loop, with the run's `--sut-defect` switches (self-tests);
- `ExternalTerminal` (`--sut external`): a real T-Box (or any terminal process) that the lab has
  configured to connect to the PIXIT's `terminal.listen` address. Stimuli a case needs (power on and
  off, a level-3 alarm) go through the PIXIT's `terminal.control` endpoint, which speaks our Control
  API; without one, a case that needs the stimulus cannot decide and says so (INCONC).

The terminal's calendar: the simulator runs its collection-time clock `1/time_scale` times faster
than the compressed timers, so its parameters and collection times read as the standard's values
(a 10 s report period) while the run takes a fraction of the time. Cases compare collection-time
spacing with the terminal's own parameters, which holds for both kinds of SUT.

Data-unit encryption (docs/crypto.md): a terminal runs in plaintext unless a case asks for crypto. The
rig holds each terminal's initial data-unit keys as crypto vehicles (harness/topology/keys.py): fresh
per run for the simulator, the PIXIT's `crypto.vehicles` entry of its VIN for a real T-Box; a case that
needs them and finds none cannot decide (INCONC). `SIMULATOR_PICS` is what the simulator claims.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from harness.protocol.crypto import FrameCrypto
from harness.protocol.timers import Timers

from .base import StimulusUnavailable, Topology
from .keys import CryptoVehicle, SutKeys, simulated_terminals

SIM_VIN = {2016: "LSIMA000000000001", 2025: "LSIMB000000000001"}
SIM_ICCID = "89860012345678901234"
# the simulator's PICS (what a run of --role terminal --sut reference judges it by): both editions, AES and
# SM4 data units, and a key exchange 0x0B from the platform taken at once (harness/terminal/machine.py)
SIMULATOR_PICS: dict[str, Any] = {
    "sut": {"name": "simulated terminal (harness.terminal)"},
    "features": {"editions": [2016, 2025],
                 "encryption": {"aes": True, "sm4": True, "key_exchange_down": True, "options": {}}},
}


@dataclass
class TerminalSut:
    """What a case can do to the terminal under test (from outside the protocol)."""

    vin: str
    edition: int
    host: str  # where it connects (the scripted platform's address)
    port: int

    async def power_on(self) -> None:
        raise NotImplementedError

    async def power_off(self) -> None:
        raise NotImplementedError

    async def raise_alarm(self, level: int, duration: float | None = None) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        return None

    def use_crypto(self, crypto: FrameCrypto) -> None:
        """Encrypt from the next power-on with `crypto` (its encryption byte and initial data-unit keys).
        A real T-Box already holds the keys its PIXIT lists: nothing to do."""
        return None

    @property
    def time_scale(self) -> float:
        """Terminal calendar seconds per real second is 1/time_scale (1 for a real T-Box)."""
        return 1.0


@dataclass
class SimulatedTerminal(TerminalSut):
    timers: Timers = field(default_factory=Timers)
    defects: frozenset[str] = frozenset()
    scale: float = 1.0
    terminal_kw: dict[str, Any] = field(default_factory=dict)
    driver: Any = None
    terminal: Any = None
    tid: int = -1

    async def power_on(self) -> None:
        from harness.terminal.aio import AioDriver
        from harness.terminal.fleet import calendar_epoch
        from harness.terminal.generator import Generator
        from harness.terminal.machine import Terminal

        if self.driver is None:
            loop = asyncio.get_running_loop()
            self.driver = AioDriver(tick=self.timers.tick)
            gen = Generator(7, cells=24, probes=8, alarm_rate=0, start_phase="drive")
            kw = {"activate": self.edition == 2025, **self.terminal_kw}
            self.terminal = Terminal(self.vin, self.edition, self.timers, gen, iccid=SIM_ICCID,
                                     defects=self.defects, host=self.host, port=self.port, time_scale=self.scale,
                                     epoch=calendar_epoch(loop.time(), self.scale), **kw)
            self.tid = self.driver.add(self.terminal)
        else:
            self.driver.call(self.tid, self.terminal.power_on)

    async def power_off(self) -> None:
        self.driver.call(self.tid, self.terminal.power_off)

    async def raise_alarm(self, level: int, duration: float | None = None) -> None:
        self.driver.call(self.tid, self.terminal.raise_alarm, level, duration)

    async def close(self) -> None:
        if self.driver is not None:
            await self.driver.close()

    def use_crypto(self, crypto: FrameCrypto) -> None:
        if self.driver is not None:
            raise RuntimeError("use_crypto() must come before the terminal is first powered on")
        self.terminal_kw["crypto"] = crypto

    @property
    def time_scale(self) -> float:
        return self.scale


@dataclass
class ExternalTerminal(TerminalSut):
    control: str = ""  # host:port of the terminal's Control API, if it offers one
    scale: float = 1.0  # a simulator with compressed timers: PIXIT terminal.time_scale

    def _client(self) -> Any:
        if not self.control:
            raise StimulusUnavailable("the PIXIT gives no terminal.control endpoint to power the terminal on or "
                                      "off or raise an alarm: apply the stimulus by hand and judge the trace")
        from harness.control import AsyncControlClient

        return AsyncControlClient(self.control)

    async def _call(self, method: str, *args: Any, **kw: Any) -> None:
        client = self._client()
        try:
            await getattr(client, method)(*args, **kw)
        finally:
            await client.close()

    async def power_on(self) -> None:
        # a power cycle: whatever state the previous case left, the terminal connects afresh
        await self._call("go_offline", self.vin, silent=True)
        await self._call("go_online", self.vin)

    async def power_off(self) -> None:
        await self._call("go_offline", self.vin, key_off=True)

    async def raise_alarm(self, level: int, duration: float | None = None) -> None:
        await self._call("raise_alarm", self.vin, level, duration=duration or 0.0)

    async def close(self) -> None:
        if self.control:
            await self._call("go_offline", self.vin, silent=True)

    @property
    def time_scale(self) -> float:
        return self.scale


@dataclass
class TerminalRig:
    """Makes, per case, the terminal under test for an edition and the address it must connect to."""

    kind: str  # reference | external
    timers: Timers
    defects: frozenset[str] = frozenset()
    pixit: dict[str, Any] = field(default_factory=dict)
    keys: SutKeys | None = None  # the terminals' initial data-unit keys (None: the PIXIT gives none)

    def crypto_vehicle(self, vin: str) -> CryptoVehicle:
        """The initial data-unit keys of terminal `vin`; StimulusUnavailable (INCONC) when none are known."""
        if self.keys is None:
            raise StimulusUnavailable("the PIXIT has no crypto: section with the terminal's data-unit keys "
                                      "(crypto.vehicles: [{vin, aes, sm4}], docs/crypto.md): this case cannot decide")
        try:
            return self.keys.by_vin(vin)
        except LookupError:
            raise StimulusUnavailable(f"the PIXIT's crypto.vehicles has no entry for the terminal {vin} "
                                      "(its initial data-unit keys): this case cannot decide") from None

    @property
    def scale(self) -> float:
        # compressed timers, standard-looking calendar: the report period reads as the standard's 10 s
        return self.timers.report_period / Timers().report_period

    def listen_address(self) -> tuple[str, int]:
        if self.kind == "reference":
            return "127.0.0.1", 0
        host, _, port = str(self.pixit["terminal"]["listen"]).rpartition(":")
        return host, int(port)

    def editions(self) -> set[int]:
        if self.kind == "reference":
            return {2016, 2025}
        t = self.pixit["terminal"]
        return {int(e) for e in t.get("editions", [t.get("edition", 2016)])}

    def make(self, edition: int, host: str, port: int, **terminal_kw: Any) -> TerminalSut:
        if self.kind == "reference":
            return SimulatedTerminal(SIM_VIN[edition], edition, host, port, timers=self.timers,
                                     defects=self.defects, scale=self.scale, terminal_kw=terminal_kw)
        t = self.pixit["terminal"]
        vins = t.get("vins", {})
        vin = str(vins.get(edition) or vins.get(str(edition)) or t["vin"])
        return ExternalTerminal(vin, edition, host, port, control=str(t.get("control", "")),
                                scale=float(t.get("time_scale", 1.0)))


def start(kind: str, timers: Timers, pixit: dict[str, Any], *, region: str,
          defects: frozenset[str] = frozenset()) -> Topology:
    """The terminal-role topology: no platform runs until a case asks for one."""
    if kind not in ("reference", "external"):
        raise ValueError(f"--role terminal runs --sut reference (our simulator) or --sut external (a T-Box set "
                         f"up by the PIXIT's terminal: section), not {kind!r}")
    if kind == "external":
        t = pixit.get("terminal") or {}
        missing = [k for k in ("listen",) if k not in t] + ([] if ("vin" in t or "vins" in t) else ["vin"])
        if missing:
            raise ValueError(f"--sut external with --role terminal needs PIXIT terminal: {missing} "
                             "(listen: HOST:PORT the T-Box connects to; vin: its VIN)")
        if defects:
            raise ValueError("--sut-defect switches exist in our simulator only, not in an external terminal")
    keys = simulated_terminals(SIM_VIN) if kind == "reference" else SutKeys.from_pixit(pixit)
    rig = TerminalRig(kind, timers, defects, pixit, keys)
    return Topology(role="terminal", backend="embedded" if kind == "reference" else "external", sut=None,  # type: ignore[arg-type]
                    local=None, national=None, vehicles=[], timers=timers, region=region, platform_id="",
                    extra={"terminal_rig": rig})
