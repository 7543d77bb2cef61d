"""One local run: the output folder, the stages in order, clean-up of every process, the report."""

from __future__ import annotations

import importlib
import shutil
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from pipeline import aws, charts
from pipeline.context import RunContext, new_run_id
from pipeline.html_report import HTML_FILENAME, charts_ahead, write_html
from pipeline.options import Options
from pipeline.preflight import check_spec
from pipeline.processes import Children, processes_with_marker
from pipeline.report import REPORT_FILENAME, NoNewDataError, summary_table, write_report
from pipeline.report import STAGES as REPORT_STAGES

# Folders and files this tool owns in --out; --fresh deletes only these.
OWNED = ("source", "lake", "models", "registry", "runs", aws.REGISTRY_FILENAME, REPORT_FILENAME, HTML_FILENAME)
# Each stage's module, imported when the stage starts: importing them all up front (pandas, xgboost and scipy, boto3)
# took ~0.6 s before the first child started, with a core idle.
STAGE_MODULES: tuple[tuple[str, str], ...] = tuple(
    (name, "local_aws" if name == "aws" else name)  # each stage's module is named after it; `aws` is pipeline.aws
    for name in REPORT_STAGES
)


def stage_function(module: str) -> Callable[[RunContext], None]:
    """A stage's ``run``, importing its module (once) on first use."""
    run: Callable[[RunContext], None] = importlib.import_module(f"pipeline.stages.{module}").run
    return run


class Pipeline:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.out = options.out.resolve()

    def run(self) -> int:
        opts = self.options
        if opts.fresh:
            for name in OWNED:
                target = self.out / name
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
        self.out.mkdir(parents=True, exist_ok=True)
        runs = self.out / "runs"
        runs.mkdir(exist_ok=True)
        run_id = new_run_id(runs)
        (runs / run_id).mkdir()
        marker = f"{run_id}-{uuid.uuid4().hex[:8]}"
        ctx = RunContext(
            options=opts,
            config=opts.load_config(),
            out=self.out,
            run_id=run_id,
            run_dir=runs / run_id,
            children=Children(marker),
        )
        ctx.spec = check_spec(opts.spec, ctx.config)
        ctx.report = {
            "run_id": run_id,
            "status": "running",
            "started_at": aws.utc_now(),
            "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items() if k != "source_url"},
            "env": ctx.config.name,
            "source_kind": "postgresql" if opts.source_url else "sqlite",
            "spec_name": ctx.spec.extraction.name,
            "task": ctx.task,
            "out": str(self.out),
            "process_marker": marker,
        }
        ctx.progress.say(f"Esteira local pipeline, run {run_id} (config {opts.config}); output in {self.out}")
        code = 1
        try:
            if opts.stop_after != "source":
                ctx.start_glue_runner()  # Spark starts while the local AWS and the source are prepared
            for name, module in STAGE_MODULES:
                stage = stage_function(module)
                if name == "extract":
                    # While the main process waits on the Spark jobs, not later on the critical path: import
                    # matplotlib for the report's charts (~0.5-1 s), make the Lambdas' boto3 clients (~0.35 s) and
                    # import the later stages (xgboost, ~0.2 s).
                    threading.Thread(target=_preload, name="preload", daemon=True).start()
                if name == "train":
                    from pipeline.stages import baseline

                    ctx.baseline_ahead = baseline.statistics_ahead(ctx)  # computed while the training job runs
                if name == "consume":
                    ctx.charts_ahead = charts_ahead(ctx.report, ctx.charts)  # drawn while the consumers work
                stage(ctx)
                if name == "dataset":
                    ctx.stop_glue_runner()
                if name == opts.stop_after:
                    ctx.report["status"] = "stopped"  # --stop-after: what ran succeeded, the rest is skipped
                    ctx.report["stopped_after"] = name
                    break
            else:
                ctx.report["status"] = "succeeded"
            code = 0
        except NoNewDataError as exc:
            ctx.report["status"] = "no_new_data"  # as the state machine's NoNewData: a clean end, nothing trained
            ctx.report["reason"] = str(exc)
            code = 0
        except KeyboardInterrupt:
            ctx.report["status"] = "interrupted"
            ctx.report["error"] = "interrupted (Ctrl-C)"
            code = 130
        except SystemExit as exc:
            ctx.report["status"] = "interrupted"
            ctx.report["error"] = f"stopped by a signal (exit {exc.code})"
            code = int(exc.code) if isinstance(exc.code, int) else 1
        except Exception as exc:
            ctx.report["status"] = "failed"
            ctx.report["error"] = f"{type(exc).__name__}: {exc}"
            code = 1
        finally:
            _cleanup(ctx, code)
        return code


def _preload() -> None:
    charts.preload()
    aws.preload_lambda_clients()
    for _, module in STAGE_MODULES:
        stage_function(module)


def _cleanup(ctx: RunContext, code: int) -> None:
    # Ignore further Ctrl-C / SIGTERM while stopping children, so cleanup itself is not interrupted.
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ctx.progress.say("stopping the processes this run started ...")
        ctx.children.stop_all()
        leftover = processes_with_marker(ctx.children.marker)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    report = ctx.report
    report["processes"] = ctx.children.started
    report["leftover_processes"] = leftover
    report["finished_at"] = aws.utc_now()
    report["seconds"] = round(ctx.progress.total_seconds, 2)
    report["stages"] = [stage.to_json() for stage in ctx.progress.stages.values()]
    for stage in report["stages"]:
        if stage["status"] == "pending":
            stage["status"] = "skipped"
    report["html_report"] = str(ctx.out / HTML_FILENAME)
    try:
        write_html(report, ctx.charts, ctx.out / HTML_FILENAME, ctx.run_dir / HTML_FILENAME, ahead=ctx.charts_ahead)
    except Exception as exc:  # the charts must never hide the run's outcome: the JSON report says what failed
        report["html_report"] = None
        report["html_report_error"] = f"{type(exc).__name__}: {exc}"
    write_report(report, ctx.out / REPORT_FILENAME, ctx.run_dir / REPORT_FILENAME)
    sys.stdout.write(summary_table(report))
    ctx.progress.say(f"report: {ctx.out / REPORT_FILENAME} (exit {code})")
    sys.stdout.flush()
