"""What an estimate is made of: priced line items, and the estimate of one environment."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Line:
    service: str
    item: str
    quantity: float
    unit: str
    unit_price: float  # USD per `per` units
    per: int = 1
    note: str = ""

    @property
    def monthly_usd(self) -> float:
        return self.quantity * self.unit_price / self.per


@dataclass(frozen=True)
class Estimate:
    env: str
    as_of: str
    region: str
    currency: str
    lines: tuple[Line, ...]
    always_on_instances: int
    always_on_instance_hours: float
    notes: tuple[str, ...]
    assumptions: dict[str, Any] = field(default_factory=dict)

    @property
    def total_usd(self) -> float:
        return sum(line.monthly_usd for line in self.lines)

    def line(self, service: str, item_prefix: str = "") -> Line:
        """The one line of `service` whose item starts with `item_prefix` (for tests and callers)."""
        found = [x for x in self.lines if x.service == service and x.item.startswith(item_prefix)]
        if len(found) != 1:
            raise KeyError(f"{len(found)} lines match {service!r} / {item_prefix!r}")
        return found[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "as_of": self.as_of,
            "region": self.region,
            "currency": self.currency,
            "estimate_only": True,
            "always_on_instances": self.always_on_instances,
            "always_on_instance_hours": self.always_on_instance_hours,
            "lines": [{**asdict(line), "monthly_usd": round(line.monthly_usd, 4)} for line in self.lines],
            "total_usd": round(self.total_usd, 4),
            "notes": list(self.notes),
            "assumptions": self.assumptions,
        }
