"""The estimate of one environment: every line item of `LINE_ITEMS`, and the notes that explain them."""

from __future__ import annotations

from stacks.config import CHAMPION_VARIANT, EnvironmentConfig
from tools.cost.items import LINE_ITEMS
from tools.cost.model import Estimate
from tools.cost.prices import PriceTable
from tools.cost.usage import Usage


def _notes(u: Usage) -> list[str]:
    notes = []
    if not u.has_model:
        notes.append(f"no model configured yet: assuming one {CHAMPION_VARIANT} variant")
    if u.serverless:
        notes.append("serverless endpoint: no always-on instance")
    return notes


def estimate(config: EnvironmentConfig, table: PriceTable) -> Estimate:
    usage = Usage.of(config, table)
    always_on_instances = sum(v.instance_count for v in usage.instance_variants)
    return Estimate(
        env=config.name,
        as_of=table.as_of.isoformat(),
        region=table.region,
        currency=table.currency,
        lines=tuple(line for item in LINE_ITEMS for line in item(usage)),
        always_on_instances=always_on_instances,
        always_on_instance_hours=always_on_instances * usage.hours,
        notes=tuple(_notes(usage)),
        assumptions=usage.assumed.model_dump(),
    )
