"""cdk-nag acknowledgments. Each names one rule (or one finding of it) on one construct, with the reason."""

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
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


def objects_of(bucket: s3.IBucket, key_pattern: str = "*") -> str:
    """The finding id cdk-nag gives `<bucket ARN>/<key_pattern>` in a policy."""
    cfn_bucket = bucket.node.default_child
    assert isinstance(cfn_bucket, CfnResource), "only buckets defined in this app have a logical id"
    return f"Resource::<{Stack.of(bucket).get_logical_id(cfn_bucket)}.Arn>/{key_pattern}"


def assets_bucket_objects(stack: Stack) -> str:
    """The finding id of `<CDK bootstrap assets bucket ARN>/*`, which asset grants produce."""
    return f"Resource::arn:{stack.partition}:s3:::cdk-hnb659fds-assets-{stack.account}-{stack.region}/*"
