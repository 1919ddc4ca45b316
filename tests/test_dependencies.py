"""What runs in production is pinned: requirements.lock holds every runtime dependency at one
version with its hashes, inside pyproject.toml's ranges, and the Heroku build installs it."""

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT


def _locked() -> dict[str, tuple[str, list[str]]]:
    """Package → (version, hashes) from requirements.lock."""
    text = (ROOT / "requirements.lock").read_text()
    entries = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        first = block.strip().splitlines()[0] if block.strip() else ""
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s\\]+)", first)
        if match:
            name = canonicalize_name(match.group(1).split("[")[0])
            entries[name] = (match.group(2), re.findall(r"--hash=sha256:[0-9a-f]{64}", block))
    return entries


def test_every_runtime_dependency_is_locked_with_hashes_inside_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = _locked()
    assert locked, "requirements.lock lists nothing"
    for raw in project["dependencies"]:
        requirement = Requirement(raw)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in requirements.lock (run make lock)"
        version, hashes = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, version)
    for name, (version, hashes) in locked.items():
        assert hashes, f"{name}=={version} has no hash"


def test_the_lock_pins_everything_exactly():
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "--hash", "-")):
            assert "==" in line, line


def test_the_heroku_build_and_make_run_install_the_lock():
    assert "-r requirements.lock" in (ROOT / "requirements.txt").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements.lock" in makefile
    audit = makefile.split("\naudit:", 1)[1].split("\n\n", 1)[0]
    assert "pip-audit" in audit and "requirements.lock" in audit


def test_the_lock_names_no_index_of_this_machine():
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    assert not [line for line in lines if line.startswith(("--find-links", "--extra-index-url"))]
