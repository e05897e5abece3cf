"""A case must not fail a SUT for what the standard allows: here, resending a relayed frame whose answer
came late (§5.5). CI once saw NOTICE-2016/1.2/b/01 fail that way on a loaded machine; this provokes it."""

import json

pytest_plugins = ["pytester"]

LATE_ANSWER = '''
import pytest
from scenarios.notice.test_forwarding import test_public_service_vehicle_relayed_byte_identical  # noqa: F401
from scenarios.notice.test_forwarding_faults import LINK


@pytest.fixture(autouse=True)
def late_first_answer(topology, timers):
    # the answer to the first relayed 0x02 comes after the response timeout, so the SUT resends that frame;
    # the fifth is held longer, so the resend lands between the fourth and the fifth (as CI saw it)
    link = topology.faults.link(LINK)
    vin = topology.vehicle(public=True, region=topology.region, edition=2016).vin
    ms = int(timers.response_timeout * 1000 * 3)
    faults = [link.delay_frames(ms, command=0x02, vin=vin, direction="to_client", count=1),
              link.delay_frames(ms, command=0x02, vin=vin, direction="to_target", nth=5, count=1)]
    yield
    for fault in faults:
        fault.clear()
'''


def test_a_resend_after_a_late_answer_passes_byte_identical_relay(pytester, tmp_path):
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_late=LATE_ANSWER)
    out = tmp_path / "report"
    result = pytester.runpytest_subprocess("--role", "enterprise", "--edition", "2016", "--report", str(out),
                                           "-p", "no:cacheprovider")
    cases = json.loads((out / "results.json").read_text())["cases"]
    assert [(c["case_id"], c["verdict"]) for c in cases] == [("NOTICE-2016/1.2/b/01", "PASS")], result.stdout.str()
    # the resend did happen: otherwise this test shows nothing
    counts = cases[0]["evidence"]["counts"]
    assert counts["frames duplicated"] >= 1, counts
