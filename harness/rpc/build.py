"""Generate the gRPC stubs from `proto/` into `harness/rpc/_gen/` (never edited by hand, never committed).

Run by the package build (setup.py) and available by hand: `python -m harness.rpc.build`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"
OUT = Path(__file__).resolve().parent / "_gen"


def generate(proto_root: Path = PROTO, out: Path = OUT) -> list[Path]:
    """Compile every .proto under `proto_root`; returns the generated files."""
    from grpc_tools import protoc  # a build dependency, pinned equal to grpcio

    sources = sorted(proto_root.rglob("*.proto"))
    if not sources:
        raise FileNotFoundError(f"no .proto files under {proto_root}")
    out.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"  # google/protobuf well-known types
    args = ["grpc_tools.protoc", f"-I{proto_root}", f"-I{include}", f"--python_out={out}", f"--pyi_out={out}",
            f"--grpc_python_out={out}", *(str(s.relative_to(proto_root)) for s in sources)]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {', '.join(str(s) for s in sources)}")
    generated = sorted(out.rglob("*_pb2*.py"))
    # generated modules import each other as top-level packages (gbt32960.control.v1 ...)
    for module in generated:
        folder = module.parent
        while folder != out:
            (folder / "__init__.py").touch()
            folder = folder.parent
    return generated


if __name__ == "__main__":
    files = generate()
    print(f"generated {len(files)} modules into {OUT}")
    sys.exit(0)
