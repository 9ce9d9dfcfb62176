"""QR images of a payment code (pure: text in, image bytes out).

Drawn with `qrcode` at error-correction level M (about 15% of the symbol may be lost: a worn
printed card or a scratched phone screen still scans). A dynamic token is base32 upper case, so
the symbol uses the alphanumeric mode and stays small (version 6 for a 151-character token).
The SVG is one path of horizontal runs of dark modules in a pixel-sized view box, so a page can
scale it to the screen without blurring.
"""

from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M

BORDER = 4  # the quiet zone the standard asks for, in modules
SCALE = 6  # pixels per module


def _symbol(text: str) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=SCALE, border=BORDER)
    qr.add_data(text)
    qr.make(fit=True)
    return qr


def modules(text: str) -> list[list[bool]]:
    """The symbol's modules, quiet zone included (True = dark)."""
    return [list(row) for row in _symbol(text).get_matrix()]


def png(text: str) -> bytes:
    out = io.BytesIO()
    _symbol(text).make_image().save(out, format="PNG")
    return out.getvalue()


def svg(text: str) -> str:
    grid = modules(text)
    size = len(grid)
    runs: list[str] = []
    for y, row in enumerate(grid):
        x = 0
        while x < size:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < size and row[x]:
                x += 1
            runs.append(f"M{start} {y}h{x - start}")
    px = size * SCALE
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{px}" height="{px}" '
        f'viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path stroke="#000" d="{"".join(runs)}" transform="translate(0 0.5)"/></svg>'
    )
