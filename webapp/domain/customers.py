"""Customers: Telegram users as one project's bot knows them."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from webapp.models import Customer


@dataclass(frozen=True)
class TelegramUser:
    """The parts of a Telegram ``User`` that Admit keeps."""

    id: int
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None


def upsert_customer(session: Session, project_id: int, user: TelegramUser) -> Customer:
    """The project's customer for ``user``, created on first contact, names kept current.

    Two first contacts at once (two taps of a link) race on the unique constraint: the insert
    is ``ON CONFLICT DO NOTHING`` (PostgreSQL and SQLite alike), and the loser reads the
    winner's row, without failing the activation or needing a savepoint.
    """
    query = select(Customer).where(
        Customer.project_id == project_id, Customer.telegram_user_id == user.id
    )
    customer = session.scalars(query).first()
    if customer is None:
        customer = session.scalars(
            _insert_for(session)(Customer)
            .values(
                project_id=project_id,
                telegram_user_id=user.id,
                first_name=user.first_name,
                last_name=user.last_name,
                username=user.username,
            )
            .on_conflict_do_nothing(index_elements=["project_id", "telegram_user_id"])
            .returning(Customer)
        ).first()
        if customer is not None:
            return customer
        customer = session.scalars(query).one()
    if (customer.first_name, customer.last_name, customer.username) != (
        user.first_name,
        user.last_name,
        user.username,
    ):
        _copy_names(customer, user)
    return customer


def _insert_for(session: Session):
    """The INSERT construct with ``on_conflict_do_nothing`` for the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


def _copy_names(customer: Customer, user: TelegramUser) -> None:
    customer.first_name = user.first_name
    customer.last_name = user.last_name
    customer.username = user.username
