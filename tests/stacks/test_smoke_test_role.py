"""The smoke-test role reads exactly the dataset runs' holdout prefixes (and the model), nothing broader.

Same account (the shipped delivery: staging is the registry and the smoke-test environment): the role's own policy.
Another account (a registry in dev, the smoke test in staging): the role's policy by account, and the registry
bucket's policy naming the role.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from esteira_model.channels import HOLDOUT_CHANNEL
from stacks import names
from stacks.config import load_config
from stacks.constructs.smoke_test_role import (
    HOLDOUT_OBJECTS,
    HOLDOUT_SPLIT,
    SmokeTestRole,
    share_holdouts_with_smoke_test,
)
from stacks.delivery_config import PromotionConfig, load_delivery_config
from tests.stacks.conftest import REPO_ROOT, SynthesizedDelivery

HOLDOUTS = "datasets/run_id=*/holdout/*"
# The app's context (target partitions among it), as app.py and the other stack tests synthesize with.
CDK_CONTEXT = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


def statements_of_role(template: Template, role_name: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to the role named ``role_name``."""
    ((role_id, _),) = template.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": role_name}}).items()
    found = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def flat(value: Any) -> str:
    """A policy resource as text: joins joined, any other intrinsic as ``<token>``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(flat(part) for part in parts)
    return "<token>"


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def s3_resources(statements: list[dict[str, Any]]) -> list[str]:
    """The resources of every statement with an S3 action, as text."""
    return [
        flat(resource)
        for statement in statements
        if any(action.startswith("s3:") for action in listed(statement["Action"]))
        for resource in listed(statement["Resource"])
    ]


def test_the_holdout_prefix_is_the_dataset_jobs_holdout_split() -> None:
    assert HOLDOUT_SPLIT == HOLDOUT_CHANNEL and HOLDOUT_OBJECTS == HOLDOUTS


def test_in_the_registry_account_the_role_reads_the_model_and_the_holdouts_only(
    synth_delivery: Callable[[bool], SynthesizedDelivery],
) -> None:
    # GIVEN the shipped delivery: the smoke test runs in staging, which is also the registry
    delivery = synth_delivery(False)
    env = delivery.delivery.smoke_test.env
    assert env == delivery.delivery.promotion.registry_env
    statements = statements_of_role(delivery.stages[env]["Serving"], f"esteira-{env}-smoke-test")
    # THEN it may get objects under the holdout prefixes, and list the bucket only with a holdout prefix
    (read,) = [s for s in statements if s.get("Sid") == "ReadDatasetHoldouts"]
    assert read["Action"] == "s3:GetObject" and flat(read["Resource"]) == f"<token>/{HOLDOUTS}"
    (listing,) = [s for s in statements if s.get("Sid") == "ListDatasetHoldouts"]
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": HOLDOUTS}}
    # AND every S3 object it may read is the model's (models/) or a holdout's: no other split, no other prefix
    assert sorted(set(s3_resources(statements))) == sorted(
        ["<token>", f"<token>/{HOLDOUTS}", f"<token>/{names.MODEL_ARTIFACTS_PREFIX}*"]
    )
    assert not [s for s in statements if "s3:*" in json.dumps(s["Action"])]
    # AND it may decrypt with the data key the bucket is encrypted with
    assert [s for s in statements if "kms:Decrypt" in json.dumps(s["Action"])]


def cross_account_links() -> tuple[Any, Any]:
    """The shipped delivery with the registry moved to dev (another account than staging's smoke test)."""
    delivery = load_delivery_config()
    moved = delivery.model_copy(update={"promotion": PromotionConfig(registry_env="dev")})
    dev, staging = load_config("dev"), load_config("staging")
    return moved.links_for(staging, dev), moved.links_for(dev, dev)


def test_in_another_account_the_role_reads_the_registrys_holdouts_by_account() -> None:
    # GIVEN the smoke-test role of staging, with the registry in dev's account
    staging_links, _ = cross_account_links()
    assert staging_links is not None and staging_links.hosts_smoke_test
    app = App(context=CDK_CONTEXT)
    staging = load_config("staging")
    stack = Stack(app, "Serving", env=Environment(account=staging.account, region=staging.region))
    key = kms.Key(stack, "Key")
    SmokeTestRole(
        stack,
        "SmokeTest",
        role_name="esteira-staging-smoke-test",
        endpoint_name="esteira-staging-endpoint",
        env_name="staging",
        delivery=staging_links,
        artifacts=s3.Bucket(stack, "Artifacts", encryption_key=key),
        key=key,
    )
    statements = statements_of_role(Template.from_stack(stack), "esteira-staging-smoke-test")
    # THEN it reads holdouts in the registry's account only, and lists only holdout prefixes there
    pinned = {"s3:ResourceAccount": staging_links.registry_account}
    (read,) = [s for s in statements if s.get("Sid") == "ReadDatasetHoldouts"]
    assert read["Resource"] == f"arn:aws:s3:::*/{HOLDOUTS}" and read["Condition"] == {"StringEquals": pinned}
    (listing,) = [s for s in statements if s.get("Sid") == "ListDatasetHoldouts"]
    assert listing["Condition"] == {"StringEquals": pinned, "StringLike": {"s3:prefix": HOLDOUTS}}
    # AND decrypts only through S3 in the registry's region
    decrypt = [s for s in statements if s.get("Sid") == "DecryptRegistryModels"]
    assert decrypt and decrypt[0]["Condition"]["StringEquals"]["kms:ViaService"].startswith("s3.")
    # AND nothing else of the registry's bucket: the model (models/) and the holdouts only
    assert sorted(set(s3_resources(statements))) == sorted(
        ["arn:aws:s3:::*", f"arn:aws:s3:::*/{HOLDOUTS}", f"arn:aws:s3:::*/{names.MODEL_ARTIFACTS_PREFIX}*"]
    )


def test_the_registry_bucket_lets_exactly_that_role_read_the_holdouts() -> None:
    # GIVEN the registry (dev) environment's links when the smoke test runs in staging's account
    staging = load_config("staging")
    _, dev_links = cross_account_links()
    assert dev_links is not None
    assert dev_links.smoke_test_holdout_reader == (staging.account, "esteira-staging-smoke-test")
    app = App(context=CDK_CONTEXT)
    dev = load_config("dev")
    stack = Stack(app, "DataPlatform", env=Environment(account=dev.account, region=dev.region))
    bucket = s3.Bucket(stack, "Artifacts")
    # WHEN its artifacts bucket is shared with the smoke test
    share_holdouts_with_smoke_test(bucket, dev_links.smoke_test_holdout_reader)
    ((_, policy),) = Template.from_stack(stack).find_resources("AWS::S3::BucketPolicy").items()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    # THEN two statements, by staging's account conditioned on the role's ARN: get holdout objects, list holdouts
    role = f"arn:aws:iam::{staging.account}:role/esteira-staging-smoke-test"
    assert sorted(s["Sid"] for s in statements) == ["SmokeTestListDatasetHoldouts", "SmokeTestReadDatasetHoldouts"]
    for statement in statements:
        assert json.dumps(statement["Principal"]).count(staging.account) == 1
        assert statement["Condition"]["ArnEquals"] == {"aws:PrincipalArn": role}
    (read,) = [s for s in statements if s["Sid"] == "SmokeTestReadDatasetHoldouts"]
    assert read["Action"] == "s3:GetObject" and flat(read["Resource"]) == f"<token>/{HOLDOUTS}"
    (listing,) = [s for s in statements if s["Sid"] == "SmokeTestListDatasetHoldouts"]
    assert listing["Action"] == "s3:ListBucket" and listing["Condition"]["StringLike"] == {"s3:prefix": HOLDOUTS}


def test_no_bucket_grant_when_the_smoke_test_runs_in_the_registry_account() -> None:
    delivery = load_delivery_config()
    staging = load_config("staging")
    links = delivery.links_for(staging, staging)
    assert links is not None and links.smoke_test_holdout_reader is None
    assert dataclasses.replace(links).registry_account == staging.account
