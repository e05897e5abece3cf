"""Configuration files and the command line of `python -m reference_impl`."""

import subprocess
import sys
from pathlib import Path

import pytest

from reference_impl import config
from reference_impl.__main__ import build_parser, configure
from reference_impl.defects import DEFECTS

EXAMPLES = Path(__file__).parents[2] / "reference_impl" / "examples"


@pytest.mark.parametrize("role", ["enterprise", "local", "national"])
def test_example_configs_load(role):
    cfg = config.load(EXAMPLES / f"{role}.yaml")
    assert cfg.role == role
    if role == "enterprise":
        assert [u.role for u in cfg.upstreams] == ["local", "national"]
        assert cfg.vehicles["LS9TB0X10SA000001"].public_service


def test_flags_override_the_file(tmp_path):
    args = build_parser().parse_args(["enterprise", "--config", str(EXAMPLES / "enterprise.yaml"),
                                      "--listen", "127.0.0.1:0", "--storage", str(tmp_path / "x.sqlite"),
                                      "--defect", "no-reissue", "--timers", "compressed"])
    cfg = configure(args)
    assert cfg.listen == "127.0.0.1:0" and cfg.defects == {"no-reissue"}
    assert cfg.timers.platform_login_retry == 1.0


def test_unknown_keys_and_defects_are_errors():
    with pytest.raises(ValueError, match="unknown configuration keys"):
        config.from_dict({"role": "local", "listne": "x"})
    with pytest.raises(ValueError, match="unknown defect"):
        config.from_dict({"role": "local", "defects": ["no-such-thing"]})


def test_help_lists_every_defect_switch():
    out = subprocess.run([sys.executable, "-m", "reference_impl", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for name in DEFECTS:
        assert name in out
