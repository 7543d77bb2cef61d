"""Stage baseline: the data-quality baseline of the dataset run's ``baseline/`` CSV, and the capture-format check.

Where the training state machine runs Model Monitor's analyzer (its Baseline step, after the gate passes and before
Register), the local run recomputes the statistics the report shows (``pipeline/baseline.py``: a reimplementation
for the report only) and writes ``constraints.json`` and ``statistics.json`` where the analyzer's job writes them:
Prepare's ``monitoring/baselines/run_id=<run>/`` in the artifacts bucket, which Register names in the package's
DriftCheckBaselines. It then checks that records as data capture records them (what ``serve`` is sent: the holdout
rows as headerless CSV, the model's features in request order) parse against the baseline's columns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline import baseline, model
from pipeline.ahead import Ahead
from pipeline.context import RunContext, need
from pipeline.report import StageFailedError

JSON = "application/json"


def _put_json(s3: Any, uri: str, document: dict[str, Any]) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    s3.put_object(Bucket=bucket, Key=key, Body=(json.dumps(document, indent=2) + "\n").encode(), ContentType=JSON)


def _baseline_files(dataset_dir: Path) -> list[Path]:
    return sorted((dataset_dir / "baseline").glob("*.csv"))


def _statistics(files: list[Path]) -> dict[str, Any]:
    return baseline.statistics(baseline.read_csv_rows(files))


def statistics_ahead(ctx: RunContext) -> Ahead[dict[str, Any]]:
    """The baseline CSV's statistics, computed in a thread while the training job runs (the main process only waits
    on it then): ~0.8 s at 100k rows. The CSV is final once the dataset job has run; the stage takes the result."""
    files = _baseline_files(need(ctx.dataset_dir, "dataset run"))
    return Ahead("baseline-statistics", lambda: _statistics(files))


def run(ctx: RunContext) -> None:
    evaluation = need(ctx.evaluation, "evaluation")
    with ctx.progress.stage("baseline", "data-quality baseline of the run's baseline CSV; capture-format check") as st:
        if not evaluation["passed"]:
            st.summary = "nothing to baseline: the gate rejected the candidate"
            return
        prepared = need(ctx.prepared, "Prepare result")
        dataset_dir = need(ctx.dataset_dir, "dataset run")
        features = model.feature_names(ctx.layout.model_dir)
        files = _baseline_files(dataset_dir)
        if not files:
            raise StageFailedError(f"baseline: no CSV under {dataset_dir / 'baseline'}; the dataset job writes one")
        ahead = ctx.baseline_ahead
        stats = ahead.result() if ahead is not None else _statistics(files)
        suggested = baseline.constraints(stats)
        if len(stats["features"]) != len(features):
            raise StageFailedError(
                f"baseline: the baseline CSV has {len(stats['features'])} columns, the model takes {len(features)} "
                f"features ({', '.join(features)}); the dataset job and the container disagree on the features"
            )
        _put_json(ctx.session.client("s3"), prepared["baseline_statistics_uri"], stats)
        _put_json(ctx.session.client("s3"), prepared["baseline_constraints_uri"], suggested)
        held_out = model.read_parquet_dir(dataset_dir / "holdout")
        check = baseline.check_capture(model.csv_lines(held_out, features), suggested, features)
        ctx.drift_check_baselines = {
            "ModelDataQuality": {
                "Constraints": {"ContentType": JSON, "S3Uri": prepared["baseline_constraints_uri"]},
                "Statistics": {"ContentType": JSON, "S3Uri": prepared["baseline_statistics_uri"]},
            }
        }
        ctx.report["baseline"] = {
            "computed_by": "local reimplementation for the report (AWS: the Model Monitor analyzer)",
            "uri": prepared["baseline_uri"],
            "rows": stats["dataset"]["item_count"],
            "features": [_summary(name, feature) for name, feature in zip(features, stats["features"], strict=True)],
            "capture_check": {"records": check.records, "passed": check.passed, "problems": check.problems[:10]},
        }
        st.summary = f"{stats['dataset']['item_count']} rows, {len(features)} features; "
        st.summary += f"{check.records} capture-format records parse" if check.passed else "capture check failed"
        if not check.passed:
            raise StageFailedError(
                f"capture-format records do not parse against the baseline ({len(check.problems)} problem(s)): "
                + baseline.describe_problems(check)
            )


def _summary(name: str, feature: dict[str, Any]) -> dict[str, Any]:
    numbers = feature.get("numerical_statistics")
    common = (numbers or feature["string_statistics"])["common"]
    summary: dict[str, Any] = {
        "feature": name,
        "column": feature["name"],
        "inferred_type": feature["inferred_type"],
        "count": common["num_present"],
        "missing": common["num_missing"],
    }
    if numbers is not None:
        summary |= {key: round(numbers[key], 6) for key in ("mean", "sum", "std_dev", "min", "max")}
    return summary
