"""Sending the outbox's messages (webapp.domain.outbox): by the bot at once, or by a worker later.

It lives with the bot, like join_links, so the wording of bot/texts.py stays in one place; the
sweep enqueues ``deliver_outbox_message`` by name, so dependencies still run from bot/ to
webapp/ only.

A confirmation is sent with a Join button per resource the customer is (still) entitled to; if
a rollback has undone the activation before it goes, it is cancelled instead, and the end notice
(which waits for it) tells the customer. When a link cannot be made yet, the confirmation says
the link will follow and a ``join_links`` message is promised in the same transaction that
settles the confirmation; that one is sent once every link exists.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from bot import keyboards, texts
from bot.join_links import LinkNeeds, issue_join_links
from bot.owner_notices import MAX_MESSAGE, SEPARATOR
from bot.redaction import redacted_traceback
from webapp import clock
from webapp.domain import outbox
from webapp.domain.customers import customer_language
from webapp.domain.entitlements import entitled_resource_ids
from webapp.domain.lifecycle import BLOCKED_ERROR, Outcome
from webapp.jobs import enqueue_outbox_messages, send_within_limits
from webapp.models import Customer, Plan, Project

log = logging.getLogger(__name__)

# (token, chat id, text, reply markup, now) -> what came of it
Send = Callable[[str, int, str, object, datetime], Outcome]


@dataclass
class Delivery:
    """What came of one confirmation or join-links message."""

    outcome: Outcome
    missing: list[str] = field(default_factory=list)  # titles whose link follows later


def _send_by_worker(token: str, chat_id: int, text: str, markup, now: datetime) -> Outcome:
    return send_within_limits(token, chat_id, text, now, reply_markup=markup)


@dataclass(frozen=True)
class Target:
    """Where a confirmation or join-links message goes and what it opens (plain values)."""

    token: str
    customer_id: int
    resource_ids: list[int]
    titles: list[str]
    lang: str = "en"


def target_of(session: Session, message: outbox.Claimed, now: datetime) -> Target | Outcome:
    """The message's target read from the database, or the outcome that makes sending moot."""
    project = session.get(Project, message.project_id)
    customer = session.get(Customer, message.customer_id)
    plan = session.get(Plan, message.plan_id)
    if project is None or project.deleted_at is not None or customer is None or plan is None:
        return Outcome("skipped", error="project or customer gone")
    if customer.blocked_bot_at is not None:
        return Outcome.failed(BLOCKED_ERROR)
    entitled = entitled_resource_ids(session, customer.id, now)
    resources = [r for r in plan.resources if r.id in entitled]
    return Target(
        project.bot_token,
        customer.id,
        [r.id for r in resources],
        [r.title for r in resources],
        customer_language(customer, project),
    )


def deliver_customer_message(
    session: Session,
    message: outbox.Claimed,
    now: datetime,
    send: Send = _send_by_worker,
    target: Target | None = None,
    needs: LinkNeeds | None = None,
) -> Delivery:
    """Make the Join links and send a claimed confirmation or join-links message.

    ``target`` is read from the database unless the caller has it in hand (the bot, right after
    the activation), and so are the links' ``needs`` (``read_link_needs``). Commits what it reads
    before talking to Telegram (``issue_join_links`` does too); the caller settles the claim
    afterwards with ``settle_customer_message``.
    """
    if target is None:
        found = target_of(session, message, now)
        session.commit()
        if isinstance(found, Outcome):
            return Delivery(found)
        target = found
    try:
        links = issue_join_links(
            session, message.project_id, target.customer_id, target.resource_ids, now,
            token=target.token, needs=needs,
        )
    except Exception as exc:  # noqa: BLE001 - the links follow by a join-links message
        log.error("project %s: join links for customer %s\n%s", message.project_id,
                  target.customer_id, redacted_traceback(exc, target.token))
        session.rollback()
        links = None
    made, missing = (links.links, links.missing) if links is not None else ([], target.titles)
    if message.kind == outbox.JOIN_LINKS and missing:
        return Delivery(Outcome.retry(now, f"no invite link yet for {', '.join(missing)}"))
    # The last look before sending: a rollback that won meanwhile cancels the message (and its
    # end notice, which waits for this one, tells the customer instead). Storing new links
    # took that look already, under the customer's lock.
    if links is not None and links.active_subscriptions is not None:
        active = message.subscription_id is None or (
            message.subscription_id in links.active_subscriptions
        )
    else:
        active = outbox.subscription_active(session, message.subscription_id, now)
    if not active:
        session.commit()
        return Delivery(Outcome("skipped", error="access withdrawn"))
    session.commit()
    if message.kind == outbox.CONFIRMATION:
        hint = texts.join_hint(bool(made), missing, target.lang)
        text = f"{message.text}\n\n{hint}" if hint else message.text
    else:
        text = message.text
    markup = keyboards.join_buttons(made, target.lang)
    return Delivery(send(target.token, message.chat_id, text, markup, now), missing)


def settle_customer_message(
    session: Session, message: outbox.Claimed, delivery: Delivery, now: datetime
) -> int | None:
    """Settle the claim; a confirmation sent without every link promises the join-links message
    in the same transaction (its id is returned, to be sent as soon as a worker is free)."""
    settled = outbox.settle(session, message.id, message.claimed_at, delivery.outcome, now)
    if (
        settled
        and message.kind == outbox.CONFIRMATION
        and delivery.outcome.status == "done"
        and delivery.missing
    ):
        project = session.get(Project, message.project_id)
        plan = session.get(Plan, message.plan_id)
        customer = session.get(Customer, message.customer_id)
        return outbox.write(
            session,
            message.project_id,
            outbox.JOIN_LINKS,
            message.chat_id,
            texts.join_links_ready(project.name, plan.name, customer_language(customer, project)),
            now,
            customer_id=message.customer_id,
            subscription_id=message.subscription_id,
            plan_id=message.plan_id,
        )
    return None


def deliver_owner_notices(
    session: Session, project_id: int, now: datetime, send: Send = _send_by_worker
) -> int:
    """Send the project's due owner notices, merged per chat into as few messages as fit.

    Every notice of a merged message is settled with that message's outcome; how many were sent.
    """
    claimed = outbox.claim_owner_notices(session, project_id, now)
    project = session.get(Project, project_id)
    token = project.bot_token if project is not None else None
    session.commit()
    if not claimed:
        return 0
    by_chat: dict[int, list[outbox.Claimed]] = {}
    for message in claimed:
        by_chat.setdefault(message.chat_id, []).append(message)
    sent = 0
    for chat_id, messages in by_chat.items():
        for text, group in _merged(messages):
            if token is None:
                outcome = Outcome("skipped", error="project gone")
            else:
                outcome = send(token, chat_id, text, None, now)
            for message in group:
                outbox.settle(session, message.id, message.claimed_at, outcome, clock.now())
            session.commit()
            sent += len(group) if outcome.status == "done" else 0
    return sent


def _merged(messages: list[outbox.Claimed]) -> list[tuple[str, list[outbox.Claimed]]]:
    """(merged text, the notices in it), in order, each text within Telegram's length limit."""
    groups: list[tuple[str, list[outbox.Claimed]]] = []
    for message in messages:
        if groups and len(groups[-1][0]) + len(SEPARATOR) + len(message.text) <= MAX_MESSAGE:
            text, group = groups[-1]
            groups[-1] = (text + SEPARATOR + message.text, [*group, message])
        else:
            groups.append((message.text, [message]))
    return groups


def deliver_outbox_message(message_id: int) -> str:
    """RQ job: send one promised message that is due (found by the lifecycle sweep)."""
    from webapp.extensions import db
    from webapp.models import OutboxMessage
    from webapp.worker import app_context

    with app_context():
        session = db.session
        now = clock.now()
        row = session.get(OutboxMessage, message_id)
        if row is None or row.status != "pending":
            session.rollback()
            return "not due"
        if row.kind == outbox.OWNER_NOTICE:
            project_id = row.project_id
            session.rollback()
            return f"{deliver_owner_notices(session, project_id, now)} owner notice(s) sent"
        message = outbox.claim(session, message_id, now)
        if message is None:
            session.rollback()
            return "not due"
        session.commit()  # the claim is durable before anything is sent
        delivery = deliver_customer_message(session, message, now)
        follow_up = settle_customer_message(session, message, delivery, clock.now())
        session.commit()
        if follow_up is not None:
            enqueue_outbox_messages([follow_up])
        return delivery.outcome.status
