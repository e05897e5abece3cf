"""The reference platforms behave per GB/T 32960.3 (integration, loopback, compressed timers)."""

import pytest

from .checks import CHECKS


@pytest.mark.parametrize("name", sorted(CHECKS))
async def test_behaviour(trio, name):
    await CHECKS[name](trio)
