"""The bot's own place in chats (``my_chat_member``): resources appear, change or are lost."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from webapp.domain import audit
from webapp.domain.errors import InvalidInput, NotFound
from webapp.i18n import D_
from webapp.models import Customer, Membership, Owner, Project, Removal, Resource, plan_resource

RESOURCE_TYPES = ("channel", "supergroup", "group")
ADMIN_STATUSES = ("administrator", "creator")


@dataclass(frozen=True)
class BotStatusChange:
    """The parts of a ``my_chat_member`` update that matter."""

    chat_id: int
    chat_type: str
    title: str | None
    username: str | None
    new_status: str
    can_invite_users: bool = False
    can_restrict_members: bool = False
    by_user_id: int | None = None


@dataclass(frozen=True)
class ResourceChange:
    """What happened: ``added``, ``updated``, ``lost``, ``not_admin`` (a chat the bot joined
    without admin rights), ``pending`` (someone other than the owner made the bot an
    administrator: kept aside until the owner accepts it) or ``none``."""

    kind: str
    resource: Resource | None
    # The rights the bot still lacks to admit and remove people there.
    missing_rights: tuple[str, ...] = ()


def apply_bot_status(
    session: Session, project_id: int, change: BotStatusChange, now: datetime
) -> ResourceChange:
    """Record the bot becoming an administrator of a chat, changing rights, or losing it.

    Made an administrator: the chat becomes (or again is) a resource, with its rights, when the
    person who did it is the project's linked owner; by anyone else, a new chat waits as pending
    until the owner accepts it (any Telegram user can make any bot an admin of their own chat).
    Demoted, removed or left: the resource stays (plans keep pointing at it) but is marked
    unusable.
    """
    if change.chat_type not in RESOURCE_TYPES:
        return ResourceChange("none", None)
    resource = session.scalars(
        select(Resource).where(
            Resource.project_id == project_id, Resource.chat_id == change.chat_id
        )
    ).first()
    if change.new_status in ADMIN_STATUSES:
        can_invite = change.can_invite_users or change.new_status == "creator"
        can_restrict = change.can_restrict_members or change.new_status == "creator"
        kind = "updated"
        by_owner = change.by_user_id is not None and change.by_user_id == _owner_telegram_id(
            session, project_id
        )
        if resource is None:
            resource = Resource(project_id=project_id, chat_id=change.chat_id, created_at=now)
            session.add(resource)
            kind = "added"
            if not by_owner:
                resource.pending_since = now
                resource.pending_by_user_id = change.by_user_id
        elif not resource.bot_is_admin:
            kind = "added"
        if resource.is_pending and by_owner:
            resource.pending_since = resource.pending_by_user_id = None
            kind = "added"
        if resource.is_pending:
            kind = "pending"
        resource.title = (change.title or str(change.chat_id))[:255]
        resource.username = change.username
        resource.chat_type = change.chat_type
        resource.can_invite_users = can_invite
        resource.can_restrict_members = can_restrict
        resource.bot_is_admin = True
        resource.updated_at = now
        session.flush()
        missing = tuple(
            name
            for name, has in (
                ("invite users", can_invite),
                ("ban users", can_restrict),
            )
            if not has
        )
        _audit(session, project_id, "resource." + kind, resource, change, now)
        return ResourceChange(kind, resource, missing)
    if resource is None and change.new_status in ("member", "restricted"):
        # Added without admin rights: not a resource yet, but the owner should know why.
        return ResourceChange("not_admin", None, ("administrator",))
    if resource is None or not resource.bot_is_admin:
        return ResourceChange("none", resource)
    resource.bot_is_admin = False
    resource.can_invite_users = False
    resource.can_restrict_members = False
    resource.updated_at = now
    session.flush()
    _audit(session, project_id, "resource.lost", resource, change, now)
    return ResourceChange("lost", resource, ("administrator",))


def _owner_telegram_id(session: Session, project_id: int) -> int | None:
    return session.scalar(
        select(Owner.telegram_user_id)
        .join(Project, Project.owner_id == Owner.id)
        .where(Project.id == project_id)
    )


def accept_resource(session: Session, resource: Resource, now: datetime) -> Resource:
    """The owner vouches for a pending chat: it becomes a resource plans may use."""
    if not resource.is_pending:
        raise InvalidInput("resource", D_("This chat is already one of the project's resources."))
    resource.pending_since = resource.pending_by_user_id = None
    resource.updated_at = now
    session.flush()
    audit.record(
        session,
        resource.project_id,
        "resource.accepted",
        now=now,
        details={"resource_id": resource.id, "chat_id": resource.chat_id},
    )
    return resource


def dismiss_resource(session: Session, resource: Resource) -> None:
    """The owner does not know a pending chat: it is forgotten (no plan can point at it)."""
    if not resource.is_pending:
        raise NotFound("pending resource")
    session.delete(resource)
    session.flush()


def _audit(session, project_id, action, resource, change, now):
    audit.record(
        session,
        project_id,
        action,
        now=now,
        details={
            "resource_id": resource.id,
            "chat_id": change.chat_id,
            "title": resource.title,
            "status": change.new_status,
            "by_user_id": change.by_user_id,
        },
    )


def set_bot_blocked(
    session: Session, project_id: int, telegram_user_id: int, blocked: bool, now: datetime
) -> Customer | None:
    """A customer blocked (or unblocked) the bot in their private chat."""
    customer = session.scalars(
        select(Customer).where(
            Customer.project_id == project_id, Customer.telegram_user_id == telegram_user_id
        )
    ).first()
    if customer is not None:
        customer.blocked_bot_at = now if blocked else None
    return customer


def change_join_mode(
    session: Session, resource: Resource, join_by_request: bool, decline_strangers: bool,
    now: datetime,
) -> None:
    """How people get into the resource: one-person links (default) or join requests that the
    bot approves for the entitled; and whether requests from anyone without access are declined.

    Links already handed out keep working as they were made; new Join buttons follow the mode.
    """
    before = (resource.join_by_request, resource.decline_strangers)
    resource.join_by_request = bool(join_by_request)
    resource.decline_strangers = bool(decline_strangers)
    resource.updated_at = now
    if before != (resource.join_by_request, resource.decline_strangers):
        audit.record(
            session,
            resource.project_id,
            "resource.join_mode",
            now=now,
            details={
                "resource_id": resource.id,
                "title": resource.title,
                "join_by_request": resource.join_by_request,
                "decline_strangers": resource.decline_strangers,
            },
        )
    session.flush()


def migrate_chat(
    session: Session, project_id: int, old_chat_id: int, new_chat_id: int, now: datetime
) -> Resource | None:
    """A basic group was upgraded to a supergroup: its resource moves to the new chat id.

    Plans, memberships, invite links and removals all point at the resource row, so they follow
    without being touched. If the bot already recorded the new supergroup as a resource of its own
    (its ``my_chat_member`` came first), the old row's plans move over to that one and the old row
    is retired. Telegram announces the move twice (the error's ``migrate_to_chat_id`` and the
    service message), so a second call finds nothing to do.
    """
    old = session.scalars(
        select(Resource).where(Resource.project_id == project_id, Resource.chat_id == old_chat_id)
    ).first()
    if old is None:
        return session.scalars(
            select(Resource).where(
                Resource.project_id == project_id, Resource.chat_id == new_chat_id
            )
        ).first()
    new = session.scalars(
        select(Resource).where(Resource.project_id == project_id, Resource.chat_id == new_chat_id)
    ).first()
    if new is None:
        old.chat_id = new_chat_id
        old.chat_type = "supergroup"
        old.updated_at = now
        session.flush()
        resource = old
    else:
        _merge_into(session, old, new, now)
        resource = new
    audit.record(
        session,
        project_id,
        "resource.migrated",
        now=now,
        details={"resource_id": resource.id, "from_chat_id": old_chat_id, "chat_id": new_chat_id},
    )
    return resource


def _merge_into(session: Session, old: Resource, new: Resource, now: datetime) -> None:
    have = set(
        session.scalars(
            select(plan_resource.c.plan_id).where(plan_resource.c.resource_id == new.id)
        )
    )
    session.execute(
        update(plan_resource)
        .where(plan_resource.c.resource_id == old.id, plan_resource.c.plan_id.not_in(have or {0}))
        .values(resource_id=new.id)
    )
    session.execute(delete(plan_resource).where(plan_resource.c.resource_id == old.id))
    members = set(
        session.scalars(select(Membership.customer_id).where(Membership.resource_id == new.id))
    )
    session.execute(
        update(Membership)
        .where(Membership.resource_id == old.id, Membership.customer_id.not_in(members or {0}))
        .values(resource_id=new.id)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Removal)
        .where(Removal.resource_id == old.id)
        .values(resource_id=new.id)
        .execution_options(synchronize_session=False)
    )
    old.bot_is_admin = False
    old.can_invite_users = old.can_restrict_members = False
    old.title = f"{old.title} (upgraded to a supergroup)"[:255]
    old.updated_at = now
    session.flush()
    session.expire_all()
