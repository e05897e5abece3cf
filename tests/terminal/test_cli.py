"""`gbt32960 simulate`: parser, progress line, summary (run in-process against the stub platform)."""

from __future__ import annotations

import argparse
import asyncio
import io
import json

import pytest

from harness.terminal import cli

from .stub_platform import StubPlatform


def _parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="gbt32960")
    cli.add_parser(root.add_subparsers(dest="command"))
    return root


def test_parser_defaults_and_validation():
    args = _parser().parse_args(["simulate", "--vehicles", "5", "--target", "127.0.0.1:4000", "--edition", "mixed"])
    assert args.vehicles == 5 and args.target == ("127.0.0.1", 4000) and args.edition == "mixed"
    assert args.func is cli.run and args.rate == 10.0 and args.seed == 0
    with pytest.raises(SystemExit):
        _parser().parse_args(["simulate", "--target", "nohost"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["simulate", "--defect", "not-a-defect"])


@pytest.mark.parametrize("as_json", [False, True])
def test_simulate_runs_shows_progress_and_summarises(as_json):
    async def scenario():
        platform = StubPlatform()
        port = await platform.start()
        argv = ["simulate", "--vehicles", "30", "--target", f"127.0.0.1:{port}", "--edition", "mixed",
                "--rate", "0.2", "--heartbeat", "0.5", "--duration", "1.5", "--seed", "4", "--compress", "60"]
        args = _parser().parse_args(argv + (["--json"] if as_json else []))
        err, out = io.StringIO(), io.StringIO()
        code = await cli._simulate(args, err, out)
        await platform.stop()
        return code, err.getvalue(), out.getvalue(), platform

    code, err, out, platform = asyncio.run(scenario())
    assert code == 0
    assert "online 30/30" in err and "frames/s" in err and "errors 0" in err
    if as_json:
        summary = json.loads(out)
        assert summary["peak_online"] == 30 and summary["errors"] == 0
        assert summary["frames"]["realtime"] == platform.frames[0x02]
        assert summary["frames"]["vehicle_logout"] == 30
    else:
        assert "simulated 30 vehicles" in out and "realtime" in out and "errors received   0" in out


def test_simulate_against_nothing_reports_failure():
    async def scenario():
        platform = StubPlatform()
        port = await platform.start()
        await platform.stop()  # a port nobody listens on
        args = _parser().parse_args(["simulate", "--vehicles", "3", "--target", f"127.0.0.1:{port}",
                                     "--duration", "0.5", "--quiet"])
        out = io.StringIO()
        return await cli._simulate(args, io.StringIO(), out), out.getvalue()

    code, out = asyncio.run(scenario())
    assert code == 1 and "peak online       0" in out
