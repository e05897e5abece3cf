"""The fast frame codec: bytes <-> `Frame`, both editions.

`decode` expects exactly one frame (the framer cuts a stream into frames). Encrypted data units
and platform-custom commands keep their body as bytes; everything else decodes to plain values
(see `schema`). When the fast path meets ill-formed input, the byte walker in `explain` says
precisely what is wrong and where.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .compiler import Fallback, decoder, encoder, text_bytes
from .messages import EDITION_OF_START, ENCRYPTION, START, command_body, response_bodies
from .schema import Count, Struct

HEADER = struct.Struct(">2sBB17sBH")
HEADER_SIZE = HEADER.size  # 24
MAX_BODY = 65531
COMMAND_FLAG = 0xFE

_MASKS = [(1 << (8 << k)) - 1 for k in range(20)]


def bcc(data: bytes | bytearray | memoryview) -> int:
    """XOR of all bytes, folded in C-speed big-int halves rather than a byte loop."""
    n = len(data)
    if n == 0:
        return 0
    x = int.from_bytes(data, "little")
    k = (n - 1).bit_length()  # 2**k bytes cover the data
    while k > 0:
        k -= 1
        w = 8 << k
        x = (x >> w) ^ (x & _MASKS[k])
    return x


@dataclass(slots=True)
class Frame:
    """One GB/T 32960.3 frame. `body` is a dict when decoded, bytes when it is ciphertext or a
    platform-custom command, and None for a command the edition does not define."""

    command: int
    ack: int = COMMAND_FLAG
    vin: str = ""
    body: Any = None
    edition: int = 2016
    encryption: int = 0x01
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_response(self) -> bool:
        return self.ack != COMMAND_FLAG

    @property
    def identity(self) -> str:
        """The unique id without its NUL padding (platform ids and short test ids are padded)."""
        return self.vin.rstrip("\0")


def decode(data: bytes | bytearray | memoryview, *, edition: int | None = None, crypto: Any = None) -> Frame:
    """Decode exactly one frame. Raises a `ProtocolError` subclass naming offset and field.

    With `crypto` (a `crypto.FrameCrypto`), an encrypted data unit is decrypted and decoded after the
    BCC check (spec §1: BCC over the ciphertext first, then decrypt); without it, it stays bytes."""
    data = bytes(data)
    if len(data) < HEADER_SIZE + 1:
        raise errors.Truncated(f"a frame has at least 25 bytes, got {len(data)}", offset=len(data),
                               path="header", clause="6.2 T2")
    start, command, ack, vin, enc, length = HEADER.unpack_from(data, 0)
    ed = EDITION_OF_START.get(start)
    if ed is None:
        raise errors.BadStartSymbol(f"start symbol {start.hex()} is neither '##' nor '$$'", offset=0,
                                    path="header.start", clause="6.2 T2")
    if edition is not None and ed != edition:
        raise errors.BadStartSymbol(f"start symbol {start!r} is not edition {edition}", offset=0,
                                    path="header.start", edition=ed)
    if length > MAX_BODY:
        raise errors.LengthOverflow(f"data-unit length {length} exceeds {MAX_BODY}", offset=22,
                                    path="header.length", edition=ed)
    if HEADER_SIZE + length + 1 != len(data):
        raise errors.LengthMismatch(f"data-unit length {length} needs a {HEADER_SIZE + length + 1}-byte frame, "
                                    f"got {len(data)} bytes", offset=22, path="header.length", edition=ed)
    expected = bcc(memoryview(data)[2:-1])
    if expected != data[-1]:
        raise errors.BadChecksum(f"BCC 0x{data[-1]:02X} should be 0x{expected:02X}", offset=len(data) - 1,
                                 path="bcc", edition=ed)
    if enc not in ENCRYPTION[ed]:
        raise errors.BadEncryption(f"encryption byte 0x{enc:02X} is reserved in the {ed} edition", offset=21,
                                   path="header.encryption", edition=ed)
    body_bytes = data[HEADER_SIZE:-1]
    frame = Frame(command, ack, vin.decode("ascii", "surrogateescape"), None, ed, enc)
    frame.body = decode_body(ed, command, ack, body_bytes) if enc == 0x01 else body_bytes
    if crypto is not None:
        frame.extra["plaintext"] = body_bytes if enc == 0x01 else None
        return crypto.decrypt_frame(frame)
    return frame


def body_candidates(edition: int, command: int, ack: int) -> tuple[Struct, ...]:
    """The layouts a data unit may have; empty for custom, reserved or undefined commands,
    whose units stay bytes (answers included)."""
    body = command_body(edition, command)
    if body is None:
        return ()
    return (body,) if ack == COMMAND_FLAG else response_bodies(edition, command)


def decode_body(edition: int, command: int, ack: int, body: bytes) -> Any:
    """Decode a plaintext data unit; offsets in errors count from the frame's first byte."""
    candidates = body_candidates(edition, command, ack)
    if not candidates:
        return body  # custom, reserved or undefined command: kept as bytes
    return decode_unit(candidates, body, edition=edition, base=HEADER_SIZE)


_FAST_PATH_FAILURES = (Fallback, struct.error, IndexError, KeyError, TypeError)


def decode_unit(candidates: tuple[Struct, ...], body: bytes, *, edition: int = 0, base: int = 0) -> Any:
    """The first candidate that consumes the whole unit; else the walker's precise error."""
    for node in candidates:
        try:
            value, end = decoder(node)(body, 0)
        except _FAST_PATH_FAILURES:
            continue
        if end == len(body):
            return value
    from .explain import diagnose  # the slow path, only for ill-formed input

    raise diagnose(edition, candidates[-1], body).shifted(base)


def encode(frame: Frame, *, crypto: Any = None) -> bytes:
    """Encode a frame; length and BCC are always computed (craft bad ones with the scapy layer).

    With `crypto` (a `crypto.FrameCrypto`), the data unit is signed (2025) and encrypted with its
    keys and encryption byte, and the BCC covers the ciphertext."""
    if crypto is not None:
        return crypto.seal(frame)
    if isinstance(frame.body, (bytes, bytearray)):
        body = bytes(frame.body)
    elif frame.body is None:
        body = b""
    else:
        body = encode_body(frame.edition, frame.command, frame.ack, frame.body)
    return assemble(frame.edition, frame.command, frame.ack, frame.vin, body, frame.encryption)


def assemble(edition: int, command: int, ack: int, vin: str | bytes, body: bytes, encryption: int = 0x01) -> bytes:
    if len(body) > MAX_BODY:
        raise errors.EncodeError(f"data unit of {len(body)} bytes exceeds {MAX_BODY}", path="body")
    vin_bytes = text_bytes(vin)
    if len(vin_bytes) > 17:
        raise errors.EncodeError(f"unique id {vin!r} is longer than 17 bytes", path="header.vin")
    head = HEADER.pack(START[edition], command, ack, vin_bytes.ljust(17, b"\0"), encryption, len(body))
    out = head + body
    return out + bytes((bcc(memoryview(out)[2:]),))


def encode_body(edition: int, command: int, ack: int, value: dict) -> bytes:
    candidates = body_candidates(edition, command, ack)
    if not candidates:
        raise errors.EncodeError(f"command 0x{command:02X} has no defined body in {edition}; pass bytes")
    node = _pick_encoder(candidates, value)
    out = bytearray()
    try:
        encoder(node)(value, out)
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        from .explain import locate_value_error  # slow path: name the field

        found = locate_value_error(node, value)
        path, why = found if found else (node.name, repr(exc))
        raise errors.EncodeError(f"cannot encode {path}: {why}", path=path, clause=node.clause) from exc
    return bytes(out)


def _pick_encoder(candidates: tuple[Struct, ...], value: dict) -> Struct:
    # a response body is the smallest candidate whose fields are all present
    for node in candidates:
        names = {f.name for f in node.fields if not isinstance(f, Count)}
        if names <= value.keys() and len(names) == len(value.keys() - {"signature"}):
            return node
    return candidates[-1]
