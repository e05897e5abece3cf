"""Generative fuzzing of every message type against the platform SUT (design §3.7), bounded in count.

Framing is kept valid (start symbol, length and BCC are right) so the data units are exercised. The verdict:
the platform neither crashes nor hangs, every reply is a well-formed frame, the fuzzed link is still served
afterwards, and a good vehicle on a new link is served too.
"""

import random

from hypothesis import HealthCheck, given, settings
from scapy.all import fuzz

from harness.protocol import strategies
from harness.protocol.codec import START, Frame, assemble, decode, encode
from harness.protocol.errors import ProtocolError
from harness.protocol.layers import GBT32960, body_class
from harness.protocol.messages import command_body, info_types
from harness.wire import LinkClosed
from scenarios.gbt32960_3 import builders as b
from scenarios.kit import answer_timeout, case, logged_in, role

ROUNDS = 4  # each round fuzzes every command twice (whole, cut): 88 (2016) or 112 (2025) frames


def _scapy_frames(edition: int, vin: str, seed: int) -> list[bytes]:
    """scapy fuzz() of every defined command's data unit; real-time and reissue get fuzzed information
    items of every known type after their fuzzed time."""
    random.seed(seed)  # scapy's random fields draw from `random`: a failure reruns identically
    out = []
    commands = [c for c in strategies.defined_commands(edition) if command_body(edition, c) is not None]
    known = info_types(edition).known
    for _ in range(ROUNDS):
        for cmd in commands:
            if cmd in (0x02, 0x03):
                time_bytes = bytes(fuzz(body_class(edition, command_body(edition, cmd))()))[:6]
                items = b"".join(bytes((t,)) + bytes(fuzz(body_class(edition, node)()))
                                 for t, node in random.sample(sorted(known.items()), 3))
                out.append(assemble(edition, cmd, 0xFE, vin, time_bytes + items))
            else:
                layer = GBT32960(start=START[edition], cmd=cmd, vin=vin.encode(), encryption=1)
                out.append(bytes(layer / fuzz(body_class(edition, command_body(edition, cmd))())))
            # and the same data unit cut short at a random point, framing still valid: the error paths
            body = out[-1][24:-1]
            out.append(assemble(edition, cmd, 0xFE, vin, body[:random.randrange(len(body))] if body else b"\x00"))
    return out


def _hypothesis_frames(edition: int, vin: str, count: int) -> list[bytes]:
    """Well-formed frames of every command from the schema's hypothesis strategies (derandomized)."""
    drawn: list[Frame] = []

    @settings(max_examples=count, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategies.frames(edition, kinds=("command",)))
    def collect(frame: Frame) -> None:
        drawn.append(frame)

    collect()
    # half of them under the logged-in VIN, so they reach the session's data handling
    return [encode(Frame(f.command, f.ack, vin if k % 2 else f.vin, f.body, f.edition, f.encryption))
            for k, f in enumerate(drawn[:count])]


async def _judge(topology, fleet, timers, expect, v, link, sent: list[bytes]) -> None:
    expect.count("frames fuzzed", len(sent))
    try:
        for raw in sent:
            await link.send(raw)
    except (ConnectionError, OSError) as exc:  # the platform dropped the link mid-fuzz: a SUT failure
        raise LinkClosed(f"{link.name}: link lost while fuzzing: {exc}") from exc
    # a fresh login closes the exchange: everything before its answer is a reply to the fuzz
    closing = b.login(v, serial=65000)
    await link.send(closing)
    replies = 0
    while True:
        raw = await link.receive_raw(answer_timeout(timers) * 3)
        try:
            decode(raw)
        except ProtocolError as exc:
            raise AssertionError(f"ill-formed reply {raw.hex()}: {exc}") from exc
        replies += 1
        if raw[2] == 0x01 and raw[24:30] == closing[24:30] and raw[3] != 0xFE:
            expect.true(raw[3] in (0x01, 0x03), f"the closing login was answered 0x{raw[3]:02X}",
                        path="closing.ack", expected="0x01", actual=raw[3])
            break
    expect.count("replies", replies)
    expect.equal("reply framing problems", [], [str(p) for p in link.problems])
    good = topology.vehicle(public=False, edition=v.edition, index=0)
    other = await logged_in(fleet, good, timers)
    answer = await b.heartbeat_answered(other, good, timers)
    expect.equal("good vehicle heartbeat", (0x07, 0x01), (answer.command, answer.ack))


@role("enterprise")
@case("GBT32960.3-{edition}/6.2/20",
      requirement="Robustness: scapy-fuzzed data units of every message type, framing kept valid, neither crash nor "
                  "hang the platform; every reply is well-formed, the link keeps being served and a good vehicle "
                  "is served afterwards (§6.2, 6.3.2; design §3.7).")
async def test_scapy_fuzz_every_message_type(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition, index=0)
    link = await logged_in(fleet, v, timers)
    await _judge(topology, fleet, timers, expect, v, link, _scapy_frames(edition, v.vin, seed=32960 + edition))


@role("enterprise")
@case("GBT32960.3-{edition}/6.2/21",
      requirement="Robustness: schema-generated (hypothesis) frames of every command, well-formed or with "
                  "out-of-range values and foreign VINs, get only well-formed replies and leave the link and the "
                  "platform serving (§6.2, 6.3.2; design §3.7).")
async def test_hypothesis_frames_every_command(topology, fleet, timers, expect, edition):
    v = topology.vehicle(public=False, edition=edition, index=0)
    link = await logged_in(fleet, v, timers)
    await _judge(topology, fleet, timers, expect, v, link, _hypothesis_frames(edition, v.vin, 40))
