"""The lock files the venvs install hold every pin of the requirements files they are made from (`make lock`)."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;#]+)")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements or lock file, following ``-r`` includes."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("-r "):
            found |= pins(path.parent / line[3:].strip())
        elif match := PIN.match(line):
            found[normalized(match.group(1))] = match.group(2)
    return found


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [
        ("requirements-dev.txt", "requirements-dev.lock"),
        ("tools/requirements-checkov.txt", "tools/requirements-checkov.lock"),
    ],
)
def test_every_pin_of_the_requirements_is_in_its_lock_file(requirements: str, lock: str) -> None:
    # GIVEN a requirements file (with its includes) and the lock file made from it
    wanted, locked = pins(REPO / requirements), pins(REPO / lock)
    # THEN the lock pins every package the requirements pin, at the same version, and more (their dependencies)
    stale = {name: (version, locked.get(name)) for name, version in wanted.items() if locked.get(name) != version}
    assert stale == {}, f"{lock} is stale (requirement, lock): {stale}; run `make lock`"
    assert len(locked) > len(wanted)
    assert f"uv pip compile --universal --python-version 3.11 {requirements} -o {lock}" in (REPO / lock).read_text()


def test_a_pin_with_extras_and_markers_is_read(tmp_path: Path) -> None:
    # GIVEN pins with extras, markers and comments, and an include WHEN read THEN each name maps to its version
    (tmp_path / "inner.txt").write_text("Foo_Bar==1.2  # why\n")
    (tmp_path / "outer.txt").write_text("-r inner.txt\nmoto[server]==5.2.5\ncffi==2.1.1 ; sys_platform != 'x'\n# c\n")
    assert pins(tmp_path / "outer.txt") == {"foo-bar": "1.2", "moto": "5.2.5", "cffi": "2.1.1"}
