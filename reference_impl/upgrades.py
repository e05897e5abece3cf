"""Remote-upgrade outcomes (notice 1.2/f): which vehicles a remote upgrade brought back, and which not.

GB/T 32960.3 defines the order (control 0x82/0x01: URL, versions, a time limit in minutes to reach
the upgrade server, before which the terminal must reconnect to the platform) but no report. The
platform records each outcome as a warning the operator sees (Control ListWarnings):
- `upgrade-done`: the vehicle logged in again before the deadline and its firmware (param 0x08,
  queried on that login) is the one ordered;
- `upgrade-failed`: it did not log in again before the deadline, or it reports other firmware.
A minute is the run's minute: `timers.control_resend` (60 s by the standard, 1 s compressed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.protocol.upgrade import parse_upgrade

if TYPE_CHECKING:
    from .core import Action, PlatformCore


@dataclass
class Order:
    vin: str
    firmware: str
    deadline: float
    ordered_at: float
    acked: bool = False
    relogged: bool = False


class UpgradeTracker:
    def __init__(self, core: PlatformCore) -> None:
        self.core = core
        self.orders: dict[str, Order] = {}

    def ordered(self, vin: str, body: dict[str, Any], now: float) -> None:
        """Control 0x82 was sent; a 0x01 with a valid string starts watching the vehicle."""
        if body.get("command") != 0x01:
            return
        fields = parse_upgrade(body.get("params") or "")
        if fields is None:
            return
        minute = self.core.timers.control_resend  # one minute of this run (B.2.4: resend every 1 min)
        deadline = now + float(fields.get("connect_deadline_min") or 0) * minute
        self.orders[vin] = Order(vin, str(fields.get("firmware_version") or "").strip(), deadline, now)

    def answered(self, vin: str, command: int, ok: bool, answer: Any, now: float) -> None:
        order = self.orders.get(vin)
        if order is None:
            return
        if command == 0x82 and ok:
            order.acked = True
            if "upgrade-assumed-done" in self.core.defects:
                self._done(order, "acknowledged 0x82/0x01", now)
        elif command == 0x80 and order.relogged and answer is not None:
            params = {p["id"]: p["value"] for p in answer.body.get("params", ())} if isinstance(answer.body, dict) \
                else {}
            if 0x08 in params:
                got = str(params[0x08]).strip()
                if got == order.firmware:
                    self._done(order, f"firmware {got}", now)
                else:
                    self._failed(order, f"firmware {got}, ordered {order.firmware}", now)

    def logged_in(self, vin: str, now: float) -> list[Action]:
        """A vehicle with an open order logged in: ask its firmware (param 0x08)."""
        order = self.orders.get(vin)
        if order is None or not order.acked:
            return []
        order.relogged = True
        return self.core.command(vin, 0x80, {"ids": [0x08]}, now)

    def tick(self, now: float) -> None:
        if "no-upgrade-deadline" in self.core.defects:
            return
        for order in list(self.orders.values()):
            if order.deadline <= now and not order.relogged:
                self._failed(order, "no reconnection before the deadline", now)

    def _done(self, order: Order, detail: str, now: float) -> None:
        self.orders.pop(order.vin, None)
        self.core.store.warn(order.vin, "upgrade-done", detail, now)

    def _failed(self, order: Order, detail: str, now: float) -> None:
        self.orders.pop(order.vin, None)
        self.core.store.warn(order.vin, "upgrade-failed", detail, now)
