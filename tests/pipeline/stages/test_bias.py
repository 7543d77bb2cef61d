"""The local bias stage on a model the real bin/train wrote (the shared binary model of tests/pipeline/conftest.py):
Clarify's two analysis.json files where Clarify writes them, and the bias gate rejecting as the quality gate does."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from esteira_contracts.training import OUTCOME_GATE_REJECTED
from pipeline import aws, clarify_report
from pipeline.context import RunContext
from pipeline.options import DEMO_SPEC, REPO, Options
from pipeline.processes import Children
from pipeline.report import StageFailedError
from pipeline.stages import bias as bias_stage
from stacks.bias_config import BiasConfig, BiasFacet, BiasGateConfig
from stacks.config import load_config
from tests.pipeline.smoke_models import TaskModel
from tests.servers import module_server

RUN = "esteira-local-20261206-080000-bbb222"
CHAMPION = {"arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/esteira-local/1"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with module_server("pipeline.moto_server") as url:
        yield url


@pytest.fixture
def session(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh local AWS (moto's state reset) with the artifacts bucket, as the aws stage makes it."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).close()
    for name, value in aws.local_aws_environment(endpoint).items():
        monkeypatch.setenv(name, value)
    local = boto3.session.Session()
    local.client("s3").create_bucket(Bucket=aws.ARTIFACTS_BUCKET)
    return local


class Layout:
    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir


def context(
    tmp_path: Path, trained: TaskModel, gate: BiasGateConfig, champion: dict[str, Any] | None, session: Any
) -> RunContext:
    """A run at the bias stage: evaluate passed the candidate; the facet is make_frame's 0/1 flag f5."""
    config = load_config("dev")
    facets = (BiasFacet(column="f5", values_or_threshold=(1,), name="flagged"),)
    bias = BiasConfig(enabled=True, facets=facets, gate=gate)
    config = config.model_copy(update={"training": config.training.model_copy(update={"bias": bias})})
    options = Options(
        rows=0,
        out=tmp_path,
        change_rows=0,
        fresh=False,
        seed=0,
        source_url=None,
        config=REPO / "config" / "dev.yaml",
        spec=DEMO_SPEC,
        gate_threshold=None,
        min_match_rate=0.8,
    )
    ctx = RunContext(options, config, tmp_path, RUN, tmp_path / "runs" / RUN, Children("test-bias-stage"))
    ctx.dataset_dir, ctx.layout = trained.dataset_dir, Layout(trained.model_dir)
    ctx.prepared, ctx.session = {"dataset_run_id": RUN}, session
    ctx.evaluation = {"passed": True, "reason": "auc above the threshold"}
    ctx.report["model"] = {
        "gate": {"passed": True, "decision": "approved", "outcome": "registered", "champion": champion}
    }
    return ctx


def test_the_stage_writes_clarifys_documents_and_a_passing_gate_keeps_the_candidate(
    tmp_path: Path, task_models: dict[str, TaskModel], session: Any
) -> None:
    # GIVEN a candidate and a gate of DI in [0.01, 100]
    ctx = context(tmp_path, task_models["binary"], BiasGateConfig(min=0.01, max=100.0), None, session)
    # WHEN the bias stage runs
    bias_stage.run(ctx)
    # THEN Clarify's two analysis.json files are in the lake where Clarify writes them
    clarify = tmp_path / "lake" / "monitoring" / "clarify" / f"run_id={RUN}"
    document = json.loads((clarify / "bias" / "analysis.json").read_text())
    assert [g["value_or_threshold"] for g in document["post_training_bias_metrics"]["facets"]["f5"]] == ["1"]
    shap = json.loads((clarify / "explainability" / "analysis.json").read_text())
    assert set(shap["explanations"]["kernel_shap"]["label0"]["global_shap_values"]) == {f"f{i}" for i in range(6)}
    # AND the report has both sections, the gate passed and was applied, and the candidate goes on to Register
    section = ctx.report["bias"]
    assert section["gate"]["passed"] is True and section["gate"]["applied"] is True
    assert section["facets"][0]["name"] == "flagged" and isinstance(section["facets"][0]["post_training"]["DI"], float)
    assert section["facets"][0]["judged"] is True  # both groups above the default floor of 100 holdout rows
    assert ctx.report["explainability"]["importance"][0]["feature"] in {f"f{i}" for i in range(6)}
    assert ctx.evaluation is not None and ctx.evaluation["passed"] is True
    # AND Register will name both reports, in the local S3, as the package's ModelMetrics
    assert ctx.model_metrics is not None and set(ctx.model_metrics) == {"Bias", "Explainability"}
    for kind, folder in (("Bias", "bias"), ("Explainability", "explainability")):
        uri = ctx.model_metrics[kind]["Report"]["S3Uri"]
        key = f"monitoring/clarify/run_id={RUN}/{folder}/analysis.json"
        assert uri == f"s3://{aws.ARTIFACTS_BUCKET}/{key}"
        body = session.client("s3").get_object(Bucket=aws.ARTIFACTS_BUCKET, Key=key)["Body"].read()
        assert json.loads(body) == json.loads((tmp_path / "lake" / key).read_text())
    sagemaker = session.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=aws.MODEL_PACKAGE_GROUP)
    arn = aws.create_package(sagemaker, "esteira-model:local", "s3://b/m.tar.gz", {}, model_metrics=ctx.model_metrics)
    assert sagemaker.describe_model_package(ModelPackageName=arn)["ModelMetrics"] == ctx.model_metrics


def test_a_failing_gate_rejects_the_candidate_and_the_champion_keeps_serving(
    tmp_path: Path, task_models: dict[str, TaskModel], session: Any
) -> None:
    # GIVEN a gate no DI can pass and an approved champion
    ctx = context(tmp_path, task_models["binary"], BiasGateConfig(min=100.0, max=200.0), CHAMPION, session)
    # WHEN the stage runs THEN the candidate is rejected as the quality gate rejects, naming the facet
    bias_stage.run(ctx)
    assert ctx.evaluation is not None and ctx.evaluation["passed"] is False
    gate = ctx.report["model"]["gate"]
    assert (gate["passed"], gate["outcome"], gate["decision"]) == (
        False,
        OUTCOME_GATE_REJECTED,
        "rejected, champion kept",
    )
    assert "DI of facet f5=1" in gate["reason"]


def test_a_failing_gate_with_no_champion_fails_the_run(
    tmp_path: Path, task_models: dict[str, TaskModel], session: Any
) -> None:
    ctx = context(tmp_path, task_models["binary"], BiasGateConfig(min=100.0, max=200.0), None, session)
    with pytest.raises(StageFailedError, match=r"the bias gate rejected the model .*DI of facet f5=1"):
        bias_stage.run(ctx)


def test_a_disabled_gate_reports_without_rejecting(
    tmp_path: Path, task_models: dict[str, TaskModel], session: Any
) -> None:
    ctx = context(tmp_path, task_models["binary"], BiasGateConfig(enabled=False, min=100.0, max=200.0), None, session)
    bias_stage.run(ctx)
    gate = ctx.report["bias"]["gate"]
    assert (gate["enabled"], gate["passed"]) == (False, True) and "disabled" in gate["reason"]
    assert clarify_report.bias_sentence(ctx.report["bias"]).startswith("disabled (reported only), DI in [100.0, 200.0]")
    assert ctx.evaluation is not None and ctx.evaluation["passed"] is True


def test_a_facet_under_the_evidence_floor_is_reported_not_judged_and_keeps_the_candidate(
    tmp_path: Path, task_models: dict[str, TaskModel], session: Any
) -> None:
    # GIVEN a gate no DI can pass, but a floor above the holdout's size: no facet group has the rows to be judged
    gate_config = BiasGateConfig(min=100.0, max=200.0, min_facet_rows=1_000_000)
    ctx = context(tmp_path, task_models["binary"], gate_config, None, session)
    # WHEN the stage runs
    bias_stage.run(ctx)
    # THEN the candidate is kept, and the report's bias section says why: the facet was not judged, with its rows
    section = ctx.report["bias"]
    (facet,) = section["facets"]
    assert facet["judged"] is False and facet["rows_d"] + facet["rows_a"] == section["rows"]
    assert facet["not_judged"] == f"not judged: n_d {facet['rows_d']} rows and n_a {facet['rows_a']} rows < 1000000"
    assert section["gate"]["passed"] is True and section["gate"]["min_facet_rows"] == 1_000_000
    assert section["gate"]["reason"] == f"bias gate: no facet judged (f5=1 {facet['not_judged']})"
    assert "(not judged: n_d" in clarify_report.bias_sentence(section)
    assert ctx.evaluation is not None and ctx.evaluation["passed"] is True
