"""GB/T 32960.3 §5.1 and T21: platform login to a local or national platform (the SUT), the harness
playing the enterprise platform."""

from harness.protocol.codec import Frame, encode
from scenarios.kit import answer_timeout, case, now_time, role


def _platform_login(topology, password: str, serial: int = 1) -> bytes:
    user, _ = topology.credentials
    body = {"time": now_time(), "serial": serial, "username": user, "password": password, "encryption_rule": 1}
    return encode(Frame(0x05, vin=topology.platform_id, body=body))


@role("local", "national")
@case("GBT32960.3-2016/5.1/01",
      requirement="A platform login 0x05 with the credentials the receiving platform issued is answered with "
                  "flag 0x01 (§5.1, T21).")
async def test_platform_login_accepted(topology, fleet, timers, expect):
    link = await fleet.link(f"platform {topology.platform_id}")
    await link.send(_platform_login(topology, topology.credentials[1]))
    answer = await link.receive(answer_timeout(timers))
    expect.equal("answer.command", 0x05, answer.command)
    expect.equal("answer.ack", 0x01, answer.ack)


@role("local", "national")
@case("GBT32960.3-2016/5.1/02",
      requirement="A platform login with a wrong password is refused with flag 0x02 (§5.1; notice 1.2(7): only "
                  "authorised platforms exchange data).")
async def test_platform_login_wrong_password_refused(topology, fleet, timers, expect):
    link = await fleet.link(f"platform {topology.platform_id}")
    await link.send(_platform_login(topology, "not-the-password"))
    answer = await link.receive(answer_timeout(timers))
    expect.equal("answer.ack", 0x02, answer.ack, "a wrong platform password was accepted")
