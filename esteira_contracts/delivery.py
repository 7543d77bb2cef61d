"""Contract of the promoter Lambda: registry decisions start the delivery pipeline with the approved package."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from esteira_contracts import aws_names, layout
from esteira_contracts._base import EnvContract, setting

# The SSM parameters the promoter keeps: what the pipeline last promoted (an ARN, or NO_MODEL_PACKAGE), and the
# promotions before it, newest first.
PROMOTED_PACKAGE_PARAMETER = f"/{layout.PROJECT}/delivery/promoted-model-package"
PROMOTION_HISTORY_PARAMETER = f"/{layout.PROJECT}/delivery/promotion-history"
# The registry's event, and the decisions that move a model in or out of service: the rule forwards exactly these
# to the promoter, which refuses anything else.
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
APPROVED = "Approved"
REJECTED = "Rejected"
PROMOTION_DECISIONS = (APPROVED, REJECTED)
# The pipeline variable that carries the package to deploy.
DEFAULT_PIPELINE_VARIABLE = "ModelPackageArn"


@dataclass(frozen=True, kw_only=True)
class PromoterSettings(EnvContract):
    """``delivery.promote.handler.handler``: which pipeline to start, for which registry's groups."""

    component: ClassVar[str] = "promoter"

    pipeline_name: str = setting("PIPELINE_NAME", pattern=aws_names.PIPELINE_NAME, pattern_help="a CodePipeline name")
    pipeline_variable: str = setting(
        "PIPELINE_VARIABLE",
        default=DEFAULT_PIPELINE_VARIABLE,
        pattern=aws_names.PIPELINE_VARIABLE,
        pattern_help="a pipeline variable name",
    )
    model_package_groups: tuple[str, ...] = setting(
        "MODEL_PACKAGE_GROUPS", pattern=aws_names.MODEL_PACKAGE_GROUP, pattern_help="a model package group"
    )
    registry_account: str = setting(
        "REGISTRY_ACCOUNT", pattern=aws_names.ACCOUNT_ID, pattern_help="a 12-digit account id"
    )
    # SSM String parameters: the promoted package's ARN (or "none"); a JSON list of the ones before, newest first.
    promoted_parameter: str = setting(
        "PROMOTED_PARAMETER", pattern=aws_names.SSM_PARAMETER_NAME, pattern_help="an SSM parameter name"
    )
    history_parameter: str = setting(
        "HISTORY_PARAMETER", pattern=aws_names.SSM_PARAMETER_NAME, pattern_help="an SSM parameter name"
    )

    def problems(self) -> list[str]:
        problems = []
        if not self.model_package_groups:
            problems.append(f"{self.name_of('model_package_groups')} is required (comma-separated group names)")
        if self.promoted_parameter == self.history_parameter:
            problems.append(
                f"{self.name_of('promoted_parameter')} and {self.name_of('history_parameter')} must name two "
                "different parameters"
            )
        return problems
