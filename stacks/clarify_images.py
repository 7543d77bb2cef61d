"""Where each region publishes SageMaker Clarify's processing image (`sagemaker-clarify-processing:1.0`).

The accounts are those of the SageMaker docs' "Prebuilt SageMaker Clarify containers" page (image path
``<account>.dkr.ecr.<region>.amazonaws.com/sagemaker-clarify-processing:1.0``, ``.amazonaws.com.cn`` in China), as
the SageMaker Python SDK's ``image_uri_config/clarify.json`` lists them. A region missing here fails at synth naming
the config key ``region``: SageMaker would reject the job at run time.
"""

from typing import Final

from aws_cdk import Token

from stacks.config import ConfigError

CLARIFY_REPOSITORY: Final = "sagemaker-clarify-processing"
CLARIFY_IMAGE_TAG: Final = "1.0"
CLARIFY_CONTAINER_DOCS: Final = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/clarify-processing-job-configure-container.html"
)
CLARIFY_REGISTRIES: Final = {
    "af-south-1": "811711786498",
    "ap-east-1": "098760798382",
    "ap-northeast-1": "377024640650",
    "ap-northeast-2": "263625296855",
    "ap-northeast-3": "364406365360",
    "ap-south-1": "452307495513",
    "ap-southeast-1": "834264404009",
    "ap-southeast-2": "007051062584",
    "ca-central-1": "675030665977",
    "cn-north-1": "122526803553",
    "cn-northwest-1": "122578899357",
    "eu-central-1": "017069133835",
    "eu-north-1": "763603941244",
    "eu-south-1": "638885417683",
    "eu-west-1": "131013547314",
    "eu-west-2": "440796970383",
    "eu-west-3": "341593696636",
    "me-south-1": "835444307964",
    "sa-east-1": "520018980103",
    "us-east-1": "205585389593",
    "us-east-2": "211330385671",
    "us-west-1": "740489534195",
    "us-west-2": "306415355426",
}


def _registry(region: str) -> str:
    if Token.is_unresolved(region):
        raise ConfigError("region: the Clarify processing image is per region; set the environment's region")
    if region not in CLARIFY_REGISTRIES:
        raise ConfigError(
            f"region: SageMaker publishes no Clarify processing image ({CLARIFY_REPOSITORY}) known here for "
            f"{region!r}; supported: {', '.join(sorted(CLARIFY_REGISTRIES))} (add the region's account from "
            f"{CLARIFY_CONTAINER_DOCS}, or set training.bias.enabled: false)"
        )
    return CLARIFY_REGISTRIES[region]


def clarify_image(region: str) -> str:
    """Clarify's processing image URI in ``region``."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{_registry(region)}.dkr.ecr.{region}.{suffix}/{CLARIFY_REPOSITORY}:{CLARIFY_IMAGE_TAG}"


def clarify_repository_arn(region: str) -> str:
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    return f"arn:{partition}:ecr:{region}:{_registry(region)}:repository/{CLARIFY_REPOSITORY}"
