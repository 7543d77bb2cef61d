"""ECR repositories for the images under containers/."""

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from constructs import Construct


class ImageRepository(Construct):
    """Scanned on push, immutable tags, KMS-encrypted, bounded by a lifecycle policy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository_name: str,
        key: kms.IKey,
        keep_images: int,
        untagged_expiration_days: int,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self,
            "Repository",
            repository_name=repository_name,
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
            empty_on_delete=not retain,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    rule_priority=1,
                    description="Expire untagged layers left by rebuilt tags",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=Duration.days(untagged_expiration_days),
                ),
                ecr.LifecycleRule(
                    rule_priority=2,
                    description=f"Keep the newest {keep_images} images",
                    tag_status=ecr.TagStatus.ANY,
                    max_image_count=keep_images,
                ),
            ],
        )
