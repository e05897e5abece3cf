"""The TCP fault proxy: sits between two parties on a link, injects faults at run time, records every byte.

- `model`: faults as data (`FaultSpec`, `Fault`, a link's `FaultTable`); every fault bounded in time or count;
- `engine`: the sans-IO engine of one direction of one connection (bytes in -> timed sends, discards, resets);
- `proxy`: the asyncio driver (`FaultProxy` with named `ProxyLink`s);
- `evidence`: the evidence log (spool file), pcap and decoded JSON-lines export;
- `service`: the `Faults` gRPC service (grpc.aio, on the proxy's loop);
- `client`: `FaultsClient` / `AsyncFaultsClient` with a fluent API (`faults.link("enterprise->local").partition(30)`);
- `run`: `serve()` for `python -m harness.faults`, and `ProxyThread` for synchronous code.
"""

from .model import Fault, FaultError, FaultSpec, Match

__all__ = ["Fault", "FaultError", "FaultSpec", "Match"]
