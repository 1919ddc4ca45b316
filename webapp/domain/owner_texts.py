"""The owner's own wording of the bot's customer messages, per project and language.

An owner may replace the welcome, the confirmation's first line, the reminder's renewal line,
the end-of-access text and the contact shown in refusals. A template is Telegram HTML with
placeholders in braces (``{plan}``, ``{ends}``, ``{name}``, ``{project}``); it is checked when
saved — unknown placeholders, broken braces and HTML Telegram would refuse are turned away — so
a message is never sent broken. Values put into a template are escaped.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime
from html import escape

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from webapp.domain import telegram_html
from webapp.domain.accounts import is_zone_name
from webapp.domain.errors import InvalidInput
from webapp.i18n import D_, LANGUAGES
from webapp.models import ProjectText

MAX_TEMPLATE_LENGTH = 1000


@dataclass(frozen=True)
class TextKind:
    key: str
    label: str
    placeholders: tuple[str, ...]
    hint: str


KINDS: dict[str, TextKind] = {
    kind.key: kind
    for kind in (
        TextKind(
            "welcome", D_("Welcome"), ("project", "name"),
            D_("The answer to /start, above the plan buttons."),
        ),
        TextKind(
            "confirmation", D_("Confirmation, first line"), ("plan", "project", "ends", "name"),
            D_("Replaces “✅ Code accepted …”; the Join buttons and their hint follow."),
        ),
        TextKind(
            "renewal", D_("Reminder, renewal line"), ("plan", "project", "ends", "name"),
            D_("The last line of the reminder sent a day before access ends."),
        ),
        TextKind(
            "end", D_("End of access"), ("plan", "project", "name"),
            D_("Follows the line saying where the customer was removed from."),
        ),
        TextKind(
            "contact", D_("Contact in refusals"), (),
            D_("Who to ask when a code is refused, e.g. @GoldClubSupport."),
        ),
    )
}


def placeholders_of(template: str) -> list[str]:
    """The placeholder names in ``template``; ``InvalidInput`` if its braces are broken."""
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidInput(
            "template", D_("A “{” or “}” is unmatched. Write {{ and }} for the braces themselves.")
        ) from exc
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            suffix = ("!" + conversion if conversion else "") + (":" + spec if spec else "")
            written = f"{{{name}{suffix}}}"
            raise InvalidInput.marked(
                "template",
                D_("“%(written)s” is not a placeholder; use a plain name like {plan}."),
                written=written,
            )
        names.append(name)
    return names


def check_template(key: str, template: str) -> str:
    """The template as it will be stored (trimmed), or ``InvalidInput`` saying what is wrong."""
    kind = KINDS[key]
    text = template.strip().replace("\r\n", "\n")
    if len(text) > MAX_TEMPLATE_LENGTH:
        raise InvalidInput.marked(
            key, D_("At most %(num)s characters."), num=MAX_TEMPLATE_LENGTH
        )
    try:
        names = placeholders_of(text)
    except InvalidInput as exc:
        raise InvalidInput(key, exc.message) from None
    unknown = [n for n in dict.fromkeys(names) if n not in kind.placeholders]
    if unknown:
        if kind.placeholders:
            raise InvalidInput.marked(
                key,
                D_("Unknown placeholder %(unknown)s. This text may use: %(allowed)s."),
                unknown=", ".join(f"{{{n}}}" for n in unknown),
                allowed=", ".join(f"{{{p}}}" for p in kind.placeholders),
            )
        raise InvalidInput.marked(
            key,
            D_("Unknown placeholder %(unknown)s. This text may use: none."),
            unknown=", ".join(f"{{{n}}}" for n in unknown),
        )
    try:
        telegram_html.check(render(text, **dict.fromkeys(kind.placeholders, "x")))
    except telegram_html.HtmlProblem as exc:
        # The problem is worded itself: the dashboard words both.
        raise InvalidInput.marked(
            key, D_("Telegram would refuse this text: %(problem)s"), problem=exc.message
        ) from None
    return text


def render(template: str, **values: str) -> str:
    """The template with its placeholders filled in, every value escaped for HTML."""
    return template.format_map({k: escape(str(v), quote=False) for k, v in values.items()})


def project_texts(session: Session, project_id: int, language: str) -> dict[str, str]:
    """The owner's templates for one language, by key (only those set)."""
    rows = session.execute(TEMPLATES, {"project_id": project_id, "language": language})
    return {row.key: row.template for row in rows}


# Built once: every customer message the bot sends reads it.
TEMPLATES = select(ProjectText.__table__.c.key, ProjectText.__table__.c.template).where(
    ProjectText.__table__.c.project_id == bindparam("project_id"),
    ProjectText.__table__.c.language == bindparam("language"),
)


def contact(templates: dict[str, str], project) -> str | None:
    """The contact for refusals: the owner's for this language, else the project's own contact
    (plain text, so escaped) when the project has one."""
    if templates.get("contact"):
        return templates["contact"]
    return escape(project.contact, quote=False) if project.contact else None


def set_project_languages(session: Session, project, default_language: str, timezone: str) -> None:
    """The project's default language (for customers whose language the bot does not speak)
    and the time zone customers read their dates in; a bad choice changes nothing."""
    if default_language not in LANGUAGES:
        raise InvalidInput("default_language", D_("Pick a language from the list."))
    if not is_zone_name(timezone):
        raise InvalidInput("timezone", D_("Pick a time zone from the list."))
    project.default_language = default_language
    project.timezone = timezone
    session.flush()


def save_project_texts(
    session: Session, project_id: int, language: str, templates: dict[str, str], now: datetime
) -> dict[str, str]:
    """Check every template, then store them (an empty one goes back to the bot's own text).

    Nothing is stored unless all pass: ``InvalidInput`` names the first bad one; see
    ``check_templates`` for every problem at once.
    """
    if language not in LANGUAGES:
        raise InvalidInput("language", D_("Pick a language from the list."))
    problems = check_templates(templates)
    if problems:
        raise next(iter(problems.values()))
    existing = {
        row.key: row
        for row in session.scalars(
            select(ProjectText).where(
                ProjectText.project_id == project_id, ProjectText.language == language
            )
        )
    }
    saved = {}
    for key in KINDS:
        text = (templates.get(key) or "").strip().replace("\r\n", "\n")
        row = existing.get(key)
        if not text:
            if row is not None:
                session.delete(row)
            continue
        if row is None:
            session.add(ProjectText(
                project_id=project_id, language=language, key=key, template=text, updated_at=now
            ))
        elif row.template != text:
            row.template = text
            row.updated_at = now
        saved[key] = text
    session.flush()
    return saved


def check_templates(templates: dict[str, str]) -> dict[str, str]:
    """Every problem of the given templates (an ``InvalidInput``), by key (empty: all good)."""
    problems = {}
    for key, template in templates.items():
        if key not in KINDS or not (template or "").strip():
            continue
        try:
            check_template(key, template)
        except InvalidInput as exc:
            problems[key] = exc
    return problems
