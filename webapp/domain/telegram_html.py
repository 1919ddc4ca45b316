"""Telegram's HTML parse mode: what it accepts, and how the dashboard shows it.

Telegram refuses a message whose HTML it cannot parse ("can't parse entities"), so an owner's
text is checked against the same rules before it is saved: only the tags Telegram knows, each
closed in order, ``<a>`` with an ``href``, and ``&``, ``<``, ``>`` written as entities.
"""

import html
import re

from markupsafe import Markup

from webapp.i18n import D_, Worded

# tag -> the attributes it may carry (Bot API "HTML style").
ALLOWED_TAGS = {
    "b": (), "strong": (), "i": (), "em": (), "u": (), "ins": (), "s": (), "strike": (),
    "del": (), "tg-spoiler": (), "span": ("class",), "a": ("href",), "code": ("class",),
    "pre": (), "blockquote": ("expandable",), "tg-emoji": ("emoji-id",),
}
_TAG = re.compile(
    r"<(/?)([a-zA-Z][\w-]*)((?:\s+[\w-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)\s*>"
)
_ATTR = re.compile(r"([\w-]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>\"']+))?")
_ENTITY = re.compile(r"&(#\d+|#[xX][0-9a-fA-F]+|lt|gt|amp|quot);")
_LINK_SCHEMES = ("http://", "https://", "tg://", "mailto:")
MAX_MESSAGE_LENGTH = 4096


class HtmlProblem(ValueError):
    """The text is not HTML Telegram would accept; ``message`` (``Worded``) says what to fix."""

    def __init__(self, template: str, **params):
        self.message = Worded(template, **params)
        super().__init__(self.message)


def check(text: str) -> None:
    """Raise ``HtmlProblem`` unless Telegram would parse ``text`` in HTML mode."""
    open_tags: list[str] = []
    pos = 0
    plain_length = 0
    while pos < len(text):
        char = text[pos]
        if char == "<":
            match = _TAG.match(text, pos)
            if match is None:
                raise HtmlProblem(D_("A “<” that does not start a tag must be written as &lt;."))
            closing, name, attrs = match.group(1), match.group(2).lower(), match.group(3)
            if name not in ALLOWED_TAGS:
                raise HtmlProblem(
                    D_(
                        "Telegram does not support the tag <%(tag)s>. Use b, i, u, s, a, code, "
                        "pre, blockquote or tg-spoiler."
                    ),
                    tag=name,
                )
            if closing:
                if not open_tags or open_tags[-1] != name:
                    raise HtmlProblem(
                        D_("The closing tag </%(tag)s> does not match an open tag."), tag=name
                    )
                open_tags.pop()
            else:
                _check_attributes(name, attrs)
                open_tags.append(name)
            pos = match.end()
        elif char == "&":
            match = _ENTITY.match(text, pos)
            if match is None:
                raise HtmlProblem(D_("A “&” must be written as &amp;."))
            plain_length += 1
            pos = match.end()
        elif char == ">":
            raise HtmlProblem(D_("A “>” must be written as &gt;."))
        else:
            plain_length += 1
            pos += 1
    if open_tags:
        raise HtmlProblem(D_("The tag <%(tag)s> is never closed."), tag=open_tags[-1])
    if plain_length > MAX_MESSAGE_LENGTH:
        raise HtmlProblem(
            D_("Telegram messages hold at most %(num)s characters."), num=MAX_MESSAGE_LENGTH
        )


def _check_attributes(name: str, attrs: str) -> None:
    found = {}
    for attr, value in _ATTR.findall(attrs):
        attr = attr.lower()
        if attr not in ALLOWED_TAGS[name]:
            raise HtmlProblem(
                D_("The tag <%(tag)s> cannot have the attribute “%(attribute)s”."),
                tag=name, attribute=attr,
            )
        found[attr] = html.unescape(value.strip("\"'"))
    if name == "a":
        href = found.get("href", "")
        if not href.startswith(_LINK_SCHEMES):
            raise HtmlProblem(
                D_("A link needs an href starting with https://, http:// or tg://.")
            )
    if name == "span" and found.get("class") != "tg-spoiler":
        raise HtmlProblem(D_('Only <span class="tg-spoiler"> is supported.'))


def preview(text: str) -> Markup:
    """Checked Telegram HTML as the browser should show it: the same tags, spoilers marked,
    links that open in a new tab. Only call it on text ``check`` accepted."""
    check(text)

    def tag(match: re.Match) -> str:
        closing, name = match.group(1), match.group(2).lower()
        if name in ("tg-spoiler", "span"):
            return "</span>" if closing else '<span class="tg-spoiler">'
        if name == "tg-emoji":
            return "</span>" if closing else "<span>"
        if name == "a" and not closing:
            href = dict(
                (k.lower(), html.unescape(v.strip("\"'"))) for k, v in _ATTR.findall(match.group(3))
            )["href"]
            return f'<a href="{html.escape(href)}" target="_blank" rel="noopener noreferrer">'
        if name == "blockquote" and not closing:
            return "<blockquote>"
        if name == "code" and not closing:
            return "<code>"
        return f"<{closing}{name}>"

    return Markup(_TAG.sub(tag, text))
