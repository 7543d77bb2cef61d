"""ECR: scan on push, immutable tags, KMS, lifecycle, RETAIN where prod depends on it; the served-state recorder."""

import json
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


@pytest.mark.parametrize(("env", "deletion_policy"), [("dev", "Delete"), ("staging", "Retain"), ("prod", "Retain")])
def test_repository_is_retained_in_prod(synth: Callable[[str], SynthesizedEnv], env: str, deletion_policy: str) -> None:
    synth(env).templates["Registry"].has_resource("AWS::ECR::Repository", {"DeletionPolicy": deletion_policy})


@pytest.mark.parametrize("env", ENVS)
def test_the_recorder_may_tag_images_of_this_repository_only_by_reading_and_putting_their_manifest(
    synth: Callable[[str], SynthesizedEnv], env: str
) -> None:
    template = synth(env).templates["Registry"]
    (repository_id,) = template.find_resources("AWS::ECR::Repository")
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "TagPromotedImage",
                            "Effect": "Allow",
                            "Action": ["ecr:BatchGetImage", "ecr:PutImage"],
                            "Resource": {"Fn::GetAtt": [repository_id, "Arn"]},
                        }
                    ]
                )
            }
        },
    )
    # AND the recorder is a custom resource whose function records the state of this environment
    template.resource_count_is("Custom::ServedState", 1)


def test_prod_may_describe_the_registry_packages_it_serves(synth: Callable[[str], SynthesizedEnv]) -> None:
    policies = json.dumps(synth("prod").templates["Registry"].find_resources("AWS::IAM::Policy"))
    assert "arn:aws:sagemaker:eu-west-1:222222222222:model-package/esteira-staging-model/*" in policies
    assert "arn:aws:sagemaker:eu-west-1:333333333333:model-package/esteira-prod-model/*" in policies
