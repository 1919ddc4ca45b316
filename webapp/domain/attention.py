"""The owner's "needs attention" inbox: what has gone wrong, or soon will, and what to do.

Each item is read from the rows that say it is so (a failed removal, a chat's rights, a join
link recorded as undelivered, a code's counts), so it disappears by itself once that is solved.
The dashboard home shows the list; the bot sends it once a day as a digest.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, text, update
from sqlalchemy.orm import Session, joinedload

from webapp.domain.bot_health import POLL_SILENCE as SILENT_AFTER
from webapp.i18n import D_, ND_, Worded
from webapp.models import (
    NEARLY_USED_UP,
    SINGLE_CODE_EXPIRING,
    AccessCode,
    Batch,
    Customer,
    Membership,
    Owner,
    Plan,
    Project,
    Removal,
    Resource,
    Subscription,
)

EXPIRING_WITHIN = timedelta(days=3)
PER_KIND = 20  # items of one kind shown, at most (the count says how many more)


@dataclass(frozen=True)
class AttentionItem:
    kind: str  # removal_failed, rights_missing, link_undelivered, bot_silent, code_nearly_used_up,
    #            code_expiring, batch_expiring
    project: Project
    problem: str
    todo: str
    removal_id: int | None = None
    code_id: int | None = None
    batch_id: int | None = None
    customer_id: int | None = None
    resource_id: int | None = None


@dataclass(frozen=True)
class Inbox:
    items: list[AttentionItem]
    more: dict[str, int]  # kind → items not listed

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def count(self) -> int:
        return len(self.items) + sum(self.more.values())


def needs_attention(
    session: Session,
    owner_id: int,
    now: datetime,
    *,
    last_polls: dict[int, datetime | None] | None = None,
) -> Inbox:
    """Everything of the owner's projects that needs them, most urgent first.

    ``last_polls`` (project id → when its bot last received updates, from
    ``webapp.domain.bot_health``) adds "the bot is not receiving updates" for bots silent longer
    than ``SILENT_AFTER``.
    """
    projects = {
        p.id: p
        for p in session.scalars(
            select(Project).where(Project.owner_id == owner_id, Project.deleted_at.is_(None))
        )
    }
    if not projects:
        return Inbox([], {})
    ids = list(projects)
    items: list[AttentionItem] = []
    more: dict[str, int] = {}

    def add(kind: str, found: list[AttentionItem]) -> None:
        items.extend(found[:PER_KIND])
        if len(found) > PER_KIND:
            more[kind] = len(found) - PER_KIND

    add("removal_failed", _failed_removals(session, ids, projects))
    add("rights_missing", _rights_missing(session, ids, projects))
    add("link_undelivered", _undelivered_links(session, ids, projects))
    if last_polls is not None:
        add("bot_silent", _silent_bots(projects, last_polls, now))
    add("code_nearly_used_up", _nearly_used_up(session, ids, projects, now))
    add("code_expiring", _expiring(session, ids, projects, now))
    return Inbox(items, more)


def _who(customer: Customer) -> str:
    name = customer.display_name
    if customer.username and not name.startswith("@"):
        return Worded(D_("%(name)s (@%(username)s)"), name=name, username=customer.username)
    return name


def _failed_removals(session, ids, projects) -> list[AttentionItem]:
    removals = session.scalars(
        select(Removal)
        .where(Removal.project_id.in_(ids), Removal.status == "failed")
        .options(joinedload(Removal.customer), joinedload(Removal.resource))
        .order_by(Removal.id.desc())
        .limit(PER_KIND * 5)
    )
    found = []
    for removal in removals:
        resource = removal.resource
        if not resource.bot_is_admin:
            bot = "@" + projects[removal.project_id].bot_username
            fix = Worded(
                D_("Make %(bot)s an administrator of %(chat)s again, then tap Retry."),
                bot=bot, chat=resource.title,
            )
        else:
            fix = Worded(
                D_("Give the bot the “Ban users” right in %(chat)s, then tap Retry."),
                chat=resource.title,
            )
        who = _who(removal.customer)
        if removal.last_error:
            problem = Worded(
                D_("%(who)s could not be removed from %(chat)s: %(error)s"),
                who=who, chat=resource.title, error=removal.last_error,
            )
        else:
            problem = Worded(
                D_("%(who)s could not be removed from %(chat)s."), who=who, chat=resource.title
            )
        found.append(
            AttentionItem(
                "removal_failed",
                projects[removal.project_id],
                problem,
                fix,
                removal_id=removal.id,
                customer_id=removal.customer_id,
                resource_id=resource.id,
            )
        )
    return found


def _rights_missing(session, ids, projects) -> list[AttentionItem]:
    resources = session.scalars(
        select(Resource)
        .where(
            Resource.project_id.in_(ids),
            or_(
                Resource.bot_is_admin.is_(False),
                Resource.can_invite_users.is_(False),
                Resource.can_restrict_members.is_(False),
            ),
            # Only chats a live plan opens: a chat the owner no longer sells is not urgent.
            Resource.id.in_(
                select(Resource.id)
                .join(Plan.resources)
                .where(Plan.archived_at.is_(None))
            ),
        )
        .order_by(Resource.id)
    )
    found = []
    for resource in resources:
        bot = "@" + projects[resource.project_id].bot_username
        chat = resource.title
        if not resource.bot_is_admin:
            problem = Worded(
                D_("%(bot)s is no longer an administrator of %(chat)s."), bot=bot, chat=chat
            )
            todo = Worded(
                D_(
                    "Make %(bot)s an administrator of %(chat)s with the “Invite users via "
                    "link” and “Ban users” rights: until then new customers cannot join and "
                    "nobody can be removed."
                ),
                bot=bot, chat=chat,
            )
        else:
            if not resource.can_invite_users and not resource.can_restrict_members:
                rights = Worded(D_("“Invite users via link” and “Ban users”"))
            elif not resource.can_invite_users:
                rights = Worded(D_("“Invite users via link”"))
            else:
                rights = Worded(D_("“Ban users”"))
            problem = Worded(
                D_("%(bot)s lacks the %(rights)s right in %(chat)s."),
                bot=bot, rights=rights, chat=chat,
            )
            todo = Worded(
                D_("In %(chat)s, open Administrators → %(bot)s and turn on %(rights)s."),
                chat=chat, bot=bot, rights=rights,
            )
        found.append(
            AttentionItem("rights_missing", projects[resource.project_id], problem, todo,
                          resource_id=resource.id)
        )
    return found


def _undelivered_links(session, ids, projects) -> list[AttentionItem]:
    rows = session.scalars(
        select(Membership)
        .where(Membership.project_id.in_(ids), Membership.link_undelivered_at.is_not(None))
        .options(joinedload(Membership.customer), joinedload(Membership.resource))
        .order_by(Membership.link_undelivered_at.desc())
        .limit(PER_KIND * 5)
    )
    found = []
    for membership in rows:
        resource = membership.resource
        who, reason = _who(membership.customer), membership.link_undelivered_reason
        if reason:
            problem = Worded(
                D_("%(who)s has not received a join link for %(chat)s (%(reason)s)."),
                who=who, chat=resource.title, reason=reason,
            )
        else:
            problem = Worded(
                D_("%(who)s has not received a join link for %(chat)s."),
                who=who, chat=resource.title,
            )
        found.append(
            AttentionItem(
                "link_undelivered",
                projects[membership.project_id],
                problem,
                Worded(
                    D_(
                        "Check that the bot is an administrator of %(chat)s with the “Invite "
                        "users via link” right; the link is sent by itself as soon as Telegram "
                        "makes it."
                    ),
                    chat=resource.title,
                ),
                customer_id=membership.customer_id,
                resource_id=resource.id,
            )
        )
    return found


def _silent_bots(projects, last_polls, now) -> list[AttentionItem]:
    found = []
    for project_id, project in projects.items():
        if project.created_at is not None and now - project.created_at < SILENT_AFTER:
            continue  # just connected: the bot process picks it up within a minute
        last = last_polls.get(project_id)
        if last is not None and now - last < SILENT_AFTER:
            continue
        if last:
            problem = Worded(
                D_(
                    "@%(bot)s has not received updates from Telegram since %(when)s UTC: "
                    "activations are not answered."
                ),
                bot=project.bot_username, when=last.strftime("%d %b %Y, %H:%M"),
            )
        else:
            problem = Worded(
                D_(
                    "@%(bot)s has not received updates from Telegram recently: activations are "
                    "not answered."
                ),
                bot=project.bot_username,
            )
        found.append(
            AttentionItem(
                "bot_silent",
                project,
                problem,
                Worded(
                    D_(
                        "Check that the bot process is running (only one may poll a token), and "
                        "that no webhook is set for this bot."
                    )
                ),
            )
        )
    return found


def nearly_used_up_query(ids, now):
    # The rule is the index's own condition (webapp.models.NEARLY_USED_UP), so the newest come
    # off the end of an index that holds only such codes.
    return (
        select(AccessCode)
        .where(
            AccessCode.project_id.in_(ids),
            text(NEARLY_USED_UP),
            or_(AccessCode.expires_at.is_(None), AccessCode.expires_at > now),
        )
        .order_by(AccessCode.id.desc())
        .limit(PER_KIND * 5)
    )


def _nearly_used_up(session, ids, projects, now) -> list[AttentionItem]:
    codes = session.scalars(nearly_used_up_query(ids, now))
    return [
        AttentionItem(
            "code_nearly_used_up",
            projects[code.project_id],
            ND_(
                "%(code)s is nearly used up: %(count)s of %(num)s activation taken.",
                "%(code)s is nearly used up: %(count)s of %(num)s activations taken.",
                code.max_activations, code=code.code, count=code.activation_count,
            ),
            Worded(
                D_("Raise its max activations if more people should use it, or make a new code.")
            ),
            code_id=code.id,
        )
        for code in codes
    ]


def expiring_codes_query(ids, now):
    # Single codes by expiry, from an index of only those (webapp.models.SINGLE_CODE_EXPIRING):
    # the read is the codes expiring within the window, however many codes expire later.
    return (
        select(AccessCode)
        .where(
            AccessCode.project_id.in_(ids),
            text(SINGLE_CODE_EXPIRING),
            AccessCode.expires_at > now,
            AccessCode.expires_at <= now + EXPIRING_WITHIN,
            AccessCode.activation_count < AccessCode.max_activations,
        )
        .order_by(AccessCode.expires_at)
        .limit(PER_KIND * 5)
    )


def expiring_batches_query(ids, now):
    return (
        select(Batch)
        .where(
            Batch.project_id.in_(ids),
            Batch.expires_at.is_not(None),
            Batch.expires_at > now,
            Batch.expires_at <= now + EXPIRING_WITHIN,
            Batch.id.in_(
                select(AccessCode.batch_id).where(
                    AccessCode.deleted_at.is_(None), AccessCode.activation_count == 0
                )
            ),
        )
        .order_by(Batch.expires_at)
    )


def _expiring(session, ids, projects, now) -> list[AttentionItem]:
    codes = session.scalars(expiring_codes_query(ids, now))
    found = [
        AttentionItem(
            "code_expiring",
            projects[code.project_id],
            ND_(
                "%(code)s expires %(when)s UTC with %(num)s activation left.",
                "%(code)s expires %(when)s UTC with %(num)s activations left.",
                code.activations_left,
                code=code.code, when=code.expires_at.strftime("%d %b %Y, %H:%M"),
            ),
            Worded(D_("Edit it to move the expiry if it should keep working.")),
            code_id=code.id,
        )
        for code in codes
    ]
    batches = session.scalars(expiring_batches_query(ids, now))
    found += [
        AttentionItem(
            "code_expiring",
            projects[batch.project_id],
            ND_(
                "A batch of %(num)s code expires %(when)s UTC with codes nobody has used yet.",
                "A batch of %(num)s codes expires %(when)s UTC with codes nobody has used yet.",
                batch.size, when=batch.expires_at.strftime("%d %b %Y, %H:%M"),
            ),
            Worded(D_("Hand the unused codes out before then, or make a new batch.")),
            batch_id=batch.id,
        )
        for batch in batches
    ]
    return found


# -- The daily digest --------------------------------------------------------------------------

DIGEST_EVERY = timedelta(hours=20)  # once a day, give or take when the hourly sweep runs


def due_digest_owner_ids(session: Session, now: datetime) -> list[int]:
    """Owners with a linked Telegram account whose last digest is a day old (or never sent)."""
    return list(
        session.scalars(
            select(Owner.id).where(
                Owner.telegram_user_id.is_not(None),
                or_(Owner.digest_sent_at.is_(None), Owner.digest_sent_at <= now - DIGEST_EVERY),
            )
        )
    )


def claim_digest(session: Session, owner_id: int, now: datetime) -> bool:
    """Take today's digest of the owner; only one process (of two cron runs) gets it."""
    claimed = session.execute(
        update(Owner)
        .where(
            Owner.id == owner_id,
            or_(Owner.digest_sent_at.is_(None), Owner.digest_sent_at <= now - DIGEST_EVERY),
        )
        .values(digest_sent_at=now)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1


@dataclass(frozen=True)
class EndedAccess:
    project_id: int
    customer: Customer
    plan_name: str
    reason: str | None


def access_ended_since(
    session: Session, owner_id: int, since: datetime, until: datetime
) -> list[EndedAccess]:
    """Subscriptions of the owner's customers that ended in ``[since, until)``."""
    rows = session.execute(
        select(Subscription, Customer, Plan.name)
        .join(Customer, Customer.id == Subscription.customer_id)
        .join(Plan, Plan.id == Subscription.plan_id)
        .join(Project, Project.id == Subscription.project_id)
        .where(
            Project.owner_id == owner_id,
            Subscription.ended_at >= since,
            Subscription.ended_at < until,
        )
        .order_by(Subscription.ended_at)
    )
    return [EndedAccess(s.project_id, c, name, s.end_reason) for s, c, name in rows]
