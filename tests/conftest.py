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
# Each seed of the fault runs is a group of its own: together they are the suite's longest stretch, and the module's
# fixtures are cheap (the synthesized machine at most once per worker).
SPLIT_BY_TEST = {"tests/lambdas/test_fanout_faults.py::test_thousands_of_predictions_under_random_faults"}
# Weights (seconds of a group in a 2-core run, from `--durations`, rounded); a group not listed counts as short.
LONGEST = {
    "tests/lambdas/test_fanout_faults.py::test_thousands_of_predictions_under_random_faults-11": 800,
    "tests/lambdas/test_fanout_faults.py::test_thousands_of_predictions_under_random_faults-23": 800,
    "tests/lambdas/test_fanout_faults.py::test_thousands_of_predictions_under_random_faults-42": 800,
    "tests/pipeline/test_end_to_end.py": 780,
    "cdk": 700,
    "tests/test_app.py": 600,
    "spark": 300,
    "model": 300,
    "tests/lambdas/test_end_to_end.py": 100,
    "tests/pipeline/test_smoke.py": 80,
    "tests/lambdas/test_fanout.py": 60,
}


def group_of(item: pytest.Item) -> str:
    relative = _relative(item)
    if item.nodeid.split("[", 1)[0] in SPLIT_BY_TEST:
        # xdist reads the group after the last '@' of the node id only when no ']' follows it.
        return item.nodeid.replace("[", "-").replace("]", "")
    for directory, group in SHARED_DIRECTORIES.items():
        if relative.startswith(directory + "/"):
            return group
    return relative


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    groups = {item.nodeid: group_of(item) for item in items}
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(groups[item.nodeid], index)
    # Each group stays contiguous and in collection order; the short ones keep their collection order too.
    items.sort(key=lambda item: (-LONGEST.get(groups[item.nodeid], 0), first_seen[groups[item.nodeid]]))
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))


def _relative(item: pytest.Item) -> str:
    return Path(item.fspath).resolve().relative_to(TESTS.parent).as_posix()
