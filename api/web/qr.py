"""QR codes for the screens, drawn by segno as SVG and served as `data:` images (the pages' CSP allows
images from `data:` but no inline styles or scripts)."""

from __future__ import annotations

import base64
import io

import segno


def svg_data_uri(text: str, *, scale: int = 5) -> str:
    """`text` as a QR code (error correction M), an SVG `data:` URI for an `<img>`."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=scale, border=2, xmldecl=False)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


__all__ = ["svg_data_uri"]
