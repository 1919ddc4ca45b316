"""What the long-running processes load: each of them runs once per dyno, 1,000 bots or not.

Migrations run from ``flask db upgrade`` (the release phase, ``make run``) and from the tests;
the bot, the worker and the sandbox never migrate, and Flask-Migrate's Alembic, Mako and Pygments
cost each of them 12 MiB of resident memory.
"""

import json
import subprocess
import sys

import pytest

MIGRATION_PACKAGES = ("alembic", "flask_migrate", "mako", "pygments")

# Builds the process's app as the process does, then reports which migration packages it holds.
PROBE = """
import json, sys
import webapp

real_create_app = webapp.create_app


def create_app(*args, **kwargs):
    real_create_app(*args, **kwargs)
    held = sorted({m.split(".")[0] for m in sys.modules} & set(%(packages)r))
    print(json.dumps(held), flush=True)
    raise SystemExit(0)


webapp.create_app = create_app
%(start)s
"""

STARTS = {
    "the bot": "import bot.__main__ as process; process.main()",
    "the worker": "import webapp.worker as process; process.job_app()",
    "the sandbox": "import webapp.sandbox.__main__ as process; process.main()",
}


def migration_packages_held(start: str, env: dict) -> list:
    probe = PROBE % {"packages": MIGRATION_PACKAGES, "start": start}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def process_env(tmp_path):
    import os

    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'footprint.db'}",
        ADMIT_SANDBOX="1",
        BOT_MODE="polling",
    )
    return env


@pytest.mark.parametrize("process", sorted(STARTS))
def test_a_process_that_never_migrates_does_not_load_the_migration_tools(process, process_env):
    assert migration_packages_held(STARTS[process], process_env) == []


def test_the_app_that_runs_migrations_has_them(process_env):
    start = "webapp.create_app()"
    assert migration_packages_held(start, process_env) == sorted(MIGRATION_PACKAGES)
