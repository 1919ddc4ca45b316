"""Customers: Telegram users as one project's bot knows them."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
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

    Two first contacts at once (two taps of a link) race on the unique constraint; the loser
    re-reads the winner's row inside a savepoint instead of failing the activation.
    """
    query = select(Customer).where(
        Customer.project_id == project_id, Customer.telegram_user_id == user.id
    )
    customer = session.scalars(query).first()
    if customer is None:
        try:
            with session.begin_nested():
                customer = Customer(project_id=project_id, telegram_user_id=user.id)
                _copy_names(customer, user)
                session.add(customer)
                session.flush()
            return customer
        except IntegrityError:
            customer = session.scalars(query).one()
    if (customer.first_name, customer.last_name, customer.username) != (
        user.first_name,
        user.last_name,
        user.username,
    ):
        _copy_names(customer, user)
    return customer


def _copy_names(customer: Customer, user: TelegramUser) -> None:
    customer.first_name = user.first_name
    customer.last_name = user.last_name
    customer.username = user.username
