"""Scheduling for `pytest -n 2 --dist loadgroup --no-loadscope-reorder` (make test-only).

Tests that share a costly per-worker session fixture (a SparkSession and PostgreSQL, the synthesized apps, the
trained model and its servers) form one xdist group, so that it is built once. Every other module is a group of its
own (its module-scoped fixtures are built once too), so the two workers can balance them. Groups are handed out in
collection order (hence --no-loadscope-reorder), and this file sorts that order longest first, by the durations
measured on 2 cores (LONGEST, in seconds): the long groups start at once and the short modules fill in at the end.
"""

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Directories whose modules share session fixtures: one group each.
SHARED_DIRECTORIES = {
    "tests/stacks": "cdk",  # synthesized apps, cached per session
    "tests/glue_jobs": "spark",  # one SparkSession and one PostgreSQL server
    "tests/containers": "model",  # the shared trained model and its running servers
}
# Measured seconds per group (quiet 2-core machine, rounded); a group not listed counts as short.
LONGEST = {
    "cdk": 150,
    "spark": 110,
    "model": 80,
    "tests/lambdas/test_fanout_faults.py": 60,
    "tests/pipeline/test_end_to_end.py": 60,
    "tests/test_app.py": 50,
    "tests/lambdas/test_end_to_end.py": 20,
    "tests/pipeline/test_smoke.py": 20,
}


def group_of(relative: str) -> str:
    for directory, group in SHARED_DIRECTORIES.items():
        if relative.startswith(directory + "/"):
            return group
    return relative


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    groups = {item.nodeid: group_of(_relative(item)) for item in items}
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(groups[item.nodeid], index)
    # Each group stays contiguous and in collection order; the short ones keep their collection order too.
    items.sort(key=lambda item: (-LONGEST.get(groups[item.nodeid], 0), first_seen[groups[item.nodeid]]))
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))


def _relative(item: pytest.Item) -> str:
    return Path(item.fspath).resolve().relative_to(TESTS.parent).as_posix()
