"""parse_mode handling: turn HTML / MarkdownV2 / Markdown into (plain text, entities).

Close to Telegram's rules so typical mistakes (an unescaped '.' in MarkdownV2, a <br> or a
stray '<' in HTML, an unclosed entity) are answered with 400 "can't parse entities" like the
real server. ValueError carries the part after "Bad Request: can't parse entities: ".
"""

from __future__ import annotations

import html
import re

_HTML_TAG = re.compile(
    r"<(/?)([a-zA-Z][\w-]*)((?:\s+[\w-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)\s*/?>")
_HTML_ATTR = re.compile(r"([\w-]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>\"']+))?")
_HTML_ENTITY = re.compile(r"&(#\d+|#[xX][0-9a-fA-F]+|lt|gt|amp|quot);")
_SIMPLE_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
    "del": "strikethrough", "tg-spoiler": "spoiler", "code": "code", "pre": "pre",
    "blockquote": "blockquote",
}
_V2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_V2_NAMES = {"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough",
             "||": "Spoiler", "[": "TextUrl"}
_V2_TYPES = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough",
             "||": "spoiler"}


def _u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


class _Out:
    def __init__(self):
        self.parts: list = []
        self.length = 0
        self.entities: list = []

    def add(self, text: str):
        self.parts.append(text)
        self.length += _u16(text)

    def entity(self, kind, start, **extra):
        if self.length > start:
            ent = {"type": kind, "offset": start, "length": self.length - start}
            ent.update({k: v for k, v in extra.items() if v is not None})
            self.entities.append(ent)

    def result(self):
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), (self.entities or None)


def _render_html(source: str):
    out = _Out()
    stack: list = []
    i = 0
    n = len(source)
    while i < n:
        ch = source[i]
        if ch == "<":
            m = _HTML_TAG.match(source, i)
            name = (m.group(2).lower() if m else
                    re.match(r"</?([^\s>]*)", source[i:]).group(1))
            if not m:
                raise ValueError(f'Unsupported start tag "{name}" at byte offset '
                                 f"{_byte_offset(source, i)}")
            closing = m.group(1) == "/"
            attrs = {}
            for key, val in _HTML_ATTR.findall(m.group(3) or ""):
                val = val[1:-1] if val[:1] in ("'", '"') else val
                attrs[key.lower()] = html.unescape(val)
            if closing:
                if not stack:
                    raise ValueError(f'Unexpected end tag at byte offset '
                                     f'{_byte_offset(source, i)}')
                open_name, start, kind, extra = stack.pop()
                if open_name != name:
                    raise ValueError(
                        f"Unmatched end tag at byte offset {_byte_offset(source, i)}, "
                        f'expected "</{open_name}>", found "</{name}>"')
                if kind == "code" and stack and stack[-1][2] == "pre" and extra.get("language"):
                    stack[-1][3]["language"] = extra.pop("language")
                out.entity(kind, start, **extra)
            else:
                kind, extra = _html_open(name, attrs, source, i)
                stack.append((name, out.length, kind, extra))
            i = m.end()
        elif ch == "&":
            m = _HTML_ENTITY.match(source, i)
            if m:
                out.add(html.unescape(m.group(0)))
                i = m.end()
            else:
                out.add("&")
                i += 1
        else:
            j = i
            while j < n and source[j] not in "<&":
                j += 1
            out.add(source[i:j])
            i = j
    if stack:
        raise ValueError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _html_open(name, attrs, source, i):
    if name in _SIMPLE_TAGS:
        kind = _SIMPLE_TAGS[name]
        extra = {}
        if name == "blockquote" and "expandable" in attrs:
            kind = "expandable_blockquote"
        if name == "code" and attrs.get("class", "").startswith("language-"):
            extra["language"] = attrs["class"][len("language-"):]
        return kind, extra
    if name == "span" and attrs.get("class") == "tg-spoiler":
        return "spoiler", {}
    if name == "a":
        href = attrs.get("href", "")
        m = re.match(r"tg://user\?id=(\d+)$", href)
        if m:
            return "text_mention", {"user": {"id": int(m.group(1)), "is_bot": False,
                                             "first_name": ""}}
        return "text_link", {"url": href}
    if name == "tg-emoji":
        return "custom_emoji", {"custom_emoji_id": attrs.get("emoji-id")}
    raise ValueError(f'Unsupported start tag "{name}" at byte offset '
                     f"{_byte_offset(source, i)}")


def _find_closing(source, i, token, escapes):
    """Index of the closing ``token`` from i, honouring backslash escapes; -1 if none."""
    n = len(source)
    while i < n:
        if escapes and source[i] == "\\" and i + 1 < n:
            i += 2
            continue
        if source.startswith(token, i):
            return i
        i += 1
    return -1


def _unescape_v2(text: str) -> str:
    return re.sub(r"\\([\x01-\x7e])", r"\1", text)


def _render_markdown_v2(source: str):
    out = _Out()
    stack: list = []  # (marker, start, source index)
    i = 0
    n = len(source)
    while i < n:
        ch = source[i]
        if ch == "\\":
            if i + 1 < n and 0 < ord(source[i + 1]) < 127:
                out.add(source[i + 1])
                i += 2
                continue
            raise ValueError("Character '\\' is reserved and must be escaped with the "
                             "preceding '\\'")
        if ch == "`":
            pre = source.startswith("```", i)
            token = "```" if pre else "`"
            end = _find_closing(source, i + len(token), token, True)
            if end < 0:
                raise ValueError(f"Can't find end of {'Pre' if pre else 'Code'} entity at "
                                 f"byte offset {_byte_offset(source, i)}")
            body = source[i + len(token):end]
            language = None
            if pre and "\n" in body:
                first, rest = body.split("\n", 1)
                if first and re.match(r"^[\w+#.-]+$", first):
                    language, body = first, rest
            start = out.length
            out.add(_unescape_v2(body))
            out.entity("pre" if pre else "code", start, language=language)
            i = end + len(token)
            continue
        marker = None
        if source.startswith("__", i):
            marker = "__"
        elif source.startswith("||", i):
            marker = "||"
        elif ch in "*_~":
            marker = ch
        if marker:
            if stack and stack[-1][0] == marker:
                _m, start, _src = stack.pop()
                out.entity(_V2_TYPES[marker], start)
            elif any(item[0] == marker for item in stack):
                raise ValueError(f"Can't find end of {_V2_NAMES[stack[-1][0]]} entity at "
                                 f"byte offset {_byte_offset(source, stack[-1][2])}")
            else:
                stack.append((marker, out.length, i))
            i += len(marker)
            continue
        if ch == "[":
            stack.append(("[", out.length, i))
            i += 1
            continue
        if ch == "]" and stack and stack[-1][0] == "[":
            _m, start, src = stack.pop()
            if not source.startswith("(", i + 1):
                raise ValueError(f"Can't find end of a URL at byte offset "
                                 f"{_byte_offset(source, i)}")
            end = _find_closing(source, i + 2, ")", True)
            if end < 0:
                raise ValueError(f"Can't find end of a URL at byte offset "
                                 f"{_byte_offset(source, i)}")
            url = _unescape_v2(source[i + 2:end])
            m = re.match(r"tg://user\?id=(\d+)$", url)
            if m:
                out.entity("text_mention", start, user={"id": int(m.group(1)),
                                                         "is_bot": False, "first_name": ""})
            else:
                out.entity("text_link", start, url=url)
            i = end + 1
            continue
        if ch == ">" and (i == 0 or source[i - 1] == "\n"):
            i += 1  # blockquote marker at the start of a line
            continue
        if ch in _V2_RESERVED:
            raise ValueError(f"Character '{ch}' is reserved and must be escaped with the "
                             "preceding '\\'")
        out.add(ch)
        i += 1
    if stack:
        marker, _start, src = stack[-1]
        raise ValueError(f"Can't find end of {_V2_NAMES[marker]} entity at byte offset "
                         f"{_byte_offset(source, src)}")
    return out.result()


def _render_markdown(source: str):
    out = _Out()
    i = 0
    n = len(source)
    simple = {"*": "bold", "_": "italic"}
    while i < n:
        ch = source[i]
        if ch == "\\" and i + 1 < n and source[i + 1] in "*_`[":
            out.add(source[i + 1])
            i += 2
            continue
        if ch in simple or ch == "`":
            token = "```" if source.startswith("```", i) else ch
            end = source.find(token, i + len(token))
            if end < 0:
                raise ValueError("Can't find end of the entity starting at byte offset "
                                 f"{_byte_offset(source, i)}")
            body = source[i + len(token):end]
            start = out.length
            language = None
            if token == "```" and "\n" in body:
                first, rest = body.split("\n", 1)
                if first and re.match(r"^[\w+#.-]+$", first):
                    language, body = first, rest
            out.add(body)
            kind = simple.get(ch) or ("pre" if token == "```" else "code")
            out.entity(kind, start, language=language)
            i = end + len(token)
            continue
        if ch == "[":
            close = source.find("]", i + 1)
            if close >= 0 and source.startswith("(", close + 1):
                end = source.find(")", close + 2)
                if end < 0:
                    raise ValueError("Can't find end of the entity starting at byte offset "
                                     f"{_byte_offset(source, i)}")
                start = out.length
                out.add(source[i + 1:close])
                out.entity("text_link", start, url=source[close + 2:end])
                i = end + 1
                continue
        out.add(ch)
        i += 1
    return out.result()


def render(text: str, parse_mode: str | None):
    """(plain text, entities or None). Raises ValueError for unparsable markup."""
    mode = (parse_mode or "").strip().lower()
    if not mode:
        return text, None
    if mode == "html":
        return _render_html(text)
    if mode == "markdownv2":
        return _render_markdown_v2(text)
    if mode == "markdown":
        return _render_markdown(text)
    raise ValueError(f'Unsupported parse_mode "{parse_mode}"')
