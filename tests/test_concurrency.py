"""'Max activations = N' holds when many customers tap the link in the same second.

Each thread has its own app context, session and database connection, and all start together
at a barrier, so the activations really race (on PostgreSQL: 200 transactions at once).
"""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

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
    errors = []

    def attempt(text):
        with app.app_context():
            barrier.wait()
            try:
                activate_code(db.session, project_id, text, user, now)
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
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
    errors: list[Exception] = []

    def activate_paid_code_and_hold():
        with app.app_context():
            try:
                activate_code(db.session, project_id, paid_text, user, now)
                activated.set()
                release.wait(30)
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)
                activated.set()
            finally:
                db.session.remove()

    def roll_back_refunded_code():
        with app.app_context():
            try:
                rollback_code(db.session, project_id, refunded_id, owner_id=None, now=now)
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)
            finally:
                db.session.remove()

    holder = threading.Thread(target=activate_paid_code_and_hold)
    holder.start()
    assert activated.wait(30)
    roller = threading.Thread(target=roll_back_refunded_code)
    roller.start()
    with app.app_context():
        _wait_until_a_transaction_waits_for_a_lock()
    release.set()
    holder.join()
    roller.join()

    assert errors == []
    with app.app_context():
        subscription = db.session.scalars(select(Subscription)).one()
        assert subscription.ended_at is None
        assert subscription.ends_at == now + timedelta(days=30)


def _hold_first_activation_then(app, project_id, first_text, user, now, second):
    """A new customer's first activation, uncommitted, while ``second()`` runs in another
    transaction until it waits for a lock; then the first commits. What ``second`` raised."""
    activated, release = threading.Event(), threading.Event()
    errors: list[Exception] = []
    outcome: list = []

    def first():
        with app.app_context():
            try:
                activate_code(db.session, project_id, first_text, user, now)
                activated.set()
                release.wait(30)
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)
                activated.set()
            finally:
                db.session.remove()

    def then():
        with app.app_context():
            try:
                second()
                db.session.commit()
                outcome.append("activated")
            except ActivationRefused as refusal:
                db.session.rollback()
                outcome.append(type(refusal).__name__)
            except Exception as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)
            finally:
                db.session.remove()

    holder = threading.Thread(target=first)
    holder.start()
    assert activated.wait(30)
    follower = threading.Thread(target=then)
    follower.start()
    with app.app_context():
        _wait_until_a_transaction_waits_for_a_lock()
    release.set()
    holder.join()
    follower.join()
    assert errors == []
    return outcome[0]


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
    from sqlalchemy import event

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
        with app.app_context():
            connection = db.session.connection()

            def pause_at_the_customer_lock(conn, cursor, statement, *args):
                if "FOR " in statement and "FROM customer" in statement:
                    at_customer_lock.set()
                    go_on.wait(30)

            event.listen(connection, "before_cursor_execute", pause_at_the_customer_lock)
            try:
                activate_code(db.session, project_id, code_text, user, now)
                db.session.commit()
                outcomes["tap"] = "activated"
            except Exception as exc:  # noqa: BLE001 - asserted below
                outcomes["tap"] = exc
                db.session.rollback()
            finally:
                event.remove(connection, "before_cursor_execute", pause_at_the_customer_lock)
                db.session.remove()

    def refund():
        with app.app_context():
            try:
                rollback_activation(db.session, project_id, activation_id, owner_id=None, now=now)
                db.session.commit()
                outcomes["refund"] = "done"
            except Exception as exc:  # noqa: BLE001 - asserted below
                outcomes["refund"] = exc
            finally:
                db.session.remove()

    tapper = threading.Thread(target=tap_again)
    tapper.start()
    assert at_customer_lock.wait(30)  # the tap holds the code's row, not yet Ann's
    refunder = threading.Thread(target=refund)
    refunder.start()
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
    from sqlalchemy import event

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
        with app.app_context():
            connection = db.session.connection()
            state = {"locked": False}

            def pause_after_the_customer_lock(conn, cursor, statement, *args):
                if state["locked"] and not after_customer_lock.is_set():
                    after_customer_lock.set()
                    go_on.wait(30)
                if "FOR" in statement and "FROM customer" in statement:
                    state["locked"] = True  # the next statement waits until the end has run

            event.listen(connection, "before_cursor_execute", pause_after_the_customer_lock)
            try:
                outcomes["tap"] = activate_code(db.session, project_id, second_text, user, now)
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - asserted below
                outcomes["tap"] = exc
                db.session.rollback()
            finally:
                event.remove(connection, "before_cursor_execute", pause_after_the_customer_lock)
                db.session.remove()

    def end_it():
        with app.app_context():
            try:
                end_subscription(db.session, lapsed_id, now)
                db.session.commit()
                outcomes["end"] = "ended"
            except Exception as exc:  # noqa: BLE001 - asserted below
                outcomes["end"] = exc
            finally:
                db.session.remove()

    tapper = threading.Thread(target=tap_the_new_code)
    tapper.start()
    assert after_customer_lock.wait(30)  # the tap holds Ann's customer row
    ender = threading.Thread(target=end_it)
    ender.start()
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
