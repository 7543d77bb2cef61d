"""Record what an environment serves in its served state (``esteira_contracts.served``), in its own account.

Runs as a custom resource of the environment's Registry stack, which deploys before its Serving stack: every deploy
first makes sure each field exists (a variant's weight from config, its package ``none``), never overwriting one, so
a weight swap (``make swap-weights``) survives; a deploy that names packages (``-c model_package_arn=`` or config)
then writes them. For the champion's package it also records the Model Monitor baseline the package registered
(``DriftCheckBaselines.ModelDataQuality``; ``none`` when it registered none) and adds the protected tag
``promoted-<group>-<version>`` to its image when the image is in this environment's repository (ECR tags an image
with ``PutImage`` of the same manifest). The Serving stack's template then reads the state when it deploys.

A variant with no package of its own (a challenger before its first promotion) serves the champion's: an endpoint
needs a model for every variant, and its weight decides how much traffic it gets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from delivery.promote.arns import PACKAGE_ARN
from esteira_contracts.served import (
    UNSET,
    VARIANT_NAME,
    RecorderSettings,
    baseline_parameter,
    promoted_image_tag,
    variant_parameter,
)

logger = Logger(child=True)

# <account>.dkr.ecr.<region>.amazonaws.com/<repository>(:<tag>|@<digest>)
IMAGE_URI = re.compile(
    r"(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


class ServedStateError(ValueError):
    """The custom resource's properties or a package are not what the recorder can record; the deploy fails."""


@dataclass(frozen=True)
class ServedVariant:
    name: str
    initial_weight: str
    model_package_arn: str | None

    @classmethod
    def from_properties(cls, raw: Any) -> ServedVariant:
        if not isinstance(raw, dict):
            raise ServedStateError(f"a variant must be an object, got {raw!r}")
        name, weight, package = raw.get("Name"), raw.get("InitialWeight"), raw.get("ModelPackageArn") or None
        if not isinstance(name, str) or VARIANT_NAME.fullmatch(name) is None:
            raise ServedStateError(f"variant Name {name!r} is not a SageMaker variant name")
        try:
            if float(str(weight)) < 0:
                raise ValueError
        except ValueError:
            raise ServedStateError(f"variant {name}: InitialWeight {weight!r} is not a number >= 0") from None
        if package is not None and (not isinstance(package, str) or PACKAGE_ARN.fullmatch(package) is None):
            raise ServedStateError(f"variant {name}: ModelPackageArn {package!r} is not a versioned package ARN")
        return cls(name=name, initial_weight=str(weight), model_package_arn=package)


def variants_from_properties(properties: Any) -> list[ServedVariant]:
    raw = properties.get("Variants") if isinstance(properties, dict) else None
    if not isinstance(raw, list) or not raw:
        raise ServedStateError("the custom resource needs Variants: a non-empty list, the champion first")
    return [ServedVariant.from_properties(item) for item in raw]


def record(
    settings: RecorderSettings, variants: list[ServedVariant], *, ssm: Any, sagemaker: Any, ecr: Any
) -> dict[str, str]:
    """Ensure every field, write the named packages; returns what the champion serves and its baseline."""
    env = settings.env_name
    for variant in variants:
        _create_if_absent(ssm, variant_parameter(env, variant.name, "weight"), variant.initial_weight)
        _create_if_absent(ssm, variant_parameter(env, variant.name, "model-package-arn"), UNSET)
    for kind in ("constraints", "statistics"):
        _create_if_absent(ssm, baseline_parameter(env, kind), UNSET)
    champion = variants[0]
    if champion.model_package_arn is not None:
        _promote_champion(settings, champion, champion.model_package_arn, ssm=ssm, sagemaker=sagemaker, ecr=ecr)
    champion_package = _get(ssm, variant_parameter(env, champion.name, "model-package-arn"))
    for variant in variants[1:]:
        name = variant_parameter(env, variant.name, "model-package-arn")
        if variant.model_package_arn is not None:
            _put(ssm, name, variant.model_package_arn)
        elif _get(ssm, name) == UNSET and champion_package != UNSET:
            _put(ssm, name, champion_package)
    return {
        "ChampionModelPackageArn": champion_package,
        "BaselineConstraints": _get(ssm, baseline_parameter(env, "constraints")),
        "BaselineStatistics": _get(ssm, baseline_parameter(env, "statistics")),
    }


def _promote_champion(
    settings: RecorderSettings, champion: ServedVariant, package_arn: str, *, ssm: Any, sagemaker: Any, ecr: Any
) -> None:
    """Baseline first, image tag next, the package last: a failure part-way leaves the old package served."""
    env = settings.env_name
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    quality = package.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
    constraints = quality.get("Constraints", {}).get("S3Uri") or UNSET
    statistics = quality.get("Statistics", {}).get("S3Uri") or UNSET
    if UNSET in (constraints, statistics):
        logger.warning("the package registered no data-quality baseline", extra={"model_package_arn": package_arn})
    _put(ssm, baseline_parameter(env, "constraints"), constraints)
    _put(ssm, baseline_parameter(env, "statistics"), statistics)
    match = PACKAGE_ARN.fullmatch(package_arn)
    assert match is not None  # checked by ServedVariant
    tag = promoted_image_tag(match["group"], int(match["version"]))
    for container in package.get("InferenceSpecification", {}).get("Containers", []):
        tag_image(settings, container, tag, ecr=ecr)
    _put(ssm, variant_parameter(env, champion.name, "model-package-arn"), package_arn)


def tag_image(settings: RecorderSettings, container: dict[str, Any], tag: str, *, ecr: Any) -> bool:
    """Add ``tag`` to the container's image when it is in this environment's repository; True when tagged now."""
    uri = IMAGE_URI.fullmatch(str(container.get("Image", "")))
    if uri is None or uri["repository"] != settings.image_repository:
        logger.info("image not in this environment's repository: its registry tags it", extra={"image": container})
        return False
    digest = container.get("ImageDigest") or uri["digest"]
    image_id = {"imageDigest": digest} if digest else {"imageTag": uri["tag"]}
    found = ecr.batch_get_image(registryId=uri["account"], repositoryName=uri["repository"], imageIds=[image_id])
    if not found.get("images"):
        raise ServedStateError(f"image {container['Image']} of the promoted package is not in its repository")
    image = found["images"][0]
    try:
        ecr.put_image(
            registryId=uri["account"],
            repositoryName=uri["repository"],
            imageManifest=image["imageManifest"],
            imageManifestMediaType=image.get("imageManifestMediaType", ""),
            imageTag=tag,
            imageDigest=image["imageId"]["imageDigest"],
        )
    except ClientError as exc:
        # The image already carries the tag: promoted before (a redeploy, a rollback to it).
        if exc.response.get("Error", {}).get("Code") == "ImageAlreadyExistsException":
            return False
        raise
    logger.info("image tagged", extra={"image": container["Image"], "tag": tag})
    return True


def _create_if_absent(ssm: Any, name: str, value: str) -> bool:
    try:
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=False)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterAlreadyExists":
            return False
        raise
    return True


def _get(ssm: Any, name: str) -> str:
    return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])


def _put(ssm: Any, name: str, value: str) -> None:
    if _get(ssm, name) != value:
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
