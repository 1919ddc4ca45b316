"""'Max activations = N' holds when many customers tap the link in the same second.

Each thread has its own app context, session and database connection, and all start together
at a barrier, so the activations really race (on PostgreSQL: 200 transactions at once).
"""

import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text

from tests.factories import make_code, make_plan, make_project, tg_user
from webapp.domain.activation import activate_code
from webapp.domain.customers import TelegramUser
from webapp.domain.errors import ActivationRefused
from webapp.domain.rollback import rollback_code
from webapp.extensions import db
from webapp.models import AccessCode, Activation, Customer, Subscription

THREADS = 200


@pytest.fixture
def app_config(app_config):
    if not app_config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Enough connections that the threads race in the database, not in the pool.
        app_config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "pool_size": 40,
            "max_overflow": 0,
            "pool_timeout": 120,
        }
    return app_config


def race(app, project_id: int, code_text: str, users: list[TelegramUser], now) -> Counter:
    barrier = threading.Barrier(len(users))
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def attempt(user: TelegramUser):
        with app.app_context():
            barrier.wait()
            try:
                activate_code(db.session, project_id, code_text, user, now)
                db.session.commit()
                outcome = "activated"
            except ActivationRefused as refusal:
                db.session.rollback()
                outcome = type(refusal).__name__
            finally:
                db.session.remove()
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=attempt, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def in_own_transaction(app, outcomes: dict, name: str, work) -> threading.Thread:
    """A started thread that runs ``work()`` in its own app context, session and transaction,
    commits, and keeps what it returned, or the exception it raised, in ``outcomes[name]``."""

    def body():
        with app.app_context():
            try:
                outcomes[name] = work()
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - the test asserts on it
                db.session.rollback()
                outcomes[name] = exc
            finally:
                db.session.remove()

    thread = threading.Thread(target=body)
    thread.start()
    return thread


@contextmanager
def paused_at_the_customer_lock(reached: threading.Event, go_on: threading.Event, after=False):
    """Inside, the session stops at its customer row lock (or at the statement ``after`` it),
    sets ``reached`` and waits for ``go_on``: a statement hook, so the other side is started
    at a known point instead of after a sleep."""
    connection = db.session.connection()
    locked = False

    def pause(conn, cursor, statement, *args):
        nonlocal locked
        is_lock = "FOR " in statement and "FROM customer" in statement
        if not reached.is_set() and (locked if after else is_lock):
            reached.set()
            go_on.wait(30)
        locked = locked or is_lock

    event.listen(connection, "before_cursor_execute", pause)
    try:
        yield
    finally:
        event.remove(connection, "before_cursor_execute", pause)


def committed_code(app, now, max_activations):
    with app.app_context():
        plan = make_plan(make_project())
        code = make_code(plan, now, max_activations=max_activations)
        ids = (plan.project_id, code.id, code.code)
        db.session.commit()
    return ids


def test_code_with_max_10_admits_exactly_10_of_200_simultaneous_customers(app, now):
    project_id, code_id, code_text = committed_code(app, now, max_activations=10)
    users = [tg_user(100_000 + i) for i in range(THREADS)]

    outcomes = race(app, project_id, code_text, users, now)

    assert outcomes == Counter({"activated": 10, "CodeUsedUp": THREADS - 10})
    with app.app_context():
        assert db.session.get(AccessCode, code_id).activation_count == 10
        activations = select(func.count()).where(Activation.code_id == code_id)
        assert db.session.scalar(activations) == 10
        assert db.session.scalar(select(func.count()).select_from(Subscription)) == 10


def test_code_with_one_activation_left_admits_exactly_one_of_two_customers(app, now):
    project_id, code_id, code_text = committed_code(app, now, max_activations=1)

    outcomes = race(app, project_id, code_text, [tg_user(1), tg_user(2)], now)

    assert outcomes == Counter({"activated": 1, "CodeUsedUp": 1})


def test_the_same_customer_tapping_twice_at_once_is_activated_once(app, now):
    project_id, code_id, code_text = committed_code(app, now, max_activations=10)
    same = tg_user(4242)

    outcomes = race(app, project_id, code_text, [same, same], now)

    assert outcomes == Counter({"activated": 1, "AlreadyActivated": 1})
    with app.app_context():
        assert db.session.get(AccessCode, code_id).activation_count == 1
        assert db.session.scalar(select(func.count()).select_from(Customer)) == 1


def test_two_codes_of_one_plan_tapped_at_once_extend_one_subscription_twice(app, now):
    with app.app_context():
        plan = make_plan(make_project(), unit="day", count=30)
        first, second = make_code(plan, now), make_code(plan, now)
        project_id, texts = plan.project_id, [first.code, second.code]
        db.session.commit()
    user = tg_user(777)
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def attempt(text):
        barrier.wait()
        return activate_code(db.session, project_id, text, user, now)

    threads = [
        in_own_transaction(app, outcomes, t, lambda t=t: attempt(t)) for t in texts
    ]
    for thread in threads:
        thread.join()

    assert not any(isinstance(o, Exception) for o in outcomes.values()), outcomes
    with app.app_context():
        subscriptions = db.session.scalars(select(Subscription)).all()
        assert len(subscriptions) == 1
        assert (subscriptions[0].ends_at - now).days == 60


def test_rollback_racing_an_extension_by_another_code_keeps_the_paid_extension(app, now):
    """Code C (refunded) and code D (paid) of one plan, same customer: D is being activated while
    C is rolled back. The rollback must wait for D and then take back only C's share."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite runs one writer at a time: there is no interleaving to test")
        plan = make_plan(make_project(), unit="day", count=30)
        refunded, paid = make_code(plan, now), make_code(plan, now)
        project_id, refunded_id, paid_text = plan.project_id, refunded.id, paid.code
        user = tg_user(9001)
        activate_code(db.session, project_id, refunded.code, user, now)
        db.session.commit()

    activated, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def activate_paid_code_and_hold():
        effects = activate_code(db.session, project_id, paid_text, user, now)
        activated.set()
        release.wait(30)
        return effects

    holder = in_own_transaction(app, outcomes, "activation", activate_paid_code_and_hold)
    assert activated.wait(30), outcomes  # holds what it raised, if it did
    roller = in_own_transaction(
        app, outcomes, "rollback",
        lambda: rollback_code(db.session, project_id, refunded_id, owner_id=None, now=now),
    )
    with app.app_context():
        _wait_until_a_transaction_waits_for_a_lock()
    release.set()
    holder.join()
    roller.join()

    assert not any(isinstance(o, Exception) for o in outcomes.values()), outcomes
    with app.app_context():
        subscription = db.session.scalars(select(Subscription)).one()
        assert subscription.ended_at is None
        assert subscription.ends_at == now + timedelta(days=30)


def _hold_first_activation_then(app, project_id, first_text, user, now, second):
    """A new customer's first activation, uncommitted, while ``second()`` runs in another
    transaction until it waits for a lock; then the first commits. What ``second`` raised."""
    activated, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def first():
        effects = activate_code(db.session, project_id, first_text, user, now)
        activated.set()
        release.wait(30)
        return effects

    holder = in_own_transaction(app, outcomes, "first", first)
    assert activated.wait(30), outcomes  # holds what it raised, if it did
    follower = in_own_transaction(app, outcomes, "second", second)
    with app.app_context():
        _wait_until_a_transaction_waits_for_a_lock()
    release.set()
    holder.join()
    follower.join()
    assert not isinstance(outcomes["first"], Exception), outcomes
    if isinstance(outcomes["second"], ActivationRefused):
        return type(outcomes["second"]).__name__
    assert not isinstance(outcomes["second"], Exception), outcomes
    return "activated"


def _postgresql_only():
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: there is no interleaving to test")


def test_a_new_customers_second_tap_of_the_code_waits_for_the_first_and_is_already_activated(
    app, now
):
    """The first tap makes the customer and skips their row lock (nothing of theirs exists yet):
    the second must wait for that row, then see the activation."""
    with app.app_context():
        _postgresql_only()
    project_id, code_id, code_text = committed_code(app, now, max_activations=10)
    user = tg_user(4343)

    outcome = _hold_first_activation_then(
        app, project_id, code_text, user, now,
        lambda: activate_code(db.session, project_id, code_text, user, now),
    )

    assert outcome == "AlreadyActivated"
    with app.app_context():
        assert db.session.get(AccessCode, code_id).activation_count == 1
        assert db.session.scalar(select(func.count()).select_from(Activation)) == 1


def test_a_new_customers_two_codes_of_one_plan_at_once_extend_one_subscription(app, now):
    with app.app_context():
        _postgresql_only()
        plan = make_plan(make_project(), unit="day", count=30)
        first, second = make_code(plan, now), make_code(plan, now)
        project_id, texts = plan.project_id, [first.code, second.code]
        db.session.commit()
    user = tg_user(4344)

    outcome = _hold_first_activation_then(
        app, project_id, texts[0], user, now,
        lambda: activate_code(db.session, project_id, texts[1], user, now),
    )

    assert outcome == "activated"
    with app.app_context():
        subscription = db.session.scalars(select(Subscription)).one()
        assert subscription.ends_at == now + timedelta(days=60)


def _wait_until_a_transaction_waits_for_a_lock(timeout: float = 30) -> None:
    """Poll pg_stat_activity (a condition, not a sleep) until the rollback is blocked."""
    deadline = time.monotonic() + timeout
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    while time.monotonic() < deadline:
        with db.engine.connect() as conn:
            if conn.scalar(query):
                return
        threading.Event().wait(0.01)
    raise AssertionError("the rollback never waited for the activation's locks")


def test_a_refund_racing_the_same_customers_new_tap_of_the_code_waits_instead_of_deadlocking(
    app, now
):
    """A multi-use code: the owner refunds Ann's activation (rollback_activation) while Ann taps
    the code again. Her tap has counted the code and is about to lock her customer row when the
    refund starts. Both take the code before the customer, so the refund waits for the tap
    (told "already activated"), then goes through; neither is a deadlock victim."""
    from webapp.domain.rollback import rollback_activation

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite runs one writer at a time: there is no interleaving to test")
        plan = make_plan(make_project(), unit="day", count=30)
        code = make_code(plan, now, max_activations=5)
        project_id, code_text, user = plan.project_id, code.code, tg_user(9101)
        activate_code(db.session, project_id, code_text, user, now)
        db.session.commit()
        activation_id = db.session.scalar(select(Activation.id))

    at_customer_lock, go_on = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def tap_again():
        with paused_at_the_customer_lock(at_customer_lock, go_on):
            return activate_code(db.session, project_id, code_text, user, now)

    def refund():
        rollback_activation(db.session, project_id, activation_id, owner_id=None, now=now)
        return "done"

    tapper = in_own_transaction(app, outcomes, "tap", tap_again)
    assert at_customer_lock.wait(30), outcomes  # the tap holds the code's row, not Ann's
    refunder = in_own_transaction(app, outcomes, "refund", refund)
    with app.app_context():
        _wait_until_a_transaction_waits_for_a_lock()
    go_on.set()
    tapper.join()
    refunder.join()

    assert type(outcomes["tap"]).__name__ == "AlreadyActivated", outcomes
    assert outcomes["refund"] == "done", outcomes
    with app.app_context():
        assert db.session.scalar(select(func.count(Activation.id))) == 0
        assert db.session.scalar(select(AccessCode.activation_count)) == 0
        assert db.session.scalars(select(Subscription)).one().ended_at is not None


def test_an_end_racing_the_customers_new_code_of_the_plan_waits_instead_of_deadlocking(app, now):
    """Seen in the PostgreSQL server's log during the invariant run: Ann's subscription has run
    out and she taps a new code of its plan just as the sweep ends it. Her activation holds her
    customer row and waits for the subscription the end has updated; the end then writes its
    funnel step, whose foreign key to the customer must not wait for her activation's lock
    (it did with FOR UPDATE, which blocks a key check, and PostgreSQL aborted one of them)."""
    from webapp.domain.lifecycle import end_subscription

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite runs one writer at a time: there is no interleaving to test")
        plan = make_plan(make_project(), unit="day", count=30)
        first, second = make_code(plan, now - timedelta(days=31)), make_code(plan, now)
        project_id, second_text, user = plan.project_id, second.code, tg_user(9201)
        activate_code(db.session, project_id, first.code, user, now - timedelta(days=31))
        db.session.commit()
        lapsed_id = db.session.scalar(select(Subscription.id))

    after_customer_lock, go_on = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def tap_the_new_code():
        # The statement after the lock waits until the end has run.
        with paused_at_the_customer_lock(after_customer_lock, go_on, after=True):
            return activate_code(db.session, project_id, second_text, user, now)

    def end_it():
        end_subscription(db.session, lapsed_id, now)
        return "ended"

    tapper = in_own_transaction(app, outcomes, "tap", tap_the_new_code)
    assert after_customer_lock.wait(30), outcomes  # the tap holds Ann's customer row
    ender = in_own_transaction(app, outcomes, "end", end_it)
    ender.join(10)  # it needs nothing the tap holds: it must not be left waiting
    ended_alone = not ender.is_alive()
    go_on.set()
    tapper.join()
    ender.join()

    assert ended_alone, "the end waited for the activation's customer lock"
    assert outcomes["end"] == "ended", outcomes
    assert not isinstance(outcomes["tap"], Exception), outcomes
    with app.app_context():
        subscriptions = db.session.scalars(select(Subscription).order_by(Subscription.id)).all()
        assert [s.ended_at is not None for s in subscriptions] == [True, False]
        assert subscriptions[1].ends_at == now + timedelta(days=30)
