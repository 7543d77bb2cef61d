"""What test_training_execution.py runs the synthesized training state machine with: moto's Lambda invoking our
handlers in process, SDK integrations' text bodies, and the definition deployed to moto with its .sync states
swapped for stand-ins (see that module's docstring)."""

from __future__ import annotations

import functools
import importlib
import io
import json
import os
import tarfile
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto.awslambda.models import LambdaFunction
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

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
CLARIFY_STAND_IN_HANDLER = "tests.stacks.clarify_stand_in.handler"
CLARIFY_INPUT = "analysis_config"
_environment_lock = threading.Lock()


@dataclass(frozen=True)
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    aws_request_id: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def invoke_in_process(self: LambdaFunction, event: Any) -> tuple[str, bool, str]:
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


@functools.cache
def moto_client(endpoint: str, service: str) -> Any:
    """The tests' client for a service on the module's server, made once: each costs ~50 ms of CPU, and each test's
    deploy asks for ~20."""
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


@functools.cache
def _sdk_client(moto_port: str | None, arguments: tuple[tuple[str, Any], ...]) -> _TextBodies:
    # moto_port is only part of the key: moto's client factory reads the server from the environment itself.
    return _TextBodies(_original_boto_client_for(**dict(arguments)))


def boto_client_with_text_bodies(**kwargs: Any) -> Any:
    """moto's client for an SDK integration's call, made once per region, service and server (moto made one per
    call, ~50 ms of CPU each); calls with state credentials get their own, as in moto."""
    if kwargs.get("state_credentials") is not None:
        return _TextBodies(_original_boto_client_for(**kwargs))
    return _sdk_client(os.environ.get("MOTO_PORT"), tuple(sorted(kwargs.items())))


_original_boto_client_for = boto_client_for


_original_validate_definition = StepFunctionsParserBackend._validate_definition
_valid_definitions: set[str] = set()


def validate_definition_once(definition: str) -> None:
    """moto's check of a definition at CreateStateMachine (its ASL parser, pure Python: ~0.5 s of CPU for the training
    definition), once per text: each test deploys the same definition. An invalid one is checked, and refused, every
    time."""
    if definition not in _valid_definitions:
        _original_validate_definition(definition=definition)
        _valid_definitions.add(definition)


def render(parts: list[Any], resolve: Callable[[dict[str, Any]], str]) -> str:
    return "".join(part if isinstance(part, str) else resolve(part) for part in parts)


def select(document: dict[str, Any], path: str) -> Any:
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
        "ClarifyStandIn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": "clarify-stand-in",
                "Handler": CLARIFY_STAND_IN_HANDLER,
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

    definition = json.loads(render(machine["DefinitionString"]["Fn::Join"][1], resolve))
    for name, state in list(definition["States"].items()):
        if state["Type"] == "Task" and state["Resource"].endswith(GLUE_SYNC_RESOURCE_SUFFIX):
            definition["States"][name] = state | {
                "Comment": f"test stand-in for {state['Resource']}",
                "Resource": function_arns["DatasetStandIn"],
                "Parameters": state["Parameters"] | {"extraction_run_id.$": "$.prepare.run_id"},
            }
        elif state["Type"] == "Task" and is_clarify(state):
            definition["States"][name] = clarify_stand_in(state, function_arns["ClarifyStandIn"])
        elif state["Type"] == "Task" and state["Resource"].endswith(SYNC_RESOURCE_SUFFIX):
            response = processing if state["Resource"].endswith(PROCESSING_SYNC_RESOURCE_SUFFIX) else describe
            selector = state.get("ResultSelector", {})
            result = {key.removesuffix(".$"): select(response, path) for key, path in selector.items()}
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


def is_clarify(state: dict[str, Any]) -> bool:
    inputs = state.get("Parameters", {}).get("ProcessingInputs", [])
    return state["Resource"].endswith(PROCESSING_SYNC_RESOURCE_SUFFIX) and any(
        item["InputName"] == CLARIFY_INPUT for item in inputs
    )


def clarify_stand_in(state: dict[str, Any], function_arn: str) -> dict[str, Any]:
    """The Clarify job's state as a Lambda task writing the job's analysis.json to the state's own output folder;
    its Retry and Catch (stop on timeout, delete the model on failure) stay. Its result goes to a path of its own:
    moto's interpreter does not discard a Lambda resource's result on ``ResultPath: null`` as Step Functions does."""
    parameters = state["Parameters"]
    (output,) = parameters["ProcessingOutputConfig"]["Outputs"]
    (config,) = [item for item in parameters["ProcessingInputs"] if item["InputName"] == CLARIFY_INPUT]
    return state | {
        "Comment": f"test stand-in for {state['Resource']}",
        "Resource": function_arn,
        "Parameters": {
            "kind": "bias" if config["S3Input"]["S3Uri.$"].endswith("bias_config_uri") else "explainability",
            "job_name.$": parameters["ProcessingJobName.$"],
            "output_uri.$": output["S3Output"]["S3Uri.$"],
            "extraction_run_id.$": "$.prepare.run_id",
        },
        "ResultPath": "$.clarify_stand_in",
    }


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
    return wait_for_execution(sfn, execution_arn)


def wait_for_execution(sfn: Any, execution_arn: str) -> dict[str, Any]:
    """The execution's description once it has ended (polled every 50 ms: an execution here takes about a second)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError(f"execution {execution_arn} still running after 60 s")


def notifications(aws: Callable[[str], Any], deployed: Deployed) -> list[dict[str, Any]]:
    messages = aws("sqs").receive_message(QueueUrl=deployed.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(message["Body"]) for message in messages.get("Messages", [])]
