"""Runs the synthesized training state machine in moto's Step Functions interpreter.

Only the `.sync` states are swapped (moto cannot run them): the SageMaker ones for a Pass state carrying a
realistic DescribeTrainingJob (or, for Baseline, DescribeProcessingJob) result put through the state's own
ResultSelector, the Glue dataset job for a Lambda task given the state's own arguments (``dataset_stand_in.py``),
which writes the run's manifest, batch input and model-quality report as the job would. Everything else is the real
definition: the Lambda tasks run our real handlers (moto's Lambda would need docker, so its invoke runs the handler
in this process with the function's own environment), ReadDatasetManifest reads the manifest through moto's S3,
`createModelPackage` goes through moto's SageMaker, ScoreBatch invokes the real batch launcher (with the Batch
stack's environment), PublishModelQuality the real quality publisher (metrics into moto's CloudWatch),
notifications go through moto's SNS.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.awslambda.models import LambdaFunction
from moto.core.config import default_user_config
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from common import clients
from esteira_contracts.batch import feature_schema_digest
from esteira_contracts.model_quality import metrics_namespace
from pipeline.moto_http import MotoHTTPServer
from tests.stacks import dataset_stand_in
from tests.stacks.conftest import SynthesizedEnv
from tests.stacks.training_execution_harness import (
    ENV,
    REGION,
    Deployed,
    boto_client_with_text_bodies,
    deploy,
    invoke_in_process,
    moto_client,
    notifications,
    put_extraction,
    put_model,
    run,
    validate_definition_once,
)


@pytest.fixture(scope="module")
def moto_sfn(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The interpreter calls other services at localhost:$MOTO_PORT.
    monkeypatch_module.setenv("MOTO_PORT", str(port))
    monkeypatch_module.setitem(default_user_config["stepfunctions"], "execute_state_machine", True)
    monkeypatch_module.setattr(LambdaFunction, "_invoke_lambda", invoke_in_process)
    monkeypatch_module.setattr(state_task_service_aws_sdk, "boto_client_for", boto_client_with_text_bodies)
    validate = staticmethod(validate_definition_once)
    monkeypatch_module.setattr(StepFunctionsParserBackend, "_validate_definition", validate)
    server = MotoHTTPServer(port)  # keep-alive: werkzeug's server made a connection and a thread per call
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture
def aws(moto_sfn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Any]]:
    # The Lambdas cache their clients (common.clients): a client made against another module's server must go.
    clients.reset_clients()
    for name, value in {
        "AWS_ENDPOINT_URL": moto_sfn,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)

    def client(service: str) -> Any:
        return moto_client(moto_sfn, service)

    yield client
    clients.reset_clients()


@pytest.fixture
def deployed(synth: Callable[[str], SynthesizedEnv], aws: Callable[[str], Any]) -> Deployed:
    return deploy(synth(ENV), aws)


def test_gate_pass_registers_a_package_with_lineage_and_notifies(aws: Callable[[str], Any], deployed: Deployed) -> None:
    # GIVEN an extraction run and a trained model whose AUC clears the 0.8 gate, with no champion yet
    put_extraction(aws, deployed, "jr_pass")
    put_model(aws, deployed, auc=0.91)
    # WHEN the real definition runs
    execution = run(aws, deployed, "jr_pass")
    # THEN it succeeds, one package is registered (Approved in dev) with metrics and lineage, and SNS says so
    assert execution["status"] == "SUCCEEDED", (execution.get("error"), execution.get("cause"))
    (package,) = aws("sagemaker").list_model_packages(ModelPackageGroupName=deployed.group)["ModelPackageSummaryList"]
    assert package["ModelApprovalStatus"] == "Approved"
    described = aws("sagemaker").describe_model_package(ModelPackageName=package["ModelPackageArn"])
    metadata = described["CustomerMetadataProperties"]
    assert metadata["metric.auc"].startswith("0.91")
    assert metadata["lineage.data"] == f"s3://{deployed.bucket}/{deployed.curated_prefix}"
    dataset = f"s3://{deployed.bucket}/datasets/run_id={execution_output(execution)['prepare']['dataset_run_id']}/"
    assert metadata["lineage.dataset"] == dataset
    # AND the spec and the digest of the features the dataset run wrote, as the batch launcher computes it: the
    # state machine's States.Hash(States.JsonToString(features)) and esteira_contracts agree
    assert metadata["lineage.spec"] == dataset_stand_in.SPEC_NAME
    assert metadata["lineage.feature_schema"] == feature_schema_digest(dataset_stand_in.FEATURES)
    assert metadata["lineage.training_job"] == deployed.describe_training_job["TrainingJobName"]
    # AND the package names the run's data-quality baseline, which the Baseline step wrote before Register
    output = execution_output(execution)
    baseline = f"s3://{deployed.bucket}/monitoring/baselines/run_id={output['prepare']['dataset_run_id']}/"
    assert described["DriftCheckBaselines"] == {
        "ModelDataQuality": {
            "Constraints": {"ContentType": "application/json", "S3Uri": f"{baseline}constraints.json"},
            "Statistics": {"ContentType": "application/json", "S3Uri": f"{baseline}statistics.json"},
        }
    }
    assert output["baseline"]["processing_job_arn"].endswith(":processing-job/esteira-dev-20250314-020700-a1b2c3")
    # AND its ModelMetrics carry Clarify's bias and explainability reports beside the model quality, from the
    # run's monitoring/clarify/ folder, which the bias gate read (DI inside [0.8, 1.25] for every facet)
    clarify = f"s3://{deployed.bucket}/monitoring/clarify/run_id={output['prepare']['dataset_run_id']}/"
    metrics = described["ModelMetrics"]
    assert metrics["Bias"] == {"Report": {"ContentType": "application/json", "S3Uri": f"{clarify}bias/analysis.json"}}
    assert metrics["Explainability"] == {
        "Report": {"ContentType": "application/json", "S3Uri": f"{clarify}explainability/analysis.json"}
    }
    assert metrics["ModelQuality"]["Statistics"]["S3Uri"] == output["evaluation"]["evaluation_uri"]
    assert output["bias_gate"]["passed"] is True
    assert [f["value"] for f in output["bias_gate"]["facets"]] == [0.93, 1.08]
    # AND BiasGate sized each facet group from the manifest's holdout rows and the analysis's CI, and judged both
    assert output["bias_gate"]["rows"] == dataset_stand_in.HOLDOUT_ROWS
    assert [(f["rows_d"], f["rows_a"], f["judged"]) for f in output["bias_gate"]["facets"]] == [
        (460, 540, True),
        (295, 705, True),
    ]
    # AND the temporary model Clarify served was made of the candidate and is gone (the batch launcher's remains)
    assert entered_states(aws, execution)[:3] == ["WriteClarifyConfig", "CreateClarifyModel", "ClarifyBias"]
    assert output["clarify"]["model_name"] == deployed.describe_training_job["TrainingJobName"]
    assert output["clarify"]["model_name"] not in model_names(aws)
    (message,) = notifications(aws, deployed)
    assert message["outcome"] == "registered"
    assert message["model_package_arn"] == package["ModelPackageArn"]


def test_gate_rejection_is_an_outcome_not_a_failure(aws: Callable[[str], Any], deployed: Deployed) -> None:
    # GIVEN a model below the gate
    put_extraction(aws, deployed, "jr_fail")
    put_model(aws, deployed, auc=0.62)
    # WHEN the definition runs
    execution = run(aws, deployed, "jr_fail")
    # THEN the execution succeeds (ExecutionsFailed, the "training failed" alarm, does not count it) with the
    # rejection as its output, nothing is registered, and the rejection is announced with its reason
    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    assert output["outcome"] == "gate_rejected" and "0.62" in output["reason"]
    assert aws("sagemaker").list_model_packages(ModelPackageGroupName=deployed.group)["ModelPackageSummaryList"] == []
    (message,) = notifications(aws, deployed)
    assert message["outcome"] == "gate_rejected" and "0.62" in message["reason"]


def test_a_disparate_impact_outside_the_bounds_ends_as_a_bias_gate_rejection(
    aws: Callable[[str], Any], deployed: Deployed
) -> None:
    # GIVEN a model that clears the quality gate but whose predictions give men a DI of 0.5
    put_extraction(aws, deployed, "jr_biased")
    put_model(aws, deployed, auc=0.91)
    # WHEN the definition runs
    execution = run(aws, deployed, "jr_biased")
    # THEN it succeeds as a gate rejection naming the facet, the metric, its value and the bounds; nothing is
    # registered, the temporary model is deleted, and the rejection is announced
    assert execution["status"] == "SUCCEEDED", (execution.get("error"), execution.get("cause"))
    output = execution_output(execution)
    assert output["outcome"] == "gate_rejected"
    assert output["reason"] == "bias gate: DI of facet masculino=1 is 0.5, outside [0.8, 1.25]"
    assert (output["metric"], output["facet"], output["value"]) == ("DI", "masculino=1", 0.5)
    assert (output["minimum"], output["maximum"]) == (0.8, 1.25)
    assert aws("sagemaker").list_model_packages(ModelPackageGroupName=deployed.group)["ModelPackageSummaryList"] == []
    assert "DeleteClarifyModel" in entered_states(aws, execution)
    assert deployed.describe_training_job["TrainingJobName"] not in model_names(aws)
    (message,) = notifications(aws, deployed)
    assert message["outcome"] == "gate_rejected" and message["reason"] == output["reason"]
    assert message["bias_report"].endswith("/bias/analysis.json")


def test_a_disparity_on_too_few_holdout_rows_is_not_judged_and_the_model_is_registered(
    aws: Callable[[str], Any], deployed: Deployed
) -> None:
    # GIVEN the biased candidate (DI 0.5 for masculino=1) on a holdout of 150 rows: 69 men, 81 others
    put_extraction(aws, deployed, "jr_biased_smallholdout")
    put_model(aws, deployed, auc=0.91)
    # WHEN the definition runs
    execution = run(aws, deployed, "jr_biased_smallholdout")
    # THEN BiasGate read the holdout's rows from the manifest, judged no group under the floor of 100 rows and
    # passed saying so; the package is registered
    assert execution["status"] == "SUCCEEDED", (execution.get("error"), execution.get("cause"))
    gate = execution_output(execution)["bias_gate"]
    assert gate["passed"] is True and gate["rows"] == dataset_stand_in.SMALL_HOLDOUT_ROWS
    assert gate["reason"] == (
        "bias gate: no facet judged (masculino=1 not judged: n_d 69 rows and n_a 81 rows < 100; "
        "idade_na_admissao=(40.0, 62.0] not judged: n_d 44 rows < 100)"
    )
    assert [f["judged"] for f in gate["facets"]] == [False, False]
    (message,) = notifications(aws, deployed)
    assert message["outcome"] == "registered"


def test_a_failed_clarify_job_deletes_the_temporary_model_and_notifies_the_failure(
    aws: Callable[[str], Any], deployed: Deployed
) -> None:
    # GIVEN a model that clears the quality gate, and a Clarify bias job that fails
    put_extraction(aws, deployed, "jr_clarifyfails")
    put_model(aws, deployed, auc=0.91)
    # WHEN the definition runs
    execution = run(aws, deployed, "jr_clarifyfails")
    # THEN the failure deletes the run's temporary model before NotifyFailure: no orphan, nothing registered
    assert execution["status"] == "FAILED"
    assert execution.get("error") == "ClarifyJobFailed"
    assert entered_states(aws, execution)[-2:] == ["ClarifyBias", "DeleteClarifyModelOnFailure"]
    assert deployed.describe_training_job["TrainingJobName"] not in model_names(aws)
    assert aws("sagemaker").list_model_packages(ModelPackageGroupName=deployed.group)["ModelPackageSummaryList"] == []
    (message,) = notifications(aws, deployed)
    assert message["outcome"] == "failed" and message["error"] == "ClarifyJobFailed"


def test_task_error_goes_through_the_catch_to_a_notified_failure(aws: Callable[[str], Any], deployed: Deployed) -> None:
    # GIVEN no manifest for the run: Prepare raises its named error
    # WHEN the definition runs
    execution = run(aws, deployed, "jr_missing")
    # THEN the Catch routes it to NotifyFailure and the Fail state carries the Lambda's error and cause
    assert execution["status"] == "FAILED"
    assert execution.get("error") == "ManifestNotFound"
    (message,) = notifications(aws, deployed)
    assert message["outcome"] == "failed" and message["error"] == "ManifestNotFound"


def entered_states(aws: Callable[[str], Any], execution: dict[str, Any]) -> list[str]:
    """The Clarify steps' states the execution entered, in order."""
    history = aws("stepfunctions").get_execution_history(executionArn=execution["executionArn"])["events"]
    entered = [event["stateEnteredEventDetails"]["name"] for event in history if "stateEnteredEventDetails" in event]
    return [name for name in entered if "Clarify" in name or name.startswith("BiasGate")]


def model_names(aws: Callable[[str], Any]) -> list[str]:
    return [model["ModelName"] for model in aws("sagemaker").list_models()["Models"]]


def execution_output(execution: dict[str, Any]) -> dict[str, Any]:
    output: dict[str, Any] = json.loads(execution["output"])
    return output


def test_the_dataset_step_feeds_the_channels_and_the_launcher_scores_its_batch_input(
    aws: Callable[[str], Any], deployed: Deployed
) -> None:
    # GIVEN an extraction run and a model that passes the gate
    put_extraction(aws, deployed, "jr_data")
    put_model(aws, deployed, auc=0.91)
    # WHEN the definition runs
    execution = run(aws, deployed, "jr_data")
    # THEN the dataset job ran for the run Prepare named, with the URIs Prepare gave it
    assert execution["status"] == "SUCCEEDED", (execution.get("error"), execution.get("cause"))
    output = execution_output(execution)
    prepared = output["prepare"]
    run_id = prepared["dataset_run_id"]
    assert output["dataset"] == {"job_run_id": f"jr_{run_id}", "state": "SUCCEEDED"}
    assert output["dataset_manifest"]["manifest"]["status"] == "ok"
    # AND the training job's channels are the dataset run's splits (no champion yet)
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in output["channels"]["input_data_config"]
    }
    dataset = f"s3://{deployed.bucket}/datasets/run_id={run_id}/"
    assert channels == {
        "train": f"{dataset}train/",
        "validation": f"{dataset}validation/",
        "holdout": f"{dataset}holdout/",
    }
    # AND after Register, the launcher scored exactly that run's batch input with the registered package
    (job,) = aws("sagemaker").list_transform_jobs()["TransformJobSummaries"][-1:]
    described = aws("sagemaker").describe_transform_job(TransformJobName=job["TransformJobName"])
    source = described["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    assert source == f"s3://{deployed.bucket}/batch-input/run_id={run_id}/"
    # AND before training, the dataset run's quality report was published: the served version's figures under
    # its ModelVersion and under Scope=latest, in the environment's namespace
    report_uri = f"s3://{deployed.bucket}/monitoring/model-quality/run_id={run_id}/report.json"
    assert output["model_quality"] == {
        "report_uri": report_uri,
        "published_metrics": 12,
        "latest_model_version": "1",
        "enough_labels_for_alarm": True,
    }
    latest = aws("cloudwatch").list_metrics(
        Namespace=metrics_namespace(ENV), Dimensions=[{"Name": "Scope", "Value": "latest"}]
    )["Metrics"]
    assert {m["MetricName"] for m in latest} == {
        "AUC",
        "Precision",
        "Recall",
        "F1",
        "BrierScore",
        "LabelledPredictions",
    }


def test_a_quality_report_that_cannot_be_published_is_notified_and_training_goes_on(
    aws: Callable[[str], Any], deployed: Deployed
) -> None:
    # GIVEN a dataset run whose quality step wrote no report, and a model that passes the gate
    put_extraction(aws, deployed, "jr_noquality")
    put_model(aws, deployed, auc=0.91)
    # WHEN the definition runs
    execution = run(aws, deployed, "jr_noquality")
    # THEN the run still trains and registers: publishing is about the served model, not this one
    assert execution["status"] == "SUCCEEDED", (execution.get("error"), execution.get("cause"))
    output = execution_output(execution)
    assert output["quality_error"]["Error"] == "QualityReportNotFound"
    assert "model_quality" not in output
    assert (
        len(aws("sagemaker").list_model_packages(ModelPackageGroupName=deployed.group)["ModelPackageSummaryList"]) == 1
    )
    # AND the team hears both: the quality was not published (with the error), then the model registered
    messages = {message["outcome"]: message for message in notifications(aws, deployed)}
    assert set(messages) == {"model_quality_not_published", "registered"}
    assert messages["model_quality_not_published"]["error"] == "QualityReportNotFound"
    assert messages["model_quality_not_published"]["report_uri"].endswith("/report.json")


def test_a_dataset_without_final_labels_ends_as_no_new_data(aws: Callable[[str], Any], deployed: Deployed) -> None:
    # GIVEN an extraction run whose dataset run finds no row with a final label
    put_extraction(aws, deployed, "jr_nodata")
    # WHEN the definition runs
    execution = run(aws, deployed, "jr_nodata")
    # THEN it succeeds without training, evaluating or notifying anyone
    assert execution["status"] == "SUCCEEDED", (execution.get("error"), execution.get("cause"))
    output = execution_output(execution)
    assert output["dataset_manifest"]["manifest"]["status"] == "no_new_data"
    assert "training" not in output and "evaluation" not in output
    assert aws("sagemaker").list_model_packages(ModelPackageGroupName=deployed.group)["ModelPackageSummaryList"] == []
    assert notifications(aws, deployed) == []


def test_the_definition_check_runs_once_per_valid_text_and_refuses_an_invalid_one_every_time(
    aws: Callable[[str], Any], deployed: Deployed
) -> None:
    # GIVEN the deployed definition (checked once already) and a definition moto's parser refuses
    definition = aws("stepfunctions").describe_state_machine(stateMachineArn=deployed.state_machine_arn)["definition"]
    invalid = json.dumps({"StartAt": "Only", "States": {"Only": {"Type": "NoSuchType"}}})
    # WHEN each is created again  THEN the valid one is taken, and the invalid one is refused both times
    for attempt in range(2):
        aws("stepfunctions").create_state_machine(
            name=f"again-{attempt}", definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn"
        )
        with pytest.raises(ClientError, match="ASLParserException"):
            aws("stepfunctions").create_state_machine(
                name=f"invalid-{attempt}", definition=invalid, roleArn="arn:aws:iam::123456789012:role/sfn"
            )
