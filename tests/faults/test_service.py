"""The Faults service and its clients: links, errors, bounds, the sync fluent API, the standalone process, gevent."""

from __future__ import annotations

import json
import socket
import socketserver
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import grpc
import pytest

from harness.faults.client import FaultsClient, frames
from harness.faults.run import LinkArg, ProxyThread

from .conftest import LINK, frame

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------- async service (in the test's loop)


async def test_links_are_listed_with_counters_and_removed(h):
    p = await h.party()
    await p.send(b"12345")
    await p.expect(5)
    (link,) = await h.faults.links()
    assert (link.name, link.listen.port, link.target.port) == (LINK, h.port, h.peer.port)
    assert (link.connections, link.accepted, link.listening) == (1, 1, True)
    assert (link.bytes_to_target, link.bytes_to_client) == (5, 5)
    await h.link().remove()
    assert await h.faults.links() == []
    assert await p.closed_within(1)


async def test_errors_have_grpc_codes(h):
    with pytest.raises(grpc.RpcError) as err:
        await h.faults.create_link("outside", ("192.0.2.10", 32960))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, "only loopback or hosts the run allowed"
    with pytest.raises(grpc.RpcError) as err:
        await h.faults.create_link(LINK, ("127.0.0.1", h.peer.port))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.RpcError) as err:
        await h.faults.link("nowhere").partition(1)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        await h.link().partition(0)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        await h.link().half_open(1, direction="both")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        await h.link().clear(99)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_list_faults_and_clear_one(h):
    a = await h.link().latency(10, duration=30)
    b = await h.link().drop_frames(command=0x02, duration=30)
    assert [f.id for f in await h.faults.faults()] == [a.id, b.id]
    assert b.summary.startswith("drop frames (command 0x02)") and "to_target" in b.summary
    assert await a.clear() is True
    assert [f.id for f in await h.faults.faults()] == [b.id]
    assert [f.state for f in await h.faults.faults(include_ended=True)] == ["cleared", "active"]
    assert await a.clear() is False


async def test_async_handle_clears_at_block_end(h):
    p = await h.party()
    async with await h.link().blackhole(duration=30):
        await p.send(b"gone")
        assert await p.read_for(0.2) == b""
    await p.send(b"back")
    assert await p.expect(4) == b"back"


# ---------------------------------------------------------------------- sync: ProxyThread, CLI, gevent


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo_port():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _roundtrip(port: int, data: bytes, timeout: float = 3.0) -> tuple[bytes, float]:
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        while len(got) < len(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    return got, time.monotonic() - t0


def test_sync_fluent_api_in_a_proxy_thread(echo_port, tmp_path):
    with ProxyThread() as proxy, proxy.client() as faults:
        link = faults.create_link("enterprise->local", ("127.0.0.1", echo_port))
        assert _roundtrip(link.port, frame(1))[0] == frame(1)
        with faults.link("enterprise->local").latency(250, duration=30) as fault:
            got, took = _roundtrip(link.port, frame(2))
            assert got == frame(2) and took >= 0.45, "250 ms each way"
        assert fault.refresh().state == "cleared"
        assert _roundtrip(link.port, frame(3))[1] < 0.2
        faults.link("enterprise->local").drop_frames(command=0x02, count=1)
        with socket.create_connection(("127.0.0.1", link.port), timeout=3) as s:
            s.sendall(frame(4) + frame(5))
            assert s.recv(65536) == frame(5)
        ev = faults.link("enterprise->local").evidence(pcap=str(tmp_path / "x.pcap"))
        assert frames(ev, flow="to_target", side="in")[-2:] == [frame(4), frame(5)]
        assert frames(ev, flow="to_target")[-1] == frame(5)
        assert (tmp_path / "x.pcap").stat().st_size > 100
        faults.link("enterprise->local").corrupt_bcc(nth=5)
        assert [f.kind for f in faults.faults()] == ["corrupt_bcc"]
        assert [f.kind for f in faults.link("enterprise->local").clear()] == ["corrupt_bcc"]


def test_link_argument_parsing():
    assert LinkArg.parse("enterprise->local=0:127.0.0.1:32961") == LinkArg("enterprise->local", 0, "127.0.0.1", 32961)
    assert LinkArg.parse("a=5000:[::1]:7") == LinkArg("a", 5000, "::1", 7)
    with pytest.raises(ValueError):
        LinkArg.parse("enterprise->local:127.0.0.1:32961")


def test_standalone_process_runs_and_stops_when_asked(echo_port, tmp_path):
    pcap = tmp_path / "exit.pcap"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.faults", "--control-port", "0", "--lifetime", "60", "--pcap", str(pcap),
         "--link", f"vehicle->enterprise=0:127.0.0.1:{echo_port}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        port = info["links"]["vehicle->enterprise"]
        assert _roundtrip(port, b"through")[0] == b"through"
        with FaultsClient(info["control"]) as faults:
            faults.link("vehicle->enterprise").partition(0.5)
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=1)
            time.sleep(0.8)
            assert _roundtrip(port, b"healed")[0] == b"healed"
            faults.shutdown("test over")
        assert proc.wait(10) == 0, proc.stderr.read()
        assert json.loads(proc.stdout.readline())["pcap"] == str(pcap.resolve())
        assert pcap.stat().st_size > 100
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_standalone_process_stops_by_itself_after_its_lifetime(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness.faults", "--lifetime", "0.5"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "control" in json.loads(proc.stdout.splitlines()[0])


def test_client_under_gevent(echo_port):
    script = textwrap.dedent("""
        import sys
        from gevent import monkey
        monkey.patch_all()
        import gevent
        from harness.faults.client import FaultsClient, use_gevent
        use_gevent()
        use_gevent()  # idempotent
        faults = FaultsClient(sys.argv[1])
        ticks = []
        ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.01)) for _ in range(20)])
        calls = [gevent.spawn(faults.links) for _ in range(10)]
        gevent.joinall(calls + [ticker], timeout=10)
        assert all(c.successful() for c in calls), [c.exception for c in calls]
        fault = faults.link("l").latency(5, count=1)
        print(len(ticks), len(calls[0].value), fault.kind)
    """)
    with ProxyThread() as proxy, proxy.client() as faults:
        faults.create_link("l", ("127.0.0.1", echo_port))
        proc = subprocess.run([sys.executable, "-c", script, proxy.address], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["20", "1", "latency"]
