"""``python -m pipeline``: argument parsing, signal handling, the stages in order, the report."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from pipeline import aws
from pipeline.processes import (
    Child,
    ChildFailedError,
    Children,
    free_port,
    processes_with_marker,
    tail,
    wait_for_http,
)
from pipeline.report import REPORT_FILENAME, Progress, StageFailedError, summary_table, write_report

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = REPO / "glue_jobs" / "specs" / "employees.json"
DEFAULT_CONFIG = REPO / "config" / "dev.yaml"
EXTRACT_SCRIPT = REPO / "glue_jobs" / "extract_job.py"
RUN_ID_PREFIX = "esteira-local"
TRAINING_IMAGE = "esteira-model:local"
EMPTY_WINDOW_NOTE = "spec read with 1 JDBC partition (esteira_extract.jdbc.read_bounds fails on an empty SQLite window)"
# Folders and files this tool owns in --out; --fresh deletes only these.
OWNED = ("source", "lake", "models", "runs", aws.REGISTRY_FILENAME, REPORT_FILENAME)


@dataclass(frozen=True)
class Options:
    rows: int
    out: Path
    change_rows: int
    fresh: bool
    seed: int
    source_url: str | None
    config: Path
    spec: Path
    gate_threshold: float | None
    min_match_rate: float
    holdout_fraction: float


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Run Esteira end to end on this machine: demo source -> extraction -> train -> evaluate -> "
        "register -> serve + smoke test -> batch transform -> fan-out -> consumer. No AWS account needed.",
    )
    parser.add_argument("--rows", type=int, default=100_000, help="demo employees in the source (default 100000)")
    parser.add_argument("--out", type=Path, default=Path(".out/pipeline"), help="output and state folder")
    parser.add_argument(
        "--change-rows",
        type=int,
        default=0,
        metavar="N",
        help="before extracting, change N existing source rows (data and atualizado_em): the extraction picks up "
        "only those when a previous run exists",
    )
    parser.add_argument("--fresh", action="store_true", help="delete the source, lake, registry and runs first")
    parser.add_argument("--seed", type=int, default=42, help="demo data seed (default 42)")
    parser.add_argument(
        "--source-url",
        default=os.environ.get("SOURCE_URL") or None,
        help="postgresql://user:password@host:port/db instead of the embedded SQLite source (env SOURCE_URL); "
        "the demo tables are created and loaded there if missing",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="environment config (default dev)")
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="extraction spec")
    parser.add_argument(
        "--gate-threshold",
        type=float,
        default=None,
        help="override the config's training.gate.threshold for this run",
    )
    parser.add_argument(
        "--min-match-rate",
        type=float,
        default=0.8,
        help="smoke test: least share of held-out rows whose predicted label matches (default 0.8)",
    )
    parser.add_argument(
        "--holdout-fraction",
        type=float,
        default=0.03,
        help="share of rows kept out of training for the smoke test and the batch predictions (default 0.03)",
    )
    args = parser.parse_args(argv)
    if args.rows < 100:
        parser.error("--rows must be at least 100")
    if args.change_rows < 0:
        parser.error("--change-rows must be >= 0")
    if not 0.0 < args.holdout_fraction < 0.5:
        parser.error("--holdout-fraction must be between 0 and 0.5")
    return Options(
        rows=args.rows,
        out=args.out,
        change_rows=args.change_rows,
        fresh=args.fresh,
        seed=args.seed,
        source_url=args.source_url,
        config=args.config,
        spec=args.spec,
        gate_threshold=args.gate_threshold,
        min_match_rate=args.min_match_rate,
        holdout_fraction=args.holdout_fraction,
    )


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    os.environ.pop("SOURCE_URL", None)  # it may hold a password: children (Spark, servers) never see it
    signal.signal(signal.SIGTERM, _on_sigterm)  # SIGINT already raises KeyboardInterrupt
    signal.signal(signal.SIGHUP, _on_sigterm)
    return Pipeline(options).run()


def _git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def _new_run_id(runs: Path) -> str:
    while True:
        run_id = f"{RUN_ID_PREFIX}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        if not (runs / run_id).exists():
            return run_id
        time.sleep(0.3)


class Pipeline:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.out = options.out.resolve()
        self.config: dict[str, Any] = yaml.safe_load(options.config.read_text())
        self.progress = Progress()
        self.report: dict[str, Any] = {}
        self.children: Children | None = None
        self.serve: Child | None = None

    # ---------------------------------------------------------------------------------------------- run

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
        self.run_id = _new_run_id(runs)
        self.run_dir = runs / self.run_id
        self.run_dir.mkdir()
        self.logs = self.run_dir / "logs"
        marker = f"{self.run_id}-{uuid.uuid4().hex[:8]}"
        self.children = Children(marker)
        self.report = {
            "run_id": self.run_id,
            "status": "running",
            "started_at": aws.utc_now(),
            "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items() if k != "source_url"},
            "source_kind": "postgresql" if opts.source_url else "sqlite",
            "out": str(self.out),
            "process_marker": marker,
        }
        self.progress.say(f"Esteira local pipeline, run {self.run_id}; output in {self.out}")
        code = 1
        try:
            self._stages()
            self.report["status"] = "succeeded"
            code = 0
        except KeyboardInterrupt:
            self.report["status"] = "interrupted"
            self.report["error"] = "interrupted (Ctrl-C)"
            code = 130
        except SystemExit as exc:
            self.report["status"] = "interrupted"
            self.report["error"] = f"stopped by a signal (exit {exc.code})"
            code = int(exc.code) if isinstance(exc.code, int) else 1
        except Exception as exc:
            self.report["status"] = "failed"
            self.report["error"] = f"{type(exc).__name__}: {exc}"
            code = 1
        finally:
            self._cleanup(code)
        return code

    def _cleanup(self, code: int) -> None:
        assert self.children is not None
        # Ignore further Ctrl-C / SIGTERM while stopping children, so cleanup itself is not interrupted.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.progress.say("stopping the processes this run started ...")
            self.children.stop_all()
            leftover = processes_with_marker(self.children.marker)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.report["processes"] = self.children.started
        self.report["leftover_processes"] = leftover
        self.report["finished_at"] = aws.utc_now()
        self.report["seconds"] = round(self.progress.total_seconds, 2)
        self.report["stages"] = [stage.to_json() for stage in self.progress.stages.values()]
        for stage in self.report["stages"]:
            if stage["status"] == "pending":
                stage["status"] = "skipped"
        write_report(self.report, self.out / REPORT_FILENAME, self.run_dir / REPORT_FILENAME)
        sys.stdout.write(summary_table(self.report))
        self.progress.say(f"report: {self.out / REPORT_FILENAME} (exit {code})")
        sys.stdout.flush()

    def _stages(self) -> None:
        self._aws()
        self._source()
        self._extract()
        self._dataset()
        self._train()
        self._evaluate()
        self._register()
        self._serve_and_smoke_test()
        self._transform()
        self._fanout()
        self._consume()

    # ------------------------------------------------------------------------------------------ stages

    def _aws(self) -> None:
        assert self.children is not None
        with self.progress.stage("aws", "moto server for S3, SQS, DynamoDB, SageMaker registry, Secrets Manager") as st:
            _, endpoint = aws.start_moto(self.children, self.logs, REPO)
            self.env = aws.local_aws_environment(endpoint)
            aws.apply_environment(self.env)
            os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "esteira-local")
            os.environ["POWERTOOLS_LOG_LEVEL"] = os.environ.get("ESTEIRA_PIPELINE_LAMBDA_LOG_LEVEL", "ERROR")
            import boto3

            self.session = boto3.session.Session()
            batch = self.config.get("batch") or {}
            self.resources = aws.create_resources(self.session, int(batch.get("max_receive_count", 5)))
            self.registry = aws.Registry(self.out / aws.REGISTRY_FILENAME)
            self.registry.replay(self.session.client("sagemaker"))
            self.report["aws"] = {"endpoint": endpoint, "registry_packages": len(self.registry.packages)}
            st.summary = f"{endpoint}; {len(self.registry.packages)} registered model(s) restored"

    def _source(self) -> None:
        from pipeline import source

        opts = self.options
        with self.progress.stage("source", "demo source database") as st:
            self.secret_id = ""
            if opts.source_url:
                url = source.PostgresUrl.parse(opts.source_url)
                state = source.postgres_source(url, opts.rows, opts.seed, opts.change_rows)
                self.secret_id = aws.create_source_secret(self.session, url.username, url.password)
            else:
                state = source.sqlite_source(self.out / "source" / "hr.db", opts.rows, opts.seed, opts.change_rows)
            self.jdbc_url = state.jdbc_url
            self.report["source"] = {
                "kind": state.kind,
                "rows": state.rows,
                "created": state.created,
                "changed": state.changed,
                "jdbc_url": state.jdbc_url,
            }
            verb = "generated" if state.created else "reused"
            st.summary = f"{state.kind}: {verb} {state.rows} employees, changed {state.changed}"

    def _extract(self) -> None:
        assert self.children is not None
        lake = self.out / "lake"
        self.curated = lake / "curated"
        args = [
            sys.executable,
            str(EXTRACT_SCRIPT),
            "--spec_uri",
            str(self.options.spec.resolve()),
            "--jdbc_url",
            self.jdbc_url,
            "--raw_uri",
            str(lake / "raw"),
            "--curated_uri",
            str(self.curated),
            "--quarantine_uri",
            str(lake / "quarantine"),
            "--state_uri",
            str(lake / "state" / "employees.json"),
            "--run_id",
            self.run_id,
        ]
        if self.secret_id:
            args += ["--secret_id", self.secret_id]
        workaround = self._empty_sqlite_window_spec(lake / "state" / "employees.json")
        if workaround is not None:
            args[args.index("--spec_uri") + 1] = str(workaround)
        env = {**os.environ, "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")}
        with self.progress.stage("extract", "the extraction job's main() on local Spark (JDBC -> Parquet)") as st:
            self._run_child("extract", args, env, self.logs / "extract.log")
            manifest_path = next((self.curated / "_manifests").glob(f"dt=*/{self.run_id}.json"), None)
            if manifest_path is None:
                raise StageFailedError(f"the extraction left no manifest for run {self.run_id}")
            manifest: dict[str, Any] = json.loads(manifest_path.read_text())
            watermark = manifest.get("watermark") or {}
            self.manifest = manifest
            self.report["extraction"] = {
                "run_id": manifest["run_id"],
                "source_rows": self.report["source"]["rows"],
                "source_changed": self.report["source"]["changed"],
                "incremental": watermark.get("from") is not None,
                "watermark_from": watermark.get("from"),
                "watermark_to": watermark.get("to"),
                "rows_read": manifest["rows_read"],
                "rows_extracted": manifest["rows_written"],
                "rows_quarantined": manifest["rows_quarantined"],
                "quarantined_by_reason": manifest["rows_quarantined_by_reason"],
                "manifest": str(manifest_path),
            }
            if workaround is not None:
                self.report["extraction"]["workaround"] = EMPTY_WINDOW_NOTE
            kind = "incremental" if watermark.get("from") is not None else "full"
            st.summary = (
                f"{kind}: read {manifest['rows_read']}, extracted {manifest['rows_written']}, "
                f"quarantined {manifest['rows_quarantined']}"
            )

    def _empty_sqlite_window_spec(self, state_path: Path) -> Path | None:
        """A copy of the spec with one JDBC partition when a SQLite source has no rows past the watermark.

        Works around ``esteira_extract.jdbc.read_bounds`` on SQLite: MIN/MAX over an empty window fails in
        sqlite-jdbc ("column -1 out of bounds"), so a second run with nothing changed would fail. With one
        partition the job skips the bounds query; everything else is the same spec.
        """
        from esteira_extract.spec import load_spec
        from pipeline import source

        if self.options.source_url or not state_path.exists():
            return None
        state = json.loads(state_path.read_text())
        value = (state.get("watermark") or {}).get("value")
        spec = load_spec(str(self.options.spec.resolve()))
        if value is None or spec.num_partitions <= 1:
            return None
        db = self.out / "source" / "hr.db"
        if source.sqlite_rows_after(db, spec.source.select_sql(), spec.watermark_column, str(value)) > 0:
            return None
        raw = json.loads(self.options.spec.read_text())
        raw["partitioning"]["num_partitions"] = 1
        copy = self.run_dir / "spec-one-partition.json"
        copy.write_text(json.dumps(raw, indent=2) + "\n")
        self.progress.say(f"    extract: no source rows past the watermark; {EMPTY_WINDOW_NOTE}")
        return copy

    def _dataset(self) -> None:
        from pipeline import model

        spec = json.loads(self.options.spec.read_text())
        self.key = str(spec["primary_key"])
        self.target = str(self.manifest["label_column"])
        with self.progress.stage("dataset", "latest version per key from curated/, hold out a slice") as st:
            data = model.load_dataset(
                self.curated, self.key, str(spec["watermark"]["column"]), self.options.holdout_fraction
            )
            if data.rows != len(data.train) + len(data.held_out):
                raise StageFailedError("the data set does not reconcile")
            self.data = data
            self.report["dataset"] = {
                "rows": data.rows,
                "row_versions_in_curated": data.versions_read,
                "trained_on": len(data.train),
                "held_out": len(data.held_out),
                "holdout_fraction": self.options.holdout_fraction,
            }
            st.summary = f"{data.rows} rows ({data.versions_read} versions): train {len(data.train)}, "
            st.summary += f"held out {len(data.held_out)}"

    def _hyperparameters(self) -> tuple[dict[str, str], list[str]]:
        from pipeline import model

        raw = dict((self.config.get("training") or {}).get("hyperparameters") or {})
        params = {str(k): str(v) for k, v in raw.items()}
        params.setdefault("target", self.target)
        dropped = [c.strip() for c in params.get("drop_columns", "").split(",") if c.strip()]
        unusable = model.unusable_columns(self.data.train, params["target"], dropped)
        params["drop_columns"] = ",".join(dropped + unusable)
        return params, unusable

    def _train(self) -> None:
        from pipeline import model

        with self.progress.stage("train", "the container's train in a SageMaker directory layout") as st:
            s3 = self.session.client("s3")
            uploaded = aws.upload_tree(s3, self.curated, aws.CURATED_BUCKET, aws.CURATED_PREFIX)
            self.prepared = self._invoke_prepare()
            job = str(self.prepared["training_job_name"])
            params, unusable = self._hyperparameters()
            layout = model.write_train_layout(self.run_dir / "ml", self.data.train, params)
            if unusable:
                self.progress.say(f"    train: also dropping non-numeric columns train cannot use: {unusable}")
            env = {**os.environ, "ESTEIRA_ML_ROOT": str(layout.root)}
            try:
                self._run_child("train", model.train_argv(REPO), env, self.logs / "train.log")
            except ChildFailedError:
                if layout.failure_file.exists():
                    raise StageFailedError("train failed: " + layout.failure_file.read_text().strip()) from None
                raise
            job_prefix = f"{aws.MODEL_PREFIX}{job}/output/"
            tarballs = self.run_dir / "artifacts"
            model.make_tarball(layout.model_dir, tarballs / "model.tar.gz")
            model.make_tarball(layout.output_data_dir, tarballs / "output.tar.gz")
            for name in ("model.tar.gz", "output.tar.gz"):
                s3.upload_file(str(tarballs / name), aws.ARTIFACTS_BUCKET, job_prefix + name)
            evaluation = json.loads((layout.output_data_dir / "evaluation.json").read_text())
            self.layout = layout
            self.model_data_url = f"s3://{aws.ARTIFACTS_BUCKET}/{job_prefix}model.tar.gz"
            self.report["model"] = {
                "training_job_name": job,
                "hyperparameters": params,
                "dropped_non_numeric": unusable,
                "features": model.feature_names(layout.model_dir),
                "rows": evaluation.get("rows"),
                "best_iteration": evaluation.get("best_iteration"),
                "model_data_url": self.model_data_url,
                "curated_objects_uploaded": uploaded,
            }
            val = evaluation.get("validation", {})
            st.summary = f"job {job}: validation auc {val.get('auc', float('nan')):.4f}, "
            st.summary += f"{len(self.report['model']['features'])} features"

    def _invoke_prepare(self) -> dict[str, Any]:
        from pipeline.lambda_context import new_context
        from training.prepare.handler import handler

        os.environ.update(
            {
                "CURATED_URI": f"s3://{aws.CURATED_BUCKET}/{aws.CURATED_PREFIX}",
                "ARTIFACTS_BUCKET": aws.ARTIFACTS_BUCKET,
                "MODEL_PREFIX": aws.MODEL_PREFIX,
                "CHECKPOINT_PREFIX": aws.CHECKPOINT_PREFIX,
                "JOB_NAME_PREFIX": RUN_ID_PREFIX,
            }
        )
        return handler({"run_id": self.run_id}, new_context("esteira-local-prepare", 60))

    def _evaluate(self) -> None:
        from pipeline.lambda_context import new_context
        from training.evaluate.handler import handler

        gate = dict((self.config.get("training") or {}).get("gate") or {})
        threshold = self.options.gate_threshold
        if threshold is None:
            threshold = float(gate.get("threshold", 0.8))
        metric = str(gate.get("metric", "auc"))
        with self.progress.stage("evaluate", f"the Evaluate Lambda: gate {metric} >= {threshold:g} and the champion"):
            os.environ.update(
                {
                    "MODEL_PACKAGE_GROUP": aws.MODEL_PACKAGE_GROUP,
                    "GATE_METRIC": metric,
                    "GATE_THRESHOLD": str(threshold),
                    "MIN_IMPROVEMENT": str(gate.get("min_improvement", 0.0)),
                    "ARTIFACTS_BUCKET": aws.ARTIFACTS_BUCKET,
                    "MODEL_PREFIX": aws.MODEL_PREFIX,
                }
            )
            job = self.report["model"]["training_job_name"]
            event = {
                "training_job_name": job,
                "model_artifacts": self.model_data_url,
                "training_image": TRAINING_IMAGE,
                "train_uri": self.prepared["train_uri"],
                "manifest_uri": self.prepared["manifest_uri"],
                "lineage": {"git_commit": _git_commit(), "execution": f"local:{self.run_id}"},
            }
            self.evaluation = handler(event, new_context("esteira-local-evaluate", 60))
            model_report = self.report["model"]
            model_report["metrics"] = self.evaluation["metrics"]
            champion = self.evaluation["champion"]
            passed = bool(self.evaluation["passed"])
            decision = "approved" if passed else ("rejected, champion kept" if champion else "rejected")
            model_report["gate"] = {
                "metric": metric,
                "threshold": threshold,
                "min_improvement": float(gate.get("min_improvement", 0.0)),
                "value": self.evaluation["metric_value"],
                "passed": passed,
                "decision": decision,
                "reason": self.evaluation["reason"],
                "champion": champion,
            }
            self.progress.stages["evaluate"].summary = f"{decision}: {self.evaluation['reason']}"
            if not passed and champion is None:
                raise StageFailedError(
                    f"the gate rejected the model ({self.evaluation['reason']}) and no approved model exists to "
                    "serve; see --gate-threshold"
                )

    def _register(self) -> None:
        model_report = self.report["model"]
        with self.progress.stage("register", "a model package in the local registry") as st:
            if self.evaluation["passed"]:
                approval = str((self.config.get("training") or {}).get("approval", "Approved"))
                job = model_report["training_job_name"]
                arn = aws.create_package(
                    self.session.client("sagemaker"),
                    TRAINING_IMAGE,
                    self.model_data_url,
                    self.evaluation["customer_metadata"],
                )
                keep = self.out / "models" / job
                if keep.exists():
                    shutil.rmtree(keep)
                shutil.copytree(self.layout.model_dir, keep / "model")
                self.registry.add(
                    {
                        "arn": arn,
                        "approval": approval if approval == "Approved" else "PendingManualApproval",
                        "created_at": aws.utc_now(),
                        "training_job_name": job,
                        "extraction_run_id": self.run_id,
                        "image": TRAINING_IMAGE,
                        "model_data_url": self.model_data_url,
                        "model_dir": str(keep / "model"),
                        "metrics": self.evaluation["metrics"],
                        "customer_metadata": self.evaluation["customer_metadata"],
                    }
                )
                model_report["registered_package_arn"] = arn
                st.summary = f"{arn} (Approved)"
            else:
                model_report["registered_package_arn"] = None
                st.summary = "nothing registered: the gate rejected the candidate"
            champion = self.registry.champion()
            if champion is None:
                raise StageFailedError("no approved model package to serve")
            self.champion = champion
            model_report["served_package_arn"] = champion["arn"]

    def _serve_and_smoke_test(self) -> None:
        from pipeline import model, serving

        assert self.children is not None
        with self.progress.stage("serve", "the container's serve, smoke test on held-out rows") as st:
            model_dir = Path(self.champion["model_dir"])
            port = free_port()
            env = {
                **os.environ,
                "ESTEIRA_ML_ROOT": str(model_dir.parent),
                "SAGEMAKER_BIND_TO_PORT": str(port),
                "ESTEIRA_BIND_HOST": "127.0.0.1",
                "ESTEIRA_SERVER_WORKERS": os.environ.get("ESTEIRA_SERVER_WORKERS", "1"),
            }
            self.serve = self.children.start("serve", model.serve_argv(REPO), env, self.logs / "serve.log", REPO)
            wait_for_http(f"http://127.0.0.1:{port}/ping", self.serve, timeout=90)
            self.features = model.feature_names(model_dir)
            self.client = serving.ServeClient(port)
            lines = model.csv_lines(self.data.held_out, self.features)
            result = serving.smoke_test(
                self.client, lines, self.data.held_out[self.target].astype(float).tolist(), rows_per_request=1000
            )
            self.report["smoke_test"] = {
                "rows": result.rows,
                "matches": result.matches,
                "match_rate": round(result.match_rate, 6),
                "min_match_rate": self.options.min_match_rate,
                "requests": result.requests,
                "passed": result.match_rate >= self.options.min_match_rate,
                "model_package_arn": self.champion["arn"],
            }
            st.summary = f"match rate {result.match_rate:.4f} on {result.rows} held-out rows "
            st.summary += f"(min {self.options.min_match_rate:g})"
            if result.match_rate < self.options.min_match_rate:
                raise StageFailedError(
                    f"smoke test: match rate {result.match_rate:.4f} < {self.options.min_match_rate:g} "
                    f"on {result.rows} held-out rows"
                )

    def _transform(self) -> None:
        from pipeline import model, serving

        assert self.children is not None and self.serve is not None
        batch = self.config.get("batch") or {}
        max_payload = int(batch.get("max_payload_mb", 6))
        with self.progress.stage("transform", "batch transform equivalent through /invocations (MultiRecord)") as st:
            s3 = self.session.client("s3")
            input_prefix = f"{aws.INPUT_PREFIX}{self.run_id}/"
            self.output_prefix = f"{aws.OUTPUT_PREFIX}{self.run_id}/"
            held = self.data.held_out
            lines = model.csv_lines(held.assign(_record_id=held[self.key]), ["_record_id", *self.features])
            per_object = 50_000
            for index, start in enumerate(range(0, len(lines), per_object)):
                body = "\n".join(lines[start : start + per_object]) + "\n"
                s3.put_object(
                    Bucket=aws.PREDICTIONS_BUCKET, Key=f"{input_prefix}part-{index:05d}.csv", Body=body.encode()
                )
            stats = serving.transform(
                s3, self.client, aws.PREDICTIONS_BUCKET, input_prefix, self.output_prefix, max_payload
            )
            self.client.close()
            self.children.stop(self.serve)
            self.serve = None
            self.report["batch"] = {
                "transform_run_id": self.run_id,
                "input_rows": len(lines),
                "input_uri": f"s3://{aws.PREDICTIONS_BUCKET}/{input_prefix}",
                "output_uri": f"s3://{aws.PREDICTIONS_BUCKET}/{self.output_prefix}",
                "predicted": stats.records,
                "objects": stats.objects,
                "mini_batches": stats.mini_batches,
                "max_payload_mb": max_payload,
            }
            st.summary = (
                f"{stats.records} predictions in {stats.objects} object(s), {stats.mini_batches} mini-batch(es)"
            )

    def _fanout(self) -> None:
        from pipeline import delivery

        batch = self.config.get("batch") or {}
        with self.progress.stage("fanout", "the fan-out Lambda (S3 output -> SQS FIFO), looped until done") as st:
            os.environ.update(
                {
                    "QUEUE_URL": self.resources.queue_url,
                    "MESSAGE_GROUP_STRATEGY": str(batch.get("message_group_strategy", "entity")),
                    "OUTPUT_SUFFIX": ".out",
                }
            )
            result = delivery.run_fanout(
                {
                    "run_id": self.run_id,
                    "bucket": aws.PREDICTIONS_BUCKET,
                    "prefix": self.output_prefix,
                    "cursor": None,
                    "stats": None,
                }
            )
            fan = result["stats"]
            self.report["batch"]["fanout"] = fan
            st.summary = f"sent {fan['sent']} messages in {fan['invocations']} invocation(s), "
            st.summary += f"quarantined {fan['quarantined']}"

    def _consume(self) -> None:
        from pipeline import delivery

        assert self.children is not None
        batch = self.config.get("batch") or {}
        concurrency = max(1, int(batch.get("consumer_max_concurrency", 2)))
        what = f"the consumer Lambda on the queued messages (DynamoDB), {concurrency} concurrent"
        with self.progress.stage("consume", what) as st:
            os.environ.update({"PREDICTIONS_TABLE": aws.PREDICTIONS_TABLE, "IDEMPOTENCY_TABLE": aws.IDEMPOTENCY_TABLE})
            sqs = self.session.client("sqs")
            expected = self.report["batch"]["fanout"]["sent"]
            workers = []
            for index in range(concurrency):
                stats_path = self.run_dir / f"consumer-{index}.json"
                argv = [sys.executable, "-m", "pipeline.consumer_worker", self.resources.queue_url, str(stats_path)]
                log_path = self.logs / f"consumer-{index}.log"
                child = self.children.start(f"consumer-{index}", argv, dict(os.environ), log_path, REPO)
                workers.append((child, stats_path))
            try:
                last = time.monotonic()
                while any(child.process.poll() is None for child, _ in workers):
                    time.sleep(0.5)
                    if time.monotonic() - last >= 10:
                        last = time.monotonic()
                        left = delivery.queue_depth(sqs, self.resources.queue_url)
                        self.progress.say(f"    consume: {expected - left}/{expected} messages handled ...")
            finally:
                for child, _ in workers:
                    self.children.stop(child)
            delivered: set[str] = set()
            counts = {"invocations": 0, "received": 0, "failures_reported": 0}
            for child, stats_path in workers:
                if child.process.returncode != 0 or not stats_path.exists():
                    raise ChildFailedError(
                        f"{child.name} exited with {child.process.returncode}:\n{tail(child.log_path, 15)}"
                    )
                worker_stats = json.loads(stats_path.read_text())
                delivered.update(worker_stats.pop("delivered_ids"))
                for name in counts:
                    counts[name] += int(worker_stats[name])
            stored = delivery.count_stored(self.session.client("dynamodb"), aws.PREDICTIONS_TABLE, self.run_id)
            dead = delivery.queue_depth(sqs, self.resources.dlq_url)
            report = self.report["batch"]
            report["delivered"] = len(delivered)
            report["stored"] = stored
            report["lost"] = report["predicted"] - stored
            report["dead_lettered"] = dead
            report["consumer"] = {"concurrency": concurrency, **counts}
            st.summary = f"delivered {len(delivered)}, stored {stored}, lost {report['lost']}, dead-lettered {dead}"
            if report["lost"] != 0 or len(delivered) != report["predicted"]:
                raise StageFailedError(
                    f"predictions do not reconcile: predicted {report['predicted']}, delivered {len(delivered)}, "
                    f"stored {stored}"
                )

    # ------------------------------------------------------------------------------------------ helpers

    def _run_child(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        assert self.children is not None
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
