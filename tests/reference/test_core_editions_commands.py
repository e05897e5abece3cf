"""Sans-IO checks of the reference core's edition and command behaviour (the conformance cases in
scenarios/gbt32960_3 prove the same over TCP): foreign editions, 2025 activation results, key exchange
validity, read-only parameters and the move a set of the platform address records."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from harness.protocol.codec import Frame, assemble, decode, encode
from harness.protocol.schema import Timestamp
from reference_impl.config import PlatformConfig, Vehicle, from_dict
from reference_impl.core import PlatformCore, Send, now_timestamp

from .conftest import FAST

VIN16, VIN25, VIN25B = "LTESTA00000000001", "LTESTB00000000001", "LTESTB00000000002"


def _core(tmp_path, **cfg) -> PlatformCore:
    vehicles = {v: Vehicle(v) for v in (VIN16, VIN25, VIN25B)}
    return PlatformCore(PlatformConfig(storage=str(tmp_path / "p.sqlite"), timers=FAST, vehicles=vehicles, **cfg))


def _login(core: PlatformCore, conn: int, vin: str, edition: int) -> None:
    body = {"time": now_timestamp(time.time()), "serial": 1, "iccid": "89860318342004278077"}
    body |= {"code_length": 0, "subsystem_codes": []} if edition == 2016 else {"packs_per_bms": [], "pack_codes": []}
    core.opened(conn, "peer", time.time())
    sends = [a for a in core.received(conn, encode(Frame(0x01, vin=vin, edition=edition, body=body)), time.time())
             if isinstance(a, Send)]
    assert decode(sends[-1].data).ack == 0x01


def _answers(actions) -> list[Frame]:
    return [decode(a.data) for a in actions if isinstance(a, Send)]


def test_foreign_edition_option_validated():
    with pytest.raises(ValueError, match="foreign_edition"):
        from_dict({"foreign_edition": "maybe"})
    assert from_dict({"editions": [2016], "foreign_edition": "drop"}).foreign_edition == "drop"


@pytest.mark.parametrize("mode, answered", [("error", True), ("drop", False)])
def test_2016_only_platform_answers_2025_as_configured(tmp_path, mode, answered):
    core = _core(tmp_path, editions=(2016,), foreign_edition=mode)
    core.opened(1, "peer", time.time())
    body = {"time": now_timestamp(time.time()), "serial": 1, "iccid": "89860318342004278077", "packs_per_bms": [],
            "pack_codes": []}
    got = _answers(core.received(1, encode(Frame(0x01, vin=VIN25, edition=2025, body=body)), time.time()))
    assert [f.ack for f in got] == ([0x02] if answered else [])
    assert VIN25 not in core.online


def test_activation_results(tmp_path):
    core = _core(tmp_path)
    _login(core, 1, VIN25, 2025)
    _login(core, 2, VIN25B, 2025)

    def activate(conn: int, vin: str, chip: str) -> tuple[int, int]:
        body = {"time": now_timestamp(time.time()), "chip_id": chip, "public_key": b"k", "vin": vin, "algorithm": 2,
                "r": bytes(8), "s": b""}
        (answer,) = _answers(core.received(conn, encode(Frame(0x09, vin=vin, edition=2025, body=body)), time.time()))
        return answer.body["status"], answer.body["info"]

    assert activate(1, VIN25, "CHIP-A") == (1, 0)
    assert activate(1, VIN25, "CHIP-A") == (1, 0)  # the same chip and VIN again: no conflict
    assert activate(2, VIN25B, "CHIP-A") == (2, 1)  # chip already activated
    assert activate(1, VIN25, "CHIP-B") == (2, 2)  # VIN duplicate


@pytest.mark.parametrize("expires_in, flag", [(3600, 0x01), (-3600, 0x02)])
def test_key_exchange_validity(tmp_path, expires_in, flag):
    core = _core(tmp_path)
    _login(core, 1, VIN25, 2025)
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    body = {"key_type": 5, "key": bytes(16), "valid_from": Timestamp.from_datetime(now - dt.timedelta(hours=2)),
            "expires": Timestamp.from_datetime(now + dt.timedelta(seconds=expires_in))}
    sent = encode(Frame(0x0B, vin=VIN25, edition=2025, body=body))
    (answer,) = [a for a in core.received(1, sent, time.time()) if isinstance(a, Send)]
    assert answer.data[3] == flag and answer.data[24:-1] == sent[24:-1]


def test_set_read_only_refused_and_move_recorded(tmp_path):
    core = _core(tmp_path)
    _login(core, 1, VIN16, 2016)
    with pytest.raises(ValueError, match="read-only"):
        core.command(VIN16, 0x81, {"params": [{"id": 0x08, "value": "FW009"}]}, time.time())
    (send,) = core.command(VIN16, 0x81, {"params": [{"id": 0x04, "value": 9}, {"id": 0x05, "value": "127.0.0.1"},
                                                    {"id": 0x06, "value": 32960}]}, time.time())
    core.received(1, assemble(2016, 0x81, 0x01, VIN16, send.data[24:30]), time.time())
    core.flush()
    assert [(k, d) for _, _, k, d in core.store.warnings(VIN16) if k == "moved"] == [("moved", "127.0.0.1:32960")]
