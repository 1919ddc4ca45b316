"""Customers' places in resources: the invite link made for each, and when they joined."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.domain import funnel
from webapp.domain.core_sql import connection_of, expire_loaded
from webapp.domain.entitlements import is_entitled
from webapp.models import Customer, Membership, Removal, Resource

# Invite links are made for one customer (member_limit=1) and live a day: long enough to tap
# later, short enough that a forwarded link soon stops working.
INVITE_LINK_LIFETIME = timedelta(hours=24)
# A stored link closer than this to its expiry is replaced rather than handed out again.
INVITE_LINK_MIN_REMAINING = timedelta(hours=1)


def membership_for(
    session: Session, project_id: int, customer_id: int, resource_id: int
) -> Membership:
    """The customer's membership row of a resource, created on first need."""
    query = select(Membership).where(
        Membership.customer_id == customer_id, Membership.resource_id == resource_id
    )
    membership = session.scalars(query).first()
    if membership is not None:
        return membership
    try:
        with session.begin_nested():
            membership = Membership(
                project_id=project_id, customer_id=customer_id, resource_id=resource_id
            )
            session.add(membership)
            session.flush()
        return membership
    except IntegrityError:
        return session.scalars(query).one()


def ensure_memberships(
    session: Session, project_id: int, customer_id: int, resource_ids: list[int]
) -> dict[int, int]:
    """The customer's membership rows of these resources exist (one statement, whichever
    exist already); the ids of those made now, by resource."""
    if not resource_ids:
        return {}
    db = connection_of(session)
    made = db.execute(
        _NEW_MEMBERSHIPS[db.dialect.name],
        [
            {"project_id": project_id, "customer_id": customer_id, "resource_id": resource_id}
            for resource_id in resource_ids
        ],
    )
    return {row.resource_id: row.id for row in made}


_NEW_MEMBERSHIPS = {
    name: insert(Membership.__table__)
    .on_conflict_do_nothing(index_elements=["customer_id", "resource_id"])
    .returning(Membership.__table__.c.id, Membership.__table__.c.resource_id)
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


def usable_link(membership: Membership, now: datetime) -> str | None:
    """The stored invite link if it can still be handed out: unused, and not about to expire."""
    if not membership.invite_link or membership.invite_link_expires_at is None:
        return None
    if membership.joined_at is not None and membership.left_at is None:
        return None  # they came in with it: member_limit=1 makes it useless to anyone else
    if membership.left_at is not None:
        return None  # after a leave the old link would admit someone again
    if membership.invite_link_expires_at - now < INVITE_LINK_MIN_REMAINING:
        return None
    return membership.invite_link


def is_inside(session: Session, customer_id: int, resource_id: int) -> bool:
    """Whether the customer is in the resource now, as far as the bot has seen them join."""
    membership = session.scalars(
        select(Membership).where(
            Membership.customer_id == customer_id, Membership.resource_id == resource_id
        )
    ).first()
    return (
        membership is not None and membership.joined_at is not None and membership.left_at is None
    )


def store_link(membership: Membership, invite_link: str, expires_at: datetime) -> None:
    membership.invite_link = invite_link
    membership.invite_link_expires_at = expires_at
    if membership.left_at is not None:
        membership.joined_at = None
        membership.left_at = None


@dataclass(frozen=True)
class StoredLink:
    """The outcome of ``store_new_link``: the link to hand out (None: none this time) and the
    link no longer recorded anywhere, which the caller must revoke in Telegram."""

    link: str | None
    to_revoke: str | None


# A link stored by someone else between our read and our write is looked at again this often.
STORE_ATTEMPTS = 3


def store_new_link(
    session: Session,
    membership_id: int,
    seen: str | None,
    invite_link: str,
    expires_at: datetime,
    now: datetime,
) -> StoredLink:
    """Record a freshly made invite link in place of ``seen``, the link read before making it.

    Every link Admit makes stays either recorded (so a join through it is recognised) or gets
    revoked: the replaced link (nearly expired, or spent) is returned for revoking. If another
    process (the bot and the join-link job racing) stored a link meanwhile, a write of ours would
    orphan theirs, so the update is conditional on the link still being ``seen``: when theirs is
    still usable it is handed out and ours is revoked instead.
    """
    for _ in range(STORE_ATTEMPTS):
        stored = connection_of(session).execute(
            STORE_LINK,
            {"membership_id": membership_id, "seen": seen, "invite_link": invite_link,
             "invite_link_expires_at": expires_at},
        )
        if stored.rowcount == 1:
            expire_loaded(session, (Membership, membership_id))
            return StoredLink(invite_link, seen)
        membership = session.get(Membership, membership_id, populate_existing=True)
        if membership is None:
            return StoredLink(None, invite_link)
        theirs = usable_link(membership, now)
        if theirs is not None:
            return StoredLink(theirs, invite_link)
        seen = membership.invite_link
    return StoredLink(None, invite_link)  # still contended: the join-link job tries again


memberships = Membership.__table__
STORE_LINK = (
    update(memberships)
    .where(
        memberships.c.id == bindparam("membership_id"),
        memberships.c.invite_link.is_not_distinct_from(bindparam("seen")),
    )
    .values(
        # A link after a leave starts a new stay (as in ``store_link``).
        joined_at=case((memberships.c.left_at.is_not(None), None), else_=memberships.c.joined_at),
        left_at=None,
        # A link made is a link no longer missing (see ``note_link_delivery``).
        link_undelivered_at=None,
        link_undelivered_reason=None,
    )
)
def forget_link(session: Session, membership_id: int, invite_link: str) -> bool:
    """Un-record ``invite_link`` (the caller revokes it in Telegram), if it is still the one."""
    forgotten = session.execute(
        update(Membership)
        .where(Membership.id == membership_id, Membership.invite_link == invite_link)
        .values(invite_link=None, invite_link_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return forgotten.rowcount == 1


def link_name(customer: Customer) -> str:
    """The invite link's name as the owner sees it in Telegram (at most 32 characters)."""
    return link_name_of(customer.username, customer.telegram_user_id)


def link_name_of(username: str | None, telegram_user_id: int) -> str:
    who = f"@{username}" if username else str(telegram_user_id)
    return f"Admit {who}"[:32]


@dataclass(frozen=True)
class JoinEvent:
    """What a user's arrival in one of the project's chats means."""

    membership: Membership | None
    resource: Resource | None
    # The Admit invite link they came through: spent now, the caller revokes it in Telegram.
    spent_link: str | None = None
    # Why they must go again, or None: "someone_elses_link" (a link made for another customer)
    # or "no_access" (their own link, but their access ended meanwhile).
    unwelcome: str | None = None
    # Whether the bot may write to them: only people who started it (customers who have not
    # blocked it); Telegram refuses a first message to anyone else.
    can_message: bool = False
    # The pending removal written for an unwelcome customer, so it is carried out even if the
    # bot cannot do it at once (None for a stranger Admit has no customer row for).
    removal_id: int | None = None


def _resource(session: Session, project_id: int, chat_id: int) -> Resource | None:
    return session.scalars(
        select(Resource).where(Resource.project_id == project_id, Resource.chat_id == chat_id)
    ).first()


def _customer(session: Session, project_id: int, telegram_user_id: int) -> Customer | None:
    return session.scalars(
        select(Customer).where(
            Customer.project_id == project_id, Customer.telegram_user_id == telegram_user_id
        )
    ).first()


def record_join(
    session: Session,
    project_id: int,
    chat_id: int,
    telegram_user_id: int,
    invite_link: str | None,
    now: datetime,
    link_made_by_bot: bool = False,
) -> JoinEvent:
    """A user became a member of one of the project's chats: note when, and spot link misuse.

    Anyone coming in through a link Admit made must be entitled to that resource now; a join
    through the owner's own links (or added by an admin) is left alone. ``link_made_by_bot``: the
    link's creator is the project's bot, so it is Admit's even if no membership recorded it (a
    link made while Telegram's answer was lost).
    """
    resource = _resource(session, project_id, chat_id)
    if resource is None:
        return JoinEvent(None, None)
    link_owner = None
    if invite_link:
        link_owner = session.scalars(
            select(Membership).where(
                Membership.resource_id == resource.id, Membership.invite_link == invite_link
            )
        ).first()
    customer = _customer(session, project_id, telegram_user_id)
    can_message = customer is not None and customer.blocked_bot_at is None
    membership = None
    if customer is not None:
        membership = membership_for(session, project_id, customer.id, resource.id)
        membership.joined_at = now
        membership.left_at = None
    if link_owner is None and not (invite_link and link_made_by_bot):
        return JoinEvent(membership, resource, can_message=can_message)
    if link_owner is None:
        # An Admit link nobody recorded: nobody's own, so only the entitled may stay.
        entitled = customer is not None and is_entitled(session, customer.id, resource.id, now)
        return JoinEvent(
            membership,
            resource,
            spent_link=invite_link,
            unwelcome=None if entitled else "no_access",
            can_message=can_message,
            removal_id=None if entitled else _unwelcome_removal(session, customer, resource, now),
        )
    own_link = customer is not None and link_owner.customer_id == customer.id
    entitled = customer is not None and is_entitled(session, customer.id, resource.id, now)
    unwelcome = None
    if not entitled:
        unwelcome = "no_access" if own_link else "someone_elses_link"
    elif own_link:
        funnel.record_join(session, customer.id, resource.id, now)
    if not own_link:
        # The link is burnt: its customer gets a fresh one next time they ask.
        link_owner.invite_link = None
        link_owner.invite_link_expires_at = None
    removal_id = _unwelcome_removal(session, customer, resource, now) if unwelcome else None
    if resource.join_by_request:
        # Join-request links admit only whom the bot approves: nothing is spent.
        return JoinEvent(
            membership, resource, unwelcome=unwelcome, can_message=can_message,
            removal_id=removal_id,
        )
    return JoinEvent(
        membership, resource, spent_link=invite_link, unwelcome=unwelcome,
        can_message=can_message, removal_id=removal_id,
    )


def _unwelcome_removal(
    session: Session, customer: Customer | None, resource: Resource, now: datetime
) -> int | None:
    """A pending removal of a customer who came in without access, written with their join."""
    if customer is None:
        return None
    removal = Removal(
        project_id=resource.project_id,
        customer_id=customer.id,
        resource_id=resource.id,
        reason="unwelcome",
        status="pending",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(removal)
    session.flush()
    return removal.id


def record_leave(
    session: Session, project_id: int, chat_id: int, telegram_user_id: int, now: datetime
) -> Membership | None:
    resource = _resource(session, project_id, chat_id)
    customer = _customer(session, project_id, telegram_user_id)
    if resource is None or customer is None:
        return None
    membership = session.scalars(
        select(Membership).where(
            Membership.customer_id == customer.id, Membership.resource_id == resource.id
        )
    ).first()
    if membership is not None and membership.joined_at is not None and membership.left_at is None:
        membership.left_at = now
    return membership


def may_join(
    session: Session, project_id: int, chat_id: int, telegram_user_id: int, now: datetime
) -> bool | None:
    """Whether the user may be in the chat now; ``None`` if the chat is not a resource."""
    resource = _resource(session, project_id, chat_id)
    if resource is None:
        return None
    customer = _customer(session, project_id, telegram_user_id)
    return customer is not None and is_entitled(session, customer.id, resource.id, now)


def note_link_delivery(
    session: Session, delivered: set[int], undelivered: dict[int, str], now: datetime
) -> bool:
    """Record which memberships got a join link and which could not (with why); whether any row
    changed. A membership keeps the moment its link first failed until one is made."""
    changed = False
    if delivered:
        for membership in session.scalars(
            select(Membership).where(
                Membership.id.in_(delivered), Membership.link_undelivered_at.is_not(None)
            )
        ):
            membership.link_undelivered_at = None
            membership.link_undelivered_reason = None
            changed = True
    for membership_id, reason in undelivered.items():
        membership = session.get(Membership, membership_id)
        if membership is None:
            continue
        if membership.link_undelivered_at is None:
            membership.link_undelivered_at = now
        membership.link_undelivered_reason = reason
        changed = True
    if changed:
        session.flush()
    return changed


@dataclass(frozen=True)
class JoinRequestVerdict:
    """What to do with a join request: "approve", "decline" or "leave" (the owner's to decide)."""

    action: str
    title: str = ""
    # The requester started the bot (a customer), so they may be told even after the decision.
    is_customer: bool = False


def judge_join_request(
    session: Session,
    project_id: int,
    chat_id: int,
    telegram_user_id: int,
    invite_link: str | None,
    link_made_by_bot: bool,
    now: datetime,
) -> JoinRequestVerdict:
    """Decide a join request to one of the project's chats.

    Admit decides only requests that came through a link it made (the Join button of a
    join-request resource), unless the owner chose to decline everyone without access there
    (``decline_strangers``). Requests through the owner's own approval links, or to a group set
    to "join by request", are left to the owner's admins, except that the entitled are approved.
    """
    resource = _resource(session, project_id, chat_id)
    if resource is None:
        return JoinRequestVerdict("leave")
    customer = _customer(session, project_id, telegram_user_id)
    entitled = customer is not None and is_entitled(session, customer.id, resource.id, now)
    is_customer = customer is not None and customer.blocked_bot_at is None
    ours = link_made_by_bot
    if invite_link and not ours:
        ours = (
            session.scalars(
                select(Membership.id).where(
                    Membership.resource_id == resource.id, Membership.invite_link == invite_link
                )
            ).first()
            is not None
        )
    if entitled:
        return JoinRequestVerdict("approve", resource.title, is_customer)
    if ours or resource.decline_strangers:
        return JoinRequestVerdict("decline", resource.title, is_customer)
    return JoinRequestVerdict("leave", resource.title, is_customer)
