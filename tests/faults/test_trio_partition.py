"""Integration: the proxy on the enterprise -> local link of an embedded trio, partitioned while a vehicle reports.

The national and local platforms start first; the proxy gets a link to the local platform; the enterprise
platform starts with its local upstream pointing at the proxy (as `start_trio` builds it otherwise). During
the partition the vehicle's real-time frames pile up in the enterprise's durable queue; after healing they
reach the local platform as reissue 0x03, in order, once; and the proxy's evidence holds the same frames, byte
for byte, as the local platform stored.
"""

from __future__ import annotations

import asyncio
import dataclasses

from harness.faults.client import frames
from harness.protocol.codec import Frame, decode, encode
from reference_impl.config import Account, PlatformConfig, Upstream
from reference_impl.embedded import CREDENTIALS, ENTERPRISE_ID, Trio, start_platform
from scenarios.kit import arrivals, unexcused_copies
from tests.reference.conftest import FAST, PUBLIC, VEHICLES, Client, login, realtime

from .conftest import until

LINK = "enterprise->local"
REGION = "110000"
UPLINK = f"local-{REGION}"


async def _proxied_trio(tmp_path, faults) -> Trio:
    account = Account(ENTERPRISE_ID, *CREDENTIALS)
    national = await start_platform(PlatformConfig(
        role="national", name="NATIONAL", listen="127.0.0.1:0", storage=str(tmp_path / "national.sqlite"),
        timers=FAST, accounts={ENTERPRISE_ID: account}, accept_unknown_vins=True))
    local = await start_platform(PlatformConfig(
        role="local", name=f"LOCAL-{REGION}", listen="127.0.0.1:0", storage=str(tmp_path / "local.sqlite"),
        timers=FAST, accounts={ENTERPRISE_ID: dataclasses.replace(account, region=REGION)}))
    link = await faults.create_link(LINK, ("127.0.0.1", local.port))
    enterprise = await start_platform(PlatformConfig(
        role="enterprise", name=ENTERPRISE_ID, listen="127.0.0.1:0", storage=str(tmp_path / "enterprise.sqlite"),
        timers=FAST, vehicles={v.vin: v for v in VEHICLES},
        upstreams=[Upstream(UPLINK, "127.0.0.1", await link.port(), "local", REGION, ENTERPRISE_ID, *CREDENTIALS),
                   Upstream("national", "127.0.0.1", national.port, "national", "", ENTERPRISE_ID, *CREDENTIALS)]))
    return Trio(national, local, enterprise)


async def test_partition_queues_then_reissues_and_evidence_matches(tmp_path, control):
    trio = await _proxied_trio(tmp_path, control)
    try:
        ent, local = trio.enterprise.core, trio.local.core
        up = ent.uplinks[UPLINK]
        assert await until(lambda: all(u.state == "online" for u in ent.uplinks.values()), 5)
        vehicle = await Client.connect(trio.enterprise.port)
        await vehicle.send(login(PUBLIC))
        assert (await vehicle.frame()).ack == 0x01
        await vehicle.send(realtime(PUBLIC, 0))
        assert await until(lambda: bool(local.store.frames(vin=PUBLIC))), "relayed through the proxy"
        # answered before the partition: an unanswered frame 0 would be reissued with the outage's frames
        assert await until(lambda: up.stats["acked"] >= 1)

        partition = await control.link(LINK).partition(2.0)
        assert await until(lambda: up.state != "online", 2), "the enterprise should lose its local link"
        outage = [realtime(PUBLIC, s) for s in range(1, 11)]
        for data in outage:
            await vehicle.send(data)
            await vehicle.send(encode(Frame(0x07, vin=PUBLIC, body={})))  # keeps the vehicle's link alive
            await asyncio.sleep(0.02)
        assert await until(lambda: ent.store.queue_depth(UPLINK) == 10, 2), \
            f"queued {ent.store.queue_depth(UPLINK)} of 10 during the partition"
        assert (await partition.refresh()).state == "active", "the frames must pile up while still partitioned"
        assert not arrivals(local.store, outage), "nothing crosses a partition"
        assert ent.uplinks["national"].state == "online", "the other upstream is not on the link"

        assert await until(lambda: len(arrivals(local.store, outage)) >= 10, 8), \
            f"reissued {len(arrivals(local.store, outage))} of 10 after healing"
        assert (await partition.refresh()).state == "expired", "healed by itself"
        await asyncio.sleep(FAST.report_period)
        # each frame reissued; a late answer makes the enterprise resend one (§5.2.2, §5.5): the first copy is
        # judged, extra copies are byte-identical and bounded (the local platform flags them duplicate)
        copies = arrivals(local.store, outage)
        reissued = [c[0] for c in copies.values()]
        assert not any(f.duplicate for f in reissued), "a first copy flagged duplicate"
        assert not unexcused_copies(copies, FAST), unexcused_copies(copies, FAST)
        assert [decode(f.raw).body for f in reissued] == [decode(d).body for d in outage], \
            "reissue kept content, order and collection time"
        assert all(f.raw[2] == 0x03 and f.raw[3:-1] == d[3:-1] for f, d in zip(reissued, outage, strict=True))
        assert await until(lambda: ent.store.queue_depth(UPLINK) == 0, 2)

        # the proxy's evidence: exactly the data frames the local platform stored, byte for byte
        evidence = await control.link(LINK).evidence()
        delivered = [f for f in frames(evidence, flow="to_target") if f[2] in (0x02, 0x03)]
        stored = [f.raw for f in local.store.frames(commands=(0x02, 0x03))]
        assert delivered == stored
        assert [f for f in frames(evidence, flow="to_target", side="in") if f[2] in (0x02, 0x03)] == stored
        events = [(e.action, e.connection) for e in evidence if e.kind == "event"]
        assert ("fault-start", 0) in events and ("listener-closed", 0) in events and ("listener-open", 0) in events
        first = min(c for a, c in events if a == "open")
        assert ("reset-client", first) in events and ("reset-target", first) in events, \
            "the partition reset the enterprise's connection on both sides"
        assert len({c for a, c in events if a == "connected"}) >= 2, "the enterprise reconnected after healing"
        await vehicle.close()
    finally:
        await trio.stop()
