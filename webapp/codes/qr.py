"""QR codes of activation links, as inline SVG and as a PNG to download."""

import io
import re

import qrcode
import qrcode.image.pure
import qrcode.image.svg
from markupsafe import Markup, escape


def qr_svg(data: str, label: str) -> Markup:
    """An SVG QR code of ``data`` sized by CSS (the library's fixed millimetre size removed)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = image.to_string(encoding="unicode")
    svg = re.sub(
        r'^<svg width="[^"]*" height="[^"]*"',
        f'<svg class="qr" role="img" aria-label="{escape(label)}"',
        svg,
        count=1,
    )
    # The library builds the markup itself from the QR matrix; nothing of ``data`` is echoed.
    return Markup(svg)


def qr_png(data: str) -> bytes:
    """A PNG of the QR code of ``data`` (8 px per module), for printing or sending as a picture."""
    image = qrcode.make(data, image_factory=qrcode.image.pure.PyPNGImage, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()
