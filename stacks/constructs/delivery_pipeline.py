"""The self-mutating CDK pipeline: source → synth (`make test`, `cdk synth`) → one stage per environment.

A V2 CodePipeline with one variable, the model package to serve. Approvals start it with the package's ARN; a
push starts it with the default, `current`, which the synth step resolves to what was last promoted. The synth
step exports the resolved ARN, so the smoke test checks the package that was actually deployed.
"""

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Aspects, Duration, RemovalPolicy, Stack, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from esteira_contracts.training import GateLike
from stacks import names
from stacks.constructs.pipeline_policies import AcknowledgeGeneratedPolicies
from stacks.delivery_config import DeliveryConfig
from stacks.nag import acknowledge, skip_checkov

PACKAGE_JSON = Path(__file__).resolve().parents[2] / "package.json"
# The synth step's exported variable, read by the smoke test.
RESOLVED_PACKAGE_VARIABLE = "MODEL_PACKAGE_ARN"
PYTHON_VERSION = "3.11"
NODE_VERSION = "20"
SMOKE_TEST_REQUIREMENTS = "pipeline/requirements-smoke.txt"
SMOKE_TEST_PYTHONPATH = "containers/model/src"
# What a package ARN may be before any command uses it: it comes from a pipeline variable (anyone who may start the
# pipeline sets it) or from SSM. The Makefile checks the same rule again (its `arn` rule).
PACKAGE_ARN_RULE = "model-package-arn: empty, or arn:aws*:sagemaker:<region>:<account>:model-package/<group>/<version>"
# Artifacts matter while an execution runs (an approval waits at most 7 days); older ones are only history.
ARTIFACT_EXPIRATION = Duration.days(90)
NONCURRENT_ARTIFACT_EXPIRATION = Duration.days(30)
ACCESS_LOG_EXPIRATION = Duration.days(365)


def pinned_cdk_cli_version(package_json: Path = PACKAGE_JSON) -> str:
    """The `aws-cdk` version package.json pins (package-lock.json holds the same)."""
    version: str = json.loads(package_json.read_text(encoding="utf-8"))["devDependencies"]["aws-cdk"]
    return version


def require_package_arn(variable: str, source: str) -> str:
    """A POSIX sh command that stops the build unless $`variable` follows PACKAGE_ARN_RULE.

    `case` with a negated bracket sees every character, newlines included; the value is printed, never run.
    """
    message = shlex.quote(f"error: {source} %s breaks rule {PACKAGE_ARN_RULE}\\n")
    return (
        f'arn_ok=0; case "${variable}" in *[!A-Za-z0-9:/.-]*) ;; '
        '""|arn:aws*:sagemaker:*:*:model-package/*/*) arn_ok=1 ;; '
        f'esac; if [ "$arn_ok" != 1 ]; then printf {message} "${variable}" >&2; exit 2; fi; unset arn_ok'
    )


@dataclass(frozen=True)
class SmokeTarget:
    env_name: str
    region: str
    endpoint_name: str
    role_arn: str
    # The step's own role, named so that the smoke-test role can trust exactly it.
    step_role_name: str
    # The registry environment's `training.gate`: the smoke test's quality bar is the gate the package passed.
    gate: GateLike


class DeliveryPipeline(Construct):
    """Exposes `pipeline` (CDK Pipelines), `code_pipeline`, `synth` and `smoke_test` (the post-deploy step)."""

    def __init__(self, scope: Construct, construct_id: str, *, delivery: DeliveryConfig, smoke: SmokeTarget) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        variable = delivery.promotion.variable
        self.artifact_bucket = self._artifact_bucket()
        self.code_pipeline = codepipeline.Pipeline(
            self,
            "CodePipeline",
            pipeline_name=delivery.pipeline_name,
            pipeline_type=codepipeline.PipelineType.V2,
            # The newest execution wins, also at the approval before prod: a push deploys what SSM says was last
            # promoted, so superseding an approval's execution loses nothing, and a rollback overtakes a waiting one.
            execution_mode=codepipeline.ExecutionMode.SUPERSEDED,
            variables=[
                codepipeline.Variable(
                    variable_name=variable,
                    default_value=names.CURRENT_MODEL_PACKAGE,
                    description="Model package to serve from the registry stage on: an ARN, or 'current'",
                )
            ],
            # Our bucket, not CDK's default one: versioned and access-logged like every other bucket of the project.
            artifact_bucket=self.artifact_bucket,
            restart_execution_on_update=True,
        )
        source = pipelines.CodePipelineSource.connection(
            delivery.source.repository,
            delivery.source.branch,
            connection_arn=delivery.source.connection_arn,
            trigger_on_push=True,
        )
        promoted = stack.format_arn(
            service="ssm", resource="parameter", resource_name=names.PROMOTED_PACKAGE_PARAMETER.lstrip("/")
        )
        self.synth = pipelines.CodeBuildStep(
            "Synth",
            input=source,
            commands=[
                # A push deploys what was last promoted; an approval or a rollback names the package.
                f'ARN="$REQUESTED_PACKAGE"; if [ "$ARN" = "{names.CURRENT_MODEL_PACKAGE}" ]; then '
                f'ARN="$(aws ssm get-parameter --name {names.PROMOTED_PACKAGE_PARAMETER} '
                '--query Parameter.Value --output text)"; fi',
                f'if [ "$ARN" = "{names.NO_MODEL_PACKAGE}" ]; then ARN=""; fi',
                require_package_arn("ARN", f"the pipeline variable {variable} (or {names.PROMOTED_PACKAGE_PARAMETER})"),
                f'export {RESOLVED_PACKAGE_VARIABLE}="${{ARN:-{names.NO_MODEL_PACKAGE}}}"',
                "make test",
                f'make synth DELIVERY={shlex.quote(delivery.name)} MODEL_PACKAGE_ARN="$ARN" '
                'GIT_COMMIT="$CODEBUILD_RESOLVED_SOURCE_VERSION"',
            ],
            env={"REQUESTED_PACKAGE": f"#{{variables.{variable}}}"},
            role_policy_statements=[
                iam.PolicyStatement(sid="ReadPromotedPackage", actions=["ssm:GetParameter"], resources=[promoted])
            ],
            build_environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                compute_type=codebuild.ComputeType[delivery.build.compute],
            ),
            partial_build_spec=codebuild.BuildSpec.from_object(
                {"phases": {"install": {"runtime-versions": {"python": PYTHON_VERSION, "nodejs": NODE_VERSION}}}}
            ),
            timeout=Duration.minutes(delivery.build.timeout_minutes),
            primary_output_directory="cdk.out",
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            code_pipeline=self.code_pipeline,
            synth=self.synth,
            self_mutation=True,
            docker_enabled_for_synth=False,
            docker_enabled_for_self_mutation=False,
            publish_assets_in_parallel=False,
            # Self-mutation and asset publishing use the CLI this repo pins, not whatever npm has today.
            cli_version=pinned_cdk_cli_version(),
        )
        smoke_settings = delivery.smoke_test
        self.smoke_test_step_role = iam.Role(
            self,
            "SmokeTestStepRole",
            role_name=smoke.step_role_name,
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description=f"The smoke-test step's CodeBuild role: the only principal {smoke.role_arn} trusts",
        )
        self.smoke_test = pipelines.CodeBuildStep(
            "SmokeTest",
            input=source,
            install_commands=[f"pip install --quiet -r {SMOKE_TEST_REQUIREMENTS}"],
            commands=[
                f'if [ "$MODEL_PACKAGE_ARN" = "{names.NO_MODEL_PACKAGE}" ]; then '
                f'echo "no model promoted yet: {smoke.env_name} serves no endpoint, nothing to smoke-test"; '
                f"else {require_package_arn('MODEL_PACKAGE_ARN', 'the resolved package')}; "
                "python -m pipeline.smoke"
                f" --endpoint-name {shlex.quote(smoke.endpoint_name)}"
                ' --model-package-arn "$MODEL_PACKAGE_ARN"'
                f" --gate-metric {shlex.quote(smoke.gate.metric)}"
                f" --gate-threshold {smoke.gate.threshold!r}"
                f" --min-match-rate {smoke_settings.min_match_rate}"
                f" --rows-per-request {smoke_settings.rows_per_request}"
                f" --role-arn {shlex.quote(smoke.role_arn)}"
                f" --region {shlex.quote(smoke.region)}; fi",
            ],
            env={
                RESOLVED_PACKAGE_VARIABLE: self.synth.exported_variable(RESOLVED_PACKAGE_VARIABLE),
                # The package's own model is loaded in-process with the model code (esteira_model).
                "PYTHONPATH": SMOKE_TEST_PYTHONPATH,
            },
            role_policy_statements=[
                iam.PolicyStatement(sid="AssumeSmokeTestRole", actions=["sts:AssumeRole"], resources=[smoke.role_arn])
            ],
            build_environment=codebuild.BuildEnvironment(build_image=codebuild.LinuxBuildImage.STANDARD_7_0),
            partial_build_spec=codebuild.BuildSpec.from_object(
                {"phases": {"install": {"runtime-versions": {"python": PYTHON_VERSION}}}}
            ),
            role=self.smoke_test_step_role,
            timeout=Duration.minutes(30),
        )

    def _artifact_bucket(self) -> s3.Bucket:
        """KMS (a key of its own, which the stage accounts' deploy roles are granted), TLS-only, versioned,
        access-logged, lifecycle-managed, and kept when the stack goes: it holds what each deploy was built from."""
        key = kms.Key(
            self,
            "ArtifactsKey",
            description="Encrypts the delivery pipeline's artifacts",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
            pending_window=Duration.days(30),
        )
        common = {
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "enforce_ssl": True,
            "minimum_tls_version": 1.2,
            "versioned": True,
            "removal_policy": RemovalPolicy.RETAIN,
        }
        # SSE-S3: S3 server access log delivery cannot write to a KMS-encrypted bucket.
        access_logs = s3.Bucket(
            self,
            "ArtifactsAccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=ACCESS_LOG_EXPIRATION,
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            **common,  # type: ignore[arg-type]
        )
        acknowledge(access_logs, "S1", "This bucket receives the artifacts bucket's server access logs.")
        skip_checkov(
            access_logs,
            "CKV_AWS_18",
            "This bucket is the artifacts bucket's access-log target: logging it into itself would log every log "
            "delivery.",
        )
        return s3.Bucket(
            self,
            "Artifacts",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="artifacts/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireArtifacts",
                    expiration=ARTIFACT_EXPIRATION,
                    noncurrent_version_expiration=NONCURRENT_ARTIFACT_EXPIRATION,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            **common,  # type: ignore[arg-type]
        )

    def acknowledge_generated_policies(self) -> None:
        """After `build_pipeline()`: CDK Pipelines writes these roles and policies, not us."""
        # Some policies only appear while the app synthesizes: an aspect acknowledges them when they do.
        for generated in (self.pipeline, self.code_pipeline, self.smoke_test_step_role):
            Aspects.of(generated).add(AcknowledgeGeneratedPolicies())
