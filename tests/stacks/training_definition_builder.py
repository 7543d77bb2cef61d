"""The training state machine's definition built from explicit inputs in a bare Stack: shared by the tests of
``training_definition.py`` and of its typed result paths (``training_paths.py``)."""

import json
from typing import Any

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Template

from esteira_contracts.bias import BiasGateResult, ClarifyResult
from esteira_contracts.training import EvaluateResult, PrepareResult
from stacks.config import TrainingConfig
from stacks.constructs.training_baseline import BaselineJobInputs
from stacks.constructs.training_definition import TrainingDefinitionInputs, build_training_definition
from stacks.constructs.training_jobs import TrainingJobInputs, TrainingNetwork

ACCOUNT, REGION = "123456789012", "eu-west-1"
# The Lambda states and the result class each returns (the contracts').
LAMBDA_RESULTS: dict[str, type[Any]] = {"Prepare": PrepareResult, "Evaluate": EvaluateResult}
# The Lambdas of the Clarify steps, present with training.bias (tests/stacks/test_training_clarify.py).
CLARIFY_LAMBDA_RESULTS: dict[str, type[Any]] = {"WriteClarifyConfig": ClarifyResult, "BiasGate": BiasGateResult}
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
    quality: bool = False,
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
        quality_publisher=(
            lambda_.Function.from_function_arn(stack, "Quality", f"{function_arn}quality") if quality else None
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
