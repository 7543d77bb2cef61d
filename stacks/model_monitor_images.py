"""Where each region publishes Model Monitor's analyzer image (`sagemaker-model-monitor-analyzer`).

One table for the baselining job (training state machine) and the data-quality schedule (serving). The accounts
are those of the SageMaker docs' "Model Monitor prebuilt container" page (image path
``<account>.dkr.ecr.<region>.amazonaws.com/sagemaker-model-monitor-analyzer``, ``.amazonaws.com.cn`` in China),
as the SageMaker Python SDK's ``image_uri_config/model-monitor.json`` lists them. A region missing here fails at
synth naming the config key ``region``: SageMaker would reject the job at run time.
"""

from typing import Final

from aws_cdk import Token

from stacks.config import ConfigError

ANALYZER_REPOSITORY: Final = "sagemaker-model-monitor-analyzer"
MODEL_MONITOR_REGISTRIES: Final = {
    "us-east-1": "156813124566",
    "us-east-2": "777275614652",
    "us-west-1": "890145073186",
    "us-west-2": "159807026194",
    "ca-central-1": "536280801234",
    "sa-east-1": "539772159869",
    "eu-west-1": "468650794304",
    "eu-west-2": "749857270468",
    "eu-west-3": "680080141114",
    "eu-central-1": "048819808253",
    "eu-north-1": "895015795356",
    "me-south-1": "607024016150",
    "ap-east-1": "001633400207",
    "ap-south-1": "126357580389",
    "ap-northeast-1": "574779866223",
    "ap-northeast-2": "709848358524",
    "ap-southeast-1": "245545462676",
    "ap-southeast-2": "563025443158",
    "cn-north-1": "453000072557",
    "cn-northwest-1": "453252182341",
}


def _registry(region: str) -> str:
    if Token.is_unresolved(region):
        raise ConfigError("region: the Model Monitor analyzer image is per region; set the environment's region")
    if region not in MODEL_MONITOR_REGISTRIES:
        raise ConfigError(
            f"region: SageMaker publishes no Model Monitor analyzer image ({ANALYZER_REPOSITORY}) known here for "
            f"{region!r}; supported: {', '.join(sorted(MODEL_MONITOR_REGISTRIES))} "
            "(add the region's account from the docs' Model Monitor prebuilt container registry paths)"
        )
    return MODEL_MONITOR_REGISTRIES[region]


def analyzer_image(region: str) -> str:
    """The analyzer's image URI in ``region``."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{_registry(region)}.dkr.ecr.{region}.{suffix}/{ANALYZER_REPOSITORY}"


def analyzer_repository_arn(region: str) -> str:
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    return f"arn:{partition}:ecr:{region}:{_registry(region)}:repository/{ANALYZER_REPOSITORY}"
