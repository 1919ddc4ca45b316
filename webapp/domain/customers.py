"""Customers: Telegram users as one project's bot knows them."""

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from webapp import i18n
from webapp.domain.core_sql import connection_of, expire_loaded
from webapp.models import Customer, Project

customers = Customer.__table__

# Every lock of a customer row is this one, FOR NO KEY UPDATE (key_share): it serialises the
# customer's activations, rollbacks, links, gifts and ends with each other, but not the
# foreign-key checks of rows that point at the customer. With FOR UPDATE the sweep's end of a
# lapsed subscription (the subscription, then a funnel step whose key check needs the customer)
# and the customer's new code of the plan (the customer, then the subscription) deadlocked.
# Several customers are locked in id order, so two such transactions cannot cross.
LOCK_CUSTOMER = (
    select(customers.c.id)
    .where(customers.c.id == bindparam("customer_id"))
    .with_for_update(key_share=True)
)


def lock_customer(session: Session | Connection, customer_id: int) -> None:
    """Take the customer's row lock (PostgreSQL; SQLite has one writer anyway)."""
    db = connection_of(session) if isinstance(session, Session) else session
    db.execute(LOCK_CUSTOMER, {"customer_id": customer_id})


def lock_customers(session: Session, customer_ids) -> None:
    """Lock several customers (ids, or a select of them) in id order, as ``lock_customer``."""
    session.execute(
        select(customers.c.id)
        .where(customers.c.id.in_(customer_ids))
        .order_by(customers.c.id)
        .with_for_update(key_share=True)
    )


@dataclass(frozen=True)
class TelegramUser:
    """The parts of a Telegram ``User`` that Admit keeps."""

    id: int
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    # Telegram's IETF tag of the user's app language, when Telegram sends it.
    language_code: str | None = None


def customer_language(customer: Customer | None, project: Project) -> str:
    """The language to write to a customer in without an update at hand (reminders, end notices,
    late join links): the one Telegram last told us, else the project's default, else English."""
    return i18n.resolve(customer.language_code if customer else None, project.default_language)


def upsert_customer(session: Session, project_id: int, user: TelegramUser) -> Customer:
    """The project's customer for ``user`` (see ``customer_id_for``), as an object."""
    customer_id = customer_id_for(session, project_id, user)
    expire_loaded(session, (Customer, customer_id))  # its names may just have changed
    return session.get(Customer, customer_id)


def customer_id_for(session: Session, project_id: int, user: TelegramUser) -> int:
    """The id of the project's customer for ``user``, created on first contact, names and
    language kept current.

    Two first contacts at once (two taps of a link) race on the unique constraint: the insert
    is ``ON CONFLICT DO NOTHING`` (PostgreSQL and SQLite alike), and the loser reads the
    winner's row, without failing the activation or needing a savepoint.
    """
    db = connection_of(session)
    seen = db.execute(
        CUSTOMER_NAMES, {"project_id": project_id, "telegram_user_id": user.id}
    ).first()
    return current_customer(db, project_id, user, seen)[0]


def current_customer(
    db: Connection, project_id: int, user: TelegramUser, seen
) -> tuple[int, bool]:
    """``customer_id_for`` with the customer's row already read (``seen``: ``customer_id`` and
    the names, as ``CUSTOMER_NAMES`` reads them; None when there was no row), and whether the
    row was made now (first contact, in the caller's transaction)."""
    if seen is None:
        key = {"project_id": project_id, "telegram_user_id": user.id}
        customer_id = db.execute(
            _FIRST_CONTACT[db.dialect.name],
            {
                **key,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "username": user.username,
                "language_code": user.language_code,
            },
        ).scalar()
        if customer_id is not None:
            return customer_id, True
        seen = db.execute(CUSTOMER_NAMES, key).one()
    changes = {}
    if (seen.first_name, seen.last_name, seen.username) != (
        user.first_name,
        user.last_name,
        user.username,
    ):
        changes.update(first_name=user.first_name, last_name=user.last_name,
                       username=user.username)
    if user.language_code and seen.language_code != user.language_code:
        changes["language_code"] = user.language_code
    if changes:
        db.execute(RENAME_CUSTOMER, {"customer_id": seen.customer_id, **changes})
    return seen.customer_id, False


CUSTOMER_NAMES = select(
    customers.c.id.label("customer_id"), customers.c.first_name, customers.c.last_name,
    customers.c.username, customers.c.language_code,
).where(
    customers.c.project_id == bindparam("project_id"),
    customers.c.telegram_user_id == bindparam("telegram_user_id"),
)
# Sets the columns it is given.
RENAME_CUSTOMER = update(customers).where(customers.c.id == bindparam("customer_id"))
_FIRST_CONTACT = {
    name: insert(customers)
    .on_conflict_do_nothing(index_elements=["project_id", "telegram_user_id"])
    .returning(customers.c.id)
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
