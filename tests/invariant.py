"""A seeded, simulated month against the real processes, and the invariant it must end in.

The bot (``python -m bot``), an RQ worker (``python -m webapp.worker``) and ``rq cron`` run as
processes against the Bot API emulator, on the product's clock, which the run moves through a
month. Random events — activations, extensions, overlapping plans that share chats, rollbacks
(some while the activation is still being answered), joins, leaves, blocks, Telegram outages on
every method it calls — then a settling phase with Telegram healthy. After that:

- the members of every chat are exactly the people the database entitles to it (everyone
  entitled asks the bot again and opens what it gives them, so "entitled" means "in");
- every customer got exactly one "Code accepted" per confirmation the outbox sent, every
  confirmation was sent or was cancelled by a rollback (or failed because they blocked the bot),
  and nobody got two for one activation;
- every activation's owner notice arrived.

``run(seed, events, ...)`` returns the violations (empty when the invariant holds) and prints
its seed; the same seed replays the same events.
"""

import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from rq import Queue
from rq.registry import StartedJobRegistry
from sqlalchemy import func, select

from tests import factories
from tests.bot_process import ROOT, BotProcess, bot_env, wait_until
from webapp import clock, jobs
from webapp.domain.entitlements import entitled_resource_ids
from webapp.domain.lifecycle import LEASE
from webapp.domain.rollback import rollback_code
from webapp.extensions import db
from webapp.models import (
    AccessCode,
    AuditEvent,
    Customer,
    OutboxMessage,
    Plan,
    Removal,
    Subscription,
)
from webapp.queues import QUEUE_NAME, get_redis

BOT_ID = 7700
TOKEN = f"{BOT_ID}:AAinvariant-secret"
OWNER_TG = 4700
CHANNEL, GROUP, CHAT = -1001000000701, -1001000000702, -1001000000703
FAILING_METHODS = (
    "sendMessage",
    "createChatInviteLink",
    "revokeChatInviteLink",
    "banChatMember",
    "unbanChatMember",
)


@dataclass(eq=False)  # one per person, compared by identity
class Person:
    user_id: int
    codes: list[str] = field(default_factory=list)  # codes they activated (or tried to)
    blocked: bool = False


@dataclass
class Run:
    seed: int
    rng: random.Random
    app: object
    emu: object
    env: dict
    start: datetime
    now: datetime
    plans: dict[str, int] = field(default_factory=dict)
    customers: list[Person] = field(default_factory=list)
    processes: list = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    seconds: Counter = field(default_factory=Counter)  # wall time per kind of event
    sure_activations: int = 0  # fresh codes sent and never rolled back: each must activate

    # ---- the world ---------------------------------------------------------------------------

    def at(self, moment: datetime) -> None:
        self.now = moment
        clock.set_fake_now(get_redis(), moment)
        self.emu.set_clock(moment.timestamp())

    def queue(self) -> Queue:
        return Queue(QUEUE_NAME, connection=get_redis())

    def quiet(self, timeout: float = 60) -> None:
        """The bot has handled every update and the worker has run every queued job."""
        queue = self.queue()
        started = StartedJobRegistry(queue=queue)

        def idle():
            return (
                not self.emu.pending_updates(TOKEN)
                and queue.count == 0
                and started.count == 0
                and not self.held()
            )

        db.session.rollback()
        wait_until(idle, timeout, "the bot and the worker to be idle")
        db.session.rollback()

    def held(self) -> bool:
        """Whether some process holds a claim now (a lease taken at this very moment: the clock
        stands still between events), or is about to take one. Time must not jump over a live
        sender's lease: a real send takes far less than the lease, and the simulation must not
        pretend otherwise. A message due now is such work too: between the confirmation settled
        and the owner's notice claimed by the bot's notice thread nothing is held, and a jump in
        that gap let the sweep send the notice a second time beside the thread (PostgreSQL,
        seed 1: "25 activations but the owner read 26 notices")."""
        lease_end = self.now + LEASE
        try:
            return any(
                db.session.scalar(select(func.count()).where(clause))
                for clause in (
                    (OutboxMessage.status == "pending")
                    & (OutboxMessage.next_attempt_at == lease_end),
                    (OutboxMessage.status == "pending")
                    & (OutboxMessage.next_attempt_at <= self.now),
                    (Removal.status == "pending") & (Removal.next_attempt_at == lease_end),
                    Subscription.reminder_lease_until == lease_end,
                    Subscription.end_notice_lease_until == lease_end,
                )
            )
        finally:
            db.session.rollback()  # SQLite: every transaction holds the write lock

    def sweep(self) -> None:
        """What ``rq cron`` does every minute (the cron process does it too, on real time)."""
        db.session.rollback()
        self.queue().enqueue(jobs.sweep_lifecycle)
        self.quiet()

    def new_code(self, plan: str) -> str:
        db.session.rollback()
        code = factories.make_code(db.session.get(Plan, self.plans[plan]), self.now).code
        db.session.commit()
        return code

    def last_buttons(self, user_id: int) -> list[str]:
        for message in reversed(self.emu.sent_messages(TOKEN, chat_id=user_id)):
            markup = message.get("reply_markup") or {}
            urls = [b["url"] for row in markup.get("inline_keyboard") or [] for b in row
                    if "url" in b]
            if urls:
                return urls
        return []

    # ---- events ------------------------------------------------------------------------------

    def activate(self, customer: Person, plan: str, roll_back_at_once: bool = False) -> None:
        code = self.new_code(plan)
        customer.codes.append(code)
        self.emu.send_message(TOKEN, customer.user_id, f"/start {code}")
        if roll_back_at_once:
            self.roll_back(code)  # while the bot may still be answering
        else:
            self.sure_activations += 1
        self.quiet()

    def roll_back(self, code: str) -> None:
        db.session.rollback()
        row = db.session.scalars(select(AccessCode).where(AccessCode.code == code)).first()
        if row is None or row.deleted_at is not None:
            db.session.rollback()
            return
        effects = rollback_code(
            db.session, row.project_id, row.id, owner_id=None, now=self.now
        )
        removal_ids = effects.removal_ids
        db.session.commit()
        jobs.enqueue_removals(removal_ids)

    def join(self, customer: Person) -> None:
        for url in self.last_buttons(customer.user_id):
            self.emu.open_invite_link(customer.user_id, url)
        self.quiet()

    def leave(self, customer: Person) -> None:
        chat = self.rng.choice((CHANNEL, GROUP, CHAT))
        self.emu.user_leaves(chat, customer.user_id)
        self.quiet()

    def block(self, customer: Person) -> None:
        if customer.blocked:
            self.emu.unblock_bot(customer.user_id, TOKEN)
        else:
            self.emu.block_bot(customer.user_id, TOKEN)
        customer.blocked = not customer.blocked
        self.quiet()

    def outage(self) -> None:
        method = self.rng.choice(FAILING_METHODS)
        if self.rng.random() < 0.5:
            self.emu.fail_next(method, 502, "Bad Gateway", times=self.rng.randint(1, 8),
                               token=TOKEN)
        else:
            self.emu.fail_next(method, 429, retry_after=self.rng.choice((1, 3, 30, 90)),
                               token=TOKEN)

    def time_passes(self) -> None:
        self.at(self.now + timedelta(hours=self.rng.choice((1, 3, 8, 24, 49))))
        self.sweep()

    def step(self) -> None:
        began, before = time.monotonic(), len(self.log)
        self._step()
        if len(self.log) > before:
            kind = self.log[-1].split()[0]
            self.seconds[kind] += time.monotonic() - began

    def _step(self) -> None:
        rng = self.rng
        customer = rng.choice(self.customers)
        roll = rng.random()
        if roll < 0.30:
            self.activate(customer, rng.choice(tuple(self.plans)))
            self.log.append(f"activate {customer.user_id}")
        elif roll < 0.38:
            self.activate(customer, rng.choice(tuple(self.plans)), roll_back_at_once=True)
            self.log.append(f"activate+rollback {customer.user_id}")
        elif roll < 0.46 and customer.codes:
            self.roll_back(rng.choice(customer.codes))
            self.quiet()
            self.log.append(f"rollback {customer.user_id}")
        elif roll < 0.62:
            self.join(customer)
            self.log.append(f"join {customer.user_id}")
        elif roll < 0.68:
            self.leave(customer)
            self.log.append(f"leave {customer.user_id}")
        elif roll < 0.72:
            self.block(customer)
            self.log.append(f"block/unblock {customer.user_id}")
        elif roll < 0.82:
            self.outage()
            self.log.append("outage")
        else:
            self.time_passes()
            self.log.append(f"time {self.now.isoformat()}")

    # ---- the end -----------------------------------------------------------------------------

    def settle(self) -> None:
        """Telegram healthy again, everybody unblocked, time enough for every retry."""
        self.emu.clear_failures()
        for customer in self.customers:
            if customer.blocked:
                self.emu.unblock_bot(customer.user_id, TOKEN)
                customer.blocked = False
        self.quiet()
        for _ in range(4):  # back-offs are at most an hour; leases ten minutes
            self.at(self.now + timedelta(minutes=61))
            self.sweep()
        # Everyone entitled asks again (the bot answers with Join buttons for chats they are
        # not in) and opens what they get.
        for customer, codes in self.entitled_codes().items():
            for code in codes:
                self.emu.send_message(TOKEN, customer.user_id, f"/start {code}")
                self.quiet()
                self.join(customer)
        self.sweep()

    def entitled_codes(self) -> dict[Person, list[str]]:
        db.session.rollback()
        wanted: dict[Person, list[str]] = {}
        for customer in self.customers:
            live = db.session.scalars(
                select(AccessCode.code).where(
                    AccessCode.code.in_(customer.codes), AccessCode.deleted_at.is_(None)
                )
            ).all()
            if live:
                wanted[customer] = list(live)
        db.session.rollback()
        return wanted

    def violations(self) -> list[str]:
        db.session.rollback()
        found: list[str] = []
        resource_chat = {}
        for plan_id in self.plans.values():
            for resource in db.session.get(Plan, plan_id).resources:
                resource_chat[resource.id] = resource.chat_id
        entitled: dict[int, set[int]] = {chat: set() for chat in (CHANNEL, GROUP, CHAT)}
        customers = db.session.scalars(select(Customer)).all()
        for row in customers:
            for resource_id in entitled_resource_ids(db.session, row.id, self.now):
                entitled[resource_chat[resource_id]].add(row.telegram_user_id)
        for chat, people in entitled.items():
            members = {
                uid for uid, status in self.emu.chat_members(chat).items()
                if status == "member" and uid != BOT_ID
            }
            if members != people:
                found.append(
                    f"chat {chat}: members without access {sorted(members - people)}, "
                    f"entitled but not in {sorted(people - members)}"
                )
        by_tg = {row.id: row.telegram_user_id for row in customers}
        rows = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "confirmation")
        ).all()
        sent = Counter(by_tg[r.customer_id] for r in rows if r.status == "sent")
        for row in rows:
            if row.status == "pending" or (
                row.status == "failed" and "blocked" not in (row.last_error or "")
            ):
                found.append(f"confirmation {row.id} {row.status}: {row.last_error}")
        for customer in self.customers:
            got = sum(
                "Code accepted" in (m.get("text") or "")
                for m in self.emu.sent_messages(TOKEN, chat_id=customer.user_id)
            )
            if got != sent[customer.user_id]:
                found.append(
                    f"customer {customer.user_id}: {got} confirmations read, "
                    f"{sent[customer.user_id]} sent"
                )
        activations = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "code.activated"
            )
        )
        # Not a vacuous pass: a bot that handled nothing would break none of the rules above.
        if activations < self.sure_activations:
            found.append(f"{self.sure_activations} fresh codes sent, only {activations} "
                         f"activations")
        if len(rows) != activations:
            found.append(f"{activations} activations but {len(rows)} confirmations promised")
        notices = sum(
            (m.get("text") or "").count("🔑")
            for m in self.emu.sent_messages(TOKEN, chat_id=OWNER_TG)
        )
        if notices != activations:
            found.append(f"{activations} activations but the owner read {notices} notices")
            lines = Counter(
                line for m in self.emu.sent_messages(TOKEN, chat_id=OWNER_TG)
                for line in (m.get("text") or "").split("\n\n") if "🔑" in line
            )
            for line, times in lines.items():
                if times > 1:
                    rows = db.session.scalars(
                        select(OutboxMessage).where(OutboxMessage.text == line)
                    ).all()
                    found.append(f"read {times} times: {line!r}; rows " + "; ".join(
                        f"{r.id} {r.status} attempts {r.attempts} error {r.last_error} "
                        f"created {r.created_at} sent {r.sent_at}" for r in rows))
        db.session.rollback()
        return found


def setup(run: Run, customers: int) -> None:
    emu = run.emu
    emu.add_bot(TOKEN, "InvariantBot", "Invariant Club")
    emu.add_user(OWNER_TG, "Olga", "Owner", "olga")
    emu.start_bot(OWNER_TG, TOKEN)  # linked her account through the bot: it may write to her
    owner = factories.make_owner(telegram_user_id=OWNER_TG)
    project = factories.make_project(
        owner, name="Invariant Club", bot_token=TOKEN, bot_user_id=BOT_ID,
        bot_username="InvariantBot",
    )
    resources = {}
    for chat, kind, title in (
        (CHANNEL, "channel", "Channel"),
        (GROUP, "supergroup", "Group"),
        (CHAT, "supergroup", "Chat"),
    ):
        emu.add_chat(chat, kind, title=title)
        emu.set_chat_admin(chat, BOT_ID, can_invite_users=True, can_restrict_members=True)
        resources[chat] = factories.make_resource(project, title, chat_id=chat, chat_type=kind)
    # Overlapping plans that share chats.
    for name, unit, count, chats in (
        ("week", "day", 7, (CHANNEL,)),
        ("bundle", "day", 3, (CHANNEL, GROUP)),
        ("month", "month", 1, (GROUP, CHAT)),
    ):
        plan = factories.make_plan(
            project, name, unit, count, resources=[resources[c] for c in chats]
        )
        run.plans[name] = plan.id
    for n in range(customers):
        user_id = 6_700_000 + n
        emu.add_user(user_id, "Cus", f"Tomer{n}", f"c{n}")
        run.customers.append(Person(user_id))
    db.session.commit()


def start_processes(run: Run) -> None:
    bot = BotProcess(run.env).start()
    run.processes.append(bot)
    for name, argv in (
        ("worker", [sys.executable, "-m", "webapp.worker"]),
        ("cron", [str(Path(sys.executable).parent / "rq"), "cron", "webapp.cron", "--url",
                  run.env["REDIS_URL"]]),
    ):
        # Kept in a file, like the bot's: a failing seed prints what the worker and cron said.
        log_path = Path(tempfile.mkstemp(prefix=f"admit-{name}-", suffix=".log")[1])
        with open(log_path, "ab") as log:
            process = subprocess.Popen(argv, cwd=ROOT, env=run.env, stdout=log,
                                       stderr=subprocess.STDOUT)
        process.log_path = log_path
        run.processes.append(process)
    wait_until(lambda: run.emu.calls(TOKEN, "getUpdates"), 90, "the bot's first poll")


def stop_processes(run: Run) -> None:
    for process in reversed(run.processes):
        if isinstance(process, BotProcess):
            if process.running:
                try:
                    process.stop()
                except AssertionError as exc:  # keep the run's own failure in front
                    print(str(exc)[-3000:], flush=True)
        else:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run(seed: int, events: int, app, emu, database_url: str, redis_url: str, start: datetime,
        customers: int = 8) -> tuple[list[str], Run]:
    """Play ``events`` random events from ``seed``; the invariant's violations (and the run)."""
    print(f"invariant run: seed {seed}, {events} events, {customers} customers", flush=True)
    env = bot_env(database_url, redis_url, emu.url)
    env["BOT_POLL_TIMEOUT"] = "1"
    state = Run(seed, random.Random(seed), app, emu, env, start, start)
    state.at(start)
    setup(state, customers)
    began = time.monotonic()
    try:
        start_processes(state)
        for _ in range(events):
            state.step()
        state.settle()
        found = state.violations()
        if found:  # what the bot had to say about it, while its log is still there
            for process in state.processes:
                with open(process.log_path, errors="replace") as log:
                    said = [line.rstrip() for line in log
                            if "WARNING" in line or "ERROR" in line or "Traceback" in line]
                print(f"invariant run: {process.log_path.name}'s warnings and errors:\n"
                      + "\n".join(said[-80:]), flush=True)
    finally:
        stop_processes(state)
        for process in state.processes:
            process.log_path.unlink(missing_ok=True)
    print(f"invariant run: seed {seed} took {time.monotonic() - began:.0f} s, "
          f"{len(found)} violation(s)", flush=True)
    counts = Counter(entry.split()[0] for entry in state.log)
    print("invariant run: seconds per event: " + ", ".join(
        f"{kind} {state.seconds[kind] / counts[kind]:.2f} (×{counts[kind]})"
        for kind in sorted(counts)), flush=True)
    return found, state
