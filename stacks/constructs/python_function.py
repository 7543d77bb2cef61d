"""Our Lambda functions: code from `lambdas/`, Powertools from its public layer, encrypted logs, own role."""

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack, SymlinkFollowMode
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks import names
from stacks.nag import acknowledge, skip_checkov

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
CODE_EXCLUDES = ["**/__pycache__", "**/*.pyc", ".mypy_cache", ".pytest_cache"]
# The Python the tests run (pyproject's requires-python; Glue 5.0 runs 3.11 too): what is tested is what runs.
RUNTIME = lambda_.Runtime.PYTHON_3_11
DEFAULT_TIMEOUT = Duration.minutes(1)
# Powertools for AWS Lambda (Python) v3, published by AWS in every commercial region, one layer per Python version
# and architecture: AWSLambdaPowertoolsPythonV3-<python311>-<x86_64>:<version> (the Powertools install docs).
POWERTOOLS_LAYER = "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:{version}"


class PythonFunction(Construct):
    """`handler` is a dotted path under lambdas/, e.g. "training.prepare.handler.handler".

    The role can write only this function's log group; callers add what the function needs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_name: str,
        handler: str,
        description: str,
        environment: dict[str, str],
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        powertools_layer_version: int,
        timeout: Duration = DEFAULT_TIMEOUT,
        memory_size: int = 512,
        retain_logs: bool = False,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            encryption_key=key,
            retention=log_retention,
            removal_policy=RemovalPolicy.RETAIN if retain_logs else RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=description,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=handler,
            # lambdas/esteira_contracts is a symlink to the contracts package: followed, its files are copied in.
            code=lambda_.Code.from_asset(
                str(LAMBDAS_DIR), exclude=CODE_EXCLUDES, follow_symlinks=SymlinkFollowMode.ALWAYS
            ),
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self,
                    "Powertools",
                    POWERTOOLS_LAYER.format(region=stack.region, version=powertools_layer_version),
                )
            ],
            role=self.role,
            timeout=timeout,
            memory_size=memory_size,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            reserved_concurrent_executions=reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            # Settings rest encrypted with the environment's key, as the data they name does.
            environment_encryption=key,
            environment={
                "POWERTOOLS_SERVICE_NAME": f"{names.PROJECT}-{function_name}",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **environment,
            },
        )
        key.grant_decrypt(self.role)
        self._skip_checkov(reserved_concurrency)
        acknowledge(
            self.function,
            "L1",
            "Lambda runs the Python the tests run (3.11, as Glue 5.0 and the venv); the runtime moves with the venv.",
        )
        policy = self.role.node.find_child("DefaultPolicy")
        acknowledge(
            policy,
            "IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) have no resource-level permission.",
        )

    def _skip_checkov(self, reserved_concurrency: int | None) -> None:
        skip_checkov(
            self.function,
            "CKV_AWS_117",
            "Calls only AWS service APIs (S3, SageMaker, SQS, DynamoDB, SSM, CodePipeline) and no resource inside "
            "a VPC: in one it would need NAT or an endpoint per API and isolate nothing more.",
        )
        skip_checkov(
            self.function,
            "CKV_AWS_116",
            "Failed events are kept by the invoker: Step Functions catches a failed task and alerts, the SQS "
            "mapping redrives to the queue's dead-letter queue, the promoter has an on-failure queue, and the "
            "launcher's scheduled event is empty (nothing to replay; the next schedule launches again).",
        )
        if reserved_concurrency is None:
            skip_checkov(
                self.function,
                "CKV_AWS_115",
                "Concurrency is bounded by the invoker (one Step Functions task per execution, the SQS mapping's "
                "maximum concurrency, one scheduled event); a reservation would take from the account's "
                "unreserved pool, which Lambda keeps at a minimum.",
            )
