"""The charging section of the PICS picks the SUT versions and the options where GB/T 27930 is open."""

import textwrap

from scenarios.gbt27930.conftest import charging_pics

pytest_plugins = ["pytester"]


def test_defaults_are_our_compat_simulators():
    assert charging_pics({}) == {"charger": "2015-compat", "bms": "2015-compat",
                                 "options": {"ccs_dlc": "7", "bcs_group_offset": 0}}


def test_pics_section_under_features_or_top_level():
    pics = {"features": {"charging": {"charger": {"version": "2015"}, "options": {"ccs_dlc": "7|8"}}}}
    assert charging_pics(pics)["charger"] == "2015" and charging_pics(pics)["options"]["ccs_dlc"] == "7|8"
    assert charging_pics({"charging": {"bms": {"version": "2011"}}})["bms"] == "2011"


def test_a_pics_file_changes_the_verdict(pytester):
    pytester.makefile(".yaml", pics=textwrap.dedent("""
        charging:
          charger: {version: "2015"}
    """))
    pytester.makeconftest("from scenarios.gbt27930.conftest import charging  # noqa: F401\n")
    pytester.makepyfile(test_up="""
        from scenarios.gbt27930.cases import CASES
        from scenarios.kit import case

        UP = next(c for c in CASES if c.id == "4.6/03")

        @case(UP.full_id, requirement=UP.requirement)
        def test_up(charging):
            UP.run(charging)
    """)
    result = pytester.runpytest_inprocess("--pics", "pics.yaml", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*FAIL GBT27930-2015/4.6/03*", "*no CRM on the bus*"])
