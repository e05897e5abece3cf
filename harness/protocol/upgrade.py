"""The remote-upgrade string of terminal control 0x82/0x01 (2016 T B.15/B.16; 2025 repeats it).

One ASCII string, fields separated by half-width ";", an empty field meaning "no value". The 2016
text gives two orders: T B.15's prose puts the URL first, T B.16's table puts it ninth. We send
the T B.16 order (as EMQX does) and accept both (docs/upgrade.md). Address, port and deadline are
sent as text (dotted quad or domain, decimal numbers) so the string stays ASCII and never holds a
stray 0x3B; binary BYTE[6]/WORD values as other platforms send them are accepted too.
"""

from __future__ import annotations

from typing import Any

TB16_ORDER = ("apn", "dial_user", "dial_password", "address", "port", "maker_id", "hardware_version",
              "firmware_version", "url", "connect_deadline_min")
URL_FIRST_ORDER = ("url", "apn", "dial_user", "dial_password", "address", "port", "maker_id", "hardware_version",
                   "firmware_version", "connect_deadline_min")
_BINARY = {"address": 6, "port": 2, "connect_deadline_min": 2}
_NUMBERS = ("port", "connect_deadline_min")


def build_upgrade(*, url: str, firmware_version: str, connect_deadline_min: int, hardware_version: str = "",
                  maker_id: str = "", address: str = "", port: int | None = None, apn: str = "",
                  dial_user: str = "", dial_password: str = "", url_first: bool = False) -> str:
    """The upgrade string in the T B.16 order (or T B.15's URL-first order with `url_first`)."""
    if not 0 <= connect_deadline_min <= 60000:
        raise ValueError("the time limit to reach the upgrade server is 0-60000 min (T B.16)")
    values: dict[str, Any] = {"apn": apn, "dial_user": dial_user, "dial_password": dial_password,
                              "address": address, "port": "" if port is None else port, "maker_id": maker_id,
                              "hardware_version": hardware_version, "firmware_version": firmware_version,
                              "url": url, "connect_deadline_min": connect_deadline_min}
    text = [str(values[name]) for name in (URL_FIRST_ORDER if url_first else TB16_ORDER)]
    if any(";" in t for t in text):
        raise ValueError("a field of the upgrade string holds ';', the field separator")
    return ";".join(text)


def parse_upgrade(text: str | bytes) -> dict[str, Any] | None:
    """The fields of an upgrade string in either order (URL first when the first field holds "://"),
    binary or text address/port/deadline; None when it is not a valid upgrade order."""
    raw = text.encode("ascii", "surrogateescape") if isinstance(text, str) else bytes(text)
    order = URL_FIRST_ORDER if b"://" in raw.split(b";", 1)[0] else TB16_ORDER
    out: dict[str, Any] = {}
    pos = 0
    for i, name in enumerate(order):
        last = i == len(order) - 1
        width = _BINARY.get(name)
        if width is not None and len(raw) >= pos + width and not raw[pos:pos + width].isdigit() and (
                (last and len(raw) == pos + width) or (not last and raw[pos + width:pos + width + 1] == b";")):
            chunk = raw[pos:pos + width]  # binary: width first, since its bytes may be 0x3B
            if name == "address":
                out[name] = ".".join(str(b) for b in chunk[2:]) if chunk[:2] == b"\0\0" else chunk.hex()
            else:
                out[name] = int.from_bytes(chunk, "big")
            pos += width + (0 if last else 1)
            continue
        end = len(raw) if last else raw.find(b";", pos)
        if end < 0:
            return None
        chunk = raw[pos:end]
        value: Any = chunk.decode("ascii", "replace")
        if name in _NUMBERS:
            value = int(value) if value.isdigit() else None
            if value is None and chunk:
                return None
        out[name] = value
        pos = end + 1
    return out if isinstance(out.get("url"), str) and out["url"] else None
