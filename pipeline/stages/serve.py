"""Stage serve: the container's `serve` with the champion, smoke-tested as the CD pipeline's step tests an endpoint.

The smoke test is :func:`pipeline.smoke_check.smoke_test`, the CD step's own: the held-out rows of the dataset run
the served package was trained on (its ``lineage.dataset``; the local dataset job writes that run under
``<out>/lake/`` with the keys it has in the artifacts bucket), the package's model loaded in-process, and the
config's gate (``training.gate``, with this run's ``--gate-threshold``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from esteira_contracts import layout
from esteira_model.predictor import Predictor
from pipeline import aws, model, retraining, serving
from pipeline.context import RunContext, need
from pipeline.options import REPO
from pipeline.processes import free_port, wait_for_http
from pipeline.report import StageFailedError
from pipeline.smoke_check import LINEAGE_DATASET, Gate, SmokeInputError, read_holdout, smoke_test, split_rows

ROWS_PER_REQUEST = 1000


def local_dataset_dir(package: dict[str, Any], lake: Path) -> Path:
    """Where the local run keeps the dataset run a package names as ``lineage.dataset`` (an artifacts-bucket URI)."""
    uri = str((package.get("customer_metadata") or {}).get(LINEAGE_DATASET, ""))
    prefix = f"s3://{aws.ARTIFACTS_BUCKET}/"
    key = uri.removeprefix(prefix)
    if not uri.startswith(prefix) or not key.startswith(layout.DATASETS_PREFIX):
        raise StageFailedError(
            f"smoke test: package {package.get('arn')} records no {LINEAGE_DATASET} under "
            f"{prefix}{layout.DATASETS_PREFIX} (got {uri!r}): it was registered by an older run; run with --fresh"
        )
    return lake / key


def run(ctx: RunContext) -> None:
    champion = need(ctx.champion, "champion")
    min_match_rate = ctx.options.min_match_rate
    gate_config = ctx.config.training.gate
    threshold = gate_config.threshold if ctx.options.gate_threshold is None else ctx.options.gate_threshold
    gate = Gate(gate_config.metric, threshold)
    with ctx.progress.stage("serve", "the container's serve, smoke test on the dataset's holdout rows") as st:
        model_dir = Path(champion["model_dir"])
        port = free_port()
        env = {
            **os.environ,
            "ESTEIRA_ML_ROOT": str(model_dir.parent),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "ESTEIRA_BIND_HOST": "127.0.0.1",
            "ESTEIRA_SERVER_WORKERS": os.environ.get("ESTEIRA_SERVER_WORKERS", "1"),
        }
        ctx.serve = ctx.children.start("serve", model.serve_argv(REPO), env, ctx.logs / "serve.log", REPO)
        wait_for_http(f"http://127.0.0.1:{port}/ping", ctx.serve, timeout=90)
        ctx.features = model.feature_names(model_dir)
        ctx.client = serving.ServeClient(port)
        dataset_dir = local_dataset_dir(champion, ctx.out / "lake")
        predictor = Predictor.load(model_dir, nthread=0)
        try:
            features, labels = split_rows(read_holdout(str(dataset_dir)), predictor)
            result = smoke_test(
                features,
                labels,
                predictor,
                ctx.client,
                gate,
                rows_per_request=ROWS_PER_REQUEST,
                min_match_rate=min_match_rate,
            )
        except SmokeInputError as err:
            raise StageFailedError(f"smoke test cannot run: {err} (dataset run {dataset_dir})") from None
        ctx.report["smoke_test"] = {
            **result.to_json(),
            "model_package_arn": champion["arn"],
            "dataset": str(dataset_dir),
        }
        st.summary = result.sentence()
        if not result.passed:
            raise StageFailedError(result.sentence())
    # What the retrain trigger would decide on this run's findings (the report's `retraining`).
    retraining.record(ctx)
