"""Runs the synthesized training state machine in moto's Step Functions interpreter.

Only the `.sync` states are swapped (moto cannot run them): the SageMaker ones for a Pass state carrying a
realistic DescribeTrainingJob (or, for Baseline, DescribeProcessingJob) result put through the state's own
ResultSelector, the Glue dataset job for a
Lambda task given the state's own arguments (``dataset_stand_in.py``), which writes the run's manifest and batch
input as the job would. Everything else is the real definition: the Lambda tasks run our real handlers (moto's
Lambda would need docker, so its invoke runs the handler in this process with the function's own environment),
ReadDatasetManifest reads the manifest through moto's S3, `createModelPackage` goes through moto's SageMaker,
ScoreBatch invokes the real batch launcher (with the Batch stack's environment), notifications go through moto's SNS.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import socket
import tarfile
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.awslambda.models import LambdaFunction
from moto.core.config import default_user_config
from moto.server import ThreadedMotoServer
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

from esteira_contracts.batch import feature_schema_digest
from tests.stacks import dataset_stand_in
from tests.stacks.conftest import SynthesizedEnv

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MANIFEST = FIXTURES / "training" / "manifests" / "committed_run.json"
EVALUATION = FIXTURES / "training" / "evaluation" / "binary.json"
DESCRIBE_TRAINING_JOB = FIXTURES / "training_execution" / "describe_training_job.json"
DESCRIBE_PROCESSING_JOB = FIXTURES / "training_execution" / "describe_processing_job.json"
PROCESSING_SYNC_RESOURCE_SUFFIX = ":states:::sagemaker:createProcessingJob.sync"
REGION = "eu-west-1"
ENV = "dev"
SYNC_RESOURCE_SUFFIX = ".sync"
GLUE_SYNC_RESOURCE_SUFFIX = ":states:::glue:startJobRun.sync"
DATASET_STAND_IN_HANDLER = "tests.stacks.dataset_stand_in.handler"
_environment_lock = threading.Lock()


@dataclass(frozen=True)
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    aws_request_id: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _invoke_in_process(self: LambdaFunction, event: Any) -> tuple[str, bool, str]:
    """moto's LambdaFunction._invoke_lambda, running our handler here instead of in a container."""
    module_name, function_name = str(self.handler).rsplit(".", 1)
    with _environment_lock:
        saved = dict(os.environ)
        os.environ.update(self.environment_vars)
        try:
            handler = getattr(importlib.import_module(module_name), function_name)
            context = LambdaContext(
                self.function_name, invoked_function_arn=self.function_arn, aws_request_id=str(uuid.uuid4())
            )
            return json.dumps(handler(event, context)), False, ""
        except Exception as error:  # the Lambda runtime's error shape
            payload = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
            return json.dumps(payload), True, ""
        finally:
            os.environ.clear()
            os.environ.update(saved)


class _TextBodies:
    """A boto3 client whose responses carry ``Body`` as text, as Step Functions' AWS SDK integrations return it
    (moto's interpreter hands on the unread stream)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)

        def text_bodies(**kwargs: Any) -> Any:
            response = call(**kwargs)
            if isinstance(response, dict) and hasattr(response.get("Body"), "read"):
                response["Body"] = response["Body"].read().decode()
            return response

        return text_bodies


def _boto_client_with_text_bodies(**kwargs: Any) -> Any:
    return _TextBodies(_original_boto_client_for(**kwargs))


_original_boto_client_for = boto_client_for


@pytest.fixture(scope="module")
def moto_sfn(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The interpreter calls other services at localhost:$MOTO_PORT.
    monkeypatch_module.setenv("MOTO_PORT", str(port))
    monkeypatch_module.setitem(default_user_config["stepfunctions"], "execute_state_machine", True)
    monkeypatch_module.setattr(LambdaFunction, "_invoke_lambda", _invoke_in_process)
    monkeypatch_module.setattr(state_task_service_aws_sdk, "boto_client_for", _boto_client_with_text_bodies)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture
def aws(moto_sfn: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
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
        return boto3.client(service, region_name=REGION, endpoint_url=moto_sfn)

    return client


def _render(parts: list[Any], resolve: Callable[[dict[str, Any]], str]) -> str:
    return "".join(part if isinstance(part, str) else resolve(part) for part in parts)


def _select(document: dict[str, Any], path: str) -> Any:
    node: Any = document
    for key in path.removeprefix("$.").split("."):
        node = node[key]
    return node


@dataclass
class Deployed:
    state_machine_arn: str
    bucket: str
    curated_prefix: str
    topic_arn: str
    queue_url: str
    group: str
    describe_training_job: dict[str, Any]


def deploy(synthesized: SynthesizedEnv, aws: Callable[[str], Any]) -> Deployed:
    """Creates what the definition references in moto and registers the definition, .sync swapped."""
    suffix = uuid.uuid4().hex[:8]
    template = synthesized.templates["Training"].to_json()
    batch_resources = synthesized.templates["Batch"].to_json()["Resources"]
    (launcher_id,) = [
        k
        for k, v in batch_resources.items()
        if v["Type"] == "AWS::Lambda::Function" and v["Properties"]["Handler"] == "batch.launcher.handler.handler"
    ]
    resources = {
        **template["Resources"],
        launcher_id: batch_resources[launcher_id],
        "DatasetStandIn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": "dataset-stand-in",
                "Handler": DATASET_STAND_IN_HANDLER,
                "Environment": {"Variables": {}},
            },
        },
    }
    (machine_id,) = [k for k, v in resources.items() if v["Type"] == "AWS::StepFunctions::StateMachine"]
    machine = resources[machine_id]["Properties"]

    bucket = f"esteira-test-{suffix}"
    describe = json.loads(DESCRIBE_TRAINING_JOB.read_text().replace("BUCKET", bucket))
    processing = json.loads(DESCRIBE_PROCESSING_JOB.read_text())
    aws("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    topic_arn: str = aws("sns").create_topic(Name=f"alerts-{suffix}")["TopicArn"]
    queue_url = aws("sqs").create_queue(QueueName=f"alerts-{suffix}")["QueueUrl"]
    queue_arn = aws("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    aws("sns").subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )
    group = f"esteira-{ENV}-model-{suffix}"
    aws("sagemaker").create_model_package_group(ModelPackageGroupName=group)
    role_arn = aws("iam").create_role(
        RoleName=f"lambda-{suffix}", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]

    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("placeholder.py", "# the handler runs in the test process\n")
    curated_prefix = "extractions/employees/"
    function_arns: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        props = resource["Properties"]
        environment = {key: value for key, value in props["Environment"]["Variables"].items() if isinstance(value, str)}
        environment.update(
            {
                "ARTIFACTS_BUCKET": bucket,
                "PREDICTIONS_BUCKET": bucket,
                "SAGEMAKER_ROLE_ARN": role_arn,
                "CURATED_URI": f"s3://{bucket}/{curated_prefix}",
                "MODEL_PACKAGE_GROUP": group,
                "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        )
        created = aws("lambda").create_function(
            FunctionName=f"{props['FunctionName']}-{suffix}",
            Runtime="python3.12",
            Role=role_arn,
            Handler=props["Handler"],
            Code={"ZipFile": code.getvalue()},
            Environment={"Variables": environment},
        )
        function_arns[logical_id] = created["FunctionArn"]

    def resolve(intrinsic: dict[str, Any]) -> str:
        if intrinsic.get("Ref") == "AWS::Partition":
            return "aws"
        if "Fn::GetAtt" in intrinsic and intrinsic["Fn::GetAtt"][0] in function_arns:
            return str(function_arns[intrinsic["Fn::GetAtt"][0]])
        if "Fn::GetStackOutput" in intrinsic and "Topic" in intrinsic["Fn::GetStackOutput"]["OutputName"]:
            return topic_arn
        return f"resolved-{abs(hash(json.dumps(intrinsic, sort_keys=True)))}"

    definition = json.loads(_render(machine["DefinitionString"]["Fn::Join"][1], resolve))
    for name, state in list(definition["States"].items()):
        if state["Type"] == "Task" and state["Resource"].endswith(GLUE_SYNC_RESOURCE_SUFFIX):
            definition["States"][name] = state | {
                "Comment": f"test stand-in for {state['Resource']}",
                "Resource": function_arns["DatasetStandIn"],
                "Parameters": state["Parameters"] | {"extraction_run_id.$": "$.prepare.run_id"},
            }
        elif state["Type"] == "Task" and state["Resource"].endswith(SYNC_RESOURCE_SUFFIX):
            response = processing if state["Resource"].endswith(PROCESSING_SYNC_RESOURCE_SUFFIX) else describe
            result = {key.removesuffix(".$"): _select(response, path) for key, path in state["ResultSelector"].items()}
            definition["States"][name] = {
                "Type": "Pass",
                "Comment": f"test stand-in for {state['Resource']}",
                "Result": result,
                "ResultPath": state["ResultPath"],
                "Next": state["Next"],
            }
    # The synthesized group name is per environment; this run uses its own group (and its own launcher).
    definition["States"]["Register"]["Parameters"]["ModelPackageGroupName"] = group
    definition["States"]["ScoreBatch"]["Parameters"]["FunctionName"] = function_arns[launcher_id]
    state_machine_arn = aws("stepfunctions").create_state_machine(
        name=f"training-{suffix}", definition=json.dumps(definition), roleArn=role_arn
    )["stateMachineArn"]
    return Deployed(state_machine_arn, bucket, curated_prefix, topic_arn, queue_url, group, describe)


def put_extraction(aws: Callable[[str], Any], deployed: Deployed, run_id: str) -> None:
    manifest = json.loads(MANIFEST.read_text())
    manifest["run_id"] = run_id
    body = json.dumps(manifest).encode()
    s3 = aws("s3")
    prefix = f"{deployed.curated_prefix}_manifests/"
    s3.put_object(Bucket=deployed.bucket, Key=f"{prefix}dt={manifest['run_date']}/{run_id}.json", Body=body)
    s3.put_object(Bucket=deployed.bucket, Key=f"{prefix}latest.json", Body=body)


def put_model(aws: Callable[[str], Any], deployed: Deployed, auc: float) -> None:
    evaluation = json.loads(EVALUATION.read_text())
    evaluation["validation"]["auc"] = auc
    payload = json.dumps(evaluation).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("evaluation.json")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    artifacts = deployed.describe_training_job["ModelArtifacts"]["S3ModelArtifacts"]
    key = artifacts.split("/", 3)[3]
    aws("s3").put_object(
        Bucket=deployed.bucket, Key=key.replace("model.tar.gz", "output.tar.gz"), Body=archive.getvalue()
    )


def run(aws: Callable[[str], Any], deployed: Deployed, run_id: str) -> dict[str, Any]:
    sfn = aws("stepfunctions")
    execution_arn = sfn.start_execution(
        stateMachineArn=deployed.state_machine_arn,
        name=f"run-{uuid.uuid4().hex[:8]}",
        input=json.dumps({"run_id": run_id}),
    )["executionArn"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.2)
    raise AssertionError(f"execution {execution_arn} still running after 60 s")


def notifications(aws: Callable[[str], Any], deployed: Deployed) -> list[dict[str, Any]]:
    messages = aws("sqs").receive_message(QueueUrl=deployed.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(message["Body"]) for message in messages.get("Messages", [])]


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


def test_task_error_goes_through_the_catch_to_a_notified_failure(aws: Callable[[str], Any], deployed: Deployed) -> None:
    # GIVEN no manifest for the run: Prepare raises its named error
    # WHEN the definition runs
    execution = run(aws, deployed, "jr_missing")
    # THEN the Catch routes it to NotifyFailure and the Fail state carries the Lambda's error and cause
    assert execution["status"] == "FAILED"
    assert execution.get("error") == "ManifestNotFound"
    (message,) = notifications(aws, deployed)
    assert message["outcome"] == "failed" and message["error"] == "ManifestNotFound"


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
