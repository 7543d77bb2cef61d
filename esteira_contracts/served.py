"""What an environment serves, kept in SSM in its own account: the durable served state.

Deploys read it (CloudFormation resolves SSM-typed template parameters when it deploys; `cdk synth` calls no AWS
API), promotion writes it (the recorder custom resource, ``delivery.promote.served_handler``), and
``make swap-weights`` changes the weights. One String parameter per field, because CloudFormation cannot parse a
JSON document, all under one path per environment:

* ``/esteira/<env>/served/<variant>/model-package-arn``: the variant's package, or ``none`` before any promotion;
* ``/esteira/<env>/served/<variant>/weight``: its traffic weight (relative, as SageMaker's InitialVariantWeight);
* ``/esteira/<env>/served/baseline/constraints`` and ``.../statistics``: the champion package's Model Monitor
  baseline (its DriftCheckBaselines.ModelDataQuality S3 URIs), or ``none`` when the package registered none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

from esteira_contracts import layout
from esteira_contracts._base import EnvContract, setting

# The champion variant's name when the config lists no variants; the first variant is the champion otherwise.
CHAMPION_VARIANT: Final = "champion"
# An unset field: no package promoted yet, or no baseline registered with the champion's package.
UNSET: Final = layout.NO_MODEL_PACKAGE
VariantField = Literal["model-package-arn", "weight"]
BaselineKind = Literal["constraints", "statistics"]
# SageMaker's VariantName rule, which a parameter name's segment also satisfies.
VARIANT_NAME: Final = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def served_state_path(env: str) -> str:
    """The path under which every parameter of ``env``'s served state lives (IAM grants it with ``*``)."""
    return f"/{layout.PROJECT}/{env}/served/"


def variant_parameter(env: str, variant: str, field: VariantField) -> str:
    return f"{served_state_path(env)}{variant}/{field}"


def baseline_parameter(env: str, kind: BaselineKind) -> str:
    return f"{served_state_path(env)}baseline/{kind}"


def promoted_image_tag(group: str, version: int) -> str:
    """The protected tag promotion adds to a package's image: ``promoted-<group>-<version>`` (at most 128 chars)."""
    return f"{layout.PROMOTED_IMAGE_TAG_PREFIX}{group}-{version}"


@dataclass(frozen=True, kw_only=True)
class RecorderSettings(EnvContract):
    """``delivery.promote.served_handler.handler``: the environment whose served state it records, and the one
    repository whose images it may tag (the environment's own)."""

    component: ClassVar[str] = "served-state-recorder"

    env_name: str = setting("ENV_NAME", pattern=r"[a-z][a-z0-9-]{1,15}", pattern_help="an environment name")
    image_repository: str = setting(
        "IMAGE_REPOSITORY",
        pattern=r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
        pattern_help="an ECR repository name",
    )
