"""ECR: scan on push, immutable tags, KMS, lifecycle, RETAIN in prod."""

from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match

from stacks import names
from tests.stacks.conftest import ENVS, SynthesizedEnv


@pytest.mark.parametrize("env", ENVS)
def test_model_repository_is_scanned_immutable_and_kms_encrypted(
    synth: Callable[[str], SynthesizedEnv], env: str
) -> None:
    synth(env).templates["Registry"].has_resource_properties(
        "AWS::ECR::Repository",
        {
            "RepositoryName": f"esteira-{env}/{names.MODEL_IMAGE_REPOSITORY}",
            "ImageScanningConfiguration": {"ScanOnPush": True},
            "ImageTagMutability": "IMMUTABLE",
            "EncryptionConfiguration": {"EncryptionType": "KMS", "KmsKey": Match.any_value()},
        },
    )


@pytest.mark.parametrize("env", ENVS)
def test_lifecycle_keeps_the_configured_number_of_images(synth: Callable[[str], SynthesizedEnv], env: str) -> None:
    synthesized = synth(env)
    (repository,) = synthesized.templates["Registry"].find_resources("AWS::ECR::Repository").values()
    policy = repository["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"]
    assert f'"countNumber":{synthesized.config.registry.keep_images}' in policy
    assert '"countType":"imageCountMoreThan"' in policy
    assert '"tagStatus":"untagged"' in policy


@pytest.mark.parametrize(("env", "deletion_policy"), [("dev", "Delete"), ("prod", "Retain")])
def test_repository_is_retained_in_prod(synth: Callable[[str], SynthesizedEnv], env: str, deletion_policy: str) -> None:
    synth(env).templates["Registry"].has_resource("AWS::ECR::Repository", {"DeletionPolicy": deletion_policy})
