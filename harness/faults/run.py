"""Running a proxy with its gRPC server: `serve()` (the standalone process) and `ProxyThread` (for sync code).

    python -m harness.faults --control-port 50070 --link enterprise->local=0:127.0.0.1:32961

When ready, the process prints one JSON line on stdout: {"control": "127.0.0.1:50070", "links": {"NAME": port}}.
It stops on SIGINT/SIGTERM, on the Shutdown RPC, or after --lifetime seconds (a proxy never outlives its run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .evidence import EvidenceLog, write_jsonl, write_pcap
from .proxy import FaultProxy

log = logging.getLogger("harness.faults")


@dataclass(frozen=True)
class LinkArg:
    name: str
    listen_port: int
    target_host: str
    target_port: int

    @classmethod
    def parse(cls, text: str) -> LinkArg:
        """NAME=LISTEN_PORT:TARGET_HOST:TARGET_PORT (LISTEN_PORT 0: a free port)."""
        name, eq, rest = text.partition("=")
        listen, _, target = rest.partition(":")
        host, _, port = target.rpartition(":")
        if not (name and eq and listen.isdigit() and host and port.isdigit()):
            raise ValueError(f"{text!r} is not NAME=LISTEN_PORT:TARGET_HOST:TARGET_PORT")
        return cls(name, int(listen), host.strip("[]"), int(port))


async def serve(links: Sequence[LinkArg] = (), *, control_host: str = "127.0.0.1", control_port: int = 0,
                listen_host: str = "127.0.0.1", allow: Iterable[str] = (), evidence_dir: str | None = None,
                lifetime: float | None = None, pcap: str | None = None, jsonl: str | None = None,
                ready: Callable[[dict[str, Any]], None] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Run a proxy and its Faults service until Shutdown, `stop` is set, or `lifetime` ends."""
    from .service import start_grpc

    evidence = EvidenceLog(evidence_dir)
    proxy = FaultProxy(evidence, allow=allow)
    server = None
    try:
        server, port = await start_grpc(proxy, control_host, control_port)
        made = {}
        for ln in links:
            link = await proxy.create_link(ln.name, ln.target_host, ln.target_port, listen_host=listen_host,
                                           listen_port=ln.listen_port)
            made[ln.name] = link.port
        info = {"control": f"{control_host}:{port}", "links": made, "evidence": str(evidence.dir)}
        if ready is not None:
            ready(info)
        waits = [asyncio.ensure_future(proxy.stopped.wait())]
        if stop is not None:
            waits.append(asyncio.ensure_future(stop.wait()))
        done, pending = await asyncio.wait(waits, timeout=lifetime, return_when=asyncio.FIRST_COMPLETED)
        for w in pending:
            w.cancel()
        if not done:
            log.info("lifetime of %s s over: stopping", lifetime)
        await proxy.stop()
        last = evidence.snapshot()
        conns = dict(evidence.conns)
        if pcap:
            await asyncio.to_thread(write_pcap, pcap, evidence.records(upto=last), conns)
        if jsonl:
            await asyncio.to_thread(write_jsonl, jsonl, evidence.records(upto=last), conns)
    finally:
        if server is not None:
            await server.stop(grace=0.5)
        if not proxy.stopped.is_set():
            await proxy.stop()
        evidence.close(remove=evidence_dir is None)


class ProxyThread:
    """A proxy and its gRPC server on their own event loop in a daemon thread, for synchronous code:

        with ProxyThread() as p:
            faults = p.client()
            link = faults.create_link("enterprise->local", ("127.0.0.1", 32961))
    """

    def __init__(self, *, control_port: int = 0, allow: Iterable[str] = (), evidence_dir: str | None = None,
                 links: Sequence[LinkArg] = ()) -> None:
        self._kw = dict(control_port=control_port, allow=tuple(allow), evidence_dir=evidence_dir)
        self._links = tuple(links)
        self.info: dict[str, Any] = {}
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(info: dict[str, Any]) -> None:
                self.info = info
                self._ready.set()

            await serve(self._links, ready=ready, stop=self._stop, **self._kw)  # type: ignore[arg-type]

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._error = exc
        finally:
            self._ready.set()

    def start(self, timeout: float = 10.0) -> ProxyThread:
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None or not self.info:
            raise RuntimeError(f"fault proxy did not start: {self._error!r}")
        return self

    @property
    def address(self) -> str:
        return str(self.info["control"])

    def client(self) -> Any:
        from .client import FaultsClient

        return FaultsClient(self.address)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop may have closed already
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def __enter__(self) -> ProxyThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m harness.faults",
        description="Run the TCP fault proxy with its Faults gRPC service. When ready it prints one JSON line: "
                    '{"control": "HOST:PORT", "links": {"NAME": LISTEN_PORT}, "evidence": DIR}.',
        epilog="example: python -m harness.faults --control-port 50070 --link 'enterprise->local=0:127.0.0.1:32961'")
    p.add_argument("--control-port", type=int, default=0, help="gRPC port (0: a free one, printed when ready)")
    p.add_argument("--control-host", default="127.0.0.1", help="gRPC address (default 127.0.0.1)")
    p.add_argument("--link", action="append", default=[], type=LinkArg.parse, metavar="NAME=LISTEN:HOST:PORT",
                   help="a link to open at start (repeatable); more can be made with CreateLink")
    p.add_argument("--listen-host", default="127.0.0.1", help="address the links listen on (default 127.0.0.1)")
    p.add_argument("--allow", action="append", default=[], metavar="HOST",
                   help="a non-loopback host the run made (a container's address, or 0.0.0.0 to listen in one)")
    p.add_argument("--evidence-dir", help="keep the evidence spool here (default: a temporary directory, removed)")
    p.add_argument("--lifetime", type=float, help="stop by itself after this many seconds")
    p.add_argument("--pcap", help="at exit, write the evidence as a pcap here")
    p.add_argument("--jsonl", help="at exit, write the evidence as decoded JSON lines here")
    p.add_argument("-v", "--verbose", action="store_true", help="log links and faults to stderr")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")

    def ready(info: dict[str, Any]) -> None:
        print(json.dumps(info), flush=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(args.link, control_host=args.control_host, control_port=args.control_port,
                    listen_host=args.listen_host, allow=args.allow, evidence_dir=args.evidence_dir,
                    lifetime=args.lifetime, pcap=args.pcap, jsonl=args.jsonl, ready=ready, stop=stop)

    try:
        asyncio.run(run())
    except OSError as exc:
        print(f"fault proxy: {exc}", file=sys.stderr)
        return 1
    if args.pcap:
        print(json.dumps({"pcap": str(Path(args.pcap).resolve())}), flush=True)
    return 0
