"""What the cost line items are computed from: config, prices, assumptions, and the quantities they share."""

from __future__ import annotations

import math
from dataclasses import dataclass

from stacks.config import CHAMPION_VARIANT, EnvironmentConfig
from tools.cost.prices import Assumptions, Prices, PriceTable
from tools.cost.schedule import runs_per_month


@dataclass(frozen=True)
class Variant:
    name: str
    instance_type: str
    instance_count: int


@dataclass(frozen=True)
class Usage:
    """What the line items are computed from."""

    config: EnvironmentConfig
    table: PriceTable
    assumed: Assumptions

    @classmethod
    def of(cls, config: EnvironmentConfig, table: PriceTable) -> Usage:
        return cls(config, table, table.for_env(config.name))

    @property
    def prices(self) -> Prices:
        return self.table.prices

    @property
    def hours(self) -> float:
        return self.table.hours_per_month

    @property
    def days(self) -> float:
        return self.table.days_per_month

    @property
    def has_model(self) -> bool:
        return bool(self.config.serving.variants)

    @property
    def variant_names(self) -> tuple[str, ...]:
        """The endpoint's variants, or the one it would have once a model is configured."""
        return tuple(v.name for v in self.config.serving.variants) or (CHAMPION_VARIANT,)

    @property
    def serverless(self) -> bool:
        return self.config.serving.serverless is not None

    @property
    def instance_variants(self) -> tuple[Variant, ...]:
        """The variants' always-on instances (none on a serverless endpoint), at least the autoscaling floor each."""
        if self.serverless:
            return ()
        serving = self.config.serving
        floor = serving.autoscaling.min_capacity
        configured = [(v.name, v.instance_type, v.initial_instance_count) for v in serving.variants]
        assumed: list[tuple[str, str | None, int | None]] = configured or [(CHAMPION_VARIANT, None, None)]
        return tuple(
            Variant(name, instance_type or serving.instance_type, max(count or serving.initial_instance_count, floor))
            for name, instance_type, count in assumed
        )

    @property
    def requests(self) -> float:
        return self.assumed.requests_per_day * self.days

    @property
    def batch_runs(self) -> float:
        schedule = self.config.batch.schedule
        if schedule is None:
            return self.assumed.batch_runs_per_month_on_demand
        return runs_per_month(schedule, self.days)

    @property
    def messages(self) -> float:
        """Predictions a month, one SQS message and one DynamoDB item each."""
        return self.batch_runs * self.assumed.predictions_per_batch_run

    @property
    def consumer_invocations(self) -> int:
        return math.ceil(self.messages / self.config.batch.consumer_batch_size)


def hours(minutes: float) -> float:
    return minutes / 60
