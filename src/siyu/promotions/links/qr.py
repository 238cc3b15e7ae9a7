"""QR codes of short links, as PNG or SVG (segno: pure Python, no imaging library)."""

from __future__ import annotations

import io

import segno


def render(content: str, kind: str, scale: int, border: int) -> bytes:
    """The QR code of ``content`` (error correction M: survives a little print damage or a logo overlay)."""
    qr = segno.make(content, error="m", micro=False)
    buf = io.BytesIO()
    if kind == "svg":
        qr.save(buf, kind="svg", scale=scale, border=border, xmldecl=True, svgns=True, title=content[:200])
    else:
        qr.save(buf, kind="png", scale=scale, border=border)
    return buf.getvalue()
