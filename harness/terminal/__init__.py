"""Simulated vehicle terminals (T-Box) for GB/T 32960.3 Annex B, both editions.

- `machine.Terminal`: the sans-IO state machine (events in, actions out, no clock, no sockets);
  `machine.DEFECTS`: named misbehaviours for self-tests of platform checks.
- `generator.Generator`: physically consistent real-time data, reproducible by seed.
- `aio.AioDriver` / `fleet.Fleet`: many terminals on one asyncio loop.
- `gevent_driver.GeventTerminal`: one terminal over gevent sockets (for locust; needs gevent,
  so it is not imported here).
- `cli`: `gbt32960 simulate`.
"""

from .generator import Generator, Snapshot
from .machine import DEFECTS, Action, Close, Connect, Send, Terminal, Upgrade

__all__ = ["DEFECTS", "Action", "Close", "Connect", "Generator", "Send", "Snapshot", "Terminal", "Upgrade"]
