"""Tables and their small invariants. The business rules live in ``webapp.domain``."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from webapp import clock, logs, token_crypto
from webapp.extensions import db


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python, naive UTC in the database, alike on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Admit stores aware UTC datetimes only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class EncryptedToken(TypeDecorator):
    """A secret encrypted in the database (webapp.token_crypto), plain text in Python."""

    impl = String(255)
    cache_ok = True

    # Every token this process handles is also kept out of its logs (webapp.logs).
    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        logs.remember_secret(value)
        return token_crypto.encrypt(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        token = token_crypto.decrypt(value)
        logs.remember_secret(token)
        return token


def token_digest(token: str) -> str:
    """What uniqueness is checked on: the ciphertext differs every time, the digest does not.
    A bot token is 35 random characters after the id, so a plain SHA-256 reveals nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


def utcnow() -> datetime:
    """Now, from the product's one clock (a test's or demo's clock when one is set)."""
    return clock.now()


class Owner(UserMixin, db.Model):
    __tablename__ = "owner"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The language the bot speaks to the owner (/newcode, notices); see webapp.i18n.LANGUAGES.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    telegram_username: Mapped[str | None] = mapped_column(String(64))
    telegram_link_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # When the link token was made: the bot refuses tokens older than an hour.
    telegram_link_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A password-reset link sent by the owner's bot (webapp.domain.password_reset): its SHA-256.
    password_reset_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    password_reset_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the last "needs attention" digest went to the owner's Telegram: one a day at most.
    digest_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    projects: Mapped[list[Project]] = relationship(back_populates="owner")

    # The secret of the log-in this request runs under (webapp.domain.sessions); Flask-Login
    # keeps it in the cookie instead of the owner's id, so each log-in can end on its own.
    login_token = None  # str, set per instance

    def get_id(self) -> str:
        if not self.login_token:
            raise RuntimeError("an owner is logged in through webapp.domain.sessions only")
        return self.login_token


class OwnerSession(db.Model):
    """One log-in of an owner: it ends at log-out, after an idle time or a maximum age, or when
    the owner logs out everywhere or changes the password."""

    __tablename__ = "owner_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owner.id"), index=True)
    # SHA-256 of the secret in the cookie: a database dump logs nobody in.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Project(db.Model):
    __tablename__ = "project"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owner.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    # Encrypted at rest: a dump or a backup of the database does not control the bots.
    bot_token: Mapped[str] = mapped_column(EncryptedToken)
    bot_token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    bot_user_id: Mapped[int] = mapped_column(BigInteger)
    bot_username: Mapped[str] = mapped_column(String(64))
    # For customers whose Telegram language the bot does not speak.
    default_language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    # The wall clock customers read their dates in.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    # How customers reach the owner (e.g. "@goldclub_support"); refusals tell them.
    contact: Mapped[str | None] = mapped_column(String(255))

    # A sandbox project's bot lives in the sandbox Telegram (webapp.sandbox), not in Telegram:
    # every process sends its Bot API calls there (webapp.telegram routes them by token).
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner: Mapped[Owner] = relationship(back_populates="projects")
    resources: Mapped[list[Resource]] = relationship(back_populates="project")
    plans: Mapped[list[Plan]] = relationship(back_populates="project")

    @validates("bot_token")
    def _keep_digest(self, _key, token: str) -> str:
        self.bot_token_digest = token_digest(token)
        return token

    @property
    def masked_token(self) -> str:
        bot_id, _, secret = self.bot_token.partition(":")
        return f"{bot_id}:…{secret[-4:]}" if secret else "…"


class Resource(db.Model):
    """A channel or group where the project's bot is (or was) an administrator."""

    __tablename__ = "resource"
    __table_args__ = (UniqueConstraint("project_id", "chat_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(64))
    chat_type: Mapped[str] = mapped_column(String(16))  # channel, supergroup, group
    can_invite_users: Mapped[bool] = mapped_column(Boolean, default=False)
    can_restrict_members: Mapped[bool] = mapped_column(Boolean, default=False)
    bot_is_admin: Mapped[bool] = mapped_column(Boolean, default=True)
    # Someone other than the owner made the bot an administrator here: the chat (and its title,
    # which that person chose) is not used until the owner accepts it in the dashboard.
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pending_by_user_id: Mapped[int | None] = mapped_column(BigInteger)
    # Join buttons are links that ask to join (creates_join_request) and the bot approves only
    # the entitled: a forwarded link lets nobody else in, and no revoke races a second join.
    join_by_request: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Also decline join requests that did not come through an Admit link (the owner's own
    # approval links, a group set to "join by request") when the requester has no access.
    decline_strangers: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When the reconciler last compared this chat's members with the database.
    reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    project: Mapped[Project] = relationship(back_populates="resources")

    @property
    def is_pending(self) -> bool:
        return self.pending_since is not None

    @property
    def is_usable(self) -> bool:
        return (
            not self.is_pending
            and self.bot_is_admin
            and self.can_invite_users
            and self.can_restrict_members
        )


plan_resource = Table(
    "plan_resource",
    db.metadata,
    Column("plan_id", ForeignKey("plan.id"), primary_key=True),
    Column("resource_id", ForeignKey("resource.id"), primary_key=True, index=True),
)

PERIOD_UNITS = ("day", "month", "lifetime")


class Plan(db.Model):
    __tablename__ = "plan"
    __table_args__ = (
        CheckConstraint("period_unit IN ('day', 'month', 'lifetime')", name="period_unit"),
        CheckConstraint(
            "(period_unit = 'lifetime' AND period_count IS NULL)"
            " OR (period_unit <> 'lifetime' AND period_count >= 1)",
            name="period_count",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    period_unit: Mapped[str] = mapped_column(String(16))
    period_count: Mapped[int | None] = mapped_column(Integer)
    renewal_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    project: Mapped[Project] = relationship(back_populates="plans")
    resources: Mapped[list[Resource]] = relationship(
        secondary=plan_resource, order_by="Resource.id"
    )

    @property
    def is_lifetime(self) -> bool:
        return self.period_unit == "lifetime"

    @property
    def period_label(self) -> str:
        if self.is_lifetime:
            return "lifetime"
        unit = self.period_unit if self.period_count == 1 else self.period_unit + "s"
        return f"{self.period_count} {unit}"


class Batch(db.Model):
    """The codes made together in one generation."""

    __tablename__ = "batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"))
    size: Mapped[int] = mapped_column(Integer)
    max_activations: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_owner_id: Mapped[int | None] = mapped_column(ForeignKey("owner.id"))
    created_via: Mapped[str] = mapped_column(String(16), default="dashboard")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    plan: Mapped[Plan] = relationship()

    __table_args__ = (Index("ix_batch_project_created", "project_id", "created_at"),)


# A live code that is nearly used up: at least 5 activations, a tenth (at least one) left. The
# inbox asks exactly this and its index holds exactly these codes; the numbers are written out
# (not bound) so PostgreSQL can prove the query's condition is the index's.
NEARLY_USED_UP = (
    "deleted_at IS NULL AND paused_at IS NULL AND max_activations >= 5"
    " AND activation_count < max_activations"
    " AND (max_activations - activation_count) * 10 <= max_activations"
)
# A live single code (not of a batch) with an expiry: the inbox's "expires soon" reads them in
# order of expiry.
SINGLE_CODE_EXPIRING = (
    "deleted_at IS NULL AND paused_at IS NULL AND batch_id IS NULL AND expires_at IS NOT NULL"
)


class AccessCode(db.Model):
    __tablename__ = "access_code"
    __table_args__ = (
        # The normalized form is what customers' input is matched against.
        UniqueConstraint("project_id", "lookup_key"),
        CheckConstraint("max_activations >= 1", name="max_activations_positive"),
        CheckConstraint(
            "activation_count >= 0 AND activation_count <= max_activations",
            name="activation_count_within_max",
        ),
        Index("ix_access_code_project_created", "project_id", "created_at", "id"),
        Index("ix_access_code_plan_created", "plan_id", "created_at", "id"),
        # The list's rarer status filters, each in list order over only the codes it can match,
        # so a filter that matches few (or no) codes does not walk the whole project.
        *(
            Index(
                f"ix_access_code_project_{name}",
                "project_id",
                "created_at",
                "id",
                postgresql_where=text(where),
                sqlite_where=text(where),
            )
            for name, where in (
                ("rolled_back", "deleted_at IS NOT NULL"),
                ("used_up", "deleted_at IS NULL AND activation_count >= max_activations"),
                ("expiring", "deleted_at IS NULL AND expires_at IS NOT NULL"),
            )
        ),
        # The needs-attention inbox's two questions about codes, each an index of only the codes
        # that answer it, so the dashboard home never reads a project's codes one by one.
        Index(
            "ix_access_code_nearly_used_up",
            "project_id",
            "id",
            postgresql_where=text(NEARLY_USED_UP),
            sqlite_where=text(NEARLY_USED_UP),
        ),
        Index(
            "ix_access_code_project_expires",
            "project_id",
            "expires_at",
            postgresql_where=text(SINGLE_CODE_EXPIRING),
            sqlite_where=text(SINGLE_CODE_EXPIRING),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    # Byte order ("C") on PostgreSQL so a prefix search (LIKE 'K7QF%') can walk the unique index.
    lookup_key: Mapped[str] = mapped_column(
        String(64).with_variant(String(64, collation="C"), "postgresql")
    )
    max_activations: Mapped[int] = mapped_column(Integer)
    activation_count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(255))
    created_by_owner_id: Mapped[int | None] = mapped_column(ForeignKey("owner.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A paused code refuses activations; everything it already gave stays.
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    plan: Mapped[Plan] = relationship()
    batch: Mapped[Batch | None] = relationship()

    def status(self, now: datetime) -> str:
        if self.deleted_at is not None:
            return "rolled back"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        if self.paused_at is not None:
            return "paused"
        if self.activation_count >= self.max_activations:
            return "used up"
        return "active"

    @property
    def activations_left(self) -> int:
        return self.max_activations - self.activation_count


class Customer(db.Model):
    """A Telegram user as one project's bot knows them."""

    __tablename__ = "customer"
    __table_args__ = (UniqueConstraint("project_id", "telegram_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    username: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    # Telegram's language_code as last seen: messages sent without an update (reminders, end
    # notices, late join links) speak it too.
    language_code: Mapped[str | None] = mapped_column(String(35))
    # The step a customer is in with the bot (e.g. waiting for a typed code); kept here so it
    # survives a bot restart.
    pending_step: Mapped[str | None] = mapped_column(String(32))
    pending_plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id"))
    blocked_bot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def display_name(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return name or (f"@{self.username}" if self.username else str(self.telegram_user_id))


class Subscription(db.Model):
    """A customer's access to one plan; one open subscription per customer and plan."""

    __tablename__ = "subscription"
    __table_args__ = (
        Index("ix_subscription_customer", "customer_id"),
        # At most one open subscription per customer and plan: extensions go to that one.
        Index(
            "uq_subscription_open_customer_plan",
            "customer_id",
            "plan_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
        # The sweeps only ever look at subscriptions that have not ended yet.
        Index(
            "ix_subscription_open_ends_at",
            "ends_at",
            postgresql_where=text("ended_at IS NULL AND ends_at IS NOT NULL"),
            sqlite_where=text("ended_at IS NULL AND ends_at IS NOT NULL"),
        ),
        # Ended subscriptions whose customer has not been told yet (the end-notice sweep).
        Index(
            "ix_subscription_end_notice_due",
            "ended_at",
            postgresql_where=text(
                "ended_at IS NOT NULL AND end_notice_sent_at IS NULL AND end_notice_error IS NULL"
            ),
            sqlite_where=text(
                "ended_at IS NOT NULL AND end_notice_sent_at IS NULL AND end_notice_error IS NULL"
            ),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: lifetime
    # The end date the last reminder was about; an extension changes ends_at, so a new reminder
    # becomes due without any flag to reset.
    reminded_for_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(16))  # expired, rolled_back
    end_notice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A job that claimed the reminder / end notice holds it until this moment; a crashed job's
    # claim runs out and a later sweep sends it (webapp.domain.lifecycle).
    reminder_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_notice_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the message could not be delivered for good (e.g. the customer blocked the bot).
    reminder_error: Mapped[str | None] = mapped_column(String(255))
    end_notice_error: Mapped[str | None] = mapped_column(String(255))

    customer: Mapped[Customer] = relationship()
    plan: Mapped[Plan] = relationship()

    def is_active(self, now: datetime) -> bool:
        return self.ended_at is None and (self.ends_at is None or self.ends_at > now)


class Activation(db.Model):
    __tablename__ = "activation"
    __table_args__ = (
        UniqueConstraint("code_id", "customer_id"),
        Index("ix_activation_project_activated", "project_id", "activated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    code_id: Mapped[int] = mapped_column(ForeignKey("access_code.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"), index=True)
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # What this activation added to the subscription, so a rollback can take exactly that back.
    ends_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_subscription: Mapped[bool] = mapped_column(Boolean, default=True)

    code: Mapped[AccessCode] = relationship()
    customer: Mapped[Customer] = relationship()
    subscription: Mapped[Subscription] = relationship()


class Removal(db.Model):
    """A customer to remove from one resource: written with the decision, carried out by jobs."""

    __tablename__ = "removal"
    __table_args__ = (
        Index("ix_removal_status", "status", "next_attempt_at"),
        Index("ix_removal_project_created", "project_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscription.id"), index=True)
    # The code whose rollback queued this removal: the code's page lists them after the rollback
    # has deleted the activations that led there.
    code_id: Mapped[int | None] = mapped_column(ForeignKey("access_code.id"), index=True)
    reason: Mapped[str] = mapped_column(String(16))  # expired, rolled_back, no_access
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer: Mapped[Customer] = relationship()
    resource: Mapped[Resource] = relationship()


# The audit events of link tests (webapp.domain.setup.LINK_TESTED), written out so PostgreSQL
# can prove a query's condition is its index's.
LINK_TESTS = "action = 'link.tested'"


class AuditEvent(db.Model):
    """Every action on codes, kept after the code itself is rolled back."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_project_created", "project_id", "created_at"),
        # The setup checklist's "has a link test passed?": a project's link tests apart from its
        # other events (one per activation).
        Index(
            "ix_audit_event_link_tests",
            "project_id",
            postgresql_where=text(LINK_TESTS),
            sqlite_where=text(LINK_TESTS),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    code_id: Mapped[int | None] = mapped_column(ForeignKey("access_code.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owner.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    action: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BotConversation(db.Model):
    """A multi-step bot dialogue (e.g. an owner's /newcode) that must survive a restart."""

    __tablename__ = "bot_conversation"
    __table_args__ = (UniqueConstraint("project_id", "telegram_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Membership(db.Model):
    """A customer's place in one resource: the invite link made for them and when they joined."""

    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("customer_id", "resource_id"),
        Index("ix_membership_resource", "resource_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"))
    invite_link: Mapped[str | None] = mapped_column(String(255))
    invite_link_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when Telegram would not make the customer's join link (and cleared once one is made),
    # so the owner's inbox lists exactly the people still waiting for one.
    link_undelivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    link_undelivered_reason: Mapped[str | None] = mapped_column(String(255))

    customer: Mapped[Customer] = relationship()
    resource: Mapped[Resource] = relationship()


class FunnelStep(db.Model):
    """The first time one customer reached one step with one code (webapp.domain.funnel).

    ``detail`` tells steps of one kind apart: the refusal's reason, the chat (resource id) of a
    join, the end's reason; it is '' otherwise, so the unique key keeps only the first of each.
    """

    __tablename__ = "funnel_step"
    __table_args__ = (
        UniqueConstraint("code_id", "customer_id", "step", "detail"),
        # The people at one step of a plan's or a batch's funnel, latest first.
        Index("ix_funnel_step_plan", "plan_id", "step", "detail", "at"),
        Index("ix_funnel_step_batch", "batch_id", "step", "detail", "at"),
        Index("ix_funnel_step_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id"))
    code_id: Mapped[int] = mapped_column(ForeignKey("access_code.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    step: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(32), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    customer: Mapped[Customer] = relationship()


class FunnelTally(db.Model):
    """How many funnel steps a plan or a batch has, by step and detail.

    Kept by a database trigger on ``funnel_step`` inserts (migration insight_01), so a plan's
    funnel is a handful of rows to read however many codes and customers it has.
    """

    __tablename__ = "funnel_tally"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)  # plan, batch
    scope_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    step: Mapped[str] = mapped_column(String(16), primary_key=True)
    detail: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class ActivityHour(db.Model):
    """A project's activations, renewals, starts and ends per UTC hour, for the charts.

    Kept by database triggers on ``activation`` inserts and ``subscription.ended_at`` being set
    (migrations insight_01 and insight_02); hours let each owner's charts fall on their own
    time zone's days. One row per hour with every measure in it: a year is 8,760 rows to read.
    """

    __tablename__ = "activity_hour"

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    activated: Mapped[int] = mapped_column(Integer, default=0)  # every activation
    started: Mapped[int] = mapped_column(Integer, default=0)  # an activation opened a subscription
    renewed: Mapped[int] = mapped_column(Integer, default=0)  # an activation extended one
    ended: Mapped[int] = mapped_column(Integer, default=0)  # a subscription ended (any reason)


class ActivityTotal(db.Model):
    """A project's activity of all time, kept by the same triggers as its hours (insight_02).

    ``activations`` are those on record (a rollback deletes its codes' activations, and takes
    them off here too); ``started`` and ``ended`` are the sums of the hours' (so the members
    active before any moment are ``started - ended`` less the hours since).
    """

    __tablename__ = "activity_total"

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), primary_key=True)
    activations: Mapped[int] = mapped_column(Integer, default=0)
    started: Mapped[int] = mapped_column(Integer, default=0)
    ended: Mapped[int] = mapped_column(Integer, default=0)


class CodeTally(db.Model):
    """How many live (not rolled back) codes a project has, kept by triggers on ``access_code``
    (insight_02): the dashboard home's count without reading a million codes.

    A row of its own, apart from ``ActivityTotal``: a rollback takes this row first thing, and
    an activation must never wait for it (see the migration).
    """

    __tablename__ = "code_tally"

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), primary_key=True)
    codes: Mapped[int] = mapped_column(Integer, default=0)


class ProjectText(db.Model):
    """An owner's own wording of one customer message, in one language (``webapp.domain.texts``)."""

    __tablename__ = "project_text"
    __table_args__ = (UniqueConstraint("project_id", "language", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    language: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(32))  # welcome, confirmation, renewal, end, contact
    template: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OutboxMessage(db.Model):
    """A message the product promised someone, written in the transaction of what it announces.

    The writer may send it at once (it writes the row already claimed) or leave it to whoever is
    free (webapp.domain.outbox); either way it is sent once, retried within the rate limits, and a
    message that finally fails stays here, visible to the owner.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        # What the sweep looks at: pending messages, by when they are due.
        Index(
            "ix_outbox_message_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_outbox_message_project_status", "project_id", "status", "created_at"),
        Index("ix_outbox_message_subscription", "subscription_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    kind: Mapped[str] = mapped_column(String(16))  # confirmation, owner_notice, join_links
    chat_id: Mapped[int] = mapped_column(BigInteger)  # the Telegram chat it goes to
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscription.id"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id"))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # sent, failed, cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Pending: when it may next be tried; a claim moves it to the end of the claimant's lease.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
