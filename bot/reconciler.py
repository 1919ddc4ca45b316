"""The reconciler's jobs: compare each chat with the database and heal what lost updates broke.

``sweep_reconcile`` runs from ``rq cron`` (every ``RECONCILE_EVERY``, and at cron's start-up, so
a restart after an outage reconciles at once) and enqueues one ``reconcile_resource`` per chat.
Each asks ``getChatMember`` about the chat's customers within the bot's shared rate budget, lets
``webapp.domain.reconcile`` decide, revokes the links it forgot, starts the removals it wrote
and tells the owner what changed. It lives with the bot for the owner report's wording.
"""

import logging

from rq import Retry

from bot import texts
from bot.join_links import revoke_quietly
from bot.redaction import describe
from webapp import clock, telegram
from webapp.domain import reconcile, resources

log = logging.getLogger(__name__)

RECONCILE_EVERY = 6 * 3600  # seconds; well inside the 24 h Telegram keeps updates
RECONCILE_TIMEOUT = 3600
# Each getChatMember waits for a place in the bot's budget (shared with messages) this long.
MAX_THROTTLE_WAIT = 30.0
RECONCILE_RETRY = Retry(max=3, interval=[60, 300, 900])


class ReconcilePending(Exception):
    """Telegram could not be asked about everyone; RQ tries the job again later."""


def sweep_reconcile() -> int:
    """Enqueue one reconcile per resource (a job already waiting is not queued twice)."""
    from webapp.extensions import db
    from webapp.queues import enqueue_once, get_queue
    from webapp.worker import app_context

    with app_context():
        ids = reconcile.resources_to_reconcile(db.session)
        db.session.rollback()
        queue = get_queue()
        count = 0
        for resource_id in ids:
            job = enqueue_once(
                queue,
                reconcile_resource,
                resource_id,
                job_id=f"reconcile-{resource_id}",
                job_timeout=RECONCILE_TIMEOUT,
                retry=RECONCILE_RETRY,
            )
            count += job is not None
    return count


def reconcile_resource(resource_id: int) -> str:
    """Compare one chat's members with the database and bring Telegram back to it."""
    from webapp.extensions import db
    from webapp.jobs import enqueue_removals
    from webapp.queues import get_redis
    from webapp.throttle import BotThrottle, Throttled, bot_id_of
    from webapp.worker import app_context

    with app_context():
        work = reconcile.reconcile_work(db.session, resource_id)
        db.session.rollback()
        if work is None:
            return "nothing to reconcile"
        throttle = BotThrottle(get_redis())
        bot = bot_id_of(work.bot_token)
        present: dict[int, bool] = {}
        try:
            with telegram.waiting_at_most(MAX_THROTTLE_WAIT):
                for target in work.targets:
                    throttle.wait(bot, max_wait=MAX_THROTTLE_WAIT)
                    present[target.customer_id] = _is_in(work, target.telegram_user_id)
        except telegram.ChatMigrated as exc:
            resources.migrate_chat(
                db.session, work.project_id, work.chat_id, exc.new_chat_id, clock.now()
            )
            db.session.commit()
            raise ReconcilePending("the group became a supergroup; again there") from None
        except (telegram.NotEnoughRights, telegram.ChatNotFound, telegram.Unauthorized) as exc:
            # The bot lost its place there: the project page shows it; nothing to compare.
            return f"cannot look: {describe(exc, work.bot_token)}"
        except (Throttled, telegram.RateLimited, telegram.Unreachable) as exc:
            raise ReconcilePending(describe(exc, work.bot_token)) from None
        report = reconcile.apply_observations(db.session, resource_id, present, clock.now())
        db.session.commit()
        for link in report.links_to_revoke:
            throttle.wait(bot, max_wait=MAX_THROTTLE_WAIT)
            revoke_quietly(work.bot_token, work.chat_id, link)
        if report.removal_ids:
            enqueue_removals(report.removal_ids)
        if report.changed and work.owner_chat_id:
            try:
                telegram.send_message(
                    work.bot_token, work.owner_chat_id,
                    texts.reconcile_report(report, work.owner_language),
                )
            except telegram.TelegramError as exc:
                log.warning("reconcile report not sent: %s", describe(exc, work.bot_token))
        return (
            f"{len(work.targets)} checked: {len(report.joins)} joins, {len(report.leaves)} "
            f"leaves, {len(report.removed)} removals, {len(report.links_to_revoke)} links revoked"
        )


def _is_in(work: reconcile.ReconcileWork, telegram_user_id: int) -> bool:
    try:
        return telegram.get_chat_member(work.bot_token, work.chat_id, telegram_user_id)["is_in"]
    except telegram.UserNotFound:
        return False  # the account is gone: it is in no chat
