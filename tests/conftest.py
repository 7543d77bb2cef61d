"""Scheduling for `pytest -n 2 --dist loadgroup` (make test-only).

Tests that share a costly per-worker session fixture (a SparkSession and PostgreSQL, the synthesized apps, the
trained model and its servers) form one group, so that it is built once. Every other module is a group of its own
(its module-scoped fixtures are built once too), so the two workers can balance them. Groups are handed out in
collection order, and this file sorts that order longest first, by the durations measured on 2 cores (LONGEST): the
long groups start at once and the short modules fill in at the end.
"""

import importlib
import os
from collections.abc import Iterator
from pathlib import Path

import botocore.loaders
import botocore.session
import pytest

# Every JVM the tests start (the session's SparkSession, the local run's extraction and dataset jobs) lives for
# seconds on a few thousand rows: C2, the optimizing JIT, compiles code that never runs long enough to repay it.
# With the client compiler only and one GC thread a small Spark job takes about half the CPU (measured: 19.8 s ->
# 10.5 s of JVM CPU for a 3,000-row job; one example run of the local pipeline 73 s -> 42 s of CPU in total). The
# java launcher reads JDK_JAVA_OPTIONS; child processes inherit it from the workers' environment.
# Nor do they verify the bytecode of the classes they load (Spark's pinned jars; the JDK's own are never verified):
# ~0.9 s less CPU per Spark JVM started (a session and one query: 8.1-8.8 against 9.0-9.9 s, 6 interleaved runs each),
# and more as a JVM loads more classes. Only the tests' JVMs: `make pipeline`'s verify.
JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:+UnlockDiagnosticVMOptions -XX:-BytecodeVerificationRemote"
if JVM_OPTIONS not in os.environ.get("JDK_JAVA_OPTIONS", ""):
    os.environ["JDK_JAVA_OPTIONS"] = f"{os.environ.get('JDK_JAVA_OPTIONS', '')} {JVM_OPTIONS}".strip()

# The jsii kernel behind every in-process synth (and behind app.py in a CLI synth) is a node process, which V8 gives
# helper threads: concurrent GC marking and sweeping, background compilation of the validation plugin's WebAssembly.
# On two cores that already run two workers they only compete for CPU: with `--single-threaded`, tests/stacks and
# tests/test_app.py took the same wall time and 14 s less CPU (189 -> 175 s, measured alone on a quiet machine).
# And the kernel program runs without the relay process jsii-runtime.js puts in front of it, which copies every request
# and response once more (fixtures/jsii_node): tests/stacks' kernel 39.4 -> 33.0 s of node CPU, each synth 10-25%
# quicker. jsii starts $JSII_NODE instead of node when it is set; child processes inherit it.
os.environ.setdefault("JSII_NODE", str(Path(__file__).parent / "fixtures" / "jsii_node" / "node"))

# XGBoost trains with one OpenMP thread per core (nthread 0, as in the training job). Two workers on two cores, each
# training with two threads, oversubscribe the cores: a boosting round waits at OpenMP barriers for a thread that is
# not scheduled (measured on a loaded machine, load 3: tests/containers/model/test_train_channels.py 5.1-6.0 s with two
# threads, 2.5 s with one). One thread per process gives the same models, byte for byte (XGBoost's hist on binary,
# multiclass and regression data, with and without row and column sampling, nthread 1 and 2: identical UBJSON). Set
# before anything loads libgomp in the workers; the trainings and servers they start inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Every boto3 session (each Lambda client is made from a session of its own, and the tests reset the clients for every
# test) loads botocore's JSON service models, endpoints and partitions again through a loader of its own: 0.24 s of
# CPU per client for the larger services, 5.7 of the 17 s of tests/lambdas/test_launcher_dataset_run.py. Those files
# are read-only data, and a botocore session shares its loader's cache between all of its own clients already: here
# every session in the workers shares one loader per data path, so each file is parsed once per worker.
_shared_loaders: dict[object, botocore.loaders.Loader] = {}


def _register_shared_data_loader(session: botocore.session.Session) -> None:
    def shared() -> botocore.loaders.Loader:
        data_path = session.get_config_variable("data_path")
        key = tuple(data_path) if isinstance(data_path, list) else data_path
        if key not in _shared_loaders:
            _shared_loaders[key] = botocore.loaders.create_loader(data_path)
        return _shared_loaders[key]

    session._components.lazy_register_component("data_loader", shared)


botocore.session.Session._register_data_loader = _register_shared_data_loader

# Paths (directories, or single modules) whose tests share session fixtures: one group each, so that the fixture is
# built once, on one worker.
SHARED_DIRECTORIES = {
    "tests/stacks": "cdk",  # synthesized apps, cached per session
    "tests/tools/test_diagram.py": "cdk",  # synthesizes prod in process: the jsii kernel the group already runs
    "tests/glue_jobs": "spark",  # one SparkSession and one PostgreSQL server
    "tests/containers": "model",  # the shared trained model and its running servers
    # tests/pipeline/conftest.py's task_models and task_servers: three trained models and their servers
    "tests/pipeline/test_smoke.py": "task-models",
    "tests/pipeline/test_smoke_check.py": "task-models",
    # The local runs, on one warm local Glue runner (the session's glue_runner_socket below)
    "tests/pipeline/test_end_to_end.py": "local-runs",
    "tests/pipeline/test_source_read_only.py": "local-runs",
    "tests/pipeline/test_glue_runner.py": "local-runs",
    "tests/examples/test_apartment_rents.py": "local-runs",
}
# Each seed of the fault runs is a group of its own: the module's fixtures are cheap (the synthesized machine at most
# once per worker).
SPLIT_BY_TEST = {"tests/lambdas/test_fanout_faults.py::test_predictions_under_random_faults"}
# The long groups that run beside the local runs' are handed out first, in this order: the local runs' group (many
# processes of its own, and its warm Glue runner's JVM) then starts on whichever worker is free first, ~2 minutes in,
# and the rest follow longest first. (The order once let a Spark class archive recorded beside the tests be ready for
# that runner; `make test` records none now, and this order was measured without it: Makefile, test-only.)
HANDED_OUT_FIRST = ("cdk", "spark", "model", "tests/test_app.py")
# Weights (seconds of a group in a 2-core `make test` from a fresh clone, 2026-12-06, load average 5-8: the tests'
# `--durations` of 3.5 s or more, plus an estimate for the many short tests of cdk, model and spark); a group not listed
# counts as short.
LONGEST = {
    "cdk": 480,
    "model": 100,
    "spark": 260,
    "local-runs": 300,
    "tests/test_app.py": 35,
    "task-models": 50,
    "tests/lambdas/test_fanout.py": 30,
    "tests/lambdas/test_end_to_end.py": 15,
}


def group_of(nodeid: str) -> str:
    """A test's group from its node id (relative to the repository, as xdist's scheduler sees it)."""
    path = nodeid.split("::", 1)[0]
    if nodeid.split("[", 1)[0] in SPLIT_BY_TEST:
        return nodeid
    for shared, group in SHARED_DIRECTORIES.items():
        if path == shared or path.startswith(shared + "/"):
            return group
    return path


# A fresh clone's venv has no bytecode (uv writes none), and both workers collect every test module: each compiled
# the same ~93 MB of bytecode (the CDK's modules 44 MB of it, pandas, moto, numpy, the tests themselves), 17.6 s of CPU
# each before the first test. The second worker imports the CDK's modules first, while the first compiles the rest in
# collection order; each then finds the other's bytecode written (Python writes each file atomically; at worst a module
# is compiled twice). Cold collection on two workers: 18.3 -> 11.1-12.6 s each, 17.6 -> ~11 s of CPU each.
# Only for the whole suite (no paths given), where collection imports the CDK anyway.
IMPORTED_AHEAD_BY = {"gw1": ("aws_cdk.assertions", "stacks.app_builder", "tests.stacks.conftest")}


def modules_to_import_ahead(worker: str | None, args_source: pytest.Config.ArgsSource) -> tuple[str, ...]:
    if worker is None or args_source != pytest.Config.ArgsSource.TESTPATHS:
        return ()
    return IMPORTED_AHEAD_BY.get(worker, ())


def pytest_configure(config: pytest.Config) -> None:
    for module in modules_to_import_ahead(os.environ.get("PYTEST_XDIST_WORKER"), config.args_source):
        importlib.import_module(module)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """--dist loadgroup with the groups above. xdist's own loadgroup reads xdist_group marks by renaming node ids,
    which pytest 9 no longer allows (node ids are read-only): every test was its own group, so shared fixtures were
    built on both workers. Groups are handed out in collection order: no reordering by size."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False
    return GroupScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    groups = {item.nodeid: group_of(item.nodeid) for item in items}
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(groups[item.nodeid], index)
    # Each group stays contiguous and in collection order; the short ones keep their collection order too.

    def order(item: pytest.Item) -> tuple[int, int, int]:
        group = groups[item.nodeid]
        if group in HANDED_OUT_FIRST:
            return (HANDED_OUT_FIRST.index(group), 0, 0)
        return (len(HANDED_OUT_FIRST), -LONGEST.get(group, 0), first_seen[group])

    items.sort(key=order)


@pytest.fixture(scope="session")
def glue_runner_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The socket of the session's warm local Glue runner (tests/warm_glue_runner.py), for ``--glue-runner``."""
    from tests.warm_glue_runner import WarmGlueRunner

    runner = WarmGlueRunner.start(tmp_path_factory.mktemp("glue-runner"))
    yield runner.socket_path
    runner.stop()
