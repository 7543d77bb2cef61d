"""The served-state recorder against moto over HTTP: SSM (the state), SageMaker (the package and its baseline), ECR
(the protected tag, by BatchGetImage + PutImage of the same manifest)."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from common import clients
from delivery.promote.served import ServedStateError, ServedVariant, record, variants_from_properties
from delivery.promote.served_handler import handle, respond
from esteira_contracts.served import RecorderSettings, baseline_parameter, variant_parameter

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 7023,
            "digest": "sha256:" + "a" * 64,
        },
        "layers": [],
    }
)


@dataclass(frozen=True)
class Env:
    name: str
    settings: RecorderSettings
    group: str
    aws: dict[str, Any]

    def value(self, parameter: str) -> str:
        return str(self.aws["ssm"].get_parameter(Name=parameter)["Parameter"]["Value"])

    def register(self, version_baseline: bool = True) -> str:
        """A package whose image is this environment's `0.1.0`, with (or without) a data-quality baseline."""
        image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{self.settings.image_repository}:0.1.0"
        extra: dict[str, Any] = {}
        if version_baseline:
            extra["DriftCheckBaselines"] = {
                "ModelDataQuality": {
                    "Constraints": {"ContentType": "application/json", "S3Uri": f"s3://b/{self.name}/constraints.json"},
                    "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://b/{self.name}/statistics.json"},
                }
            }
        package = self.aws["sagemaker"].create_model_package(
            ModelPackageGroupName=self.group,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [{"Image": image, "ModelDataUrl": f"s3://b/{self.name}/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            **extra,
        )
        return str(package["ModelPackageArn"])

    def tags(self) -> set[str]:
        images = self.aws["ecr"].describe_images(repositoryName=self.settings.image_repository)["imageDetails"]
        return {tag for image in images for tag in image.get("imageTags", [])}

    def record(self, *variants: ServedVariant) -> dict[str, str]:
        return record(
            self.settings,
            list(variants),
            ssm=clients.ssm(),
            sagemaker=clients.sagemaker(),
            ecr=clients.ecr(),
        )


@pytest.fixture
def env(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """A fresh environment name; its repository holds image 0.1.0; its package group exists."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    clients.reset_clients()
    name = f"t{uuid.uuid4().hex[:8]}"
    session = boto3.session.Session(region_name=REGION)
    aws = {service: session.client(service, endpoint_url=aws_env) for service in ("ssm", "sagemaker", "ecr")}
    repository = f"esteira-{name}/model"
    aws["ecr"].create_repository(repositoryName=repository)
    aws["ecr"].put_image(repositoryName=repository, imageManifest=MANIFEST, imageTag="0.1.0")
    group = f"esteira-{name}-model"
    aws["sagemaker"].create_model_package_group(ModelPackageGroupName=group)
    yield Env(name, RecorderSettings(env_name=name, image_repository=repository), group, aws)
    clients.reset_clients()


def champion(package: str | None = None, weight: str = "1.0") -> ServedVariant:
    return ServedVariant(name="champion", initial_weight=weight, model_package_arn=package)


def test_a_first_deploy_without_a_package_records_none_and_the_initial_weight(env: Env) -> None:
    # WHEN the recorder runs with no package named
    result = env.record(champion())
    # THEN the state exists: no champion yet (the endpoint's condition is false), the configured weight
    assert result["ChampionModelPackageArn"] == "none"
    assert env.value(variant_parameter(env.name, "champion", "model-package-arn")) == "none"
    assert env.value(variant_parameter(env.name, "champion", "weight")) == "1.0"
    assert env.value(baseline_parameter(env.name, "constraints")) == "none"


def test_promoting_records_the_package_its_baseline_and_tags_its_image(env: Env) -> None:
    # GIVEN a registered package with a data-quality baseline
    package = env.register()
    # WHEN a deploy names it
    result = env.record(champion(package))
    # THEN the state holds it and its baseline, and its image carries the protected tag
    assert env.value(variant_parameter(env.name, "champion", "model-package-arn")) == package
    assert result["BaselineConstraints"] == f"s3://b/{env.name}/constraints.json"
    assert env.value(baseline_parameter(env.name, "statistics")) == f"s3://b/{env.name}/statistics.json"
    version = package.rsplit("/", 1)[1]
    assert env.tags() == {"0.1.0", f"promoted-{env.group}-{version}"}
    # AND recording it again changes nothing (the tag is there already)
    env.record(champion(package))
    assert env.tags() == {"0.1.0", f"promoted-{env.group}-{version}"}


def test_a_package_without_a_baseline_is_recorded_with_none(env: Env) -> None:
    package = env.register(version_baseline=False)
    env.record(champion(package))
    assert env.value(variant_parameter(env.name, "champion", "model-package-arn")) == package
    assert env.value(baseline_parameter(env.name, "constraints")) == "none"


def test_a_plain_deploy_keeps_the_package_and_a_swapped_weight(env: Env) -> None:
    # GIVEN a promoted package and a weight swapped afterwards (make swap-weights writes the state)
    package = env.register()
    env.record(champion(package), ServedVariant("challenger", "0", None))
    env.aws["ssm"].put_parameter(
        Name=variant_parameter(env.name, "challenger", "weight"), Value="10", Type="String", Overwrite=True
    )
    # WHEN a deploy names no package (and config still says weight 0)
    result = env.record(champion(), ServedVariant("challenger", "0", None))
    # THEN the champion and the swap stay; the challenger serves the champion's package until it gets its own
    assert result["ChampionModelPackageArn"] == package
    assert env.value(variant_parameter(env.name, "challenger", "weight")) == "10"
    assert env.value(variant_parameter(env.name, "challenger", "model-package-arn")) == package


def test_an_image_in_another_accounts_repository_is_left_to_its_registry(env: Env) -> None:
    # GIVEN a recorder whose repository is not the package's (prod serving the registry env's package)
    package = env.register()
    other = RecorderSettings(env_name=env.name, image_repository="esteira-elsewhere/model")
    # WHEN it records the package
    record(other, [champion(package)], ssm=clients.ssm(), sagemaker=clients.sagemaker(), ecr=clients.ecr())
    # THEN the package is recorded, the image untouched
    assert env.value(variant_parameter(env.name, "champion", "model-package-arn")) == package
    assert env.tags() == {"0.1.0"}


def test_bad_properties_fail_the_deploy_naming_the_field(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ServedStateError, match="InitialWeight"):
        variants_from_properties({"Variants": [{"Name": "champion", "InitialWeight": "-1"}]})
    with pytest.raises(ServedStateError, match="ModelPackageArn"):
        variants_from_properties({"Variants": [{"Name": "champion", "InitialWeight": "1", "ModelPackageArn": "x"}]})
    # AND the handler answers FAILED with the reason, rather than leaving CloudFormation waiting
    for key, value in env.settings.to_env().items():
        monkeypatch.setenv(key, value)
    answer = handle({"RequestType": "Create", "ResourceProperties": {"Variants": []}})
    assert answer["Status"] == "FAILED" and "Variants" in answer["Reason"]
    # AND a Delete leaves the state as it is
    env.record(champion())
    assert handle({"RequestType": "Delete", "ResourceProperties": {}}) == {"Status": "SUCCESS", "Data": {}}
    assert env.value(variant_parameter(env.name, "champion", "weight")) == "1.0"


def test_the_answer_reaches_cloudformations_presigned_url() -> None:
    # GIVEN a local HTTP server standing in for CloudFormation's pre-signed S3 URL
    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request)
    thread.start()
    event = {
        "ResponseURL": f"http://127.0.0.1:{server.server_port}/answer",
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/Esteira-t-Registry/1",
        "RequestId": "r-1",
        "LogicalResourceId": "ServedState",
    }
    # WHEN the handler answers
    respond(event, "stream-1", {"Status": "SUCCESS", "Data": {"ChampionModelPackageArn": "none"}})
    thread.join(timeout=10)
    server.server_close()
    # THEN CloudFormation gets the status, the data and a stable physical id
    assert received == [
        {
            "Status": "SUCCESS",
            "Data": {"ChampionModelPackageArn": "none"},
            "PhysicalResourceId": "served-state-ServedState",
            "StackId": event["StackId"],
            "RequestId": "r-1",
            "LogicalResourceId": "ServedState",
            "Reason": "see CloudWatch Logs stream stream-1",
        }
    ]
