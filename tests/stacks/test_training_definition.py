"""The training state machine's definition, built from explicit inputs in a bare Stack: its order, failures, gate,
retries, dataset step and baselining job (its typed result paths: test_training_paths.py)."""

from collections.abc import Callable
from typing import Any

import pytest

from stacks.constructs.training_jobs import SAGEMAKER_TRANSIENT_ERRORS, TrainingNetwork
from stacks.constructs.training_paths import TuningResult, path
from tests.stacks.training_definition_builder import (
    ANALYZER,
    BASELINE_ROLE,
    KEY,
    LAMBDA_RESULTS,
    TRAINING,
    TUNING,
    build,
)


@pytest.fixture(scope="module")
def trained() -> dict[str, Any]:
    return build(TRAINING)


@pytest.fixture(scope="module")
def tuned() -> dict[str, Any]:
    return build(TRAINING | {"tuning": TUNING})


def walk(definition: dict[str, Any], start: str, choose: Callable[[dict[str, Any]], str | None]) -> list[str]:
    """The state names from ``start``, following Next (and ``choose`` at a Choice) to the end."""
    states, visited = definition["States"], []
    name: str | None = start
    while name is not None:
        visited.append(name)
        state = states[name]
        name = choose(state) if state["Type"] == "Choice" else state.get("Next")
    return visited


def default(state: dict[str, Any]) -> str | None:
    return str(state["Default"])


def first_choice(state: dict[str, Any]) -> str | None:
    return str(state["Choices"][0]["Next"])


def new_data_then_pass(state: dict[str, Any]) -> str | None:
    """At NewData and DatasetStatus: there is data (the default); at Champion: there is none (the first choice);
    at Gate: the evaluation passed (the first choice)."""
    first = state["Choices"][0]
    return first_choice(state) if "BooleanEquals" in first or "IsNull" in first else default(state)


DATA_STATES = ["Dataset", "ReadDatasetManifest", "DatasetStatus", "Champion"]


# --- order --------------------------------------------------------------------------------------------------------


def test_states_run_in_order_for_a_training_job(trained: dict[str, Any]) -> None:
    # GIVEN the definition of an environment without tuning
    # WHEN it is followed from its start
    # THEN new data trains, evaluates and registers on a pass, is rejected on a fail, and no data ends early
    assert trained["StartAt"] == "Prepare"
    assert walk(trained, "Prepare", first_choice) == ["Prepare", "NewData", "NothingNew"]
    passed = [
        "Prepare",
        "NewData",
        *DATA_STATES,
        "Channels",
        "Train",
        "Evaluate",
        "Gate",
        "Baseline",
        "Register",
        "NotifyRegistered",
        "Registered",
    ]
    assert walk(trained, "Prepare", new_data_then_pass) == passed
    assert walk(trained, "Dataset", first_choice)[-2:] == ["DatasetStatus", "NoNewData"]
    assert walk(trained, "Champion", default)[:3] == ["Champion", "ChannelsWithChampion", "Train"]
    assert walk(trained, "Train", default) == ["Train", "Evaluate", "Gate", "NotifyRejected", "GateRejected"]
    assert trained["States"]["NewData"]["Default"] == "Dataset"
    assert set(trained["States"]) == {
        *passed,
        "ChannelsWithChampion",
        "NoNewData",
        "NothingNew",
        "NotifyRejected",
        "GateRejected",
        "StopTrainingJob",
        "StopBaselineJob",
        "NotifyFailure",
        "Failed",
    }


def test_tuning_carries_the_best_training_job_on(tuned: dict[str, Any]) -> None:
    states = tuned["States"]
    assert "Train" not in states and "StopTrainingJob" not in states
    assert states["Channels"]["Next"] == states["ChannelsWithChampion"]["Next"] == "Tune"
    assert walk(tuned, "Tune", default) == [
        "Tune",
        "DescribeBestTrainingJob",
        "Evaluate",
        "Gate",
        "NotifyRejected",
        "GateRejected",
    ]
    assert states["DescribeBestTrainingJob"]["Parameters"] == {
        "TrainingJobName.$": path(TuningResult, "best_training_job_name")
    }
    ranges = states["Tune"]["Parameters"]["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert ranges["IntegerParameterRanges"] == [
        {"Name": "max_depth", "MinValue": "3", "MaxValue": "9", "ScalingType": "Auto"}
    ]
    assert set(ranges) == {"ContinuousParameterRanges", "IntegerParameterRanges"}, "empty range lists are left out"
    static = states["Tune"]["Parameters"]["TrainingJobDefinition"]["StaticHyperParameters"]
    assert static == {"target": "churned"}, "tuned hyperparameters are not static"


# --- failures -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["trained", "tuned"])
def test_every_task_is_caught_into_the_notified_failure(variant: str, request: pytest.FixtureRequest) -> None:
    # GIVEN either variant of the definition
    states = request.getfixturevalue(variant)["States"]
    # WHEN any task fails
    # THEN its Catch of States.ALL leads to NotifyFailure (a Stop call keeps the error that made the job stop)
    tasks = [name for name, state in states.items() if state["Type"] == "Task" and name != "NotifyFailure"]
    fit = ["Tune", "StopTuningJob", "DescribeBestTrainingJob"] if variant == "tuned" else ["Train", "StopTrainingJob"]
    assert set(tasks) == {
        "Prepare",
        "Dataset",
        "ReadDatasetManifest",
        *fit,
        "Evaluate",
        "Baseline",
        "StopBaselineJob",
        "Register",
        "NotifyRegistered",
        "NotifyRejected",
    }
    for name in tasks:
        catch_all = [c for c in states[name]["Catch"] if c["ErrorEquals"] == ["States.ALL"]]
        assert [c["Next"] for c in catch_all] == ["NotifyFailure"], name
        expected = "$.stop_error" if name.startswith("Stop") else "$.error"
        assert catch_all[0]["ResultPath"] == expected, name
    assert "Catch" not in states["NotifyFailure"]
    assert states["NotifyFailure"]["Next"] == "Failed"
    assert states["Failed"] == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}


@pytest.mark.parametrize(
    ("variant", "fit", "stop"),
    [
        ("trained", "Train", "StopTrainingJob"),
        ("tuned", "Tune", "StopTuningJob"),
        ("trained", "Baseline", "StopBaselineJob"),
    ],
)
def test_a_timed_out_job_is_stopped_before_the_failure(
    variant: str, fit: str, stop: str, request: pytest.FixtureRequest
) -> None:
    states = request.getfixturevalue(variant)["States"]
    catches = states[fit]["Catch"]
    assert catches[0] == {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": stop}
    assert catches[1]["ErrorEquals"] == ["States.ALL"], "the timeout is matched before the catch-all"
    assert states[stop]["Next"] == "NotifyFailure"


# --- the gate and retries -----------------------------------------------------------------------------------------


def test_the_gate_chooses_register_only_when_the_evaluation_passed(trained: dict[str, Any]) -> None:
    gate = trained["States"]["Gate"]
    assert gate["Choices"] == [{"Variable": "$.evaluation.passed", "BooleanEquals": True, "Next": "Baseline"}]
    assert gate["Default"] == "NotifyRejected"
    # A rejection is an outcome, not a failure: the execution succeeds with the reason in its output
    assert trained["States"]["GateRejected"] == {
        "Type": "Pass",
        "Comment": "The gate rejected the model: an outcome, not a failure (its own metric counts it)",
        "Parameters": {
            "outcome": "gate_rejected",
            "reason.$": "$.evaluation.reason",
            "metric.$": "$.evaluation.metric_name",
            "value.$": "$.evaluation.metric_value",
            "training_job_name.$": "$.training.training_job_name",
        },
        "End": True,
    }
    new_data = trained["States"]["NewData"]
    assert new_data["Choices"] == [{"Variable": "$.prepare.rows", "NumericEquals": 0, "Next": "NothingNew"}]


@pytest.mark.parametrize(("variant", "fit"), [("trained", "Train"), ("tuned", "Tune")])
def test_sagemaker_steps_retry_transient_errors_and_lambdas_their_service_errors(
    variant: str, fit: str, request: pytest.FixtureRequest
) -> None:
    states = request.getfixturevalue(variant)["States"]
    assert states[fit]["Retry"] == [
        {"ErrorEquals": SAGEMAKER_TRANSIENT_ERRORS, "IntervalSeconds": 30, "MaxAttempts": 3, "BackoffRate": 2}
    ]
    assert states["Register"]["Retry"] == [
        {"ErrorEquals": SAGEMAKER_TRANSIENT_ERRORS, "IntervalSeconds": 5, "MaxAttempts": 4, "BackoffRate": 2}
    ]
    for name in LAMBDA_RESULTS:
        (retry,) = states[name]["Retry"]
        assert "Lambda.ServiceException" in retry["ErrorEquals"], name
    assert "Retry" not in states["NotifyFailure"]


def test_register_records_the_approval_metrics_and_lineage(trained: dict[str, Any]) -> None:
    parameters = trained["States"]["Register"]["Parameters"]
    assert parameters["ModelPackageGroupName"] == "esteira-test-model"
    assert parameters["ModelApprovalStatus"] == "PendingManualApproval"
    assert parameters["CustomerMetadataProperties.$"] == "$.evaluation.customer_metadata"
    lineage = trained["States"]["Evaluate"]["Parameters"]["lineage"]
    assert lineage == {
        "execution.$": "$$.Execution.Id",
        "git_commit": "0123456789ab",
        "dataset.$": "$.prepare.dataset_uri",
        "spec.$": "$.dataset_manifest.manifest.spec_name",
        "feature_schema.$": "States.Hash(States.JsonToString($.dataset_manifest.manifest.features), 'SHA-256')",
    }


def test_tuning_with_a_prefix_too_long_for_tuning_job_names_fails_at_synth() -> None:
    # GIVEN tuning, and an environment whose job name prefix leaves no room in a 32-character tuning job name
    # WHEN the definition is built
    # THEN synth fails naming the config keys, instead of every execution failing on a null tuning job name
    with pytest.raises(ValueError, match=r"training\.tuning: the job name prefix 'esteira-production'.*shorten 'name'"):
        build(TRAINING | {"tuning": TUNING}, job_name_prefix="esteira-production")
    assert "Tune" in build(TRAINING | {"tuning": TUNING}, job_name_prefix="esteira-sixteen1")["States"]


# --- the dataset step and the channels ----------------------------------------------------------------------------


def test_the_dataset_job_runs_synchronously_for_the_run_prepare_named(trained: dict[str, Any]) -> None:
    dataset = trained["States"]["Dataset"]
    assert dataset["Resource"].endswith(":states:::glue:startJobRun.sync")
    assert dataset["Parameters"] == {
        "JobName": "esteira-test-dataset",
        "Arguments": {
            "--run_id.$": "$.prepare.dataset_run_id",
            "--datasets_uri.$": "$.prepare.datasets_uri",
            "--batch_input_uri.$": "$.prepare.batch_input_uri",
        },
    }
    read = trained["States"]["ReadDatasetManifest"]
    assert read["Resource"].endswith(":states:::aws-sdk:s3:getObject")
    assert read["Parameters"] == {
        "Bucket.$": "$.prepare.dataset_manifest_bucket",
        "Key.$": "$.prepare.dataset_manifest_key",
    }
    status = trained["States"]["DatasetStatus"]
    assert status["Choices"] == [
        {"Variable": "$.dataset_manifest.manifest.status", "StringEquals": "no_new_data", "Next": "NoNewData"}
    ]


@pytest.mark.parametrize("variant", ["trained", "tuned"])
def test_the_job_gets_the_dataset_runs_channels_and_the_champion_when_there_is_one(
    variant: str, request: pytest.FixtureRequest
) -> None:
    states = request.getfixturevalue(variant)["States"]

    def channels(state: str) -> dict[str, str]:
        config = states[state]["Parameters"]["input_data_config"]
        return {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri.$"] for c in config}

    data = {
        "train": "$.prepare.train_channel_uri",
        "validation": "$.prepare.validation_channel_uri",
        "holdout": "$.prepare.holdout_channel_uri",
    }
    assert channels("Channels") == data
    assert channels("ChannelsWithChampion") == data | {"champion": "$.prepare.champion_model_uri"}
    assert states["Champion"]["Choices"] == [
        {"Variable": "$.prepare.champion_model_uri", "IsNull": True, "Next": "Channels"}
    ]
    fit = (
        states["Train"]["Parameters"] if variant == "trained" else states["Tune"]["Parameters"]["TrainingJobDefinition"]
    )
    assert fit["InputDataConfig.$"] == "$.channels.input_data_config"


def test_registered_packages_score_the_runs_batch_input_when_a_launcher_is_given() -> None:
    states = build(TRAINING, launcher=True)["States"]
    assert states["Baseline"]["Next"] == "Register"
    assert states["Register"]["Next"] == "ScoreBatch"
    score = states["ScoreBatch"]
    assert score["Parameters"]["InvocationType"] == "Event"
    assert score["Parameters"]["Payload"] == {
        "input_run_id.$": "$.prepare.dataset_run_id",
        "model_package_arn.$": "$.registration.model_package_arn",
    }
    assert score["Next"] == "NotifyRegistered"


# --- the baselining job -------------------------------------------------------------------------------------------


def test_the_baselining_job_runs_the_analyzer_on_the_runs_baseline_csv(trained: dict[str, Any]) -> None:
    # GIVEN the definition; WHEN the gate passes, the Baseline step runs before Register
    baseline = trained["States"]["Baseline"]
    assert baseline["Resource"] == "arn:<ref>:states:::sagemaker:createProcessingJob.sync"
    assert baseline["Next"] == "Register"
    parameters = baseline["Parameters"]
    # THEN it is the region's analyzer image under the baselining role, named like the run's training job
    assert parameters["AppSpecification"] == {"ImageUri": ANALYZER}
    assert parameters["RoleArn"] == BASELINE_ROLE
    assert parameters["ProcessingJobName.$"] == "$.prepare.training_job_name"
    # AND the environment is what DefaultModelMonitor.suggest_baseline sets for a headerless CSV
    assert parameters["Environment"] == {
        "dataset_format": '{"csv": {"header": false, "output_columns_position": "START"}}',
        "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
        "output_path": "/opt/ml/processing/output",
        "publish_cloudwatch_metrics": "Disabled",
    }
    # AND it reads the dataset run's baseline/ prefix and writes the run's monitoring/baselines/ folder, KMS-encrypted
    (job_input,) = parameters["ProcessingInputs"]
    assert job_input["InputName"] == "baseline_dataset_input"
    assert job_input["S3Input"]["S3Uri.$"] == "$.prepare.baseline_input_uri"
    assert job_input["S3Input"]["LocalPath"] == "/opt/ml/processing/input/baseline_dataset_input"
    assert job_input["S3Input"]["S3DataType"] == "S3Prefix"
    (output,) = parameters["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"] == {
        "S3Uri.$": "$.prepare.baseline_uri",
        "LocalPath": "/opt/ml/processing/output",
        "S3UploadMode": "EndOfJob",
    }
    assert parameters["ProcessingOutputConfig"]["KmsKeyId"] == KEY
    assert parameters["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY
    assert parameters["NetworkConfig"] == {
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
    }
    assert baseline["ResultSelector"] == {"processing_job_arn.$": "$.ProcessingJobArn"}
    assert baseline["ResultPath"] == "$.baseline"
    assert baseline["Retry"][0]["ErrorEquals"] == SAGEMAKER_TRANSIENT_ERRORS


def test_in_a_vpc_the_baselining_job_runs_in_the_training_subnets() -> None:
    network = TrainingNetwork(subnet_ids=["subnet-a", "subnet-b"], security_group_ids=["sg-1"])
    parameters = build(TRAINING, network=network)["States"]["Baseline"]["Parameters"]
    assert parameters["NetworkConfig"]["VpcConfig"] == {
        "Subnets": ["subnet-a", "subnet-b"],
        "SecurityGroupIds": ["sg-1"],
    }
    assert parameters["NetworkConfig"]["EnableNetworkIsolation"] is True


def test_register_attaches_the_runs_data_quality_baseline(trained: dict[str, Any]) -> None:
    drift = trained["States"]["Register"]["Parameters"]["DriftCheckBaselines"]
    assert drift == {
        "ModelDataQuality": {
            "Constraints": {"ContentType": "application/json", "S3Uri.$": "$.prepare.baseline_constraints_uri"},
            "Statistics": {"ContentType": "application/json", "S3Uri.$": "$.prepare.baseline_statistics_uri"},
        }
    }
    # AND the rest of the package is as before: the evaluation is its model quality statistics
    assert trained["States"]["Register"]["Parameters"]["ModelMetrics"]["ModelQuality"]["Statistics"] == {
        "ContentType": "application/json",
        "S3Uri.$": "$.evaluation.evaluation_uri",
    }
