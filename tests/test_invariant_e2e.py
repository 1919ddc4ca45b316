"""The invariant end to end: a seeded random month against the real bot, worker and cron.

``ADMIT_INVARIANT_SEED`` replays a seed (the test prints the one it used, and names it when it
fails); ``ADMIT_INVARIANT_EVENTS`` sets the length (``python -m bench.invariant`` runs longer).
"""

import os
import random

import pytest

from tests import invariant
from tests.bot_process import emu_fixture  # noqa: F401 - fixture
from tests.conftest import NOW

pytestmark = pytest.mark.slow


def test_a_random_month_ends_with_every_chat_holding_exactly_the_entitled_and_nothing_lost(
    app_ctx, emu, migrated, redis_url
):
    seed = int(os.environ.get("ADMIT_INVARIANT_SEED") or random.SystemRandom().randrange(10**6))
    events = int(os.environ.get("ADMIT_INVARIANT_EVENTS") or 80)

    found, state = invariant.run(seed, events, app_ctx, emu, migrated, redis_url, NOW)

    assert found == [], (
        f"seed {seed} (replay with ADMIT_INVARIANT_SEED={seed}):\n"
        + "\n".join(found)
        + "\nlast events: "
        + ", ".join(state.log[-25:])
    )
