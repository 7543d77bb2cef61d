"""The delivery pipeline's artifact store: its own bucket, with the baseline every bucket of the project has."""

from collections.abc import Callable
from typing import Any

from aws_cdk.assertions import Match, Template

from tests.stacks.conftest import SynthesizedDelivery

Delivery = Callable[[bool], SynthesizedDelivery]


def _artifact_bucket(template: Template) -> tuple[str, dict[str, Any]]:
    (pipeline,) = template.find_resources("AWS::CodePipeline::Pipeline").values()
    bucket_id: str = pipeline["Properties"]["ArtifactStore"]["Location"]["Ref"]
    bucket: dict[str, Any] = template.to_json()["Resources"][bucket_id]
    return bucket_id, bucket


def test_the_pipeline_stores_artifacts_in_a_kms_versioned_access_logged_retained_bucket(
    synth_delivery: Delivery,
) -> None:
    # GIVEN the delivery app  WHEN synthesized
    template = synth_delivery(False).pipeline
    bucket_id, bucket = _artifact_bucket(template)
    properties = bucket["Properties"]
    # THEN the artifact store is KMS-encrypted with a rotating key of its own
    (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    key_id = encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0]
    key = template.to_json()["Resources"][key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    # AND versioned, access-logged to a logging bucket, lifecycle-managed and kept on stack deletion
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    logs_id = properties["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    assert logs_id != bucket_id
    rules = properties["LifecycleConfiguration"]["Rules"]
    assert all(rule["Status"] == "Enabled" for rule in rules)
    assert any("ExpirationInDays" in rule and "NoncurrentVersionExpiration" in rule for rule in rules)
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    # AND the logging bucket is versioned, expires its logs and is kept too
    logs_bucket = template.to_json()["Resources"][logs_id]
    assert logs_bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert logs_bucket["DeletionPolicy"] == "Retain"
    assert logs_bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 365


def test_both_buckets_refuse_requests_without_tls(synth_delivery: Delivery) -> None:
    template = synth_delivery(False).pipeline
    bucket_id, bucket = _artifact_bucket(template)
    logs_id = bucket["Properties"]["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    for bucket_ref in (bucket_id, logs_id):
        template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": bucket_ref},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                    )
                },
            },
        )
