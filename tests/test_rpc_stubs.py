"""The gRPC stubs are generated from proto/ (never committed, never edited) and import."""

import importlib
import sys

from harness.rpc import build, load


def test_stubs_regenerate_and_import(tmp_path):
    files = build.generate(out=tmp_path)
    names = sorted({f.relative_to(tmp_path).with_suffix("").as_posix().replace("/", ".") for f in files})
    assert any(n.endswith("_pb2") for n in names)
    sys.path.insert(0, str(tmp_path))
    try:
        for gone in [m for m in sys.modules if m == "gbt32960" or m.startswith("gbt32960.")]:
            del sys.modules[gone]
        for name in names:
            importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))
        for gone in [m for m in sys.modules if m == "gbt32960" or m.startswith("gbt32960.")]:
            del sys.modules[gone]


def test_every_proto_has_its_stubs_in_the_package():
    for proto in build.PROTO.rglob("*.proto"):
        module = proto.relative_to(build.PROTO).with_suffix("").as_posix().replace("/", ".")
        load(module + "_pb2")
        load(module + "_pb2_grpc")


def test_no_generated_code_is_committed():
    import subprocess

    tracked = subprocess.run(["git", "ls-files", "harness/rpc"], capture_output=True, text=True,
                             cwd=build.ROOT, check=True).stdout.split()
    assert not [t for t in tracked if "_pb2" in t or "/_gen/" in t]
