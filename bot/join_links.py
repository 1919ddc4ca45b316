"""Join links: made right after an activation, or later by an RQ job when Telegram refused.

It lives with the bot (and the worker imports it from here) so the wording of bot/texts.py
stays in one place and dependencies keep running from bot/ to webapp/, never back.

``issue_join_links`` is shared by the bot (right after an activation) and by the job
``deliver_join_links``, which the bot queues when a link could not be made at once.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

import requests
from rq import Retry
from sqlalchemy.orm import Session

from bot import keyboards, texts
from bot.redaction import describe
from webapp import telegram
from webapp.domain import memberships
from webapp.domain.customers import customer_language
from webapp.domain.entitlements import is_entitled
from webapp.models import Customer, Plan, Project, Resource

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


@dataclass(frozen=True)
class _Need:
    membership_id: int
    chat_id: int
    title: str
    stored: str | None  # the link recorded now, usable or not
    link: str | None  # the recorded link if it may be handed out again
    bot_is_admin: bool
    join_by_request: bool  # the link asks to join and the bot approves (no member_limit)


def issue_join_links(
    session: Session, project_id: int, customer_id: int, resource_ids: list[int], now: datetime
) -> JoinLinks:
    """An invite link per resource made for this customer alone, reused while still good.

    Links are ``member_limit=1`` (or, for a resource in join-request mode, ask to join and are
    approved by the bot for the entitled only) and expire after ``INVITE_LINK_LIFETIME``; each
    is stored in the customer's ``Membership``. A link replaced by a new one (nearly expired, or
    spent) is revoked, and so is a link of ours that lost a race with another process storing
    one: no link Admit made keeps working unrecorded (a rollback could not find it). A resource
    where Telegram refuses (or the bot is no longer an administrator) is reported in ``missing``
    instead of failing the rest.

    This is a boundary step, not domain logic: it commits the session before calling Telegram and
    again after storing the links, so no transaction (on SQLite: the write lock) is held while
    waiting for the Bot API.
    """
    project = session.get(Project, project_id)
    customer = session.get(Customer, customer_id)
    token, name = project.bot_token, memberships.link_name(customer)
    needs = []
    for resource_id in resource_ids:
        resource = session.get(Resource, resource_id)
        membership = memberships.membership_for(session, project_id, customer_id, resource_id)
        needs.append(
            _Need(
                membership.id,
                resource.chat_id,
                resource.title,
                membership.invite_link,
                memberships.usable_link(membership, now),
                resource.bot_is_admin,
                resource.join_by_request,
            )
        )
    session.commit()
    links: dict[int, str] = {}
    missing: list[str] = []
    undelivered: dict[int, str] = {}  # membership id → why Telegram gave no link
    made: list[tuple[_Need, str, datetime]] = []
    for need in needs:
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
    if made:
        for need, link, expires_at in made:
            stored = memberships.store_new_link(
                session, need.membership_id, need.stored, link, expires_at, now
            )
            if stored.link is None:
                missing.append(need.title)
                undelivered[need.membership_id] = "the link was replaced meanwhile"
            else:
                links[need.membership_id] = stored.link
            if stored.to_revoke:
                to_revoke.append((need.chat_id, stored.to_revoke))
        session.commit()
    # Recorded, not inferred: the owner's inbox lists exactly who is still waiting for a link.
    if memberships.note_link_delivery(session, set(links), undelivered, now):
        session.commit()
    for chat_id, link in to_revoke:
        revoke_quietly(token, chat_id, link)
    result = JoinLinks(missing=missing)
    for need in needs:
        if need.membership_id in links:
            result.links.append((need.title, links[need.membership_id]))
    return result


def revoke_quietly(token: str, chat_id: int, link: str) -> None:
    """Revoke a link no longer handed out; a failure is logged, it changes nothing for anyone."""
    try:
        telegram.revoke_invite_link(token, chat_id, link)
    except Exception as exc:  # noqa: BLE001 - best effort; the link still expires within a day
        log.warning("could not revoke a replaced invite link in chat %s: %s", chat_id,
                    describe(exc, token))


def queue_join_links(project_id: int, customer_id: int, plan_id: int) -> None:
    """Queue ``deliver_join_links`` with retries (the bot calls this after committing)."""
    from webapp.queues import get_queue

    get_queue().enqueue(
        deliver_join_links,
        project_id,
        customer_id,
        plan_id,
        retry=JOIN_LINK_RETRY,
        description=f"join links for customer {customer_id}, plan {plan_id}",
    )


def deliver_join_links(project_id: int, customer_id: int, plan_id: int) -> str:
    """Make the invite links a customer is still missing and send them their Join buttons.

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
