"""Customers: Telegram users as one project's bot knows them."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from webapp import i18n
from webapp.models import Customer, Project


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
                language_code=user.language_code,
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
    if user.language_code and customer.language_code != user.language_code:
        customer.language_code = user.language_code
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
