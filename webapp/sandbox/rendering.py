"""Bot messages as HTML for the sandbox client, from their text and entities like a Telegram app.

Built here rather than with pyTelegramBotAPI's ``Message.html_text``, which leaves link URLs
unescaped inside ``href`` — a message is shown in the owner's own browser session.
"""

from markupsafe import Markup, escape

_TAGS = {
    "bold": ("<b>", "</b>"),
    "italic": ("<i>", "</i>"),
    "underline": ("<u>", "</u>"),
    "strikethrough": ("<s>", "</s>"),
    "spoiler": ('<span class="spoiler">', "</span>"),
    "code": ("<code>", "</code>"),
    "pre": ("<pre>", "</pre>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
    "expandable_blockquote": ("<blockquote>", "</blockquote>"),
}
_SAFE_SCHEMES = ("https://", "http://", "tg://")


def _open_tag(entity: dict, piece: str) -> tuple[str, str] | None:
    kind = entity.get("type")
    if kind in _TAGS:
        return _TAGS[kind]
    url = entity.get("url") if kind == "text_link" else piece if kind == "url" else None
    if url is not None:
        if kind == "url" and "://" not in url:
            url = "https://" + url
        if url.startswith(_SAFE_SCHEMES):
            return f'<a href="{escape(url)}" rel="noopener noreferrer">', "</a>"
    return None


def message_html(text: str | None, entities: list | None) -> Markup:
    """``text`` with its entities as tags; everything else escaped. Offsets are UTF-16 units."""
    if not text:
        return Markup("")
    units = text.encode("utf-16-le")

    def piece(start: int, end: int) -> str:
        return units[start * 2 : end * 2].decode("utf-16-le", "replace")

    total = len(units) // 2
    spans = []
    for entity in entities or []:
        start = int(entity.get("offset", 0))
        end = min(total, start + int(entity.get("length", 0)))
        tags = _open_tag(entity, piece(start, end)) if end > start else None
        if tags:
            spans.append((start, end, tags))
    spans.sort(key=lambda s: (s[0], -s[1]))
    out: list[str] = []
    stack: list[tuple[int, int, tuple[str, str]]] = []
    position = 0
    boundaries = sorted({0, total, *(s[0] for s in spans), *(s[1] for s in spans)})
    for boundary in boundaries:
        if boundary > position:
            out.append(str(escape(piece(position, boundary))))
            position = boundary
        # Close what ends here; spans that overlap without nesting are closed and reopened.
        reopen = []
        while any(s[1] <= boundary for s in stack):
            top = stack.pop()
            out.append(top[2][1])
            if top[1] > boundary:
                reopen.append(top)
        for span in reversed(reopen):
            out.append(span[2][0])
            stack.append(span)
        for span in spans:
            if span[0] == boundary:
                out.append(span[2][0])
                stack.append(span)
    while stack:
        out.append(stack.pop()[2][1])
    return Markup("".join(out))
