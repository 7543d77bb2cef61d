"""The estimate as a table for people, and the command line (`python -m tools.cost`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from stacks.config import ConfigError, available_envs, load_config
from tools.cost.estimate import estimate
from tools.cost.model import Estimate
from tools.cost.prices import PRICE_TABLE, CostError, load_price_table

DESCRIPTION = (
    "Monthly cost estimate of one environment: `python -m tools.cost --env prod [--json]` (`make cost ENV=prod`)."
)
ESTIMATE_WARNING = "Estimate from list prices as of {as_of} ({region}, {currency}); refresh tools/prices.yaml."


def _decimal(value: float) -> str:
    """Plain decimal notation, no exponent: 0.0000166667, 0.115, 1."""
    return f"{value:.10f}".rstrip("0").rstrip(".")


def _per(per: int) -> str:
    return {1: "", 1000: " / 1k", 10000: " / 10k", 1000000: " / 1M"}.get(per, f" / {per:,}")


def format_table(result: Estimate) -> str:
    header = ("Service", "Line item", "Quantity", "Unit", "Unit price", "Monthly USD")
    rows = [
        (
            line.service,
            line.item,
            f"{line.quantity:,.2f}",
            line.unit,
            f"${_decimal(line.unit_price)}{_per(line.per)}",
            f"{line.monthly_usd:,.2f}",
        )
        for line in result.lines
    ]
    total = ("TOTAL", "", "", "", "", f"{result.total_usd:,.2f}")
    widths = [max(len(row[i]) for row in [header, *rows, total]) for i in range(len(header))]
    right = {2, 4, 5}

    def fmt(row: Sequence[str]) -> str:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    out = [
        f"Esteira {result.env}: estimated monthly cost ({result.currency})",
        "ESTIMATE ONLY. " + ESTIMATE_WARNING.format(as_of=result.as_of, region=result.region, currency=result.currency),
        "",
        fmt(header),
        rule,
        *(fmt(row) for row in rows),
        rule,
        fmt(total),
        "",
        f"always-on instances: {result.always_on_instances} ({result.always_on_instance_hours:,.0f} instance-h/month)",
    ]
    out += [f"note: {note}" for note in result.notes]
    details = [f"note: {line.item}: {line.note}" for line in result.lines if line.note]
    out += details
    out += ["", "assumptions (tools/prices.yaml):"]
    out += [
        f"  {key}: {value:g}" if isinstance(value, float) else f"  {key}: {value}"
        for key, value in result.assumptions.items()
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cost", description=DESCRIPTION)
    parser.add_argument("--env", default="dev", choices=available_envs(), help="environment (config/<env>.yaml)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--prices", type=Path, default=PRICE_TABLE, help="price and assumption table (YAML)")
    args = parser.parse_args(argv)
    try:
        result = estimate(load_config(args.env), load_price_table(args.prices))
    except (ConfigError, CostError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_json(), indent=2) if args.json else format_table(result))
    return 0
