"""RQ entry points: ids in, one domain step, commit. Each job runs in its own app context.

``sweep_lifecycle`` runs every minute from ``rq cron`` (webapp.cron). It reads what is due from
the database — the source of truth, so work lost with Redis is found again — and enqueues one
job per piece of work, named after it so repeated sweeps collapse while it waits:

- ``end_subscription``   (``end-<subscription>``): end it, write its removals, enqueue them;
- ``send_reminder``      (``reminder-<subscription>-<end as Unix time>``);
- ``carry_out_removal``  (``removal-<removal>``): revoke the invite link, ban, unban;
- ``send_end_notice``    (``end-notice-<subscription>``): after the removals, tell the customer;
- ``bot.outbox.deliver_outbox_message`` (``outbox-<message>``): a promised message (confirmation,
  owner notice, join links) that its writer did not send, or that failed and is due again.

Each job claims its work in the database before calling Telegram (see webapp.domain.lifecycle)
and goes through the per-bot rate limiter shared by all processes (webapp.throttle).
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from rq import Retry

from webapp import clock, telegram
from webapp.domain import lifecycle, outbox, resources
from webapp.domain.lifecycle import Outcome
from webapp.extensions import db
from webapp.models import Project
from webapp.queues import enqueue_once, get_queue, get_redis
from webapp.throttle import BotThrottle, Throttled, bot_id_of
from webapp.worker import app_context

log = logging.getLogger(__name__)

# Well under lifecycle.LEASE, so a claim never runs out under a job that is still alive.
JOB_TIMEOUT = 240
SWEEP_TIMEOUT = 300
# A 429 asking for longer than this is not waited out inside a job: the work is put back.
INLINE_RETRY_AFTER = 5.0
# How long a job waits for the shared rate limiter before putting the work back.
MAX_THROTTLE_WAIT = 10.0
# When a message could not get through (5xx, timeouts, long flood waits), try again after this.
MESSAGE_RETRY_DELAY = timedelta(minutes=2)
JOB_OPTIONS = {"result_ttl": 3600, "failure_ttl": 7 * 86400}
# Per kind of work and sweep (one a minute). 1,000 capped reminders at 16.7/s for all bots
# together, below one bot's allowance; jobs already queued are not queued twice.
SWEEP_LIMIT = 20_000
OUTBOX_SENDER = "bot.outbox.deliver_outbox_message"


# -- The sweep ---------------------------------------------------------------------------------


def sweep_lifecycle() -> dict:
    """Find what is due (ends, reminders, removals, end notices) and enqueue one job for each."""
    with app_context():
        now = clock.now()
        ended = lifecycle.ended_subscription_ids(db.session, now, SWEEP_LIMIT)
        reminders = lifecycle.due_reminders(db.session, now, SWEEP_LIMIT)
        removals = lifecycle.due_removal_ids(db.session, now, SWEEP_LIMIT)
        end_notices = lifecycle.due_end_notice_ids(db.session, now, SWEEP_LIMIT)
        messages = outbox.due_ids(db.session, now, SWEEP_LIMIT)
        db.session.rollback()
        queue = get_queue()
        counts = {
            "ended": _enqueue_all(queue, end_subscription, ended, "end-{}"),
            "reminders": sum(
                _enqueue(
                    queue, send_reminder, sub_id, f"reminder-{sub_id}-{int(ends_at.timestamp())}"
                )
                for sub_id, ends_at in reminders
            ),
            "removals": _enqueue_all(queue, carry_out_removal, removals, "removal-{}"),
            "end_notices": _enqueue_all(queue, send_end_notice, end_notices, "end-notice-{}"),
            # By name: the sender lives with the bot's texts (bot/), which import webapp.
            "messages": _enqueue_all(queue, OUTBOX_SENDER, messages, "outbox-{}"),
        }
    log.info("lifecycle sweep at %s enqueued %s", now.isoformat(), counts)
    return counts


def _enqueue(queue, func, work_id: int, job_id: str) -> int:
    job = enqueue_once(queue, func, work_id, job_id=job_id, job_timeout=JOB_TIMEOUT, **JOB_OPTIONS)
    return 0 if job is None else 1


def _enqueue_all(queue, func, ids: list[int], job_id_format: str) -> int:
    return sum(_enqueue(queue, func, work_id, job_id_format.format(work_id)) for work_id in ids)


def enqueue_removals(removal_ids: list[int]) -> int:
    """Carry out these removals soon (called after a rollback commits); how many were enqueued.

    The rows are committed as pending, so when Redis is unreachable nothing is lost: the next
    sweep finds them. Needs an app context (a view's is fine).
    """
    try:
        queue = get_queue()
        return _enqueue_all(queue, carry_out_removal, list(removal_ids), "removal-{}")
    except RedisError:
        log.exception("could not enqueue removals %s; the sweep will find them", removal_ids)
        return 0


def enqueue_outbox_messages(message_ids: list[int]) -> int:
    """Send these promised messages as soon as a worker is free (after their writer commits).

    Redis being unreachable loses nothing: the rows are pending and the next sweep finds them.
    """
    try:
        return _enqueue_all(get_queue(), OUTBOX_SENDER, list(message_ids), "outbox-{}")
    except RedisError:
        log.exception("could not enqueue messages %s; the sweep will find them", message_ids)
        return 0


# -- Jobs --------------------------------------------------------------------------------------


def end_subscription(subscription_id: int) -> str:
    """End a subscription whose time is up and start its removals (or its end notice)."""
    with app_context():
        now = clock.now()
        decision = lifecycle.end_subscription(db.session, subscription_id, now)
        if decision is None:
            db.session.rollback()
            return "not due"
        db.session.commit()
        removal_ids = lifecycle.pending_removal_ids(db.session, subscription_id)
        db.session.rollback()
        if removal_ids:
            enqueue_removals(removal_ids)
        else:
            _enqueue_end_notice_if_ready(subscription_id, now)
        return f"ended; {len(removal_ids)} removal(s)"


def send_reminder(subscription_id: int) -> str:
    """Remind the customer, once per end, that their access ends in about a day."""
    return _send_claimed(
        subscription_id,
        lifecycle.claim_reminder,
        lifecycle.reminder_message,
        lifecycle.settle_reminder,
        not_due="not due (sent, claimed elsewhere, or no longer ending soon)",
    )


def send_end_notice(subscription_id: int) -> str:
    """Tell the customer their access ended (or was withdrawn) and where they were removed from."""
    return _send_claimed(
        subscription_id,
        lifecycle.claim_end_notice,
        lifecycle.end_notice_message,
        lifecycle.settle_end_notice,
        not_due="not due",
    )


def _send_claimed(subscription_id: int, claim, message_for, settle, not_due: str) -> str:
    """Claim a customer message in the database, commit the claim, send, then settle it."""
    with app_context():
        now = clock.now()
        if not claim(db.session, subscription_id, now):
            db.session.rollback()
            return not_due
        message = message_for(db.session, subscription_id, now)
        db.session.commit()  # the claim is durable before anything is sent
        outcome = _deliver(message, now)
        settle(db.session, subscription_id, now, outcome, clock.now())
        db.session.commit()
        return outcome.status


def carry_out_removal(removal_id: int) -> str:
    """Take the customer out of the resource: revoke their invite link, ban, then unban.

    Skipped when a subscription entitles them to the resource again by now. A bot without the
    rights fails for good with a reason the owner can act on; Telegram being unreachable backs
    off and retries (see ``lifecycle.settle_removal``).
    """
    with app_context():
        return carry_out_removal_here(removal_id)


def carry_out_removal_here(removal_id: int) -> str:
    """``carry_out_removal`` in the caller's app context (the bot, for an unwelcome join)."""
    now = clock.now()
    if not lifecycle.claim_removal(db.session, removal_id, now):
        db.session.rollback()
        return "not due"
    work = lifecycle.removal_work(db.session, removal_id, now)
    db.session.commit()
    if work.entitled:
        # An earlier attempt may have banned them and failed to lift the ban (``BanNotLifted``):
        # someone entitled again must not stay banned, or Telegram refuses their Join link.
        outcome = _lift_leftover_ban(work, now) if work.attempts > 1 else Outcome("skipped")
    else:
        outcome = _remove(work, now)
    revoked = work.invite_link if outcome.status == "done" else None
    lifecycle.settle_removal(db.session, removal_id, now, outcome, clock.now(), revoked)
    db.session.commit()
    if work.subscription_id is not None:
        _enqueue_end_notice_if_ready(work.subscription_id, clock.now())
    return outcome.status


LIFT_BAN_RETRY = Retry(max=8, interval=[10, 30, 60, 300, 900, 3600, 3600, 3600])


def enqueue_lift_ban(project_id: int, chat_id: int, user_id: int) -> None:
    """Lift a ban that outlived its removal (the unban failed), retrying for about half a day."""
    get_queue().enqueue(
        lift_ban, project_id, chat_id, user_id, retry=LIFT_BAN_RETRY,
        job_timeout=JOB_TIMEOUT, **JOB_OPTIONS,
    )


def lift_ban(project_id: int, chat_id: int, user_id: int) -> str:
    """Unban someone the bot removed, so a later Join link works for them (RQ retries failures)."""
    with app_context():
        project = db.session.get(Project, project_id)
        if project is None or project.deleted_at is not None:
            return "gone"
        token = project.bot_token
        db.session.rollback()
    _throttle().wait(bot_id_of(token), max_wait=MAX_THROTTLE_WAIT)
    with telegram.waiting_at_most(INLINE_RETRY_AFTER):
        telegram.lift_ban(token, chat_id, user_id)
    return "lifted"


def _enqueue_end_notice_if_ready(subscription_id: int, now: datetime) -> None:
    ready = lifecycle.end_notice_ready(db.session, subscription_id, now)
    db.session.rollback()
    if ready:
        _enqueue(get_queue(), send_end_notice, subscription_id, f"end-notice-{subscription_id}")


# -- Talking to Telegram -----------------------------------------------------------------------


def _throttle() -> BotThrottle:
    return BotThrottle(get_redis())


def _deliver(message: lifecycle.Message, now: datetime) -> Outcome:
    """Send one message to a customer within the bot's limits; what came of it."""
    if message.blocked:
        return Outcome.failed(lifecycle.BLOCKED_ERROR, blocked=False)
    return send_within_limits(message.bot_token, message.chat_id, message.text, now)


def send_within_limits(
    token: str, chat_id: int, text: str, now: datetime, reply_markup=None
) -> Outcome:
    """Send one message within the bot's and the chat's limits; what came of it, in the
    domain's terms (a long wait becomes a retry at a time, not a held worker)."""
    try:
        _throttle().wait(bot_id_of(token), chat_id, max_wait=MAX_THROTTLE_WAIT)
        with telegram.waiting_at_most(INLINE_RETRY_AFTER):
            telegram.send_message(token, chat_id, text, reply_markup=reply_markup)
    except Throttled as exc:
        return Outcome.retry(now + timedelta(seconds=exc.wait), "waiting for the rate limit")
    except telegram.RateLimited as exc:
        wait = timedelta(seconds=exc.retry_after or 1)
        return Outcome.retry(now + wait, f"Telegram asked to wait {wait.seconds} s")
    except telegram.Uncertain:
        # Telegram may have delivered it: sending again could say it twice. At most once.
        return Outcome.done("Telegram's answer was lost; the message was probably delivered")
    except telegram.Unreachable as exc:
        return Outcome.retry(now + MESSAGE_RETRY_DELAY, f"Telegram did not answer ({exc})")
    except telegram.NotStarted:
        return Outcome.failed("the customer never started the bot")
    except telegram.BotBlocked:
        return Outcome.failed(lifecycle.BLOCKED_ERROR, blocked=True)
    except telegram.Unauthorized:
        return Outcome.failed("the bot's token is no longer valid")
    except telegram.ChatNotFound:
        return Outcome.failed("Telegram no longer knows this customer's chat")
    except telegram.TelegramError as exc:
        return Outcome.failed(f"Telegram refused the message: {exc.description}")
    return Outcome.done()


def _remove(work: lifecycle.RemovalWork, now: datetime) -> Outcome:
    token, chat_id = work.bot_token, work.chat_id
    bot = bot_id_of(token)
    throttle = _throttle()

    def revoke_ban_unban() -> Outcome:
        note = None
        if work.invite_link:
            throttle.wait(bot, max_wait=MAX_THROTTLE_WAIT)
            note = _revoke_quietly(token, chat_id, work.invite_link, work.resource_title)
        throttle.wait(bot, max_wait=MAX_THROTTLE_WAIT)  # ban
        throttle.wait(bot, max_wait=MAX_THROTTLE_WAIT)  # unban
        telegram.remove_member(token, chat_id, work.telegram_user_id)
        return Outcome.done(note)

    return _in_chat(work, now, revoke_ban_unban)


def _lift_leftover_ban(work: lifecycle.RemovalWork, now: datetime) -> Outcome:
    """Skip a removal whose customer is entitled again, lifting a ban an earlier attempt left
    (only if banned: a member is never touched); a transient failure retries the removal."""

    def lift() -> Outcome:
        _throttle().wait(bot_id_of(work.bot_token), max_wait=MAX_THROTTLE_WAIT)
        telegram.lift_ban(work.bot_token, work.chat_id, work.telegram_user_id)
        return Outcome("skipped")

    return _in_chat(work, now, lift)


def _in_chat(work: lifecycle.RemovalWork, now: datetime, act: Callable[[], Outcome]) -> Outcome:
    """Run a removal's Telegram calls; what a refusal means for the removal row."""
    title = work.resource_title
    try:
        with telegram.waiting_at_most(INLINE_RETRY_AFTER):
            return act()
    except Throttled as exc:
        return Outcome.retry(now + timedelta(seconds=exc.wait), "waiting for the rate limit")
    except telegram.RateLimited as exc:
        wait = timedelta(seconds=exc.retry_after or 1)
        return Outcome.retry(now + wait, f"Telegram asked to wait {wait.seconds} s")
    except telegram.Unreachable as exc:
        return Outcome.retry(now, f"Telegram did not answer ({exc})")
    except telegram.ChatMigrated as exc:
        _follow_migration(work.project_id, work.chat_id, exc.new_chat_id)
        return Outcome.retry(now, f"{title} became a supergroup; trying there")
    except telegram.BanNotLifted as exc:
        # Out of the chat but still banned: the removal stays pending until the ban is lifted,
        # so a later code's Join link works for them. (Lifting alone never raises it.)
        return Outcome.retry(now, exc.description[:255])
    except telegram.TelegramError as exc:
        return Outcome.failed(removal_failure(exc, title))


def _follow_migration(project_id: int, old_chat_id: int, new_chat_id: int) -> None:
    resources.migrate_chat(db.session, project_id, old_chat_id, new_chat_id, clock.now())
    db.session.commit()


def _revoke_quietly(token: str, chat_id: int, invite_link: str, title: str) -> str | None:
    """Revoke the customer's own invite link so it cannot let them back in; a note if it fails.

    A link that is already expired or gone is fine; missing rights are reported by the ban that
    follows. Only a transient failure (raised) stops the removal.
    """
    try:
        telegram.revoke_invite_link(token, chat_id, invite_link)
    except (telegram.RateLimited, telegram.Unreachable):
        raise
    except telegram.TelegramError as exc:
        if isinstance(exc, telegram.NotEnoughRights):
            return f"the invite link in {title} could not be revoked: {exc.description}"[:255]
    return None


def removal_failure(exc: telegram.TelegramError, title: str) -> str:
    """Why a removal failed for good, in words an owner can act on."""
    lowered = exc.description.lower()
    if isinstance(exc, telegram.Unauthorized):
        return "the bot's token is no longer valid"
    if isinstance(exc, telegram.ChatNotFound):
        return f"{title} was not found: it was deleted or the bot was removed from it"
    if isinstance(exc, telegram.UserNotFound):
        return f"Telegram no longer knows this customer (account deleted?), not in {title}"
    if isinstance(exc, telegram.NotEnoughRights):
        if "rights" in lowered:
            return f"the bot lacks the right to ban members in {title}"
        return f"the bot is no longer an admin of {title}"
    if "administrator" in lowered or "owner" in lowered:
        return f"the customer is an administrator of {title} and cannot be removed by the bot"
    return f"Telegram refused the removal from {title}: {exc.description}"[:255]
