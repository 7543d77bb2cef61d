"""Prepare: manifest resolution (by run id, latest), validation, the history check, job names, the handler (its
settings: tests/esteira_contracts/test_training.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from esteira_contracts import SettingsError
from esteira_contracts.training import MAX_JOB_NAME_PREFIX_LENGTH, PrepareResult, PrepareSettings, field_names
from tests.lambdas.training.conftest import SetEnv
from tests.lambdas.training.helpers import (
    RUN_ID,
    ZERO_ROWS_RUN_ID,
    TrainingResources,
    fixture_bytes,
    fixture_json,
    lambda_context,
)
from training.errors import InvalidManifest, InvalidRequest, ManifestNotFound, NoTrainingData
from training.prepare.handler import handler
from training.prepare.logic import new_job_name, prepare, tuning_job_name

JOB_NAME = re.compile(r"^esteira-dev-\d{8}-\d{6}-[0-9a-f]{6}$")
SAGEMAKER_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
OUTPUT_KEYS = set(field_names(PrepareResult))


def settings_for(aws: TrainingResources, **overrides: str) -> PrepareSettings:
    return PrepareSettings.from_env(aws.prepare_env(**overrides))


def committed() -> dict[str, Any]:
    manifest: dict[str, Any] = fixture_json("manifests/committed_run.json")
    return manifest


def earlier_run(run_id: str, run_date: str, rows: int) -> dict[str, Any]:
    return committed() | {"run_id": run_id, "run_date": run_date, "rows_written": rows}


# --- manifest resolution ------------------------------------------------------------------------------------------


def test_finds_the_manifest_of_the_given_run_among_others(aws: TrainingResources) -> None:
    # GIVEN three committed runs on different days, the wanted one in the middle
    aws.put_run(earlier_run("jr_000000000001", "2025-03-13", 900), latest=True)
    wanted = aws.put_run(committed(), latest=True)
    aws.put_run(earlier_run("jr_000000000003", "2025-03-16", 40), latest=True)
    # WHEN prepare runs for the middle run
    out = prepare(fixture_json("events/prepare_run.json"), settings_for(aws), aws.s3).to_payload()
    # THEN it reports that run's manifest, rows and label, and trains on the whole curated prefix
    assert out["manifest_uri"] == wanted
    assert out["rows"] == 1180
    assert out["target"] == "desligado_em_12_meses"
    assert out["run_id"] == RUN_ID
    assert out["train_uri"] == aws.curated_uri


def test_output_has_exactly_the_contract_keys_and_uris(aws: TrainingResources) -> None:
    # GIVEN one committed run
    aws.put_run(committed())
    # WHEN prepare runs
    out = prepare({"run_id": RUN_ID}, settings_for(aws), aws.s3).to_payload()
    # THEN the output carries the contract keys, with URIs under the artifacts bucket
    assert set(out) == OUTPUT_KEYS
    job = out["training_job_name"]
    assert out["output_uri"] == f"s3://{aws.artifacts_bucket}/models/"
    assert out["checkpoint_uri"] == f"s3://{aws.artifacts_bucket}/checkpoints/{job}/"


# --- the dataset run and the champion -----------------------------------------------------------------------------


def test_names_one_dataset_run_per_execution_and_its_channels(aws: TrainingResources) -> None:
    # GIVEN one committed run and a predictions bucket for the batch input
    aws.put_run(committed())
    settings = settings_for(aws, PREDICTIONS_BUCKET="predictions-bucket")
    # WHEN prepare runs
    out = prepare({"run_id": RUN_ID}, settings, aws.s3).to_payload()
    # THEN the dataset run is named like the training job, and every URI sits under datasets/run_id=<run>/
    run = out["training_job_name"]
    dataset = f"s3://{aws.artifacts_bucket}/datasets/run_id={run}/"
    assert out["dataset_run_id"] == run
    assert out["datasets_uri"] == f"s3://{aws.artifacts_bucket}/datasets/"
    assert out["dataset_uri"] == dataset
    assert (out["dataset_manifest_bucket"], out["dataset_manifest_key"]) == (
        aws.artifacts_bucket,
        f"datasets/run_id={run}/manifest.json",
    )
    assert out["train_channel_uri"] == f"{dataset}train/"
    assert out["validation_channel_uri"] == f"{dataset}validation/"
    assert out["holdout_channel_uri"] == f"{dataset}holdout/"
    assert out["batch_input_uri"] == "s3://predictions-bucket/batch-input/"
    assert out["batch_run_input_uri"] == f"s3://predictions-bucket/batch-input/run_id={run}/"
    # AND the baselining job reads the run's baseline/ CSV and writes under monitoring/baselines/run_id=<run>/
    baseline = f"s3://{aws.artifacts_bucket}/monitoring/baselines/run_id={run}/"
    assert out["baseline_input_uri"] == f"{dataset}baseline/"
    assert out["baseline_uri"] == baseline
    assert out["baseline_constraints_uri"] == f"{baseline}constraints.json"
    assert out["baseline_statistics_uri"] == f"{baseline}statistics.json"
    # AND without a package group there is no champion
    assert out["champion_package_arn"] is None and out["champion_model_uri"] is None


def test_without_a_predictions_bucket_the_batch_input_stays_in_the_dataset_run(aws: TrainingResources) -> None:
    aws.put_run(committed())
    out = prepare({"run_id": RUN_ID}, settings_for(aws), aws.s3).to_payload()
    assert out["batch_input_uri"] == f"{out['dataset_uri']}batch-input/"


def test_the_newest_approved_package_is_the_champion_scored_on_the_holdout(aws: TrainingResources) -> None:
    # GIVEN an approved package, then a newer rejected one
    aws.put_run(committed())
    approved = aws.create_package("Approved")
    aws.create_package("Rejected")
    settings = settings_for(aws, MODEL_PACKAGE_GROUP=aws.package_group)
    # WHEN prepare runs with the group
    out = prepare({"run_id": RUN_ID}, settings, aws.s3, sagemaker=aws.sagemaker).to_payload()
    # THEN the approved package and its model data are the champion
    assert out["champion_package_arn"] == approved
    assert out["champion_model_uri"] == f"s3://{aws.artifacts_bucket}/m.tar.gz"


def test_a_champion_whose_model_the_training_role_cannot_read_is_not_scored(aws: TrainingResources) -> None:
    # GIVEN an approved package whose model lives outside the artifacts bucket (another account's registry)
    aws.put_run(committed())
    aws.create_package("Approved")
    settings = settings_for(aws, MODEL_PACKAGE_GROUP=aws.package_group, ARTIFACTS_BUCKET="other-artifacts")
    # WHEN prepare runs THEN no champion channel is given (Evaluate falls back to the stored metric)
    out = prepare({"run_id": RUN_ID}, settings, aws.s3, sagemaker=aws.sagemaker).to_payload()
    assert out["champion_model_uri"] is None


def test_no_approved_package_means_no_champion(aws: TrainingResources) -> None:
    aws.put_run(committed())
    aws.create_package("PendingManualApproval")
    settings = settings_for(aws, MODEL_PACKAGE_GROUP=aws.package_group)
    out = prepare({"run_id": RUN_ID}, settings, aws.s3, sagemaker=aws.sagemaker).to_payload()
    assert out["champion_model_uri"] is None


def test_latest_reads_latest_json_and_reports_the_dated_manifest(aws: TrainingResources) -> None:
    # GIVEN two runs, the second one the latest
    aws.put_run(earlier_run("jr_000000000001", "2025-03-13", 900))
    aws.put_run(committed())
    # WHEN prepare runs for "latest"
    out = prepare(fixture_json("events/prepare_latest.json"), settings_for(aws), aws.s3).to_payload()
    # THEN it resolves the latest run and names its permanent, dated manifest (latest.json gets overwritten)
    assert out["run_id"] == RUN_ID
    assert out["manifest_uri"] == f"{aws.curated_uri}_manifests/dt=2025-03-14/{RUN_ID}.json"


def test_a_run_id_never_falls_back_to_latest(aws: TrainingResources) -> None:
    # GIVEN a committed run whose manifest is also latest.json
    aws.put_run(committed())
    # WHEN prepare asks for another (failed, never committed) run
    # THEN ManifestNotFound names the run, rather than silently training on the latest one
    with pytest.raises(ManifestNotFound, match="jr_doesnotexist"):
        prepare({"run_id": "jr_doesnotexist"}, settings_for(aws), aws.s3)


def test_latest_without_any_run_is_manifest_not_found(aws: TrainingResources) -> None:
    # GIVEN an empty curated prefix
    # WHEN prepare runs for "latest"
    # THEN ManifestNotFound says no run has committed
    with pytest.raises(ManifestNotFound, match="no extraction run has committed"):
        prepare({"run_id": "latest"}, settings_for(aws), aws.s3)


def test_curated_uri_in_the_input_overrides_the_environment(aws: TrainingResources) -> None:
    # GIVEN a run committed under another curated prefix of the bucket
    other = f"s3://{aws.data_bucket}/extractions/employees/"
    aws.put_run(committed())
    # WHEN the environment points elsewhere but the input names the prefix (without its trailing slash)
    settings = settings_for(aws, CURATED_URI=f"s3://{aws.data_bucket}/elsewhere/")
    out = prepare({"run_id": RUN_ID, "curated_uri": other.rstrip("/")}, settings, aws.s3).to_payload()
    # THEN the input's prefix is used, normalised to a folder
    assert out["train_uri"] == other


def test_accepts_the_raw_glue_job_state_change_event(aws: TrainingResources) -> None:
    # GIVEN a committed run and the Glue event that announced it
    aws.put_run(committed())
    # WHEN the event reaches prepare untransformed
    out = prepare(fixture_json("events/glue_job_succeeded.json"), settings_for(aws), aws.s3).to_payload()
    # THEN its jobRunId is the run id
    assert out["run_id"] == RUN_ID


def test_a_failed_glue_event_is_an_invalid_request(aws: TrainingResources) -> None:
    # GIVEN the event of a failed Glue run
    event = fixture_json("events/glue_job_succeeded.json")
    event["detail"]["state"] = "FAILED"
    # WHEN prepare receives it
    # THEN it refuses it by name
    with pytest.raises(InvalidRequest, match="ended FAILED"):
        prepare(event, settings_for(aws), aws.s3)


@pytest.mark.parametrize(
    "event",
    [{}, {"run_id": ""}, {"run_id": 42}, {"run_id": "../etc/passwd"}, {"run_id": "a b"}, ["run_id"]],
    ids=["missing", "empty", "number", "path", "space", "not-an-object"],
)
def test_bad_run_ids_are_invalid_requests(aws: TrainingResources, event: Any) -> None:
    # GIVEN a malformed input
    # WHEN prepare runs
    # THEN InvalidRequest explains the expected shape
    with pytest.raises(InvalidRequest, match="must be"):
        prepare(event, settings_for(aws), aws.s3)


def test_a_non_s3_curated_uri_override_is_an_invalid_request(aws: TrainingResources) -> None:
    with pytest.raises(InvalidRequest, match="curated_uri"):
        prepare({"run_id": RUN_ID, "curated_uri": "/local/path"}, settings_for(aws), aws.s3)


# --- manifest validation ------------------------------------------------------------------------------------------


def test_corrupt_manifest_is_invalid_manifest(aws: TrainingResources) -> None:
    # GIVEN a truncated manifest for the run
    aws.put_manifest(fixture_bytes("manifests/truncated.json"), "2025-03-14", RUN_ID)
    # WHEN prepare runs
    # THEN InvalidManifest names the object and the JSON error
    with pytest.raises(InvalidManifest, match=rf"{RUN_ID}\.json is not valid JSON"):
        prepare({"run_id": RUN_ID}, settings_for(aws), aws.s3)


def test_corrupt_latest_json_is_invalid_manifest(aws: TrainingResources) -> None:
    aws.put_manifest(fixture_bytes("manifests/truncated.json"), "2025-03-14", RUN_ID, latest=True)
    with pytest.raises(InvalidManifest, match=r"latest\.json is not valid JSON"):
        prepare({"run_id": "latest"}, settings_for(aws), aws.s3)


def test_manifest_missing_keys_lists_every_problem(aws: TrainingResources) -> None:
    # GIVEN a manifest without rows_written and output_schema
    aws.put_manifest(fixture_bytes("manifests/missing_keys.json"), "2025-03-14", RUN_ID)
    # WHEN prepare runs
    # THEN one InvalidManifest names both keys
    with pytest.raises(InvalidManifest, match=r"rows_written.*output_schema"):
        prepare({"run_id": RUN_ID}, settings_for(aws), aws.s3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rows_written": -1}, "rows_written"),
        ({"rows_written": True}, "rows_written"),
        ({"rows_written": "1180"}, "rows_written"),
        ({"run_date": "14/03/2025"}, "run_date"),
        ({"output_schema": ["matricula"]}, "output_schema"),
        ({"label_column": 3}, "label_column"),
    ],
)
def test_ill_typed_manifest_values_are_invalid_manifest(
    aws: TrainingResources, change: dict[str, Any], message: str
) -> None:
    aws.put_manifest(committed() | change, "2025-03-14", RUN_ID)
    with pytest.raises(InvalidManifest, match=message):
        prepare({"run_id": RUN_ID}, settings_for(aws), aws.s3)


def test_a_manifest_that_is_not_an_object_is_invalid(aws: TrainingResources) -> None:
    aws.put_manifest(b"[1, 2, 3]", "2025-03-14", RUN_ID)
    with pytest.raises(InvalidManifest, match="JSON object"):
        prepare({"run_id": RUN_ID}, settings_for(aws), aws.s3)


def test_manifest_named_for_another_run_is_invalid(aws: TrainingResources) -> None:
    # GIVEN the file of run A holding the manifest of run B
    aws.put_manifest(committed(), "2025-03-14", "jr_aaaaaaaaaaaa")
    # WHEN prepare asks for run A
    # THEN the mismatch is an InvalidManifest
    with pytest.raises(InvalidManifest, match="holds run_id"):
        prepare({"run_id": "jr_aaaaaaaaaaaa"}, settings_for(aws), aws.s3)


def test_label_outside_the_output_schema_is_invalid(aws: TrainingResources) -> None:
    aws.put_manifest(fixture_bytes("manifests/unknown_label.json"), "2025-03-14", RUN_ID)
    with pytest.raises(InvalidManifest, match="'churned' is not among the output_schema"):
        prepare({"run_id": RUN_ID}, settings_for(aws), aws.s3)


def test_unlabelled_spec_gives_a_null_target(aws: TrainingResources) -> None:
    # GIVEN a run of a spec without a label
    aws.put_run(fixture_json("manifests/unlabelled_run.json"))
    # WHEN prepare runs
    out = prepare({"run_id": RUN_ID}, settings_for(aws), aws.s3).to_payload()
    # THEN target is null (the state machine falls back to its configured hyperparameter)
    assert out["target"] is None


# --- training data ------------------------------------------------------------------------------------------------


def test_zero_row_run_with_no_earlier_data_is_no_training_data(aws: TrainingResources) -> None:
    # GIVEN only a run that wrote nothing
    aws.put_run(fixture_json("manifests/zero_rows_run.json"))
    # WHEN prepare runs for it
    # THEN NoTrainingData explains there is nothing to train on
    with pytest.raises(NoTrainingData, match="wrote 0 rows"):
        prepare({"run_id": ZERO_ROWS_RUN_ID}, settings_for(aws), aws.s3)


def test_zero_row_run_with_earlier_data_trains_on_the_history(aws: TrainingResources) -> None:
    # GIVEN an earlier run with rows, a corrupt old manifest, and a later run that wrote nothing
    aws.put_run(committed())
    aws.put_manifest(fixture_bytes("manifests/truncated.json"), "2025-03-01", "jr_corrupt00000")
    aws.put_run(fixture_json("manifests/zero_rows_run.json"))
    # WHEN prepare runs for the empty run
    out = prepare({"run_id": ZERO_ROWS_RUN_ID}, settings_for(aws), aws.s3).to_payload()
    # THEN it proceeds on all curated data and reports 0 new rows
    assert out["rows"] == 0
    assert out["run_id"] == ZERO_ROWS_RUN_ID
    assert out["train_uri"] == aws.curated_uri


def test_history_of_only_empty_runs_is_no_training_data(aws: TrainingResources) -> None:
    aws.put_run(earlier_run("jr_000000000001", "2025-03-13", 0))
    aws.put_run(fixture_json("manifests/zero_rows_run.json"))
    with pytest.raises(NoTrainingData):
        prepare({"run_id": "latest"}, settings_for(aws), aws.s3)


# --- job names ----------------------------------------------------------------------------------------------------


def test_job_name_shape() -> None:
    # GIVEN a fixed moment
    moment = datetime(2025, 3, 14, 2, 7, 0, tzinfo=UTC)
    # WHEN a job name is made
    name = new_job_name("esteira-dev", moment)
    # THEN it is <prefix>-<yyyymmdd-HHMMSS>-<6 hex>, a valid SageMaker job name
    assert JOB_NAME.match(name)
    assert name.startswith("esteira-dev-20250314-020700-")
    assert SAGEMAKER_JOB_NAME.match(name)


def test_job_names_are_unique_within_one_second() -> None:
    moment = datetime(2025, 3, 14, 2, 7, 0, tzinfo=UTC)
    names = {new_job_name("esteira-dev", moment) for _ in range(200)}
    assert len(names) > 195  # 24 random bits: collisions in 200 draws are ~0.1% likely


def test_the_longest_allowed_prefix_fits_63_characters() -> None:
    prefix = "p" * MAX_JOB_NAME_PREFIX_LENGTH
    name = new_job_name(prefix)
    assert len(name) == 63
    assert SAGEMAKER_JOB_NAME.match(name)


def test_tuning_job_name_fits_32_characters_and_matches_the_training_job(aws: TrainingResources) -> None:
    # GIVEN one committed run and a fixed moment
    aws.put_run(committed())
    moment = datetime(2025, 3, 14, 2, 7, 0, tzinfo=UTC)
    # WHEN prepare runs
    out = prepare({"run_id": RUN_ID}, settings_for(aws), aws.s3, now=moment).to_payload()
    # THEN the tuning job name has the same prefix (the IAM resource pattern), minute and first hex digits
    tuning, training = out["tuning_job_name"], out["training_job_name"]
    assert re.fullmatch(r"esteira-dev-2503140207-[0-9a-f]{4}", tuning)
    assert tuning[-4:] == training[-6:-2]
    assert len(tuning) <= 32


def test_tuning_job_name_is_null_when_the_prefix_is_too_long() -> None:
    moment = datetime(2025, 3, 14, 2, 7, 0, tzinfo=UTC)
    assert tuning_job_name("p" * 16, moment, "abcdef") == "p" * 16 + "-2503140207-abcd"
    assert tuning_job_name("p" * 17, moment, "abcdef") is None


# --- handler ------------------------------------------------------------------------------------------------------


def test_handler_end_to_end(aws: TrainingResources, set_env: SetEnv) -> None:
    # GIVEN a committed run and the Lambda's environment
    aws.put_run(committed())
    set_env(aws.prepare_env())
    # WHEN the deployed handler is invoked with a Lambda context
    out = handler(fixture_json("events/prepare_run.json"), lambda_context())
    # THEN it returns the contract output
    assert set(out) == OUTPUT_KEYS
    assert JOB_NAME.match(out["training_job_name"])
    assert out["rows"] == 1180


def test_handler_without_configuration_is_a_settings_error(aws: TrainingResources, set_env: SetEnv) -> None:
    set_env(aws.prepare_env(CURATED_URI=""))
    with pytest.raises(SettingsError, match="CURATED_URI is required"):
        handler({"run_id": RUN_ID}, lambda_context())
