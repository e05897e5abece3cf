"""`gbt32960`: the command line of the harness.

Subcommands live in a registry (`register`), so later parts of the harness add theirs (`demo`,
`simulate`, `conformance`, `load`) without touching the parser code: a module calls
``register(...)`` at import time and is listed in `COMMAND_MODULES`.

Exit status: 0 when every frame is good, 2 for bad input (a frame with a protocol error,
unreadable hex, JSON or capture, a missing file), as argparse does for bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from harness.protocol import errors
from harness.protocol.codec import HEADER_SIZE, decode, encode
from harness.protocol.explain import Explanation, explain
from harness.protocol.framer import Framer
from harness.protocol.jsonview import command_label, frame_to_json, frames_from_json, response_label

EXIT_OK = 0
EXIT_BAD_INPUT = 2

Runner = Callable[[argparse.Namespace], int]


class InputError(Exception):
    """Input that cannot be read at all (not hex, not JSON, no such file)."""


# ------------------------------------------------------------------------------------ registry


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    description: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Runner
    epilog: str = ""


SUBCOMMANDS: dict[str, Subcommand] = {}

# Modules that register more subcommands when imported; a missing one is skipped so that a
# partial checkout still has a working CLI.
COMMAND_MODULES: tuple[str, ...] = (
    "harness.demo", "harness.terminal.cli", "harness.topology.cli", "harness.conformance", "harness.report.cli",
    "harness.charging.cli",
    "harness.quality.cli", "load.cli",
)


def register(name: str, *, help: str, description: str = "", epilog: str = "",
             configure: Callable[[argparse.ArgumentParser], None] | None = None) -> Callable[[Runner], Runner]:
    """Decorator: add a subcommand whose runner takes the parsed arguments and returns the exit status."""

    def deco(run: Runner) -> Runner:
        SUBCOMMANDS[name] = Subcommand(name, help, description or help, configure or (lambda p: None), run, epilog)
        return run

    return deco


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("gbt32960-harness")
    except Exception:  # not installed: fall back to the package's own number
        from harness import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    for module in COMMAND_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    parser = argparse.ArgumentParser(
        prog="gbt32960",
        description="GB/T 32960.3 (2016 and 2025) conformance harness: decode, encode and inspect frames.",
        epilog="Run 'gbt32960 COMMAND --help' for the options of a command. Exit status: 0 all good, "
               "2 bad input (a protocol error in a frame, unreadable hex/JSON/capture, bad usage).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    for sub in SUBCOMMANDS.values():
        p = subs.add_parser(sub.name, help=sub.help, description=sub.description, epilog=sub.epilog,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.configure(p)
        p.set_defaults(_run=sub.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gbt32960` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return int(run(args))
    except InputError as exc:
        _error(str(exc))
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # e.g. piped into `head`
        return EXIT_OK


def _error(message: str) -> None:
    print(f"gbt32960: error: {message}", file=sys.stderr)


# ------------------------------------------------------------------------------------ input


_COMMENT = re.compile(r"(?m)(?:^|(?<=\s))#.*$")


def hex_to_bytes(text: str) -> bytes:
    """Hex with any whitespace and '#' comments (to the end of the line) removed."""
    cleaned = re.sub(r"\s+", "", _COMMENT.sub("", text))
    if cleaned[:2] in ("0x", "0X"):
        cleaned = cleaned[2:]
    bad = re.search(r"[^0-9a-fA-F]", cleaned)
    if bad:
        raise InputError(f"not hex: {bad.group()!r} after {bad.start()} hex digit(s)")
    if len(cleaned) % 2:
        raise InputError(f"not hex: an odd number of hex digits ({len(cleaned)})")
    return bytes.fromhex(cleaned)


def bytes_from_input(data: bytes) -> bytes:
    """Hex text or binary: a GB/T 32960 frame always holds non-printable bytes (command,
    flag, encryption), so input made only of printable ASCII is read as hex."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return data
    if all(ch.isprintable() or ch.isspace() for ch in text):
        return hex_to_bytes(text)
    return data


def _read_source(args_text: Sequence[str] | None, file: str | None) -> bytes:
    if file is not None:
        if file == "-":
            return sys.stdin.buffer.read()
        try:
            return Path(file).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {file}: {exc.strerror or exc}") from exc
    if not args_text or list(args_text) == ["-"]:
        return sys.stdin.buffer.read()
    return " ".join(args_text).encode("utf-8")


# ------------------------------------------------------------------------------------ decode


def _configure_decode(p: argparse.ArgumentParser) -> None:
    p.add_argument("hex", nargs="*", metavar="HEX",
                   help="frame bytes in hex; spaces and newlines allowed; '-' or nothing reads stdin")
    p.add_argument("-f", "--file", metavar="FILE",
                   help="read from FILE (hex text, '#' comments allowed, or raw binary; detected)")
    p.add_argument("--json", action="store_true",
                   help="print JSON with physical values and units (a list when there are several frames)")
    p.add_argument("--strict", action="store_true",
                   help="also report strict-mode findings: values out of range, undefined codes, user-defined types")


@register(
    "decode",
    help="decode frames from hex or binary into an annotated table or JSON",
    description="Decode GB/T 32960 frames (both editions, several frames allowed).\n\n"
                "The input goes through the stream framer, so it may hold several frames and garbage.\n"
                "Each frame prints as a table of offset, bytes, field, value and unit. Problems go to\n"
                "stderr with the byte offset and field path; good frames are still printed. Offsets in\n"
                "a frame's table and errors count from that frame's first byte; 'stream offset' and\n"
                "'stream byte' count from the start of the input.",
    epilog="examples:\n"
           "  gbt32960 decode 232307FE3132333435363738390000000000000000010000C9\n"
           "  gbt32960 decode -f samples/realtime-2016.hex --strict\n"
           "  gbt32960 decode --json -f samples/session-mixed.hex\n"
           "  cat capture.bin | gbt32960 decode -\n\n"
           "exit status: 0 all frames good, 2 bad input (any protocol error, unreadable hex or file)",
    configure=_configure_decode,
)
def run_decode(args: argparse.Namespace) -> int:
    data = _read_source(args.hex, args.file)
    if args.file is not None or not args.hex or args.hex == ["-"]:
        data = bytes_from_input(data)
    else:
        data = hex_to_bytes(data.decode("utf-8"))
    if not data:
        raise InputError("no input bytes")
    status = EXIT_OK
    docs: list[dict[str, Any]] = []
    for n, (offset, frame, problem) in enumerate(_frames_of(data), 1):
        if problem is not None and frame is None:
            _error(f"stream: {problem}")
            status = EXIT_BAD_INPUT
            continue
        assert frame is not None
        ex = explain(frame, strict=args.strict)
        if problem is not None:
            ex.error = problem  # the framer rejected it (bad BCC): the walker still shows the fields
        if args.json:
            if ex.frame is not None and ex.error is None:
                docs.append(_json_doc(ex, offset))
        else:
            print_table(ex, frame, title=_title(n, offset, ex, frame))
        if ex.error is not None:
            _error(f"frame {n} at stream offset {offset}: {ex.error}{_stream_byte(ex.error, offset)}")
            status = EXIT_BAD_INPUT
    if args.json:
        _dump(docs[0] if len(docs) == 1 else docs)
    return status


def _frames_of(data: bytes) -> Iterable[tuple[int, bytes | None, errors.ProtocolError | None]]:
    """(stream offset, frame bytes, problem) in stream order. A frame the framer rejected for its
    BCC comes back with its bytes, so the table can still show what it holds."""
    framer = Framer()
    pos = 0
    for item in [*framer.feed(data), *framer.close()]:
        if isinstance(item, errors.BadChecksum) and item.offset is not None:
            start = item.offset
            length = int.from_bytes(data[start + 22:start + 24], "big")
            raw = data[start:start + HEADER_SIZE + length + 1]
            try:
                decode(raw)
            except errors.BadChecksum as exact:  # names the BCC byte and the value it should have
                item = exact
            except errors.ProtocolError:
                pass
            yield start, raw, item
            pos = max(pos, start + 1)  # the framer may resync inside a rejected frame
        elif isinstance(item, errors.ProtocolError):
            yield item.offset or 0, None, item
        else:
            at = data.find(item, pos)  # the framer reports no offsets for good frames
            pos = at + len(item)
            yield at, item, None


def _stream_byte(error: errors.ProtocolError, frame_offset: int) -> str:
    # a frame error counts bytes from the frame's start; say where that is in the input too
    return "" if error.offset is None else f" (stream byte {frame_offset + error.offset})"


def _json_doc(ex: Explanation, offset: int) -> dict[str, Any]:
    assert ex.frame is not None
    doc = frame_to_json(ex.frame)
    doc["stream_offset"] = offset
    if ex.findings:
        doc["findings"] = [str(f) for f in ex.findings]
    return doc


def _title(n: int, offset: int, ex: Explanation, frame: bytes) -> str:
    f = ex.frame
    if f is None:
        return f"frame {n} at stream offset {offset}, {len(frame)} bytes: REJECTED"
    return (f"frame {n} at stream offset {offset}: {f.edition} {command_label(f.edition, f.command)}, "
            f"{response_label(f.edition, f.ack)}, VIN {f.vin.rstrip(chr(0))!r}, {len(frame)} bytes")


def print_table(ex: Explanation, frame: bytes, *, title: str, out: TextIO | None = None,
                max_bytes: int = 12) -> None:
    """The annotated table: offset, bytes (long fields shortened), field path, value, unit."""
    out = out or sys.stdout
    rows = [(str(r.offset), _hex_cell(r.raw, max_bytes), r.path, r.shown, r.unit) for r in ex.rows]
    head = ("offset", "bytes", "field", "value", "unit")
    widths = [max(len(head[k]), *(len(row[k]) for row in rows)) if rows else len(head[k]) for k in range(4)]
    print(title, file=out)
    print(f"{head[0]:>{widths[0]}}  {head[1]:<{widths[1]}}  {head[2]:<{widths[2]}}  {head[3]:<{widths[3]}}  "
          f"{head[4]}", file=out)
    for row in rows:
        line = f"{row[0]:>{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]:<{widths[3]}}  {row[4]}"
        print(line.rstrip(), file=out)
    for finding in ex.findings:
        print(f"finding: {finding}", file=out)
    print(file=out)


def _hex_cell(raw: bytes, max_bytes: int) -> str:
    if len(raw) <= max_bytes:
        return raw.hex(" ")
    return raw[:max_bytes].hex(" ") + f" …(+{len(raw) - max_bytes})"


def _dump(obj: Any, out: TextIO | None = None) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2), file=out or sys.stdout)


# ------------------------------------------------------------------------------------ encode


def _configure_encode(p: argparse.ArgumentParser) -> None:
    p.add_argument("json", nargs="?", metavar="JSON", help="the frame as JSON text; '-' or nothing reads stdin")
    p.add_argument("-f", "--file", metavar="FILE", help="read the JSON from FILE")
    p.add_argument("--binary", action="store_true", help="write raw bytes instead of hex")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


@register(
    "encode",
    help="build frames from JSON (the form 'decode --json' prints) and print them as hex",
    description="Build GB/T 32960 frames from JSON and print their hex, one frame per line.\n\n"
                "The JSON is one frame object or a list of them, in the form 'decode --json' prints.\n"
                "A scalar may be its full form {\"value\": 60.0, \"unit\": \"km/h\", \"raw\": 600} (raw wins)\n"
                "or just its physical number, an enum label, or \"abnormal\"/\"invalid\". Counts, the\n"
                "length and the BCC are computed.",
    epilog="examples:\n"
           "  gbt32960 decode --json -f samples/realtime-2016.hex > frame.json; gbt32960 encode -f frame.json\n"
           "  gbt32960 encode '{\"edition\": 2016, \"command\": \"heartbeat\", \"vin\": \"LVBV3J0B6JE900252\", "
           "\"body\": {}}'\n"
           "  gbt32960 encode -f frame.json --binary -o frame.bin\n\n"
           "exit status: 0 encoded, 2 bad input (not JSON, or a value that does not fit its field)",
    configure=_configure_encode,
)
def run_encode(args: argparse.Namespace) -> int:
    raw = _read_source([args.json] if args.json else None, args.file)
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not JSON: {exc}") from exc
    try:
        frames = [encode(f) for f in frames_from_json(obj)]
    except errors.ProtocolError as exc:
        _error(str(exc))
        return EXIT_BAD_INPUT
    if args.binary:
        blob = b"".join(frames)
        if args.output:
            Path(args.output).write_bytes(blob)
        else:
            sys.stdout.buffer.write(blob)
            sys.stdout.buffer.flush()
    else:
        text = "".join(f.hex() + "\n" for f in frames)
        if args.output:
            Path(args.output).write_text(text)
        else:
            sys.stdout.write(text)
    return EXIT_OK


# ------------------------------------------------------------------------------------ pcap


def _configure_pcap(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a pcap or pcapng capture")
    p.add_argument("--port", type=int, action="append", metavar="N",
                   help="only TCP segments from or to port N (repeatable); default: every TCP segment")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--json", action="store_true",
                      help="print a JSON list of decoded frames (with capture_time and flow; feeds 'encode')")
    mode.add_argument("--table", action="store_true", help="print the annotated table of every frame")
    p.add_argument("--strict", action="store_true", help="with --table or --json: strict-mode findings too")


@register(
    "pcap",
    help="list the GB/T 32960 frames in a capture, per TCP flow",
    description="Read a capture, reassemble each TCP flow (src, dst, sport, dport) in sequence order,\n"
                "cut it into frames and print one line per frame: time, flow, edition, command, VIN,\n"
                "length. Problems (garbage, bad BCC, gaps in the capture) go to stderr per flow.",
    epilog="examples:\n"
           "  gbt32960 pcap capture.pcap --port 32960\n"
           "  gbt32960 pcap capture.pcap --table\n\n"
           "exit status: 0 all frames good, 2 bad input (unreadable capture, or a protocol error in a flow)",
    configure=_configure_pcap,
)
def run_pcap(args: argparse.Namespace) -> int:
    events, problems = read_capture(args.file, ports=args.port)
    status = EXIT_OK
    docs: list[dict[str, Any]] = []
    for when, flow, item in events:
        if isinstance(item, errors.ProtocolError):
            _error(f"{flow}: {item}")
            status = EXIT_BAD_INPUT
            continue
        ex = explain(item, strict=args.strict)
        stamp = _stamp(when)
        if ex.error is not None:
            _error(f"{flow} at {stamp}: {ex.error}")
            status = EXIT_BAD_INPUT
        if args.json:
            if ex.frame is not None and ex.error is None:
                # frame keys plus informative ones, so the list feeds 'gbt32960 encode' as is
                doc = {"capture_time": stamp, "flow": flow, **frame_to_json(ex.frame)}
                if ex.findings:
                    doc["findings"] = [str(f) for f in ex.findings]
                docs.append(doc)
        elif args.table:
            print_table(ex, item, title=f"{stamp} {flow}: {len(item)} bytes")
        elif ex.frame is not None:
            f = ex.frame
            print(f"{stamp}  {flow}  {f.edition}  {command_label(f.edition, f.command):<22} "
                  f"{response_label(f.edition, f.ack):<16} VIN={f.vin.rstrip(chr(0))}  len={len(item)}")
    for problem in problems:
        _error(problem)
        status = EXIT_BAD_INPUT
    if args.json:
        _dump(docs)
    return status


Event = tuple[float, str, "bytes | errors.ProtocolError"]


def read_capture(path: str, *, ports: Sequence[int] | None = None) -> tuple[list[Event], list[str]]:
    """Frames and framing errors of every TCP flow in a capture, ordered by capture time.

    A frame is stamped with the capture time at which its last byte had arrived.
    """
    # scapy is slow to import; only this subcommand needs it
    from scapy.error import Scapy_Exception
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import PcapReader

    flows: dict[tuple[str, str, int, int], list[tuple[int, float, bytes]]] = {}
    try:
        with PcapReader(path) as reader:
            for pkt in reader:
                if TCP not in pkt:
                    continue
                net = pkt[IP] if IP in pkt else pkt[IPv6] if IPv6 in pkt else None
                tcp = pkt[TCP]
                payload = bytes(tcp.payload)
                if net is None or not payload:
                    continue
                if ports and tcp.sport not in ports and tcp.dport not in ports:
                    continue
                key = (str(net.src), str(net.dst), int(tcp.sport), int(tcp.dport))
                flows.setdefault(key, []).append((int(tcp.seq), float(pkt.time), payload))
    except (OSError, Scapy_Exception) as exc:
        raise InputError(f"cannot read capture {path}: {exc}") from exc
    events: list[Event] = []
    problems: list[str] = []
    for (src, dst, sport, dport), segments in flows.items():
        flow = f"{_addr(src, sport)} -> {_addr(dst, dport)}"
        for when, item in _reassemble(segments, problems, flow):
            events.append((when, flow, item))
    events.sort(key=lambda e: e[0])  # stable: frames of one flow keep their order
    return events, problems


def _reassemble(segments: list[tuple[int, float, bytes]], problems: list[str],
                flow: str) -> Iterable[tuple[float, bytes | errors.ProtocolError]]:
    """Feed a flow's payload in sequence order (retransmissions and overlaps trimmed)."""
    # sequence numbers wrap modulo 2**32: measure from the earliest one, found by signed distance
    # from the first captured segment (which need not be the earliest)
    ref = segments[0][0]
    base = ref + min(((seq - ref + (1 << 31)) % (1 << 32)) - (1 << 31) for seq, _, _ in segments)
    ordered = sorted(((seq - base) % (1 << 32), when, data) for seq, when, data in segments)
    framer = Framer()
    expected = ordered[0][0]
    last_time = ordered[0][1]
    for rel, when, data in ordered:
        if rel + len(data) <= expected:
            continue  # a retransmission of bytes already fed
        if rel > expected:
            problems.append(f"{flow}: {rel - expected} byte(s) missing from the capture before relative "
                            f"sequence {rel}")
        data = data[max(0, expected - rel):]
        expected = max(expected, rel) + len(data)
        # a frame is complete once all its bytes arrived: the latest time seen so far, which also
        # keeps one flow's frames in stream order when segments were captured out of order
        last_time = max(last_time, when)
        for item in framer.feed(data):
            yield last_time, item
    for item in framer.close():
        yield last_time, item


def _addr(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _stamp(when: float) -> str:
    return _dt.datetime.fromtimestamp(when, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


if __name__ == "__main__":  # pragma: no cover
    # run through the imported module: subcommands register themselves with `harness.cli`, not `__main__`
    from harness.cli import main as _main

    sys.exit(_main())
