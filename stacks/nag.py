"""cdk-nag acknowledgments. Each names one rule (or one finding of it) on one construct, with the reason."""

import hashlib
import json
import re

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

NAMESPACE = "AwsSolutions"


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """`rule` is e.g. "IAM5" or "IAM5[Action::s3:List*]"."""
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{NAMESPACE}::{NAMESPACE}-{rule}", reason=reason))


HARDCODED_ZONES_REASON = (
    "Zones come from config (or the subnets it names) so that synth never asks the account for them."
)


ZONE_BEARING_TYPES = ("AWS::EC2::Subnet", "AWS::Glue::Connection")


def acknowledge_hardcoded_zones(construct: IConstruct) -> None:
    """CDK's CloudFormation validation and cfn-lint warn on literal zones (W3010); ours are deliberate."""
    Validations.of(construct).acknowledge(
        Acknowledgment(id="CloudFormation-Validate::W3010", reason=HARDCODED_ZONES_REASON)
    )
    for child in construct.node.find_all():
        if isinstance(child, CfnResource) and child.cfn_resource_type in ZONE_BEARING_TYPES:
            child.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3010"]}, "reason": HARDCODED_ZONES_REASON})


def objects_of(bucket: s3.IBucket, key_pattern: str = "*", consumer: IConstruct | None = None) -> str:
    """The finding id cdk-nag gives `<bucket ARN>/<key_pattern>` in a policy of `consumer`'s stack.

    Within one stack the ARN is a GetAtt. From another stack it is CDK's weak cross-stack reference, an
    `Fn::GetStackOutput` of the output CDK publishes in the producer: `Publish/Output<resolved reference>`,
    whose logical id is the path made alphanumeric plus the first 8 hex digits of its MD5. If CDK changes
    that scheme, tests/stacks/test_nag.py fails on the unmatched finding.
    """
    producer = Stack.of(bucket)
    cfn_bucket = bucket.node.default_child
    assert isinstance(cfn_bucket, CfnResource), "only buckets defined in this app have a logical id"
    logical_id = producer.get_logical_id(cfn_bucket)
    if consumer is None or Stack.of(consumer) is producer:
        return f"Resource::<{logical_id}.Arn>/{key_pattern}"
    output_path = "Publish/Output" + json.dumps({"Fn::GetAtt": [logical_id, "Arn"]}, separators=(",", ":"))
    output_name = re.sub(r"[^A-Za-z0-9]", "", output_path) + hashlib.md5(output_path.encode()).hexdigest()[:8].upper()
    reference = {
        "Fn::GetStackOutput": {"StackName": producer.stack_name, "Region": producer.region, "OutputName": output_name}
    }
    return f"Resource::{json.dumps(reference, separators=(',', ':'))}/{key_pattern}"


def assets_bucket_objects(stack: Stack) -> str:
    """The finding id of `<CDK bootstrap assets bucket ARN>/*`, which asset grants produce."""
    return f"Resource::arn:{stack.partition}:s3:::cdk-hnb659fds-assets-{stack.account}-{stack.region}/*"


# What CDK's bucket grants (read, put, read_write) and grant_encrypt_decrypt put in a policy with wildcards.
S3_GRANT_ACTIONS = ("Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*", "Action::s3:Abort*")
KMS_GRANT_ACTIONS = ("Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*")
KMS_GRANT_REASON = "CDK grant_encrypt_decrypt, limited to the environment's data key (the only resource)."


def acknowledge_bucket_grants(
    policy: IConstruct, reason: str, *object_findings: str, extra: tuple[str, ...] = ()
) -> None:
    """The action wildcards of CDK bucket grants, plus the `objects_of` findings of the prefixes granted."""
    for finding in (*S3_GRANT_ACTIONS, *extra, *object_findings):
        acknowledge(policy, f"IAM5[{finding}]", reason)


def acknowledge_key_grant(policy: IConstruct, reason: str = KMS_GRANT_REASON) -> None:
    for finding in KMS_GRANT_ACTIONS:
        acknowledge(policy, f"IAM5[{finding}]", reason)


def _rendered(value: object) -> str:
    """A resolved policy value as cdk-nag prints it in finding ids: `<Id>` for Ref, `<Id.Attr>` for GetAtt."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(_rendered(part) for part in parts)
    return json.dumps(value, separators=(",", ":"))


def wildcard_findings(policy: iam.CfnPolicy) -> list[str]:
    """The IAM5 finding ids of a policy's wildcard actions and resources, as cdk-nag names them."""
    document = Stack.of(policy).resolve(policy.policy_document)
    findings: list[str] = []
    for statement in document.get("Statement", []):
        for key, kind in (("Action", "Action"), ("Resource", "Resource")):
            values = statement.get(key, [])
            for value in values if isinstance(values, list) else [values]:
                rendered = _rendered(value)
                if "*" in rendered and f"{kind}::{rendered}" not in findings:
                    findings.append(f"{kind}::{rendered}")
    return findings


# checkov (`make checkov`) reads skips from a resource's Metadata: {"checkov": {"skip": [{"id", "comment"}]}}.
CHECKOV_CHECK_ID = re.compile(r"^CKV2?_AWS_[0-9]+$")
CHECKOV_MIN_REASON = 30


def skip_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Skip one checkov check on one resource (`construct` or its default child), with the reason it does not apply.

    The skip sits next to the resource it is about; tests/stacks/test_checkov_skips.py reads every template's skips.
    """
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise ValueError(f"checkov skip {check_id}: {construct.node.path} is not a CloudFormation resource")
    if not CHECKOV_CHECK_ID.match(check_id):
        raise ValueError(f"checkov skip on {construct.node.path}: {check_id!r} is not one check id (CKV_AWS_<n>)")
    if len(reason.strip()) < CHECKOV_MIN_REASON:
        raise ValueError(
            f"checkov skip {check_id} on {construct.node.path}: give a reason of {CHECKOV_MIN_REASON}+ chars"
        )
    metadata = resource.get_metadata("checkov") or {}
    skips = [skip for skip in metadata.get("skip", []) if skip["id"] != check_id]
    resource.add_metadata("checkov", {**metadata, "skip": [*skips, {"id": check_id, "comment": reason}]})


CDK_PROVIDER_HANDLER_SKIPS = {
    "CKV_AWS_116": "CDK's own custom-resource handler, invoked synchronously by CloudFormation during a deploy, "
    "which fails and rolls back on an error: there is no event to dead-letter.",
    "CKV_AWS_117": "CDK's own custom-resource handler: it calls only the S3 or EC2 API during a deploy and reaches "
    "nothing inside a VPC.",
    "CKV_AWS_115": "CDK's own custom-resource handler: CloudFormation invokes it once per resource change during a "
    "deploy, so its concurrency is bounded by the stack's few custom resources.",
}


# The singleton function behind every AwsCustomResource of a stack (CDK names it after a fixed UUID).
AWS_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"


def skip_checkov_on_cdk_providers(stack: Stack) -> None:
    """CDK's singleton custom-resource providers (bucket auto-delete, default security group restriction, the
    AwsCustomResource function that looks up S3's prefix list at deploy time)."""
    for child in stack.node.children:
        handler = child.node.try_find_child("Handler")
        if child.node.id.startswith(AWS_CUSTOM_RESOURCE_PROVIDER_ID):
            handler = child.node.default_child
        elif not child.node.id.startswith("Custom::"):
            continue
        if isinstance(handler, CfnResource):
            for check_id, reason in CDK_PROVIDER_HANDLER_SKIPS.items():
                skip_checkov(handler, check_id, reason)
