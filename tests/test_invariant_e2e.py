"""The invariant end to end: a seeded random month against the real bot, worker and cron.

The suite plays one fixed seed, so CI is a proof and never a lottery; ``ADMIT_INVARIANT_SEED``
replays another one, or ``random`` draws one (the test prints the one it used, and names it when
it fails); ``ADMIT_INVARIANT_EVENTS`` sets the length. ``python -m bench.invariant`` runs many
random seeds and longer months, where new failing seeds are found.
"""

import os
import random

import pytest

from tests import invariant
from tests.bot_process import emu_fixture  # noqa: F401 - fixture
from tests.conftest import NOW

pytestmark = pytest.mark.slow

CI_SEED = 1


# Once marked as an expected failure (issue 10): on PostgreSQL under load, seed 1 now and then
# ended a notice short with a rolled-back customer left in a chat, and the bot's log said only
# "OperationalError". Two lock-order deadlocks between the bot and the worker were found and fixed
# since (tests/test_concurrency.py), and every PostgreSQL run after them held (the README counts
# them). A failing run prints the seed, its doubled or missing
# notice and the bot's, worker's and cron's warnings, which now name the database's error.
def test_a_random_month_ends_with_every_chat_holding_exactly_the_entitled_and_nothing_lost(
    app_ctx, emu, migrated, redis_url
):
    chosen = os.environ.get("ADMIT_INVARIANT_SEED") or str(CI_SEED)
    seed = random.SystemRandom().randrange(10**6) if chosen == "random" else int(chosen)
    events = int(os.environ.get("ADMIT_INVARIANT_EVENTS") or 200)

    found, state = invariant.run(seed, events, app_ctx, emu, migrated, redis_url, NOW)

    assert found == [], (
        f"seed {seed} (replay with ADMIT_INVARIANT_SEED={seed}):\n"
        + "\n".join(found)
        + "\nlast events: "
        + ", ".join(state.log[-25:])
    )
