"""The training state machine's definition, built from explicit inputs in a bare Stack, and its typed result paths."""

import json
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Template

from esteira_contracts.training import EvaluateResult, PrepareResult, field_names
from stacks.config import TrainingConfig
from stacks.constructs.training_baseline import BaselineJobInputs
from stacks.constructs.training_definition import TrainingDefinitionInputs, build_training_definition
from stacks.constructs.training_jobs import SAGEMAKER_TRANSIENT_ERRORS, TrainingJobInputs, TrainingNetwork
from stacks.constructs.training_paths import (
    BaselineJobResult,
    DatasetJobResult,
    DatasetManifest,
    RegistrationResult,
    TrainingChannels,
    TrainingJobResult,
    TuningResult,
    path,
    result_path,
    selector,
)
from tests.stacks.conftest import ENVS, SynthesizedEnv

ACCOUNT, REGION = "123456789012", "eu-west-1"
# The state that produces each result: the Lambdas' results are the contracts', the others the definition's own.
LAMBDA_RESULTS: dict[str, type[Any]] = {"Prepare": PrepareResult, "Evaluate": EvaluateResult}
SELECTED_RESULTS: dict[str, type[Any]] = {
    "Train": TrainingJobResult,
    "DescribeBestTrainingJob": TrainingJobResult,
    "Tune": TuningResult,
    "Register": RegistrationResult,
    "Baseline": BaselineJobResult,
    "Dataset": DatasetJobResult,
    "ReadDatasetManifest": DatasetManifest,
}
# Pass states that write a result of the definition's own.
PASS_RESULTS: dict[str, type[Any]] = {"Channels": TrainingChannels, "ChannelsWithChampion": TrainingChannels}
# Keys whose value is a path the state reads from the execution's state (ResultPath writes; ResultSelector reads
# the task's response, not the state).
READING_KEYS = frozenset({"Variable", "InputPath", "OutputPath", "ErrorPath", "CausePath", "ItemsPath"})
TRAINING = {
    "image_tag": "1.4.0",
    "hyperparameters": {"target": "churned", "max_depth": 6, "eta": 0.2},
    "approval": "PendingManualApproval",
}
TUNING = {
    "max_jobs": 4,
    "max_parallel_jobs": 2,
    "ranges": {
        "eta": {"type": "continuous", "min": 0.01, "max": 0.3},
        "max_depth": {"type": "integer", "min": 3, "max": 9},
    },
}


ANALYZER = f"468650794304.dkr.ecr.{REGION}.amazonaws.com/sagemaker-model-monitor-analyzer"
BASELINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/baseline"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0000"


def build(
    training: dict[str, Any],
    job_name_prefix: str = "esteira-test",
    launcher: bool = False,
    network: TrainingNetwork | None = None,
) -> dict[str, Any]:
    """The ASL of the definition built in a bare Stack, CloudFormation intrinsics rendered as ``<ref>``."""
    stack = Stack(App(), "Bare", env=Environment(account=ACCOUNT, region=REGION))
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:esteira-test-train-"
    inputs = TrainingDefinitionInputs(
        job=TrainingJobInputs(
            env_name="test",
            training=TrainingConfig.model_validate(training),
            image=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/esteira-model:1.4.0",
            training_role_arn=f"arn:aws:iam::{ACCOUNT}:role/training",
            key_arn=KEY,
            network=None,
        ),
        baseline=BaselineJobInputs(
            env_name="test", image=ANALYZER, role_arn=BASELINE_ROLE, key_arn=KEY, network=network
        ),
        job_name_prefix=job_name_prefix,
        model_package_group_name="esteira-test-model",
        git_commit="0123456789ab",
        prepare=lambda_.Function.from_function_arn(stack, "Prepare Function", f"{function_arn}prepare"),
        evaluate=lambda_.Function.from_function_arn(stack, "Evaluate Function", f"{function_arn}evaluate"),
        alerts=sns.Topic.from_topic_arn(stack, "Alerts", f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"),
        dataset_job_name="esteira-test-dataset",
        datasets_objects_arn="arn:aws:s3:::artifacts/datasets/*",
        batch_launcher=(
            lambda_.Function.from_function_arn(stack, "Launcher", f"{function_arn}launcher") if launcher else None
        ),
    )
    chain = build_training_definition(stack, inputs)
    sfn.StateMachine(stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(chain))
    return asl(Template.from_stack(stack))


def asl(template: Template) -> dict[str, Any]:
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    document: dict[str, Any] = json.loads("".join(part if isinstance(part, str) else "<ref>" for part in parts))
    return document


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


def reads(node: Any, key: str = "") -> Iterator[str]:
    """Every JSONPath into the execution's state that ``node`` reads."""
    if isinstance(node, dict):
        for child_key, child in node.items():
            if child_key != "ResultSelector":
                yield from reads(child, child_key)
    elif isinstance(node, list):
        for child in node:
            yield from reads(child, key)
    elif isinstance(node, str) and node.startswith("$.") and (key.endswith(".$") or key in READING_KEYS):
        yield node


def unknown_fields(result: type[Any], field_path: str) -> list[str]:
    """The segments of ``field_path`` (``champion.arn``) that are no field of ``result`` or its nested dataclasses."""
    hints = typing.get_type_hints(result)
    head, _, rest = field_path.partition(".")
    if head not in field_names(result):
        return [field_path]
    nested = [arg for arg in typing.get_args(hints[head]) or [hints[head]] if isinstance(arg, type)]
    if rest and any(hasattr(arg, "__dataclass_fields__") for arg in nested):
        dataclass = next(arg for arg in nested if hasattr(arg, "__dataclass_fields__"))
        return unknown_fields(dataclass, rest)
    return []


def check_result_reads(definition: dict[str, Any]) -> dict[str, int]:
    """Asserts every read of a result names one of its fields; returns how many reads each result had."""
    states = definition["States"]
    producers = {
        name: cls for name, cls in (LAMBDA_RESULTS | SELECTED_RESULTS | PASS_RESULTS).items() if name in states
    }
    slots = {states[name]["ResultPath"]: cls for name, cls in producers.items()}
    all_reads = [read for state in states.values() for read in reads(state)]
    counts: dict[str, int] = {}
    for read in all_reads:
        slot = next((s for s in slots if read.startswith(f"{s}.")), None)
        if slot is None:
            # Not a result: the execution's input or the error a Catch left.
            assert read == "$.run_id" or read.startswith(("$.error.", "$.stop_error.")), read
            continue
        result = slots[slot]
        assert unknown_fields(result, read.removeprefix(f"{slot}.")) == [], f"{read} is no field of {result.__name__}"
        counts[result.__name__] = counts.get(result.__name__, 0) + 1
    for name, cls in SELECTED_RESULTS.items():
        if name in states:
            assert [key.removesuffix(".$") for key in states[name]["ResultSelector"]] == list(field_names(cls)), name
    return counts


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


# --- typed result paths -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["trained", "tuned"])
def test_every_read_of_a_result_names_a_field_of_its_class(variant: str, request: pytest.FixtureRequest) -> None:
    # GIVEN the definition; WHEN every JSONPath it reads from a step's result is collected
    counts = check_result_reads(request.getfixturevalue(variant))
    # THEN each names a field (the check above), and the check saw the reads it should have
    assert counts["PrepareResult"] >= 6
    assert counts["EvaluateResult"] >= 6
    assert counts["TrainingJobResult"] >= 5


@pytest.mark.parametrize("env", ENVS)
def test_every_read_of_a_result_in_the_synthesized_definitions_names_a_field(
    synth: Callable[[str], SynthesizedEnv], env: str
) -> None:
    counts = check_result_reads(asl(synth(env).templates["Training"]))
    assert counts["PrepareResult"] >= 6 and counts["EvaluateResult"] >= 6


def test_lambda_results_live_where_their_states_put_them(trained: dict[str, Any]) -> None:
    for name, result in LAMBDA_RESULTS.items():
        assert trained["States"][name]["ResultPath"] == result_path(result)


def test_a_path_to_a_missing_field_fails_at_synth() -> None:
    assert path(PrepareResult, "train_uri") == "$.prepare.train_uri"
    with pytest.raises(ValueError, match="PrepareResult has no field 'train_url'"):
        path(PrepareResult, "train_url")
    with pytest.raises(ValueError, match="RegistrationResult selector needs exactly model_package_arn"):
        selector(RegistrationResult, {"arn": "$.ModelPackageArn"})


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
