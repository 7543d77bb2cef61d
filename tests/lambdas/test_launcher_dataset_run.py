"""Which dataset run the launcher scores with the package it chose, and when it refuses (moto over HTTP: S3 and
SageMaker). A package trained here scores its own run; a package trained in another environment (prod serving
staging's package) scores this environment's newest complete run; either must match the package's spec and feature
schema and hold rows, or the launch fails with a named error and starts nothing."""

from __future__ import annotations

from typing import Any

import pytest

from batch.launcher import dataset_run, logic
from batch.launcher.handler import handler
from common import clients
from esteira_contracts.batch import LauncherSettings
from tests.lambdas.faults import count_calls
from tests.lambdas.helpers import lambda_context
from tests.lambdas.launcher_world import (
    FEATURES,
    INPUT_RUN,
    NEWER_INPUT_RUN,
    artifacts_for,
    bucket_for,
    launcher_env,
    lineage,
    make_registry,
    new_group,
    package_arn,
    put_run,
    register,
)

# The registry environment's artifacts bucket, in another account: where a promoted package's dataset run lives.
REGISTRY_ARTIFACTS = "esteira-staging-artifacts-222222222222"
OLDEST_RUN = "esteira-dev-20241231-020000-000aaa"
NEWEST_RUN = "esteira-dev-20250103-020000-fff999"


@pytest.fixture
def world(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    group = new_group()
    sagemaker = make_registry(group)
    for name, value in launcher_env(group).items():
        monkeypatch.setenv(name, value)
    return sagemaker, group


def nothing_started(sagemaker: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return count_calls(sagemaker, "CreateModel"), count_calls(sagemaker, "CreateTransformJob")


def promoted(group: str, monkeypatch: pytest.MonkeyPatch, **metadata: str) -> str:
    """A package registered in the registry environment (its dataset run in REGISTRY_ARTIFACTS), pinned here."""
    arn = register(group, "Approved", lineage(REGISTRY_ARTIFACTS, OLDEST_RUN) | metadata)
    monkeypatch.setenv("MODEL_PACKAGE_ARN", arn)
    return arn


def test_a_package_trained_elsewhere_scores_this_environments_newest_complete_run(
    world: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN prod pinned to a package trained in staging, and prod's own runs: INPUT_RUN, NEWER_INPUT_RUN (complete),
    # and NEWEST_RUN still writing (batch input, no manifest yet)
    _, group = world
    arn = promoted(group, monkeypatch)
    put_run(group, NEWER_INPUT_RUN)
    put_run(group, NEWEST_RUN, manifest=False)
    # WHEN the schedule fires
    out = handler({}, lambda_context())
    # THEN the newest complete run of this environment is scored with the promoted package
    assert (out["status"], out["model_package_arn"], out["source"]) == ("started", arn, "pinned")
    assert (out["input_run_id"], out["input_rule"]) == (NEWER_INPUT_RUN, "newest-own-run")
    assert out["input_uri"] == f"s3://{bucket_for(group)}/batch-input/run_id={NEWER_INPUT_RUN}/"
    # AND the package's own run, in the registry's account, is reported but never read
    assert out["package_run_id"] == OLDEST_RUN


def test_a_package_trained_elsewhere_refuses_when_this_environment_has_no_run(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a pinned foreign package and empty buckets (this environment's dataset job has not run yet)
    group = new_group()
    sagemaker = clients.sagemaker()
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    for bucket in (bucket_for(group), artifacts_for(group)):
        clients.s3().create_bucket(Bucket=bucket)
    for name, value in launcher_env(group).items():
        monkeypatch.setenv(name, value)
    promoted(group, monkeypatch)
    models, jobs = nothing_started(sagemaker)
    # WHEN launched THEN it is refused, naming where it looked; nothing starts
    with pytest.raises(dataset_run.NoBatchInputError, match=f"no complete dataset run under s3://{bucket_for(group)}"):
        handler({}, lambda_context())
    assert (models, jobs) == ([], [])


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"features": ("idade", "salario")}, r"feature schema [0-9a-f]{64} \(2 features: idade, salario\)"),
        ({"features": tuple(reversed(FEATURES))}, "the package's is"),  # same names, another order: another model
        ({"spec": "contractors"}, "spec 'contractors', the package's is 'employees'"),
    ],
    ids=["fewer-features", "reordered-features", "other-spec"],
)
def test_a_run_whose_schema_is_not_the_packages_is_refused(
    world: tuple[Any, str], monkeypatch: pytest.MonkeyPatch, manifest: dict[str, Any], message: str
) -> None:
    # GIVEN a promoted package and this environment's newest run written for another feature schema or spec
    sagemaker, group = world
    arn = promoted(group, monkeypatch)
    put_run(group, NEWER_INPUT_RUN, **manifest)
    models, jobs = nothing_started(sagemaker)
    # WHEN the schedule fires THEN the launch is refused naming the run, the package and the difference
    with pytest.raises(dataset_run.BatchInputMismatchError, match=message) as refused:
        handler({}, lambda_context())
    assert f"dataset run {NEWER_INPUT_RUN} cannot be scored with {arn}" in str(refused.value)
    # AND no older, matching run is scored instead (INPUT_RUN matches): nothing starts
    assert (models, jobs) == ([], [])


def test_a_named_run_is_checked_against_the_package_too(world: tuple[Any, str]) -> None:
    # GIVEN the newest approved package (features FEATURES) and a named run written for fewer features
    sagemaker, group = world
    put_run(group, NEWER_INPUT_RUN, features=FEATURES[:1])
    models, jobs = nothing_started(sagemaker)
    # WHEN an operator launches it THEN it is refused; nothing starts
    with pytest.raises(dataset_run.BatchInputMismatchError, match=f"dataset run {NEWER_INPUT_RUN} cannot be scored"):
        handler({"input_run_id": NEWER_INPUT_RUN}, lambda_context())
    assert (models, jobs) == ([], [])


@pytest.mark.parametrize(
    ("run", "setup", "message"),
    [
        (NEWER_INPUT_RUN, {"rows": None, "manifest": False}, "has no manifest at s3://"),
        (NEWER_INPUT_RUN, {"rows": None}, "holds no rows to score"),
        (NEWER_INPUT_RUN, {"rows": b""}, "holds no rows to score"),
        (NEWER_INPUT_RUN, {"rows": None, "status": "no_new_data"}, "ended with status 'no_new_data'"),
    ],
    ids=["no-manifest", "no-input", "empty-file", "no-new-data"],
)
def test_a_run_without_rows_to_score_is_refused(
    world: tuple[Any, str], run: str, setup: dict[str, Any], message: str
) -> None:
    # GIVEN a named run that is incomplete, has no batch input, only an empty part file, or selected nothing
    sagemaker, group = world
    put_run(group, run, **setup)
    models, jobs = nothing_started(sagemaker)
    # WHEN launched THEN a NoBatchInputError says why; no model, no transform job
    with pytest.raises(dataset_run.NoBatchInputError, match=message):
        handler({"input_run_id": run}, lambda_context())
    assert (models, jobs) == ([], [])


def test_the_package_run_expired_is_refused(world: tuple[Any, str]) -> None:
    # GIVEN the package's own run, its batch input expired by lifecycle (the manifest remains)
    sagemaker, group = world
    clients.s3().delete_object(Bucket=bucket_for(group), Key=f"batch-input/run_id={INPUT_RUN}/part-00000.csv")
    models, jobs = nothing_started(sagemaker)
    # WHEN the schedule fires THEN it is refused, naming the run and the rule that chose it
    with pytest.raises(dataset_run.NoBatchInputError, match=f"dataset run {INPUT_RUN}, chosen as package-run"):
        handler({}, lambda_context())
    assert (models, jobs) == ([], [])


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({}, "records no lineage.dataset, lineage.spec, lineage.feature_schema"),
        (lineage(REGISTRY_ARTIFACTS, INPUT_RUN) | {"lineage.dataset": "s3://b/models/x/"}, "is not a dataset run"),
    ],
    ids=["no-lineage", "not-a-run-folder"],
)
def test_a_package_without_its_data_lineage_is_refused(
    world: tuple[Any, str], monkeypatch: pytest.MonkeyPatch, metadata: dict[str, str], message: str
) -> None:
    # GIVEN the environment pinned to an Approved package registered without (usable) lineage
    sagemaker, group = world
    arn = register(group, "Approved", metadata or None)
    monkeypatch.setenv("MODEL_PACKAGE_ARN", arn)
    models, jobs = nothing_started(sagemaker)
    # WHEN launched THEN it is refused naming the package; nothing starts
    with pytest.raises(dataset_run.PackageLineageError, match=message):
        handler({}, lambda_context())
    assert (models, jobs) == ([], [])
    assert arn == package_arn(group, 5)


def test_the_newest_approved_package_is_described_before_it_is_used(world: tuple[Any, str]) -> None:
    # GIVEN an unpinned environment WHEN the package is resolved THEN its description (lineage) comes with it
    sagemaker, group = world
    settings = LauncherSettings.from_env(launcher_env(group))
    arn, source, described = logic.resolve_package(sagemaker, settings)
    assert (arn, source) == (package_arn(group, 2), "latest-approved")
    assert described["CustomerMetadataProperties"]["lineage.dataset"].endswith(f"run_id={INPUT_RUN}/")
