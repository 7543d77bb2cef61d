"""What the stages of one local run share: options, typed config, the report, the processes, the local AWS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from esteira_contracts.tasks import DEFAULT_OBJECTIVE, task_of_objective
from pipeline import aws
from pipeline.ahead import Ahead
from pipeline.charts import ChartData
from pipeline.glue_runner_client import AttachedGlueRunner, GlueRunner
from pipeline.html_report import Section
from pipeline.options import REPO, Options
from pipeline.processes import Child, ChildFailedError, Children, tail
from pipeline.report import Progress
from stacks.config import EnvironmentConfig

T = TypeVar("T")
RUN_ID_PREFIX = "esteira-local"
TRAINING_IMAGE = "esteira-model:local"


@dataclass(frozen=True)
class ConsumerWorker:
    """One consumer process (pipeline.consumer_worker) and the file it writes its counts to."""

    child: Child
    stats_path: Path


@dataclass
class RunContext:
    """One run's shared state. Stages read what earlier stages left here and add their own results."""

    options: Options
    config: EnvironmentConfig
    out: Path
    run_id: str
    run_dir: Path
    children: Children
    progress: Progress = field(default_factory=Progress)
    report: dict[str, Any] = field(default_factory=dict)
    # The spec (esteira_dataset.spec.DatasetSpec), checked against the config before any stage.
    spec: Any = None
    # Set by the aws stage.
    session: Any = None
    resources: aws.Resources | None = None
    registry: aws.Registry | None = None
    # source: where the extraction reads, and the secret holding a PostgreSQL source's credentials.
    jdbc_url: str = ""
    secret_id: str = ""
    # The demo source's today (its clock), as of which the dataset job judges labels final; None for a user's source.
    demo_today: date | None = None
    # extract: the curated lake folder and the run's manifest.
    curated: Path | None = None
    manifest: dict[str, Any] | None = None
    # dataset: the spec's name, its key and label, the dataset run's folder (train/validation/holdout), batch input.
    spec_name: str = ""
    key: str = ""
    target: str = ""
    dataset_dir: Path | None = None
    batch_input_dir: Path | None = None
    # train / evaluate / register: the candidate, the gate's decision, the package to serve.
    prepared: dict[str, Any] | None = None
    layout: Any = None
    model_data_url: str = ""
    evaluation: dict[str, Any] | None = None
    # baseline: the package's DriftCheckBaselines (the run's constraints.json and statistics.json), for register.
    drift_check_baselines: dict[str, Any] | None = None
    # bias: the package's ModelMetrics (Clarify's bias and explainability reports in the local S3), for register.
    model_metrics: dict[str, Any] | None = None
    champion: dict[str, Any] | None = None
    # serve / transform: the running model server and its client.
    serve: Child | None = None
    client: Any = None
    features: list[str] = field(default_factory=list)
    output_prefix: str = ""
    # transform: the transform job's run id (the launcher's, as on AWS), which the fan-out and the consumer carry.
    transform_run_id: str = ""
    # For report.html (pipeline/html_report.py), never in the JSON: the smoke test's holdout labels and offline
    # scores (serve), the batch's served scores (transform).
    charts: ChartData = field(default_factory=ChartData)
    # Work done ahead in a thread (pipeline.ahead): the baseline CSV's statistics while the training job runs, the
    # report's chart sections while the consumers run.
    baseline_ahead: Ahead[dict[str, Any]] | None = None
    charts_ahead: Ahead[list[Section]] | None = None
    # The local Glue runner (pipeline.glue_runner): one Spark driver for the extract and dataset jobs, the run's own
    # or one that listens for many runs (--glue-runner).
    glue_runner: GlueRunner | AttachedGlueRunner | None = None
    # fanout / consume: the consumers, started with the fan-out as the event source mapping polls (stages.consume).
    consumers: list[ConsumerWorker] = field(default_factory=list)

    @property
    def task(self) -> str:
        """binary, multiclass or regression, from the config's objective (esteira_contracts.tasks)."""
        return task_of_objective(str(self.config.training.hyperparameters.get("objective", DEFAULT_OBJECTIVE)))

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"

    @property
    def producer_done_path(self) -> Path:
        """Exists once the fan-out is done: the consumers stop when it does and the queue is drained."""
        return self.run_dir / "fanout.done"

    def aws_resources(self) -> aws.Resources:
        return need(self.resources, "local AWS resources")

    def run_child(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        """Run a child process to completion, saying every 15 s that it is still running; raise if it failed."""
        child = self.children.start(name, argv, env, log_path, REPO)
        started = time.monotonic()
        try:
            while True:
                try:
                    code = child.process.wait(timeout=15)
                    break
                except subprocess.TimeoutExpired:
                    self.progress.say(f"    {name}: still running ({time.monotonic() - started:.0f}s), log {log_path}")
        finally:
            self.children.stop(child)
        if code != 0:
            raise ChildFailedError(f"{name} exited with {code}; last lines of {log_path}:\n{tail(log_path, 15)}")

    def start_glue_runner(self) -> None:
        """Start Spark for the Glue jobs now, so its start-up overlaps the stages before them."""
        if self.glue_runner is not None:
            return
        if self.options.glue_runner is not None:
            self.glue_runner = AttachedGlueRunner(self.options.glue_runner)
            return
        env = {**os.environ, "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")}
        argv = [sys.executable, "-m", "pipeline.glue_runner"]
        child = self.children.start(
            "glue-runner", argv, env, self.logs / "glue-runner.log", REPO, stdin=subprocess.PIPE
        )
        self.glue_runner = GlueRunner(child.process, child.log_path, self.run_dir)

    def run_glue_job(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        """Run a Glue job's ``main(argv)`` on the local Glue runner, saying every 15 s that it is still running."""
        self.start_glue_runner()
        runner = self.glue_runner
        if runner is None:
            raise RuntimeError("no local Glue runner: it did not start")
        if isinstance(runner, GlueRunner):  # a runner that listens is not the run's process
            self.children.started.append(
                {"name": name, "pid": runner.process.pid, "log": str(log_path), "process": "glue-runner"}
            )

        def still_running(seconds: float) -> None:
            self.progress.say(f"    {name}: still running ({seconds:.0f}s), log {log_path}")

        runner.run(name, argv, env, log_path, still_running)

    def stop_glue_runner(self) -> None:
        """Spark is not needed after the dataset stage: end the runner's input, so it stops Spark and exits while the
        next stage runs (the run's clean-up reaps it, or stops it if it has not exited by then)."""
        runner, self.glue_runner = self.glue_runner, None
        if runner is not None:
            runner.finish()


def need(value: T | None, what: str) -> T:
    """What an earlier stage left on the context; a clear error if the stage order broke."""
    if value is None:
        raise RuntimeError(f"no {what} yet: the stage that produces it has not run")
    return value


def git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def new_run_id(runs: Path) -> str:
    while True:
        run_id = f"{RUN_ID_PREFIX}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        if not (runs / run_id).exists():
            return run_id
        time.sleep(0.3)
