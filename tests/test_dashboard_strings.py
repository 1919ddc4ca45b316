"""The dashboard speaks English for now, but every word of it is marked for translation, so that
translating it is only a matter of catalogues: no template holds visible text outside ``_()`` /
``{% trans %}``, and the committed ``dashboard.pot`` holds every marked string."""

import ast
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from jinja2 import Environment, nodes

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
POT = ROOT / "webapp" / "translations" / "dashboard.pot"

# Attributes a person reads (a tooltip, what a screen reader says, a placeholder, a confirm
# dialog, the column name a phone shows in front of a stacked table cell).
VISIBLE_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt", "hx-confirm", "data-label"}
# The calls that translate their string arguments.
TRANSLATING = {"_", "gettext", "ngettext"}
# Text that stays as it is in every language.
NOT_WORDS = {
    "Admit",  # the brand, in the page titles and the logo
    "Ad", "mit",  # the logo, whose two halves are styled apart: Ad<span>mit</span>
}
# Calls whose string arguments are names the code uses (endpoints, keys, formats), never words.
TECHNICAL_CALLS = {"url_for", "has_endpoint", "format", "strftime", "replace", "join", "encode"}
# Calls whose string arguments after the first are words shown in place of a missing value:
# ``local_time(code.expires_at, "never")``.
DEFAULTING_CALLS = {"local_time", "get"}
# Keyword arguments that are the words of a form macro (``forms.field(f, hint=…)``).
WORDED_KEYWORDS = {"hint", "label", "placeholder", "title"}
LETTERS = re.compile(r"[^\W\d_]")
# An expression's place in the skeleton: private-use characters around its number.
EXPRESSION = re.compile("\ue000(\\d+)\ue001")
# As in the Makefile's ``translations``: the dashboard's own markers only (``N_`` marks the
# bot's messages, ``webapp.i18n.gettext(language, …)`` translates them).
DASHBOARD_KEYWORDS = [
    "--no-default-keywords", "-k", "_", "-k", "gettext", "-k", "ngettext:1,2",
    "-k", "lazy_gettext", "-k", "_l", "-k", "D_", "-k", "ND_:1,2",
]


def _templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def _has_words(text: str) -> bool:
    remaining = EXPRESSION.sub(" ", text)
    for allowed in NOT_WORDS:
        remaining = re.sub(rf"(?<!\w){re.escape(allowed)}(?!\w)", " ", remaining)
    return bool(LETTERS.search(remaining))


def _skeleton(env: Environment, source: str) -> tuple[str, list[tuple[int, str]]]:
    """The template's HTML with its Jinja tags taken out, and the ``{{ … }}`` expressions.

    Each expression becomes a placeholder holding its number, so the HTML parser can tell
    whether it prints into text or a visible attribute, or into a class or an id; a statement
    becomes nothing, so ``<li{% if x %} class="y"{% endif %}>`` stays a tag. Whatever a
    ``{% trans %}`` block holds is marked, and so is blanked, and so is a block of a class
    (``{% block main_class %}narrow{% endblock %}``). Line breaks stay, so lines are the
    source's.
    """
    out: list[str] = []
    expressions: list[tuple[int, str]] = []
    blanked: list[str] = []  # the statements whose content is not text: trans, *_class blocks
    tag: list[str] = []
    tag_line = 0
    for lineno, token, value in env.lex(source):
        if token in ("variable_begin", "block_begin"):
            tag, tag_line = [value], lineno
            continue
        if tag:
            tag.append(value)
            if token not in ("variable_end", "block_end"):
                continue
            text, tag = "".join(tag), []
            breaks = "\n" * text.count("\n")
            if text.startswith("{{"):
                if not blanked:
                    expressions.append((tag_line, text))
                    out.append(f"\ue000{len(expressions) - 1}\ue001")
                out.append(breaks)
                continue
            words = text.strip("{%-+ }").split()
            name = words[0] if words else ""
            if name == "trans" or (name == "block" and words[1].endswith("class")):
                blanked.append(name)
            elif blanked and name in ("endtrans", "endblock"):
                blanked.pop()
            out.append(breaks)
            continue
        if token.startswith("comment") or token == "linecomment" or blanked:
            out.append("\n" * value.count("\n"))
        else:
            out.append(value)
    return "".join(out), expressions


class _VisibleText(HTMLParser):
    """The text nodes and visible attributes of a skeleton (scripts and styles are code),
    each with the line it starts on."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        # (line, where: "{}" for a text node, 'title="{}"' for an attribute, what it says)
        self.visible: list[tuple[int, str, str]] = []
        self._code = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._code += 1
        line = self.getpos()[0]
        attributes = dict(attrs)
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES and value:
                self.visible.append((line, f'{name}="{{}}"', value))
        # The words on an input's button or already typed into a text box.
        if tag == "input" and attributes.get("type", "text") in ("text", "submit", "button"):
            self.visible.append((line, 'value="{}"', attributes.get("value", "")))

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._code = max(0, self._code - 1)

    def handle_data(self, data):
        if self._code:
            return
        # A macro printing attributes: {% macro described(name) %} aria-invalid="true"…
        if re.fullmatch(r'\s*([\w-]+="[^"]*"\s*)+', data):
            for name, value in re.findall(r'([\w-]+)="([^"]*)"', data):
                if name in VISIBLE_ATTRIBUTES:
                    self.visible.append((self.getpos()[0], f'{name}="{{}}"', value))
            return
        if data.strip():
            self.visible.append((self.getpos()[0], "{}", data.strip()))


def _call_name(call: nodes.Call) -> str | None:
    if isinstance(call.node, nodes.Name):
        return call.node.name
    if isinstance(call.node, nodes.Getattr):
        return call.node.attr
    return None


def _is_name(node: nodes.Node) -> bool:
    """A constant that reads like an identifier (``"count"``, ``"-errors"``) names a field or
    an element; it is not shown."""
    return isinstance(node.value, str) and re.fullmatch(r"[a-z0-9_.#-]*", node.value) is not None


def _printed_constants(node: nodes.Node, printed: bool = True):
    """The string constants of an expression that end up on the page: printed as they are, as
    a branch of ``a if … else b``, joined with ``~``, as the words given to a form macro or
    shown in place of a missing value; not those a translating call holds, nor the names,
    keys and tests an expression uses."""
    if isinstance(node, nodes.Const):
        if printed and isinstance(node.value, str) and _has_words(node.value):
            yield node
    elif isinstance(node, nodes.Call):
        name = _call_name(node)
        if name in TRANSLATING:
            return
        for index, arg in enumerate(node.args):
            if name in DEFAULTING_CALLS:
                shown = index > 0
            else:
                shown = name not in TECHNICAL_CALLS and not (
                    isinstance(arg, nodes.Const) and _is_name(arg)
                )
            yield from _printed_constants(arg, printed and shown)
        for kwarg in node.kwargs:
            yield from _printed_constants(kwarg.value, kwarg.key in WORDED_KEYWORDS)
        # {{ {"batch": "with its batch"}.get(via, via) }} prints the dictionary's values.
        yield from _printed_constants(node.node, printed and name == "get")
    elif isinstance(node, (nodes.Getattr, nodes.Getitem)):
        yield from _printed_constants(node.node, printed)
    elif isinstance(node, nodes.Dict):
        for pair in node.items:
            yield from _printed_constants(pair.value, printed)
    elif isinstance(node, nodes.CondExpr):
        yield from _printed_constants(node.test, False)
        yield from _printed_constants(node.expr1, printed)
        if node.expr2 is not None:
            yield from _printed_constants(node.expr2, printed)
    elif isinstance(node, (nodes.Concat, nodes.Add)):
        for child in node.iter_child_nodes():
            if not (isinstance(child, nodes.Const) and _is_name(child)):
                yield from _printed_constants(child, printed)
    elif isinstance(node, nodes.Filter):
        if node.node is not None:
            # "%.1f"|format(x) formats a number.
            yield from _printed_constants(node.node, printed and node.name != "format")
        for arg in node.args:
            yield from _printed_constants(arg, printed and node.name == "default")
    elif isinstance(node, (nodes.Template, nodes.Output)):
        for child in node.iter_child_nodes():
            yield from _printed_constants(child, printed)
    else:
        for child in node.iter_child_nodes():
            yield from _printed_constants(child, False)


def unmarked_text(source: str) -> list[tuple[int, str]]:
    """Each line of a template holding words a person reads that are not marked, and the
    words: text, visible attributes, and strings printed by an expression there."""
    env = Environment(extensions=["jinja2.ext.i18n"])
    skeleton, expressions = _skeleton(env, source)
    parser = _VisibleText()
    parser.feed(skeleton)
    parser.close()
    found = set()
    for line, where, text in parser.visible:
        if _has_words(text):
            found.add((line, where.format(EXPRESSION.sub("#", text))))
        for number in EXPRESSION.findall(text):
            expression_line, expression = expressions[int(number)]
            for const in _printed_constants(env.parse(expression)):
                found.add((expression_line + const.lineno - 1, repr(const.value)))
    return sorted(found)


def test_the_checker_finds_text_attributes_and_printed_strings_left_unmarked():
    source = (
        '<h1>{{ _("Plans") }}</h1>\n'
        '<p title="Renewal text">{% trans n=3 %}{{ n }} left{% endtrans %}</p>\n'
        "<p class=\"{{ 'wide' if n else '' }}\">{{ n }} code{{ '' if n == 1 else 's' }}</p>\n"
        '<a class="brand">Ad<span>mit</span></a> <button type="submit">Save</button>\n'
        '{{ forms.field(form.name, hint="For you only.") }}{{ _("%(n)s", n=1) }}\n'
        "{# a comment: Nothing here #}<script>let words = 'no';</script>\n"
        "<td>{{ local_time(code.expires_at, 'never') }} {{ url_for('codes.list') }}</td>\n"
        "{{ {'batch': 'with its batch'}.get(via, via) }}{{ labels[key] }}\n"
    )
    assert unmarked_text(source) == [
        (2, 'title="Renewal text"'), (3, "# code#"), (3, "'s'"), (4, "Save"),
        (5, "'For you only.'"), (7, "'never'"), (8, "'with its batch'"),
    ]


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_visible_word_of_the_template_is_marked_for_translation(path):
    assert unmarked_text(path.read_text(encoding="utf-8")) == []


def _message_ids(pot: Path) -> set:
    with open(pot, "rb") as f:
        return {m.id for m in read_po(f) if m.id}


def test_the_dashboard_catalogue_template_holds_every_marked_string(tmp_path):
    """``make translations`` was run after the last marked string changed: a translator
    starting from the committed dashboard.pot gets every string there is."""
    fresh = tmp_path / "dashboard.pot"
    subprocess.run(
        [
            sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
            "babel-dashboard.cfg", *DASHBOARD_KEYWORDS, "-o", str(fresh), ".",
        ],
        cwd=ROOT, check=True, capture_output=True,
    )
    assert _message_ids(fresh) == _message_ids(POT)


# The bot's own conversation (/newcode): its refusals are worded from the bot catalogue.
BOT_ONLY = {"webapp/domain/newcode_wizard.py"}
# What takes words an owner reads in the dashboard: a flash, a refusal, a form's error.
WORDING_CALLS = {"flash": 0, "InvalidInput": 1, "ValidationError": 0, "HtmlProblem": 0}


def _unmarked_python_words(source: str) -> list[tuple[int, str]]:
    """Words handed to ``flash``, ``InvalidInput``, ``ValidationError`` or ``HtmlProblem`` as a
    plain string or f-string instead of through gettext, ``D_``/``Worded`` or a lazy string."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        position = WORDING_CALLS.get(name)
        if position is None or len(node.args) <= position:
            continue
        arg = node.args[position]
        if isinstance(arg, ast.JoinedStr) or (
            isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _has_words(arg.value)
        ):
            found.append((node.lineno, ast.unparse(arg)))
    return found


def test_the_checker_of_python_finds_words_given_as_plain_strings():
    source = (
        'flash("Saved.", "success")\n'
        'flash(gettext("Saved."), "success")\n'
        'raise InvalidInput("name", f"Use at most {n} characters.")\n'
        'raise InvalidInput("name", D_("Give the plan a name."))\n'
    )
    assert _unmarked_python_words(source) == [
        (1, "'Saved.'"), (3, "f'Use at most {n} characters.'"),
    ]


@pytest.mark.parametrize(
    "path",
    [p for p in sorted((ROOT / "webapp").rglob("*.py"))
     if str(p.relative_to(ROOT)) not in BOT_ONLY],
    ids=lambda p: str(p.relative_to(ROOT / "webapp")),
)
def test_python_hands_the_dashboard_only_marked_words(path):
    assert _unmarked_python_words(path.read_text(encoding="utf-8")) == []
