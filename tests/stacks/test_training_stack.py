"""Training: the state machine's definition, its trigger, the registry, and least-privilege roles."""

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from esteira_contracts import layout
from esteira_model.metrics import METRIC_DEFINITIONS
from stacks import names
from stacks.config import HyperparameterValue
from stacks.constructs.dataset_job import drop_columns
from tests.stacks.conftest import ENVS, SynthesizedEnv

Synth = Callable[[str], SynthesizedEnv]


def training(synthesized: SynthesizedEnv) -> Template:
    return synthesized.templates["Training"]


def definition(template: Template) -> dict[str, Any]:
    """The state machine's ASL, with CloudFormation intrinsics rendered as placeholders."""
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    rendered = "".join(part if isinstance(part, str) else "<ref>" for part in parts)
    document: dict[str, Any] = json.loads(rendered)
    return document


def test_stack_metric_definitions_are_the_containers() -> None:
    # The container's own tests match these regexes against real `train` output.
    assert [dict(d) for d in names.TRAINING_METRIC_DEFINITIONS] == METRIC_DEFINITIONS


@pytest.mark.parametrize("env", ENVS)
def test_state_machine_is_standard_logged_traced_and_encrypted(synth: Synth, env: str) -> None:
    training(synth(env)).has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": f"esteira-{env}-training",
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
            "EncryptionConfiguration": Match.object_like({"Type": "CUSTOMER_MANAGED_KMS_KEY"}),
        },
    )
    training(synth(env)).has_resource_properties(
        "AWS::Logs::LogGroup",
        {"LogGroupName": f"/aws/vendedlogs/states/esteira-{env}-training", "KmsKeyId": Match.any_value()},
    )


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_train_state_runs_spot_with_checkpoints_metrics_and_kms(synth: Synth, env: str) -> None:
    synthesized = synth(env)
    config = synthesized.config.training
    train = definition(training(synthesized))["States"]["Train"]
    assert train["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    parameters = train["Parameters"]
    assert parameters["TrainingJobName.$"] == "$.prepare.training_job_name"
    assert parameters["AlgorithmSpecification"]["MetricDefinitions"] == METRIC_DEFINITIONS
    assert parameters["AlgorithmSpecification"]["TrainingImage"].endswith(f":{config.image_tag}")
    assert parameters["EnableManagedSpotTraining"] is True
    assert parameters["StoppingCondition"] == {
        "MaxRuntimeInSeconds": config.max_runtime_minutes * 60,
        "MaxWaitTimeInSeconds": config.max_wait_minutes * 60,
    }
    assert parameters["CheckpointConfig"] == {"S3Uri.$": "$.prepare.checkpoint_uri", "LocalPath": "/opt/ml/checkpoints"}
    assert parameters["OutputDataConfig"]["KmsKeyId"] == "<ref>"
    assert parameters["ResourceConfig"]["VolumeKmsKeyId"] == "<ref>"
    assert parameters["EnableNetworkIsolation"] is True
    assert parameters["HyperParameters"]["target"] == "desligado_em_12_meses"
    assert all(isinstance(value, str) for value in parameters["HyperParameters"].values())
    assert ("VpcConfig" in parameters) is (env == "prod")


def test_staging_tunes_and_carries_the_best_job_on(synth: Synth) -> None:
    states = definition(training(synth("staging")))["States"]
    assert "Train" not in states
    tune = states["Tune"]
    assert tune["Resource"] == "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync"
    config = tune["Parameters"]["HyperParameterTuningJobConfig"]
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 9, "MaxParallelTrainingJobs": 3}
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:auc"}
    assert {r["Name"] for r in config["ParameterRanges"]["ContinuousParameterRanges"]} == {
        "eta",
        "min_child_weight",
        "subsample",
    }
    assert config["ParameterRanges"]["IntegerParameterRanges"] == [
        {"Name": "max_depth", "MinValue": "3", "MaxValue": "10", "ScalingType": "Auto"}
    ]
    static = tune["Parameters"]["TrainingJobDefinition"]["StaticHyperParameters"]
    assert "eta" not in static and static["target"] == "desligado_em_12_meses"
    assert tune["Next"] == "DescribeBestTrainingJob"
    assert states["DescribeBestTrainingJob"]["Parameters"] == {"TrainingJobName.$": "$.tuning.best_training_job_name"}


@pytest.mark.parametrize("env", ENVS)
def test_every_task_is_caught_into_a_notified_failure(synth: Synth, env: str) -> None:
    states = definition(training(synth(env)))["States"]
    tasks = [name for name, state in states.items() if state["Type"] == "Task" and name != "NotifyFailure"]
    assert len(tasks) >= 6
    for name in tasks:
        targets = {catch["Next"] for catch in states[name].get("Catch", [])}
        assert "NotifyFailure" in targets, name
    assert states["NotifyFailure"]["Next"] == "Failed"
    assert states["Failed"] == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
    fit = states.get("Train") or states["Tune"]
    timeout_catch = next(c for c in fit["Catch"] if c["ErrorEquals"] == ["States.Timeout"])
    assert timeout_catch["Next"] in {"StopTrainingJob", "StopTuningJob"}, "a timed-out job is stopped, not orphaned"
    assert fit["Retry"][0]["ErrorEquals"][0] == "SageMaker.AmazonSageMakerException"


@pytest.mark.parametrize(("env", "approval"), [("dev", "Approved"), ("staging", "PendingManualApproval")])
def test_gate_decides_and_register_carries_metrics_lineage_and_approval(synth: Synth, env: str, approval: str) -> None:
    states = definition(training(synth(env)))["States"]
    gate = states["Gate"]
    assert gate["Choices"] == [{"Variable": "$.evaluation.passed", "BooleanEquals": True, "Next": "Baseline"}]
    assert states["Baseline"]["Next"] == "Register", "a passed model is baselined, then registered"
    assert gate["Default"] == "NotifyRejected"
    assert states["NotifyRejected"]["Next"] == "GateRejected"
    assert states["GateRejected"]["Type"] == "Pass" and states["GateRejected"]["End"] is True
    assert not any(state["Type"] == "Fail" and state.get("Error") == "QualityGateFailed" for state in states.values())
    register = states["Register"]
    assert register["Resource"].endswith(":states:::aws-sdk:sagemaker:createModelPackage")
    parameters = register["Parameters"]
    assert parameters["ModelPackageGroupName"] == f"esteira-{env}-model"
    assert parameters["ModelApprovalStatus"] == approval
    assert parameters["CustomerMetadataProperties.$"] == "$.evaluation.customer_metadata"
    assert parameters["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri.$"] == "$.evaluation.evaluation_uri"
    quality = parameters["DriftCheckBaselines"]["ModelDataQuality"]
    assert quality["Constraints"]["S3Uri.$"] == "$.prepare.baseline_constraints_uri"
    assert quality["Statistics"]["S3Uri.$"] == "$.prepare.baseline_statistics_uri"
    evaluate = states["Evaluate"]["Parameters"]
    assert evaluate["lineage"]["execution.$"] == "$$.Execution.Id"


@pytest.mark.parametrize("env", ENVS)
def test_extraction_success_starts_training_with_the_run_id(synth: Synth, env: str) -> None:
    training(synth(env)).has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.glue"],
                "detail-type": ["Glue Job State Change"],
                "detail": {"jobName": [f"esteira-{env}-extract"], "state": ["SUCCEEDED"]},
            },
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Ref": Match.string_like_regexp("PipelineStateMachine")},
                        "InputTransformer": {
                            "InputPathsMap": {"detail-jobRunId": "$.detail.jobRunId"},
                            "InputTemplate": '{"run_id":<detail-jobRunId>,"source":"extraction"}',
                        },
                    }
                )
            ],
        },
    )


@pytest.mark.parametrize(("env", "deletion_policy"), [("dev", "Delete"), ("prod", "Retain")])
def test_model_package_group_is_retained_in_prod(synth: Synth, env: str, deletion_policy: str) -> None:
    training(synth(env)).has_resource(
        "AWS::SageMaker::ModelPackageGroup",
        {
            "Properties": Match.object_like({"ModelPackageGroupName": f"esteira-{env}-model"}),
            "DeletionPolicy": deletion_policy,
        },
    )


@pytest.mark.parametrize("env", ENVS)
def test_state_machine_may_only_touch_its_own_jobs_and_pass_only_the_training_role(synth: Synth, env: str) -> None:
    template = training(synth(env))
    account = synth(env).config.account
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": Match.array_with(
                                    ["sagemaker:CreateTrainingJob", "sagemaker:StopTrainingJob"]
                                ),
                                "Resource": f"arn:aws:sagemaker:eu-west-1:{account}:training-job/esteira-{env}-*",
                            }
                        ),
                        Match.object_like(
                            {
                                "Action": "iam:PassRole",
                                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
                            }
                        ),
                    ]
                )
            }
        },
    )


def write_statements(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The statements of a policy that put or delete S3 objects."""
    return [
        statement
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(str(action).startswith(("s3:Put", "s3:Delete")) for action in statement["Action"])
    ]


@pytest.mark.parametrize("env", ENVS)
def test_training_role_reads_only_datasets_and_models_and_writes_only_its_jobs_models_and_checkpoints(
    synth: Synth, env: str
) -> None:
    # GIVEN the training role's policy
    data = synth(env).templates["DataPlatform"]
    policies = data.find_resources("AWS::IAM::Policy")
    (policy,) = [p for logical_id, p in policies.items() if logical_id.startswith("TrainingRole")]
    resources = json.dumps(policy["Properties"]["PolicyDocument"])
    # THEN it reads the dataset runs (not the extraction) and any model (the champion's is a channel)
    assert f"/{names.DATASETS_PREFIX}*" in resources
    assert "Curated" not in resources, "training jobs read the dataset run, not the extraction"
    assert f'/{names.MODEL_ARTIFACTS_PREFIX}*"' in resources
    # AND it writes only under this env's job names: models (put, never delete) and checkpoints (rewritten, pruned)
    own_models = f"/{names.MODEL_ARTIFACTS_PREFIX}esteira-{env}-*"
    own_checkpoints = f"/{names.CHECKPOINTS_PREFIX}esteira-{env}-*"
    writes = write_statements(policy)
    assert writes
    for statement in writes:
        targets = json.dumps(statement["Resource"])
        assert "Curated" not in targets, "training never writes the extraction"
        assert f'/{names.MODEL_ARTIFACTS_PREFIX}*"' not in targets and f'/{names.CHECKPOINTS_PREFIX}*"' not in targets
        deletes = any(str(action).startswith("s3:Delete") for action in statement["Action"])
        assert (own_checkpoints in targets) if deletes else (own_models in targets or own_checkpoints in targets)
        if deletes:
            assert own_models not in targets, "training deletes no model artifact"


@pytest.mark.parametrize("env", ENVS)
def test_evaluate_writes_only_the_evaluation_of_this_envs_jobs(synth: Synth, env: str) -> None:
    policies = training(synth(env)).find_resources("AWS::IAM::Policy")
    (policy,) = [p for logical_id, p in policies.items() if logical_id.startswith("PipelineEvaluateFunctionRole")]
    writes = write_statements(policy)
    assert writes
    for statement in writes:
        targets = json.dumps(statement["Resource"])
        assert f"/{names.MODEL_ARTIFACTS_PREFIX}esteira-{env}-*/evaluation.json" in targets
        assert not any(str(action).startswith("s3:Delete") for action in statement["Action"])
        assert f'/{names.MODEL_ARTIFACTS_PREFIX}*"' not in targets


@pytest.mark.parametrize("env", ENVS)
def test_an_extraction_with_no_new_rows_trains_nothing(synth: Synth, env: str) -> None:
    states = definition(training(synth(env)))["States"]
    assert states["Prepare"]["Next"] == "NewData"
    choice = states["NewData"]
    assert choice["Choices"] == [{"Variable": "$.prepare.rows", "NumericEquals": 0, "Next": "NothingNew"}]
    assert choice["Default"] == "Dataset"
    assert states["NothingNew"] == {"Type": "Succeed"}


@pytest.mark.parametrize("env", ENVS)
def test_the_dataset_job_runs_before_training_and_feeds_train_and_validation(synth: Synth, env: str) -> None:
    template = training(synth(env))
    states = definition(template)["States"]
    # GIVEN the synthesized state machine WHEN read THEN a glue:startJobRun.sync step runs the dataset job
    dataset = states["Dataset"]
    assert dataset["Resource"].endswith(":states:::glue:startJobRun.sync")
    assert dataset["Parameters"]["Arguments"]["--run_id.$"] == "$.prepare.dataset_run_id"
    # AND training gets the dataset run's train and validation channels (and its holdout)
    for name in ("Channels", "ChannelsWithChampion"):
        channels = [c["ChannelName"] for c in states[name]["Parameters"]["input_data_config"]]
        assert channels[:3] == ["train", "validation", "holdout"], name
    fit = states.get("Train") or states["Tune"]
    parameters = fit["Parameters"].get("TrainingJobDefinition", fit["Parameters"])
    assert parameters["InputDataConfig.$"] == "$.channels.input_data_config"
    hyperparameters = parameters.get("HyperParameters") or parameters["StaticHyperParameters"]
    assert hyperparameters["id_column"] == "matricula", "the spec's primary key is no feature"
    # AND the dataset job is a Glue 5 job whose role writes only datasets/, batch-input/ and, for its quality
    # step, monitoring/model-quality/ and monitoring/ground-truth/ (put only: never a delete there)
    (job,) = template.find_resources("AWS::Glue::Job").values()
    assert job["Properties"]["GlueVersion"] == "5.0"
    assert "--run_id" not in job["Properties"]["DefaultArguments"], "each run names its own"
    assert job["Properties"]["DefaultArguments"]["--train_fraction"] == "0.7"
    policies = template.find_resources("AWS::IAM::Policy")
    (policy,) = [p for logical_id, p in policies.items() if logical_id.startswith("DatasetJobRole")]
    monitoring = (f"/{layout.MODEL_QUALITY_PREFIX}*", f"/{layout.GROUND_TRUTH_PREFIX}*")
    written_monitoring = set()
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        if any(str(a).startswith(("s3:Put", "s3:Delete")) for a in statement["Action"]):
            written = json.dumps(statement["Resource"])
            if any(prefix in written for prefix in monitoring):
                written_monitoring |= {prefix for prefix in monitoring if prefix in written}
                assert not any(str(a).startswith("s3:Delete") for a in statement["Action"]), written
                continue
            assert f"/{names.DATASETS_PREFIX}*" in written or f"/{names.BATCH_INPUT_PREFIX}*" in written, written
    assert written_monitoring == set(monitoring)


@pytest.mark.parametrize("env", ENVS)
def test_the_dataset_job_judges_the_transform_runs_predictions_and_writes_the_quality_report(
    synth: Synth, env: str
) -> None:
    # GIVEN the dataset job's default arguments (every run's, the state machine's Dataset step included)
    template = training(synth(env))
    (job,) = template.find_resources("AWS::Glue::Job").values()
    arguments = json.dumps(job["Properties"]["DefaultArguments"])
    # THEN its quality step reads batch-output/ of the predictions bucket and writes the two monitoring prefixes
    for name, prefix in (
        ("--predictions_uri", layout.BATCH_OUTPUT_PREFIX),
        ("--quality_uri", layout.MODEL_QUALITY_PREFIX),
        ("--ground_truth_uri", layout.GROUND_TRUTH_PREFIX),
    ):
        assert name in job["Properties"]["DefaultArguments"], name
        assert f"/{prefix}" in json.dumps(job["Properties"]["DefaultArguments"][name]), name
    assert "Predictions" in json.dumps(job["Properties"]["DefaultArguments"]["--predictions_uri"]), arguments
    # AND its role may read batch-output/ (and list it)
    policies = template.find_resources("AWS::IAM::Policy")
    (policy,) = [p for logical_id, p in policies.items() if logical_id.startswith("DatasetJobRole")]
    reads = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "s3:GetObject*" in s["Action"] and f"/{layout.BATCH_OUTPUT_PREFIX}*" in json.dumps(s["Resource"])
    ]
    assert reads and all("s3:List*" in s["Action"] for s in reads)


def test_dev_scores_the_runs_batch_input_after_register_and_staging_keeps_the_schedule(synth: Synth) -> None:
    dev = definition(training(synth("dev")))["States"]
    assert dev["Register"]["Next"] == "ScoreBatch"
    staging = definition(training(synth("staging")))["States"]
    assert "ScoreBatch" not in staging and staging["Register"]["Next"] == "NotifyRegistered"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("matricula, cargo,", ("matricula", "cargo")),
        ('["matricula", "cargo"]', ("matricula", "cargo")),
        (None, ()),
    ],
)
def test_the_dataset_job_drops_the_columns_the_container_drops(value: str | None, expected: tuple[str, ...]) -> None:
    # GIVEN the drop_columns hyperparameter as the container reads it (comma-separated or a JSON list)
    hyperparameters: dict[str, HyperparameterValue] = {"target": "y"}
    if value is not None:
        hyperparameters["drop_columns"] = value
    # WHEN the construct renders the dataset job's argument THEN it names the same columns
    assert drop_columns(hyperparameters) == expected
