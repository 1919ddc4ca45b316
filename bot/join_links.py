"""Join links: made right after an activation, or later by an RQ job when Telegram refused.

It lives with the bot (and the worker imports it from here) so the wording of bot/texts.py
stays in one place and dependencies keep running from bot/ to webapp/, never back.

``issue_join_links`` is shared by the bot (right after an activation) and by the outbox's sender
(bot.outbox), which sends the links later when one could not be made at once.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

import requests
from rq import Retry
from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session

from bot import keyboards, texts
from bot.redaction import describe
from webapp import telegram
from webapp.domain import memberships
from webapp.domain.core_sql import connection_of
from webapp.domain.customers import customer_language, lock_customer
from webapp.domain.entitlements import active_access, active_subscriptions_clause, is_entitled
from webapp.models import Customer, Membership, Plan, Project, Resource, Subscription, plan_resource

log = logging.getLogger(__name__)

# Telegram already retried 429/5xx inside one call; these are the longer waits between attempts.
JOIN_LINK_RETRY = Retry(max=6, interval=[10, 30, 60, 300, 900, 3600])
LONGEST_INLINE_WAIT = 5  # seconds of a 429 the job sleeps through; longer ones go back to RQ


class JoinLinksPending(Exception):
    """Some invite links still could not be made; RQ retries the job."""


@dataclass
class JoinLinks:
    """Plain values, safe to use after the session is gone: (title, url) per link made."""

    links: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # The customer's active subscriptions as read under their lock after storing new links
    # (None when no link was stored): the sender's last look needs no second read.
    active_subscriptions: frozenset[int] | None = None


@dataclass(frozen=True)
class _Need:
    membership_id: int
    resource_id: int
    chat_id: int
    title: str
    stored: str | None  # the link recorded now, usable or not
    link: str | None  # the recorded link if it may be handed out again
    bot_is_admin: bool
    join_by_request: bool  # the link asks to join and the bot approves (no member_limit)
    undelivered: bool  # recorded as a link Telegram would not make


@dataclass(frozen=True)
class LinkNeeds:
    """What making a customer's join links needs to know, read before talking to Telegram."""

    name: str  # the links' name, as the owner sees it in Telegram
    needs: list[_Need]


customers, resources = Customer.__table__, Resource.__table__
memberships_table = Membership.__table__
NEEDS = (
    select(
        customers.c.username, customers.c.telegram_user_id, resources.c.id.label("resource_id"),
        resources.c.chat_id, resources.c.title, resources.c.bot_is_admin,
        resources.c.join_by_request, memberships_table.c.id.label("membership_id"),
        memberships_table.c.invite_link, memberships_table.c.invite_link_expires_at,
        memberships_table.c.joined_at, memberships_table.c.left_at,
        memberships_table.c.link_undelivered_at,
        # Still entitled: a rollback may have won since the caller decided on these resources.
        exists()
        .where(
            plan_resource.c.resource_id == resources.c.id,
            Subscription.plan_id == plan_resource.c.plan_id,
            Subscription.customer_id == customers.c.id,
            *active_subscriptions_clause(bindparam("now")),
        )
        .label("entitled"),
    )
    .select_from(customers)
    .join(resources, resources.c.id.in_(bindparam("resource_ids", expanding=True)))
    .outerjoin(
        memberships_table,
        (memberships_table.c.customer_id == customers.c.id)
        & (memberships_table.c.resource_id == resources.c.id),
    )
    .where(customers.c.id == bindparam("customer_id"))
)


def read_link_needs(
    session: Session, project_id: int, customer_id: int, resource_ids: list[int], now: datetime
) -> LinkNeeds:
    """The customer, the resources they are still entitled to and their membership rows, in one
    round trip (a missing membership row is made first). A resource whose access went meanwhile
    (a rollback won) gets no link."""
    if not resource_ids:
        customer = session.get(Customer, customer_id)
        return LinkNeeds(memberships.link_name(customer), [])
    params = {"customer_id": customer_id, "resource_ids": resource_ids, "now": now}
    rows = connection_of(session).execute(NEEDS, params).all()
    if any(row.entitled and row.membership_id is None for row in rows):
        memberships.ensure_memberships(
            session, project_id, customer_id,
            [row.resource_id for row in rows if row.entitled and row.membership_id is None],
        )
        rows = connection_of(session).execute(NEEDS, params).all()
    name = memberships.link_name(rows[0] if rows else session.get(Customer, customer_id))
    order = {resource_id: i for i, resource_id in enumerate(resource_ids)}
    rows = sorted((row for row in rows if row.entitled), key=lambda r: order[r.resource_id])
    return LinkNeeds(
        name,
        [
            _Need(
                row.membership_id,
                row.resource_id,
                row.chat_id,
                row.title,
                row.invite_link,
                memberships.usable_link(row, now),
                row.bot_is_admin,
                row.join_by_request,
                row.link_undelivered_at is not None,
            )
            for row in rows
        ],
    )


def fresh_link_needs(result, username: str | None, telegram_user_id: int) -> LinkNeeds | None:
    """What an activation's links need when it made every membership row itself: nothing to
    read back (no link yet, access just given, the resources as the activation read them).
    None when some row is older: ``read_link_needs`` then."""
    if any(r.id not in result.new_memberships for r in result.resources):
        return None
    return LinkNeeds(
        memberships.link_name_of(username, telegram_user_id),
        [
            _Need(result.new_memberships[r.id], r.id, r.chat_id, r.title, None, None,
                  r.bot_is_admin, r.join_by_request, False)
            for r in result.resources
        ],
    )


def issue_join_links(
    session: Session,
    project_id: int,
    customer_id: int,
    resource_ids: list[int],
    now: datetime,
    *,
    token: str | None = None,
    needs: LinkNeeds | None = None,
) -> JoinLinks:
    """An invite link per resource made for this customer alone, reused while still good.

    Links are ``member_limit=1`` (or, for a resource in join-request mode, ask to join and are
    approved by the bot for the entitled only) and expire after ``INVITE_LINK_LIFETIME``; each
    is stored in the customer's ``Membership``. A link replaced by a new one (nearly expired, or
    spent) is revoked, and so is a link of ours that lost a race with another process storing
    one: no link Admit made keeps working unrecorded (a rollback could not find it). A resource
    where Telegram refuses (or the bot is no longer an administrator) is reported in ``missing``
    instead of failing the rest.

    ``needs`` is ``read_link_needs`` done by the caller in its own transaction (the bot, in the
    activation's); ``token`` the project's bot token when the caller has it.

    This is a boundary step, not domain logic: it commits the session before calling Telegram and
    again after storing the links, so no transaction (on SQLite: the write lock) is held while
    waiting for the Bot API.
    """
    if needs is None:
        needs = read_link_needs(session, project_id, customer_id, resource_ids, now)
    if token is None:
        token = bot_token_of(session, project_id)
    session.commit()
    name = needs.name
    links: dict[int, str] = {}
    missing: list[str] = []
    undelivered: dict[int, str] = {}  # membership id → why Telegram gave no link
    made: list[tuple[_Need, str, datetime]] = []
    for need in needs.needs:
        if need.link is not None:
            links[need.membership_id] = need.link
            continue
        if not need.bot_is_admin:
            missing.append(need.title)
            undelivered[need.membership_id] = "the bot is not an administrator there"
            continue
        expires_at = now + memberships.INVITE_LINK_LIFETIME
        try:
            if need.join_by_request:
                link = telegram.create_invite_link(
                    token, need.chat_id, name=name, expire_date=expires_at,
                    creates_join_request=True,
                )
            else:
                link = telegram.create_invite_link(
                    token, need.chat_id, name=name, expire_date=expires_at, member_limit=1
                )
        except telegram.TelegramError as exc:
            log.warning("invite link for customer %s in chat %s failed: %s",
                        customer_id, need.chat_id, describe(exc, token))
            missing.append(need.title)
            undelivered[need.membership_id] = describe(exc, token)[:255]
            continue
        made.append((need, link, expires_at))
    to_revoke: list[tuple[int, str]] = []
    active_subscriptions = None
    stored_ours: set[int] = set()  # a store clears the membership's "link missing" flag
    if made:
        # The customer's row lock (PostgreSQL) orders this transaction with a rollback, which
        # takes the same lock; on SQLite the first write below holds the database. So the
        # entitlement read after storing is current: either the rollback comes after and its
        # removal finds the stored link to revoke, or it came first and the link is undone here.
        lock_customer(session, customer_id)
        stored_links = [
            (need, link, memberships.store_new_link(
                session, need.membership_id, need.stored, link, expires_at, now
            ))
            for need, link, expires_at in made
        ]
        access = active_access(session, customer_id, now)
        active_subscriptions = access.subscription_ids
        for need, ours, stored in stored_links:
            if stored.to_revoke:
                to_revoke.append((need.chat_id, stored.to_revoke))
            if stored.link is not None and need.resource_id not in access.resource_ids:
                memberships.forget_link(session, need.membership_id, stored.link)
                to_revoke.append((need.chat_id, stored.link))
                continue  # access withdrawn while Telegram made the link: no link, nothing missing
            if stored.link is None:
                missing.append(need.title)
                undelivered[need.membership_id] = "the link was replaced meanwhile"
            else:
                links[need.membership_id] = stored.link
                if stored.link == ours:
                    stored_ours.add(need.membership_id)
    # Recorded, not inferred: the owner's inbox lists exactly who is still waiting for a link.
    # A link stored above cleared its flag; a link handed out again clears one it was read with.
    flagged = {n.membership_id for n in needs.needs if n.undelivered}
    delivered = (set(links) - stored_ours) & flagged
    if delivered or undelivered:
        memberships.note_link_delivery(session, delivered, undelivered, now)
    session.commit()
    for chat_id, link in to_revoke:
        revoke_quietly(token, chat_id, link)
    result = JoinLinks(missing=missing, active_subscriptions=active_subscriptions)
    for need in needs.needs:
        if need.membership_id in links:
            result.links.append((need.title, links[need.membership_id]))
    return result


def bot_token_of(session: Session, project_id: int) -> str:
    """The project's bot token; a sandbox project's calls go to the sandbox from now on (as
    loading its row does, webapp.sandbox)."""
    token, sandbox = session.execute(
        select(Project.bot_token, Project.sandbox).where(Project.id == project_id)
    ).one()
    if sandbox:
        telegram.route_to_sandbox(token)
    return token


def revoke_quietly(token: str, chat_id: int, link: str) -> None:
    """Revoke a link no longer handed out; a failure is logged, it changes nothing for anyone."""
    try:
        telegram.revoke_invite_link(token, chat_id, link)
    except Exception as exc:  # noqa: BLE001 - best effort; the link still expires within a day
        log.warning("could not revoke a replaced invite link in chat %s: %s", chat_id,
                    describe(exc, token))


def deliver_join_links(project_id: int, customer_id: int, plan_id: int) -> str:
    """Make the invite links a customer is still missing and send them their Join buttons.

    Kept for jobs queued before the outbox (bot.outbox), which now promises these messages.

    Only resources the customer is still entitled to get a link, so a late job never admits
    someone whose access was rolled back meanwhile. Raises ``JoinLinksPending`` while any link
    still fails, so RQ tries again later; nothing is sent until every link exists.
    """
    from webapp.extensions import db
    from webapp.models import utcnow
    from webapp.worker import app_context

    with app_context():
        session = db.session
        now = utcnow()
        project = session.get(Project, project_id)
        customer = session.get(Customer, customer_id)
        plan = session.get(Plan, plan_id)
        if project is None or project.deleted_at is not None or customer is None or plan is None:
            return "gone"
        resource_ids = [
            r.id for r in plan.resources if is_entitled(session, customer.id, r.id, now)
        ]
        if not resource_ids:
            return "not entitled"
        token, chat_id = project.bot_token, customer.telegram_user_id
        lang = customer_language(customer, project)
        text = texts.join_links_ready(project.name, plan.name, lang)
        # A long flood wait fails the attempt instead of holding the worker; RQ retries later.
        try:
            with telegram.waiting_at_most(LONGEST_INLINE_WAIT):
                result = issue_join_links(session, project_id, customer_id, resource_ids, now)
                if result.missing:
                    raise JoinLinksPending(f"no invite link yet for {', '.join(result.missing)}")
                telegram.send_message(
                    token, chat_id, text, reply_markup=keyboards.join_buttons(result.links, lang)
                )
        except telegram.Uncertain:
            return "sent (Telegram's answer was lost; not sent again)"
        except requests.RequestException as exc:
            # Its message holds the request URL with the token; RQ would log and store it.
            raise JoinLinksPending(describe(exc, token)) from None
        return "sent"
