"""RQ entry points: ids in, one domain call, commit. Each job runs in its own app context."""

from webapp.worker import app_context


def sweep_lifecycle() -> dict:
    """Find what is due (reminders, ended subscriptions, pending removals) and enqueue it."""
    from webapp.domain import lifecycle
    from webapp.extensions import db
    from webapp.models import utcnow

    with app_context():
        now = utcnow()
        return {
            "reminders_due": len(lifecycle.due_reminder_ids(db.session, now)),
            "ended": len(lifecycle.ended_subscription_ids(db.session, now)),
        }
