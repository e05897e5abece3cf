"""GB/T 27930 conformance cases (GB/T 34658 style): one pytest case per catalogue entry."""

from scenarios.gbt27930.cases import CASES
from scenarios.kit import case


def _make(c):
    def test(charging):
        charging.applies(c.sut)  # N/A when an external SUT plays the other role
        c.run(charging)

    test.__name__ = "test_" + c.id.replace(".", "_").replace("/", "_")
    test.__doc__ = c.requirement
    return case(c.full_id, requirement=c.requirement)(test)


for _c in CASES:
    _t = _make(_c)
    globals()[_t.__name__] = _t
