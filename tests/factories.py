"""Small builders for test data; each flushes so ids are there, none commits."""

import itertools
from datetime import datetime

from werkzeug.security import generate_password_hash

from webapp.domain.codes import CodeRequest, create_codes
from webapp.domain.customers import TelegramUser
from webapp.extensions import db
from webapp.models import AccessCode, Owner, Plan, Project, Resource

_seq = itertools.count(1)
# Hashing is slow by design; tests share one hash.
PASSWORD = "correct horse battery"
_PASSWORD_HASH = generate_password_hash(PASSWORD)


def make_owner(email: str | None = None, **fields) -> Owner:
    owner = Owner(
        email=email or f"owner{next(_seq)}@example.com", password_hash=_PASSWORD_HASH, **fields
    )
    db.session.add(owner)
    db.session.flush()
    return owner


def make_project(owner: Owner | None = None, name: str = "Gold Club", **fields) -> Project:
    n = next(_seq)
    project = Project(
        owner=owner or make_owner(),
        name=name,
        bot_token=fields.pop("bot_token", f"{7000 + n}:TEST-token-{n}"),
        bot_user_id=fields.pop("bot_user_id", 7000 + n),
        bot_username=fields.pop("bot_username", f"GoldClub{n}Bot"),
        **fields,
    )
    db.session.add(project)
    db.session.flush()
    return project


def make_resource(project: Project, title: str = "Gold Club Channel", **fields) -> Resource:
    n = next(_seq)
    resource = Resource(
        project=project,
        chat_id=fields.pop("chat_id", -1001000000000 - n),
        title=title,
        chat_type=fields.pop("chat_type", "channel"),
        can_invite_users=fields.pop("can_invite_users", True),
        can_restrict_members=fields.pop("can_restrict_members", True),
        bot_is_admin=fields.pop("bot_is_admin", True),
        **fields,
    )
    db.session.add(resource)
    db.session.flush()
    return resource


def make_plan(
    project: Project,
    name: str = "3 months",
    unit: str = "month",
    count: int | None = 3,
    resources: list[Resource] | None = None,
    **fields,
) -> Plan:
    plan = Plan(
        project=project,
        name=name,
        period_unit=unit,
        period_count=None if unit == "lifetime" else count,
        resources=resources if resources is not None else [make_resource(project)],
        **fields,
    )
    db.session.add(plan)
    db.session.flush()
    return plan


def make_code(
    plan: Plan,
    now: datetime,
    max_activations: int = 1,
    expires_at: datetime | None = None,
    custom_code: str | None = None,
) -> AccessCode:
    _, codes = create_codes(
        db.session,
        plan.project_id,
        CodeRequest(
            plan_id=plan.id,
            max_activations=max_activations,
            expires_at=expires_at,
            custom_code=custom_code,
        ),
        owner_id=plan.project.owner_id,
        now=now,
    )
    return codes[0]


def tg_user(user_id: int | None = None, **names) -> TelegramUser:
    uid = user_id or 5000 + next(_seq)
    return TelegramUser(
        id=uid,
        first_name=names.get("first_name", "Ann"),
        last_name=names.get("last_name", "Lee"),
        username=names.get("username", f"user{uid}"),
        language_code=names.get("language_code"),
    )
