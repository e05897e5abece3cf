"""The docker backend: every party in its own container on a private network (testcontainers).

    local ──┐                         ┌── national
            │  network aliases        │
    proxy (harness.faults) ◄── enterprise (the SUT: our image, or the maker's --sut-image)

The enterprise platform reaches the local platform through the fault proxy (alias `proxy`), so
fault cases work the same as in the embedded backend. The host reaches every party through mapped
ports on localhost: the platforms' TCP ports for the harness's vehicles, their Control gRPC ports
for inspection, and the proxy's Faults port. Container logs are kept as evidence.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from harness.protocol.timers import Timers

from . import images
from .base import StoredFrameView, Topology, VehicleSpec

PORT, CONTROL, FAULTS, PROXY_PORT = 32960, 50051, 50052, 32961
ENTERPRISE_ID = "ENTERPRISE-01"
CREDENTIALS = {"username": "ent01", "password": "secret-01"}


class ContainerParty:
    """A platform in a container, inspected over its Control gRPC service."""

    def __init__(self, name: str, role: str, container: Any, control: Any) -> None:
        self.name, self.role, self.container, self.control = name, role, container, control
        self.host = container.get_container_host_ip()
        self.port = int(container.get_exposed_port(PORT))

    def frames(self, vin: str | None = None, commands: tuple[int, ...] | None = None) -> list[StoredFrameView]:
        found = self.control.query_frames(vin=vin or "", commands=commands or (), decode=False)["frames"]
        return [StoredFrameView(f["vin"], f["command"], f["ack"], f.get("collected_at") or None, f["raw"],
                                bool(f.get("duplicate")), f.get("link", "")) for f in found]

    def online(self) -> list[str]:
        return sorted(s["id"] for s in self.control.sessions() if s.get("logged_in"))

    def queue_depth(self, upstream: str | None = None) -> int:
        queues = self.control.queue().get("queues", [])
        return sum(int(q.get("depth", 0)) for q in queues if upstream is None or q.get("name") == upstream)

    def warnings(self, vin: str | None = None) -> list[tuple[str, str, str]]:
        return [(w.get("vin", ""), w.get("kind", ""), w.get("detail", "")) for w in self.control.warnings(vin or "")]

    def logs(self) -> str:
        out, err = self.container.get_logs()
        return (out + err).decode("utf-8", "replace")[-20000:]


def _config(role: str, name: str, timers: Timers, **extra: Any) -> bytes:
    cfg = {"role": role, "name": name, "listen": f"0.0.0.0:{PORT}", "storage": f"/data/{role}.sqlite",
           "timers": {k: getattr(timers, k) for k in timers.__dataclass_fields__}, **extra}
    return json.dumps(cfg).encode()


def start(vehicles: list[VehicleSpec], timers: Timers, *, region: str = "110000",
          defects: frozenset[str] = frozenset(), image: str | None = None, log: Any = None) -> Topology:
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # Ryuk would have to be pulled
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

    from harness.control import ControlClient
    from harness.faults.client import FaultsClient

    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    ours = images.build_all(offline=True, log=say)
    sut_image = image or ours
    network = Network()
    network.create()
    started: list[Any] = []

    def container(img: str, alias: str, config: bytes | None, command: str, ports: tuple[int, ...],
                  entrypoint: list[str] | None = None) -> Any:
        c = (DockerContainer(img).with_network(network).with_network_aliases(alias).with_exposed_ports(*ports)
             .with_command(command))
        if config is not None:
            c = c.with_copy_into_container(config, "/etc/gbt32960/platform.json")
        if entrypoint:
            c = c.with_kwargs(entrypoint=entrypoint)
        c.start()
        started.append(c)
        return c

    account = {"platform_id": ENTERPRISE_ID, **CREDENTIALS}
    from .keys import embedded as embedded_keys

    # the confidentiality cases' keys and vehicles, as in the embedded topology (harness/topology/keys.py):
    # the enterprise container gets them in its config file's `security:` section
    keys = embedded_keys(region)
    specs = [*vehicles, *keys.vehicles]
    try:
        local = container(ours, "local", _config("local", f"LOCAL-{region}", timers,
                                                 accounts=[{**account, "region": region}]),
                          f"local --config /etc/gbt32960/platform.json --control-port {CONTROL}", (PORT, CONTROL))
        national = container(ours, "national", _config("national", "NATIONAL", timers, accounts=[account],
                                                       accept_unknown_vins=True),
                             f"national --config /etc/gbt32960/platform.json --control-port {CONTROL}",
                             (PORT, CONTROL))
        proxy = container(ours, "proxy", None,
                          f"--control-port {FAULTS} --control-host 0.0.0.0 --listen-host 0.0.0.0 --allow 0.0.0.0 "
                          f"--allow local --lifetime 7200 --link enterprise->local={PROXY_PORT}:local:{PORT}",
                          (FAULTS,), entrypoint=["python", "-m", "harness.faults"])
        upstreams = [
            {"name": f"local-{region}", "host": "proxy", "port": PROXY_PORT, "role": "local", "region": region,
             "platform_id": ENTERPRISE_ID, **CREDENTIALS},
            {"name": "national", "host": "national", "port": PORT, "role": "national", "platform_id": ENTERPRISE_ID,
             **CREDENTIALS},
        ]
        enterprise = container(
            sut_image, "enterprise",
            _config("enterprise", ENTERPRISE_ID, timers, upstreams=upstreams, defects=sorted(defects),
                    vehicles=[{"vin": v.vin, "public_service": v.public_service, "region": v.region}
                              for v in specs], security=keys.platform_security()),
            f"enterprise --config /etc/gbt32960/platform.json --control-port {CONTROL}", (PORT, CONTROL))

        def control_of(c: Any) -> Any:
            return ControlClient(f"{c.get_container_host_ip()}:{c.get_exposed_port(CONTROL)}")

        parties = {name: ContainerParty(name, name, c, control_of(c))
                   for name, c in (("enterprise", enterprise), ("local", local), ("national", national))}
        for party in parties.values():
            _wait_healthy(party, 60)
        _wait_uplinks(parties["enterprise"], 30)
        faults = FaultsClient(f"{proxy.get_container_host_ip()}:{proxy.get_exposed_port(FAULTS)}")
    except Exception:
        for c in reversed(started):
            c.stop()
        network.remove()
        raise

    def close() -> None:
        for c in reversed(started):
            try:
                c.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                say(f"could not stop a container: {exc!r}")
        network.remove()

    extra: dict[str, Any] = {"close": close, "control": parties["enterprise"].control, "containers": started,
                             "crypto": keys}

    def restart(name: str, hard: bool = True) -> None:
        # kill (SIGKILL, like kill -9) or stop, then start the same container: its /data (SQLite) is kept;
        # the host's mapped ports change, so the party is pointed at the new ones
        party = parties[name]
        wrapped = party.container.get_wrapped_container()
        if hard:
            wrapped.kill()
        else:
            wrapped.stop(timeout=10)
        wrapped.start()
        party.port = int(party.container.get_exposed_port(PORT))
        party.control = control_of(party.container)
        _wait_healthy(party, 60)
        if name == "enterprise":
            extra["control"] = party.control

    extra["restart"] = restart
    return Topology(role="enterprise", backend="docker", sut=parties["enterprise"], local=parties["local"],
                    national=parties["national"], vehicles=vehicles, timers=timers, region=region,
                    platform_id=ENTERPRISE_ID, faults=faults, extra=extra)


def _wait_healthy(party: ContainerParty, within: float) -> None:
    deadline = time.monotonic() + within
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if party.control.health() == "SERVING":
                return
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = exc
        time.sleep(0.25)
    raise RuntimeError(f"{party.name} container not healthy within {within:g} s: {last!r}\n{party.logs()}")


def _wait_uplinks(party: ContainerParty, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        queues = party.control.queue().get("queues", [])
        if queues and all(q.get("state") == "online" for q in queues):
            return
        time.sleep(0.25)
    raise RuntimeError(f"the enterprise container's upstream links did not come online:\n{party.logs()}")
