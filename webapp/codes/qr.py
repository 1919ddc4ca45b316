"""QR codes of activation links, as inline SVG."""

import re

import qrcode
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
