"""Evidence: every byte with its time and fate; pcap (dissected by `gbt32960 pcap`'s reader and the scapy
layers), decoded JSON lines, and the live stream."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

from scapy.layers.inet import TCP
from scapy.sendrecv import sniff
from scapy.sessions import TCPSession

from harness.cli import read_capture
from harness.faults.client import frames
from harness.protocol.layers import bind_port, frames_in, unbind_port

from .conftest import LINK, frame, heartbeat, until


async def _traffic(h, fault=None) -> tuple[list[bytes], bytes]:
    """A party sends five frames with a fault active; returns what was sent and what arrived."""
    p = await h.party()
    if fault is not None:
        await fault
    sent = [frame(s) for s in range(1, 6)]
    for f in sent:
        await p.send(f)
    assert await until(lambda: len(p.received) + len(b"".join(sent)) > 0 and h.peer.conns
                       and len(h.peer.last.good_frames()) >= 4, 3)
    await p.read_for(0.2)
    p.close()
    await asyncio.sleep(0.1)
    return sent, h.peer.last.data


async def test_evidence_records_every_byte_and_what_was_done(h):
    sent, arrived = await _traffic(h, h.link().drop_frames(nth=2))
    ev = await h.link().evidence(decode=True)
    kinds = {e.kind for e in ev}
    assert {"event", "read", "write", "discard"} <= kinds
    assert b"".join(e.record.raw for e in ev if e.flow == "to_target" and e.kind in ("read", "relay")) == \
        b"".join(sent), "every byte read from the client is in the evidence, in order"
    assert frames(ev, flow="to_target", side="in") == sent
    assert frames(ev, flow="to_target", side="out") == [sent[0], *sent[2:]] == h.peer.last.good_frames()
    (dropped,) = [e for e in ev if e.kind == "discard"]
    assert dropped.action == "dropped" and dropped.record.raw == sent[1] and list(dropped.faults) == [1]
    assert json.loads(dropped.record.decoded_json)["command"].startswith("0x02")
    writes = [e for e in ev if e.kind == "write"]
    assert all(e.record.direction == "out" and e.src.port and e.dst.port == h.peer.port for e in writes
               if e.flow == "to_target")
    assert [e.action for e in ev if e.kind == "event" and e.connection == 0][:3] == \
        ["link-created", "fault-start", "fault-end"]
    times = [e.record.at for e in ev]
    assert times == sorted(times)


async def test_evidence_labels_delays_and_corruption(h):
    p = await h.party()
    await h.link().latency(50, count=1, direction="to_target")
    await p.send(frame(1))
    await p.expect(len(frame(1)))
    await h.link().corrupt_bcc(nth=1)
    await p.send(frame(2))
    await p.expect(len(frame(2)))
    ev = await h.link().evidence(decode=True)
    actions = [(e.action, list(e.faults)) for e in ev if e.kind == "write" and e.flow == "to_target"]
    assert actions == [("delayed", [1]), ("corrupted", [2])]
    corrupted = [e for e in ev if e.action == "corrupted"][0]
    assert corrupted.frames[0].error and "BCC" in corrupted.frames[0].error


async def test_pcap_is_dissected_by_the_capture_reader_and_scapy(h, tmp_path):
    sent, arrived = await _traffic(h, h.link().drop_frames(nth=2))
    path = tmp_path / "link.pcap"
    resp = await h.faults.export(LINK, pcap=str(path))
    assert resp.packets > 10 and path.stat().st_size > 0
    events, problems = read_capture(str(path))
    assert not problems, problems
    by_flow: dict[str, list[bytes]] = {}
    for _, flow, item in events:
        assert isinstance(item, bytes), item
        by_flow.setdefault(flow, []).append(item)
    listen = f"127.0.0.1:{h.port}"
    to_proxy = [f for flow, fs in by_flow.items() if flow.endswith(f"-> {listen}") for f in fs]
    to_target = [f for flow, fs in by_flow.items() if flow.endswith(f"-> 127.0.0.1:{h.peer.port}") for f in fs]
    assert to_proxy == sent, "the client's side of the proxy: all five frames"
    assert to_target == [sent[0], *sent[2:]], "the target's side: the second frame is missing"
    bind_port(h.peer.port)
    try:
        dissected = [bytes(f) for pkt in sniff(offline=str(path), session=TCPSession)
                     if TCP in pkt and pkt[TCP].dport == h.peer.port for f in frames_in(pkt)]
    finally:
        unbind_port(h.peer.port)
    assert dissected == to_target


async def test_jsonl_has_decoded_frames(h, tmp_path):
    await _traffic(h, h.link().duplicate_frames(nth=1))
    path = tmp_path / "link.jsonl"
    await h.faults.export(LINK, jsonl=str(path))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines and all({"seq", "time", "link", "kind", "action", "flow"} <= set(d) for d in lines)
    dup = [d for d in lines if d["action"] == "duplicated"]
    assert len(dup) == 1 and dup[0]["frames"][0]["frame"]["command"].startswith("0x02")
    assert dup[0]["frames"][0]["frame"]["vin"] == "LFAULTS0000000001"


async def test_stream_evidence_follows_live(h):
    got: list = []

    async def follow() -> None:
        async for ev in h.faults.stream_evidence(LINK, decode=True):
            got.append(ev)
            if ev.kind in ("relay", "write") and ev.flow == "to_client":
                return

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.2)
    p = await h.party()
    await p.send(heartbeat())
    await asyncio.wait_for(task, 3)
    relayed = [e for e in got if e.kind in ("relay", "write")]
    assert [e.flow for e in relayed] == ["to_target", "to_client"]
    assert json.loads(relayed[0].record.decoded_json)["command"].startswith("0x07")


async def test_stream_evidence_replays_first(h):
    p = await h.party()
    await p.send(b"before")
    await p.expect(6)
    got: list = []

    async def follow() -> None:
        async for ev in h.faults.stream_evidence(LINK, replay=True):
            got.append(ev)
            if ev.record.raw == b"after" and ev.flow == "to_client":
                return

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.2)
    await p.send(b"after")
    await asyncio.wait_for(task, 3)
    raws = [e.record.raw for e in got if e.kind == "relay"]
    assert raws == [b"before", b"before", b"after", b"after"]
    assert [e.seq for e in got] == sorted({e.seq for e in got})


async def test_evidence_pages_beyond_the_limit(h, proxy):
    p = await h.party()
    for i in range(30):
        await p.send(b"%02d" % i)
        await p.expect(2)
    pb = __import__("harness.faults.client", fromlist=["pb"]).pb
    first = await h.faults._stub.GetEvidence(pb.GetEvidenceRequest(link=LINK, limit=10))
    assert len(first.evidence) == 10 and first.more and first.total > 60
    everything = await h.link().evidence()
    assert len(everything) == first.total


async def test_pcap_reads_cleanly_in_tshark(h, tmp_path):
    assert shutil.which("tshark"), "tshark is needed (CI installs it from .ci/apt-packages.txt)"
    await _traffic(h, h.link().corrupt_bcc(nth=3))
    await h.link().drop_connections()  # RST packets too
    path = tmp_path / "link.pcap"
    await h.faults.export(LINK, pcap=str(path))
    fields = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport",
                             "-e", "tcp.len"], capture_output=True, text=True, timeout=60, check=True).stdout
    ports = {tuple(int(x) for x in line.split("\t")[:2]) for line in fields.splitlines()}
    assert any(h.port in p for p in ports) and any(h.peer.port in p for p in ports), "both sides of the proxy"
    payload = sum(int(line.split("\t")[2] or 0) for line in fields.splitlines())
    # five frames there and (echoed) back, each seen on both sides of the proxy; the corrupted one is not dropped
    assert payload == 4 * sum(len(frame(s)) for s in range(1, 6)), "every byte, on both sides"
    problems = subprocess.run(["tshark", "-r", str(path), "-Y", "tcp.analysis.flags"], capture_output=True,
                              text=True, timeout=60, check=True).stdout
    assert problems == "", f"tshark finds fault with the synthetic TCP:\n{problems}"
