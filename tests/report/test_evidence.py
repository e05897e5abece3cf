"""Evidence files: frame_evidence, the decoded log, and a pcap that tshark reads."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from harness.cli import read_capture
from harness.protocol import samples
from harness.protocol.codec import encode
from harness.report.evidence import flow_ports, frame_evidence, write_decoded_log, write_pcap

from .runs import RELAY_LINK, VEHICLE_LINK, bad_frame, login_frames, realtime_frames

T = 1_795_000_000.0


def _frames():
    return [*login_frames(T), *realtime_frames(T + 1), bad_frame(T + 2)]


def test_frame_evidence_good_and_bad():
    good = frame_evidence(encode(samples.login(2025)), VEHICLE_LINK, "->", T)
    assert good.summary == f"2025 0x01 vehicle_login, 0xFE command, VIN {samples.SAMPLE_VIN}, 79 bytes"
    assert good.decoded["command"] == "0x01 vehicle_login" and good.error == ""
    bad = bad_frame(T)
    assert bad.decoded is None and "BCC" in bad.error and "at byte 24" in bad.error
    assert bad.summary.endswith("25 bytes (rejected)")
    short = frame_evidence(b"##\x01", VEHICLE_LINK, "<-", T)
    assert "too short" in short.summary and "at least 25 bytes" in short.error


def test_decoded_log(tmp_path):
    text = write_decoded_log(_frames(), tmp_path / "case.log").read_text("utf-8")
    assert text.count("\n[") == 6
    assert f"{VEHICLE_LINK}  ->  2016 0x01 vehicle_login" in text
    assert "vehicle_login.iccid" in text and "89860321245678901234" in text
    assert "realtime" in text and " V" in text  # units from the byte walker
    assert "error: BCC" in text
    assert "[1] 2026-11-18T11:06:40.000Z (+0.000 s)" in text  # UTC, and relative to the first frame


def test_flow_ports():
    frames = _frames()
    assert flow_ports(frames) == {VEHICLE_LINK: (40000, 32960), RELAY_LINK: (40001, 32960)}
    assert flow_ports(frames, {RELAY_LINK: 32961})[RELAY_LINK] == (40001, 32961)
    assert flow_ports(frames, 40000)[VEHICLE_LINK] == (50000, 40000)  # never one port on both ends


def _tshark() -> str:
    path = shutil.which("tshark")
    assert path, ("tshark is not installed: the pcap evidence must be checked by Wireshark's own reader. "
                  "Install it (Debian: apt-get install -y tshark; CI reads .ci/apt-packages.txt)")
    return path


def test_pcap_opens_in_tshark(tmp_path):
    frames = _frames()
    pcap = write_pcap(frames, tmp_path / "case.pcap", {RELAY_LINK: 32961})
    fields = ["frame.time_epoch", "tcp.srcport", "tcp.dstport", "tcp.len", "tcp.seq", "tcp.stream", "_ws.expert"]
    out = subprocess.run([_tshark(), "-r", str(pcap), "-o", "tcp.relative_sequence_numbers:TRUE",
                          "-d", "tcp.port==32960,data", "-d", "tcp.port==32961,data", "-Y", "tcp.len > 0",
                          "-T", "fields", *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, timeout=120, check=True)
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    assert len(rows) == len(frames)
    want = sorted(frames, key=lambda f: f.at)
    assert [int(r[3]) for r in rows] == [len(f.raw_hex) // 2 for f in want]
    assert [round(float(r[0]), 3) for r in rows] == [round(f.at, 3) for f in want]
    assert {r[5] for r in rows} == {"0", "1"}  # two TCP connections: vehicle link, relay link
    relay = [r for r in rows if "32961" in (r[1], r[2])]
    assert [(r[1], r[2]) for r in relay] == [("40001", "32961")]
    # sequence numbers continue per direction: the vehicle's second segment starts after its first
    vehicle_out = [r for r in rows if r[2] == "32960"]
    assert [int(r[4]) for r in vehicle_out][:2] == [1, 1 + int(vehicle_out[0][3])]
    assert not any(r[6] for r in rows), "tshark's TCP analysis flagged a segment"
    # every packet, handshakes included, in one read: 3 per connection + one per frame
    count = subprocess.run([_tshark(), "-r", str(pcap)], capture_output=True, text=True, timeout=120, check=True)
    assert len(count.stdout.splitlines()) == len(frames) + 6


def test_pcap_reassembles_to_the_same_bytes(tmp_path):
    frames = _frames()
    events, problems = read_capture(str(write_pcap(frames, tmp_path / "case.pcap")))
    got = sorted(item.hex() for _, _, item in events if isinstance(item, bytes))
    good = sorted(f.raw_hex for f in frames if not f.error)
    assert got == good
    assert len(problems) == 0


@pytest.mark.parametrize("size", [70_000])
def test_pcap_splits_a_frame_longer_than_a_segment(tmp_path, size):
    ev = frame_evidence(b"##" + bytes(size), VEHICLE_LINK, "->", T)
    pcap = write_pcap([ev], tmp_path / "big.pcap")
    out = subprocess.run([_tshark(), "-r", str(pcap), "-Y", "tcp.len > 0", "-T", "fields", "-e", "tcp.len"],
                         capture_output=True, text=True, timeout=120, check=True)
    assert sum(int(x) for x in out.stdout.split()) == size + 2
