"""Operations: the environment's dashboard and cross-cutting alarms."""

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks import names
from stacks.config import EnvironmentConfig
from stacks.constructs.operations_dashboard import Observed, OperationsDashboard


class OperationsStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        observed: Observed,
        alerts: sns.ITopic,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.dashboard = OperationsDashboard(
            self,
            "Operations",
            dashboard_name=config.resource_name("operations"),
            alarm_prefix=f"{names.PROJECT}-{config.name}",
            observed=observed,
            alerts=alerts,
        )
