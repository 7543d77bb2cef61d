"""What prod depends on is kept: in the CD app, staging (the registry) and prod retain every stateful resource, and no
ECR lifecycle rule can expire a tagged image other than a candidate one."""

import json
from collections.abc import Callable

import pytest

from stacks import names
from stacks.config import load_config
from stacks.delivery_config import delivery_links, load_delivery_config
from tests.stacks.conftest import SynthesizedDelivery

Delivery = Callable[[bool], SynthesizedDelivery]
STATEFUL_TYPES = (
    "AWS::S3::Bucket",
    "AWS::KMS::Key",
    "AWS::ECR::Repository",
    "AWS::SageMaker::ModelPackageGroup",
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::SecretsManager::Secret",
)


def test_the_registry_env_and_later_stages_force_retain_whatever_their_removal_says() -> None:
    # GIVEN staging, the registry prod serves from, configured `removal: destroy`, and dev, which nothing depends on
    staging, dev = load_config("staging"), load_config("dev")
    assert staging.removal == "destroy"
    # WHEN their links to the delivery pipeline are applied
    staging_links, dev_links = delivery_links(staging), delivery_links(dev)
    assert staging_links is not None and dev_links is not None
    # THEN staging's stacks are built to retain, and dev's keep its config
    assert staging_links.retains_data and staging_links.applied_to(staging).retain
    assert not dev_links.retains_data and not dev_links.applied_to(dev).retain
    delivery = load_delivery_config()
    links = {env: delivery_links(load_config(env)) for env in delivery.stages}
    assert {env for env, link in links.items() if link is not None and link.retains_data} == {"staging", "prod"}


@pytest.mark.parametrize("with_model", [False, True])
@pytest.mark.parametrize("env", ["staging", "prod"])
def test_every_stateful_resource_of_staging_and_prod_is_retained(
    synth_delivery: Delivery, env: str, with_model: bool
) -> None:
    # GIVEN the CD app (`make synth DELIVERY=pipeline`), for a push and for an approval
    stacks = synth_delivery(with_model).stages[env]
    # THEN every bucket, key, repository, package group, table and secret is kept on deletion and on replacement
    found: dict[str, int] = {}
    for component, template in stacks.items():
        for resource_type in STATEFUL_TYPES:
            for logical_id, resource in template.find_resources(resource_type).items():
                found[resource_type] = found.get(resource_type, 0) + 1
                policies = (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy"))
                assert policies == ("Retain", "Retain"), f"{env} {component} {logical_id}: {policies}"
    # AND the check saw each kind the environment has (not a vacuous pass; the tables are TableV2, global tables)
    for resource_type in STATEFUL_TYPES:
        if resource_type != "AWS::DynamoDB::Table":
            assert found.get(resource_type), f"{env}: no {resource_type} found"


def test_no_lifecycle_rule_in_the_cd_app_can_expire_a_tagged_image_but_a_candidate(synth_delivery: Delivery) -> None:
    # GIVEN every template of the CD app
    delivery = synth_delivery(False)
    repositories = [
        resource
        for path in delivery.template_files()
        for resource in json.loads(path.read_text())["Resources"].values()
        if resource["Type"] == "AWS::ECR::Repository"
    ]
    assert len(repositories) == len(delivery.delivery.stages)
    for repository in repositories:
        rules = json.loads(repository["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
        for rule in rules:
            selection = rule["selection"]
            # THEN no rule selects "any" image, and a rule on tagged images names only the candidate prefix
            assert selection["tagStatus"] in ("untagged", "tagged"), rule
            if selection["tagStatus"] == "tagged":
                assert selection["tagPrefixList"] == [names.CANDIDATE_IMAGE_TAG_PREFIX], rule
                assert "tagPatternList" not in selection, rule
