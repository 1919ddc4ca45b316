"""``python -m webapp.sandbox``: the sandbox Telegram's Bot API server, until SIGTERM.

The sandbox keeps its state in memory; at start-up it sets up again, from the database, every
sandbox project's bot and chats and the customers who were in them, so a restart of ``make run``
keeps the sandbox projects working (their chat histories start empty).
"""

import signal
import sys
import threading
from urllib.parse import urlsplit

from sqlalchemy import select

from webapp import clock, create_app
from webapp.bounded_stop import exit_if_stop_hangs
from webapp.domain.sandbox import owner_persona
from webapp.extensions import db
from webapp.models import Customer, Membership, Project, Resource
from webapp.sandbox.server import SandboxTelegram


def restore(emulator: SandboxTelegram) -> int:
    """Every live sandbox project's bot, chats and members into ``emulator``; how many bots."""
    projects = db.session.scalars(
        select(Project).where(Project.sandbox.is_(True), Project.deleted_at.is_(None))
    ).all()
    for project in projects:
        emulator.add_bot(
            token=project.bot_token,
            username=project.bot_username,
            first_name=f"{project.name} (sandbox)"[:64],
        )
        owner = owner_persona(project.owner_id)
        emulator.add_user(owner.user_id, first_name=owner.first_name)
        for resource in db.session.scalars(
            select(Resource).where(Resource.project_id == project.id)
        ):
            emulator.add_chat(resource.chat_id, type=resource.chat_type, title=resource.title)
            emulator.set_chat_admin(resource.chat_id, owner.user_id, status="creator")
            if resource.bot_is_admin:
                emulator.set_chat_admin(
                    resource.chat_id,
                    project.bot_user_id,
                    can_invite_users=resource.can_invite_users,
                    can_restrict_members=resource.can_restrict_members,
                )
        members = db.session.execute(
            select(Customer, Membership.resource_id)
            .join(Membership, Membership.customer_id == Customer.id)
            .where(
                Customer.project_id == project.id,
                Membership.joined_at.is_not(None),
                Membership.left_at.is_(None),
            )
        ).all()
        for customer, resource_id in members:
            emulator.add_user(customer.telegram_user_id, first_name=customer.first_name)
            chat_id = db.session.get(Resource, resource_id).chat_id
            emulator.add_member(chat_id, customer.telegram_user_id)
    return len(projects)


STOP_SECONDS = 10


def main() -> int:
    app = create_app(migrations=False)
    if not app.config["SANDBOX_ENABLED"]:
        print("The sandbox Telegram is off (ADMIT_SANDBOX=1 turns it on).", flush=True)
        return 0
    address = urlsplit(app.config["SANDBOX_API_URL"])
    with app.app_context():
        try:
            # The sandbox's clock is the product's: a moved demo clock moves link expiry too.
            start = clock.now().timestamp()
        except Exception:  # noqa: BLE001 - no Redis yet: the real time will do
            start = None
        emulator = SandboxTelegram(require_start=True, clock_start=start)
        bots = restore(emulator)
        db.session.remove()
    done = threading.Event()
    exit_if_stop_hangs(done, STOP_SECONDS, "Sandbox Telegram", sys.stdout)
    # Before the ready line: a SIGTERM that follows it takes the orderly stop below.
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    emulator.start(port=address.port or 8081, host=address.hostname or "127.0.0.1")
    print(f"Sandbox Telegram on {emulator.url} ({bots} sandbox bot(s))", flush=True)
    done.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
