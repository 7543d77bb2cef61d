"""Groups for `pytest -n 2 --dist loadgroup` (make test-only): tests sharing a costly session fixture run in one
worker, so each is built once; the 10,000-prediction test, half of the suite's time, has a worker to itself while
the others run."""

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ALONE = {"tests/lambdas/test_end_to_end.py"}  # waits on moto's server: overlaps well with everything else
GROUP_BY_DIRECTORY = {
    "stacks": "cdk",  # synthesized apps, cached per session
    "glue_jobs": "spark",  # one SparkSession and one PostgreSQL server
    "containers": "model",  # trained models and running servers
    "pipeline": "pipeline",
    "lambdas": "lambdas",  # one moto server
    "tools": "tools",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The long test first, so that its worker starts it while the other takes everything else.
    items.sort(key=lambda item: 0 if _relative(item) in ALONE else 1)
    for item in items:
        relative = Path(_relative(item))
        if str(relative) in ALONE:
            group = str(relative)
        elif relative.parts[1] == "test_app.py":
            group = "cdk"
        else:
            group = GROUP_BY_DIRECTORY.get(relative.parts[1], relative.parts[1])
        item.add_marker(pytest.mark.xdist_group(group))


def _relative(item: pytest.Item) -> str:
    return str(Path(item.fspath).resolve().relative_to(TESTS.parent))
