"""The first run: a checklist from sign-up to a tested activation link, and that dry run.

The checklist reads what exists (projects, usable chats, plans, codes, a passed link test), so
each step ticks itself when it is done wherever it was done (dashboard, bot, sandbox).
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.models import AccessCode, AuditEvent, Plan, Project, Resource

LINK_TESTED = "link.tested"


@dataclass(frozen=True)
class SetupStep:
    key: str
    title: str
    done: bool
    hint: str
    # where the step is done: an endpoint and its arguments for url_for
    endpoint: str
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Checklist:
    steps: list[SetupStep]
    code: AccessCode | None  # the code the "test the link" step tests

    @property
    def complete(self) -> bool:
        return all(step.done for step in self.steps)

    @property
    def next_step(self) -> SetupStep | None:
        return next((step for step in self.steps if not step.done), None)


def setup_checklist(session: Session, owner_id: int) -> Checklist:
    """The five steps to a working activation link, each with whether it is done."""
    projects = list(
        session.scalars(
            select(Project)
            .where(Project.owner_id == owner_id, Project.deleted_at.is_(None))
            .order_by(Project.created_at, Project.id)
        )
    )
    ids = [p.id for p in projects] or [-1]
    first = projects[0] if projects else None
    usable = session.scalars(
        select(Resource).where(
            Resource.project_id.in_(ids),
            Resource.bot_is_admin.is_(True),
            Resource.can_invite_users.is_(True),
            Resource.can_restrict_members.is_(True),
        ).limit(1)
    ).first()
    plan = session.scalars(
        select(Plan).where(Plan.project_id.in_(ids), Plan.archived_at.is_(None)).limit(1)
    ).first()
    code = session.scalars(
        select(AccessCode)
        .where(AccessCode.project_id.in_(ids), AccessCode.deleted_at.is_(None))
        .order_by(AccessCode.created_at.desc(), AccessCode.id.desc())
        .limit(1)
    ).first()
    tested = session.scalar(
        select(AuditEvent.id)
        .where(
            AuditEvent.project_id.in_(ids),
            AuditEvent.action == LINK_TESTED,
            AuditEvent.details["ok"].as_boolean().is_(True),
        )
        .limit(1)
    )
    project_args = {"project_id": first.id} if first else {}
    steps = [
        SetupStep("bot", "Connect a bot (or a sandbox bot)", first is not None,
                  "Paste a token from @BotFather, or try with a sandbox bot.",
                  "projects.new_project"),
        SetupStep("channel", "Add a channel with the rights it needs", usable is not None,
                  "Make the bot an administrator that may invite users and ban users.",
                  "projects.show_project" if first else "projects.new_project", project_args),
        SetupStep("plan", "Make a plan", plan is not None,
                  "Which channels it opens, and for how long.",
                  "plans.new_plan" if first else "projects.new_project", project_args),
        SetupStep("code", "Make a code", code is not None,
                  "One code with its activation link, or a batch.", "codes.new_code"),
        SetupStep("test", "Test the link", tested is not None,
                  "A dry run: checks the code, the bot and its rights; activates nothing.",
                  "codes.code_detail" if code else "codes.new_code",
                  {"code_id": code.id} if code else {}),
    ]
    return Checklist(steps=steps, code=code)


@dataclass(frozen=True)
class Check:
    label: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class LinkTest:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def judge_link_test(
    code: AccessCode,
    now: datetime,
    bot_problem: str | None,
    rights: list[tuple[Resource, dict | None, str | None]],
) -> LinkTest:
    """What a customer tapping ``code``'s link now would meet, from what Telegram said.

    ``bot_problem`` is why getMe failed (None: the bot answers); ``rights`` holds, per resource
    of the code's plan, the bot's getChatMember answer or why it could not be read.
    """
    status = code.status(now)
    checks = [
        Check(
            f"The code {code.code} can be activated",
            status == "active",
            "" if status == "active" else f"It is {status}.",
        ),
        Check("The bot answers", bot_problem is None, bot_problem or ""),
    ]
    if not rights:
        checks.append(Check("The plan opens a channel or group", False, "It opens none."))
    for resource, member, problem in rights:
        if member is None:
            checks.append(Check(f"The bot's rights in {resource.title}", False, problem or ""))
            continue
        needed = (("invite users", "can_invite_users"), ("ban users", "can_restrict_members"))
        missing = [name for name, key in needed if not member.get(key)]
        if member.get("status") not in ("administrator", "creator"):
            detail = "The bot is not an administrator there."
        elif missing:
            detail = "The bot may not " + " or ".join(missing) + " there."
        else:
            detail = ""
        checks.append(Check(f"The bot's rights in {resource.title}", not detail, detail))
    return LinkTest(checks)


def record_link_test(
    session: Session, code: AccessCode, owner_id: int, result: LinkTest, now: datetime
) -> AuditEvent:
    """Keep the dry run in the code's history (and tick the checklist when it passed)."""
    event = AuditEvent(
        project_id=code.project_id,
        code_id=code.id,
        owner_id=owner_id,
        action=LINK_TESTED,
        details={"ok": result.ok, "failed": [c.label for c in result.checks if not c.ok]},
        created_at=now,
    )
    session.add(event)
    session.flush()
    return event
