"""ECR repositories for the images under containers/."""

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks import names


class ImageRepository(Construct):
    """Scanned on push, immutable tags, KMS-encrypted, bounded by a lifecycle policy.

    The lifecycle expires only untagged images and scratch builds tagged `candidate-...`. Every other tagged image
    (a commit or release tag that training names, and the `promoted-<version>` tag promotion adds) stays: a model
    package names its image by tag, so expiring one would break every endpoint, rollback and transform job that
    creates a model from that package. ECR selects an image when any of its tags matches a rule's prefix, which is
    why no rule names a prefix a served image can carry, and why no rule has tagStatus "any".
    """

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
                    description=f"Keep the newest {keep_images} candidate images ({names.CANDIDATE_IMAGE_TAG_PREFIX}*)",
                    tag_status=ecr.TagStatus.TAGGED,
                    tag_prefix_list=[names.CANDIDATE_IMAGE_TAG_PREFIX],
                    max_image_count=keep_images,
                ),
            ],
        )
