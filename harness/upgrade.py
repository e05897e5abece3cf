"""Remote-upgrade campaigns (notice 1.2/f): the firmware server, a terminal hook that really fetches the
firmware, and the campaign view (which vehicles still speak the old protocol, which upgrades failed).

    with FirmwareServer({"/tbox-F2.00.bin": b"..."}) as server:   # loopback HTTP, stdlib only
        url = server.url("/tbox-F2.00.bin")
    driver = AioDriver(on_upgrade=fetching_hook())                # the simulator fetches `url`
    view = campaign(control, vins)                                 # from the platform's Control API
    print(view.text())

CLI: `python -m harness.upgrade --control 127.0.0.1:50051 VIN...` prints the view of a running
platform (`--json` for the machine-readable form). See docs/upgrade.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.server
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.terminal.aio import AioDriver
from harness.terminal.machine import Upgrade

# ====================================================================== the firmware server


@dataclass
class Fetch:
    path: str
    at: float
    status: int


class FirmwareServer:
    """Serves firmware images over HTTP on loopback (a thread); records every request.
    `delay` holds each answer back that many seconds (to make a terminal miss its deadline)."""

    def __init__(self, images: dict[str, bytes], *, delay: float = 0.0) -> None:
        self.images = dict(images)
        self.delay = delay
        self.fetches: list[Fetch] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = owner.images.get(self.path)
                if owner.delay:
                    owner._stop.wait(owner.delay)  # ends early when the server stops
                status = 200 if body is not None else 404
                owner.fetches.append(Fetch(self.path, time.monotonic(), status))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:  # quiet: the fetches are the record
                pass

        self._stop = threading.Event()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="firmware-server", daemon=True)

    def start(self) -> FirmwareServer:
        self.thread.start()
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def __enter__(self) -> FirmwareServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def closed_port_url(path: str = "/fw.bin") -> str:
    """An HTTP URL on loopback where nothing listens (a port bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


# ====================================================================== the terminal side


@dataclass
class FetchResult:
    vin: str
    url: str
    ok: bool
    detail: str
    sha256: str = ""
    late: bool = False


def fetching_hook(results: list[FetchResult] | None = None, *, timeout: float = 10.0,
                  editions: dict[str, int] | None = None) -> Any:
    """An `AioDriver.on_upgrade` hook that really downloads the URL (in a thread, off the loop). On
    success the terminal reports the ordered firmware (param 0x08) and reconnects, late or not (the
    platform judges the deadline); on failure it keeps its firmware and its link. `editions` maps a
    firmware version to the protocol edition it speaks (a firmware that moves the terminal to 2025)."""
    out = results if results is not None else []
    tasks: set[asyncio.Task[None]] = set()

    def hook(driver: AioDriver, tid: int, order: Upgrade) -> None:
        async def run() -> None:
            terminal = driver.terminals[tid]
            try:
                data = await asyncio.to_thread(_download, order.url, timeout)
            except (OSError, ValueError) as exc:  # refused, unreachable, HTTP error, bad URL
                out.append(FetchResult(terminal.vin, order.url, False, f"{type(exc).__name__}: {exc}"))
                return
            if driver.closed:
                return
            now = driver.loop.time()
            out.append(FetchResult(terminal.vin, order.url, True, f"{len(data)} bytes",
                                   hashlib.sha256(data).hexdigest(), late=now > order.deadline))
            version = str(order.fields.get("firmware_version") or "")
            if editions and version in editions:
                terminal.set_edition(editions[version])  # in force from the reconnection's login
            driver.apply(tid, terminal.upgrade_done(version, now))

        task = driver.loop.create_task(run())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    hook.results = out  # type: ignore[attr-defined]
    return hook


def _download(url: str, timeout: float) -> bytes:
    if not url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
        raise ValueError(f"{url}: the harness fetches from loopback only")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (loopback http only)
            return answer.read()
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code}") from None


class SimVehicles:
    """Simulated T-Boxes (harness.terminal) for given VINs on one AioDriver, pointed at a platform;
    their remote upgrades go through `hook` (e.g. `fetching_hook()`). Minutes of an upgrade deadline
    are the run's minutes (`timers.control_resend`), as the platform counts them."""

    def __init__(self, host: str, port: int, timers: Any, vehicles: list[tuple[str, int]], *, hook: Any = None,
                 firmware: str = "F1.00") -> None:
        self.host, self.port, self.timers = host, port, timers
        self.vehicles = vehicles
        self.hook = hook
        self.firmware = firmware
        self.driver: AioDriver | None = None
        self.terminals: dict[str, Any] = {}

    async def __aenter__(self) -> SimVehicles:
        from harness.terminal.fleet import calendar_epoch, make_iccid
        from harness.terminal.generator import Generator
        from harness.terminal.machine import Terminal

        self.driver = AioDriver(tick=self.timers.tick, on_upgrade=self.hook)
        scale = self.timers.control_resend / 60.0  # the terminal's minute is the platform's minute
        epoch = calendar_epoch(self.driver.loop.time(), scale)
        for i, (vin, edition) in enumerate(self.vehicles):
            term = Terminal(vin, edition, self.timers, Generator(i + 1), iccid=make_iccid(i, 7), host=self.host,
                            port=self.port, time_scale=scale, epoch=epoch, params={0x08: self.firmware})
            self.terminals[vin] = term
            self.driver.add(term)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.driver is None:
            return
        now = self.driver.loop.time()
        for tid, term in enumerate(self.driver.terminals):
            self.driver.apply(tid, term.shutdown(now, logout=True))
        await self.driver.close()


# ====================================================================== the campaign view


@dataclass
class VehicleState:
    vin: str
    edition: int | None  # of its latest login (or activation): None when it never logged in
    upgrade: str  # done | failed | none (no outcome recorded)
    detail: str = ""


@dataclass
class Campaign:
    vehicles: list[VehicleState] = field(default_factory=list)

    @property
    def old_protocol(self) -> list[str]:
        """Vehicles whose latest login is still in the 2016 edition (`##`)."""
        return [v.vin for v in self.vehicles if v.edition == 2016]

    @property
    def failed(self) -> list[str]:
        return [v.vin for v in self.vehicles if v.upgrade == "failed"]

    @property
    def never_seen(self) -> list[str]:
        return [v.vin for v in self.vehicles if v.edition is None]

    def as_dict(self) -> dict[str, Any]:
        return {"vehicles": [asdict(v) for v in self.vehicles], "old_protocol": self.old_protocol,
                "failed_upgrades": self.failed, "never_seen": self.never_seen}

    def text(self) -> str:
        lines = [f"{'VIN':<17}  edition  upgrade  detail"]
        for v in self.vehicles:
            lines.append(f"{v.vin:<17}  {v.edition or '-':<7}  {v.upgrade:<7}  {v.detail}")
        lines.append(f"still on the 2016 protocol: {len(self.old_protocol)} ({', '.join(self.old_protocol) or '-'})")
        lines.append(f"failed upgrades: {len(self.failed)} ({', '.join(self.failed) or '-'})")
        return "\n".join(lines)


def campaign(control: Any, vins: Iterable[str], *, since: float = 0.0) -> Campaign:
    """The view from a platform's Control API (a sync ControlClient): the edition of each vehicle's
    latest login or activation (QueryFrames), and its latest upgrade outcome (ListWarnings kinds
    upgrade-done / upgrade-failed; "none" while the platform recorded none), counting outcomes from
    `since` (POSIX time: the campaign's start) on."""
    view = Campaign()
    for vin in vins:
        logins = control.query_frames(vin=vin, commands=(0x01, 0x09), decode=False)["frames"]
        edition = int(logins[-1]["edition"]) if logins else None
        outcomes = [w for w in control.warnings(vin=vin, since=since)
                    if w["kind"] in ("upgrade-done", "upgrade-failed")]
        if outcomes:
            last = outcomes[-1]
            state = VehicleState(vin, edition, last["kind"].removeprefix("upgrade-"), last["detail"])
        else:
            state = VehicleState(vin, edition, "none")
        view.vehicles.append(state)
    return view


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.upgrade",
                                     description="Upgrade campaign view of a platform (notice 1.2/f)")
    parser.add_argument("--control", required=True, help="the platform's Control API, HOST:PORT")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--since", type=float, default=0.0, help="count upgrade outcomes from this POSIX time on")
    parser.add_argument("vins", nargs="+")
    args = parser.parse_args(argv)
    from harness.control import ControlClient

    with ControlClient(args.control) as control:
        view = campaign(control, args.vins, since=args.since)
    print(json.dumps(view.as_dict(), indent=2) if args.json else view.text())
    return 1 if view.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
