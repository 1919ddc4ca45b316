"""A small business history for the insight tests, on any date: today's events fall between
the owner's midnight (Europe/Berlin) and the tests' now."""

from datetime import datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import NOW
from tests.dashboard_helpers import data
from tests.factories import make_plan, make_project, make_resource, tg_user
from webapp.domain import code_entry, memberships
from webapp.domain.codes import CodeRequest, create_codes
from webapp.domain.errors import CodeUsedUp
from webapp.models import Owner
from webapp.queues import get_redis

BERLIN = ZoneInfo("Europe/Berlin")
TODAY = NOW.astimezone(BERLIN).date()
_MIDNIGHT = datetime.combine(TODAY, time(), BERLIN)
# Today's events fall between the owner's midnight and now, whatever the tests' date and hour.
AT = {
    "ann": datetime.combine(TODAY - timedelta(days=2), time(12), BERLIN),
    "bob": _MIDNIGHT + (NOW - _MIDNIGHT) / 4,
    "eve": _MIDNIGHT + (NOW - _MIDNIGHT) / 2,
    "renewal": _MIDNIGHT + (NOW - _MIDNIGHT) * 3 / 4,
}


def seed_history(app, owner_id: int) -> SimpleNamespace:
    """Gold Club (owner in Europe/Berlin): a plan with a channel and a group, a batch of 4 codes.
    Ann activates code 1 two days ago and joins both chats; Bob is refused code 1 (used up) and
    activates code 2 today; Eve (=cmd) activates code 3 today and renews with a single code."""
    with data(app) as session:
        redis = get_redis()
        owner = session.get(Owner, owner_id)
        owner.timezone = "Europe/Berlin"
        project = make_project(owner, name="Gold Club", bot_username="GoldClubBot")
        channel = make_resource(project, "Gold Channel")
        group = make_resource(project, "Gold Chat", chat_type="supergroup")
        plan = make_plan(project, "3 months", resources=[channel, group])
        batch, codes = create_codes(
            session,
            project.id,
            CodeRequest(plan_id=plan.id, max_activations=1, expires_at=None, count=4),
            owner_id=owner.id,
            now=NOW - timedelta(days=3),
        )
        _, [single] = create_codes(
            session,
            project.id,
            CodeRequest(plan_id=plan.id, max_activations=1, expires_at=None),
            owner_id=owner.id,
            now=NOW - timedelta(days=3),
        )
        ann = tg_user(first_name="Ann", last_name="Lee", username="ann")
        bob = tg_user(first_name="Bob", last_name="Roe", username="bob")
        eve = tg_user(first_name="=cmd|' /C calc'!A0", last_name="", username="eve")

        def enter(code, user, at):
            return code_entry.enter_code(session, redis, project.id, code.code, user, at)

        two_days_ago = AT["ann"]
        customer = enter(codes[0], ann, two_days_ago).customer
        for resource in (channel, group):
            membership = memberships.membership_for(session, project.id, customer.id, resource.id)
            link = f"https://t.me/+ann{resource.id}"
            memberships.store_link(membership, link, two_days_ago + timedelta(hours=24))
            memberships.record_join(
                session, project.id, resource.chat_id, ann.id, link, two_days_ago
            )
        with pytest.raises(CodeUsedUp):
            enter(codes[0], bob, AT["bob"])
        enter(codes[1], bob, AT["bob"])
        enter(codes[2], eve, AT["eve"])
        enter(single, eve, AT["renewal"])
        session.flush()
        ids = SimpleNamespace(
            project_id=project.id,
            plan_id=plan.id,
            batch_id=batch.id,
            code_ids=[c.id for c in codes],
            codes=[c.code for c in codes],
            single_id=single.id,
            channel_id=channel.id,
        )
    return ids
