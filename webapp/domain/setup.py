"""The first run: a checklist from sign-up to a tested activation link, and that dry run.

The checklist reads what exists (projects, usable chats, plans, codes, a passed link test), so
each step ticks itself when it is done wherever it was done (dashboard, bot, sandbox).
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from webapp.i18n import D_, Worded
from webapp.models import LINK_TESTS, AccessCode, AuditEvent, Plan, Project, Resource

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
            # Written out, as the index of link tests says it (webapp.models.LINK_TESTS): a
            # project's other events, one per activation, are never read.
            text(LINK_TESTS),
            AuditEvent.details["ok"].as_boolean().is_(True),
        )
        .limit(1)
    )
    project_args = {"project_id": first.id} if first else {}
    steps = [
        SetupStep("bot", D_("Connect a bot (or a sandbox bot)"), first is not None,
                  D_("Paste a token from @BotFather, or try with a sandbox bot."),
                  "projects.new_project"),
        SetupStep("channel", D_("Add a channel with the rights it needs"), usable is not None,
                  D_("Make the bot an administrator that may invite users and ban users."),
                  "projects.show_project" if first else "projects.new_project", project_args),
        SetupStep("plan", D_("Make a plan"), plan is not None,
                  D_("Which channels it opens, and for how long."),
                  "plans.new_plan" if first else "projects.new_project", project_args),
        SetupStep("code", D_("Make a code"), code is not None,
                  D_("One code with its activation link, or a batch."), "codes.new_code"),
        SetupStep("test", D_("Test the link"), tested is not None,
                  D_("A dry run: checks the code, the bot and its rights; activates nothing."),
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
            Worded(D_("The code %(code)s can be activated"), code=code.code),
            status == "active",
            "" if status == "active" else Worded(D_("It is %(status)s."), status=status),
        ),
        Check(D_("The bot answers"), bot_problem is None, bot_problem or ""),
    ]
    if not rights:
        checks.append(Check(D_("The plan opens a channel or group"), False, D_("It opens none.")))
    for resource, member, problem in rights:
        label = Worded(D_("The bot's rights in %(chat)s"), chat=resource.title)
        if member is None:
            checks.append(Check(label, False, problem or ""))
            continue
        invite, ban = member.get("can_invite_users"), member.get("can_restrict_members")
        if member.get("status") not in ("administrator", "creator"):
            detail = D_("The bot is not an administrator there.")
        elif not invite and not ban:
            detail = D_("The bot may not invite users or ban users there.")
        elif not invite:
            detail = D_("The bot may not invite users there.")
        elif not ban:
            detail = D_("The bot may not ban users there.")
        else:
            detail = ""
        checks.append(Check(label, not detail, detail))
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
