"""The control API's definition: documented throughout, and in step with the Python it mirrors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from harness.protocol.timers import Timers
from harness.rpc import build, load

CONTROL = "gbt32960/control/v1/control.proto"
pb = load("gbt32960.control.v1.control_pb2")


def _undocumented(tmp_path) -> list[str]:
    out = tmp_path / "control.desc"
    include = Path(protoc.__file__).parent / "_proto"
    assert protoc.main(["protoc", f"-I{build.PROTO}", f"-I{include}", "--include_source_info",
                        f"--descriptor_set_out={out}", CONTROL]) == 0
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    f = next(x for x in fds.file if x.name == CONTROL)
    documented = {tuple(loc.path) for loc in f.source_code_info.location if loc.leading_comments.strip()}
    missing: list[str] = []

    def need(path: tuple[int, ...], name: str) -> None:
        if path not in documented:
            missing.append(name)

    def message(m: descriptor_pb2.DescriptorProto, path: tuple[int, ...], prefix: str) -> None:
        need(path, prefix + m.name)
        for j, fd in enumerate(m.field):
            need(path + (2, j), f"{prefix}{m.name}.{fd.name}")
        for k, nested in enumerate(m.nested_type):
            if not nested.options.map_entry:
                message(nested, path + (3, k), f"{prefix}{m.name}.")
        for k, e in enumerate(m.enum_type):
            enum(e, path + (4, k), f"{prefix}{m.name}.")

    def enum(e: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...], prefix: str) -> None:
        need(path, prefix + e.name)
        for j, v in enumerate(e.value):
            need(path + (2, j), f"{prefix}{e.name}.{v.name}")

    for i, m in enumerate(f.message_type):
        message(m, (4, i), "")
    for i, e in enumerate(f.enum_type):
        enum(e, (5, i), "")
    for i, s in enumerate(f.service):
        need((6, i), s.name)
        for j, method in enumerate(s.method):
            need((6, i, 2, j), f"{s.name}.{method.name}")
    return missing


def test_every_message_field_enum_and_rpc_is_commented(tmp_path):
    assert _undocumented(tmp_path) == []


def test_timers_message_mirrors_the_timers_value():
    assert [f.name for f in dataclasses.fields(Timers)] == [f.name for f in pb.Timers.DESCRIPTOR.fields]

