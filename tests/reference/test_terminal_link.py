"""terminal-link data calls: the enterprise points the vehicle at the national platform (params
0x0D-0x10 and control 0x82/0x07); the vehicle opens its own link, data flows, then stops."""

from harness.terminal.fleet import Fleet, make_vin
from reference_impl.config import Vehicle
from reference_impl.embedded import ENTERPRISE_ID, start_trio

from .conftest import FAST, until


async def _run(tmp_path, defects=frozenset()):
    vin = make_vin(0)
    trio = await start_trio(tmp_path, [Vehicle(vin)], timers=FAST, defects=defects,
                            enterprise={"data_call_mode": "terminal-link"})
    fleet = Fleet("127.0.0.1", trio.enterprise.port, 1, timers=FAST, report_period=0.1, heartbeat=0.2)
    try:
        await until(lambda: all(u.state == "online" for u in trio.enterprise.core.uplinks.values()))
        await fleet.start()
        assert await until(lambda: vin in trio.enterprise.core.online), "vehicle did not log in"
        national = trio.national.core
        _, actions = national.data_call(ENTERPRISE_ID, [vin], 1, __import__("time").time())
        trio.national.run(actions)
        assert await until(lambda: len(national.store.frames(vin=vin, commands=(0x02,))) >= 3, timeout=3), \
            "the vehicle did not stream to the national platform over its own link"
        assert await until(lambda: vin not in national.online, timeout=4), "the sampling link did not end"
        settled = len(national.store.frames(vin=vin, commands=(0x02,)))
        await until(lambda: False, timeout=0.5)
        assert len(national.store.frames(vin=vin, commands=(0x02,))) == settled, "data kept flowing after the call"
    finally:
        await fleet.stop()
        await trio.stop()


async def test_terminal_link_data_call(tmp_path):
    await _run(tmp_path)
