"""The benchmarks still run: each script in its tiny ``--quick`` mode, as its own process.

These check correctness only (exactly N activations, every batch complete, the right pages,
nothing lost or doubled), never a time: the figures themselves are the benchmarks' business
(``make bench``). Each run empties the test database, as every test's teardown does anyway.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("name", ["activation", "bulk", "code_list", "insight", "sweep", "bot"])
def test_benchmark_runs_in_quick_mode_and_its_checks_hold(name, app, migrated, redis_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env.update(DATABASE_URL=migrated, REDIS_URL=redis_url)
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "check ok:" in done.stdout, output[-4000:]
    assert "check FAILED" not in done.stdout, output[-4000:]
