"""GB/T 32960.3 (2016 and 2025) protocol library: one description, a fast codec, a stream framer,
a byte walker for annotated output and precise errors, scapy layers and hypothesis strategies."""

from .codec import Frame, assemble, bcc, decode, encode
from .errors import Finding, ProtocolError
from .explain import explain
from .framer import Framer

__all__ = ["Finding", "Frame", "Framer", "ProtocolError", "assemble", "bcc", "decode", "encode", "explain"]
