"""Monthly cost estimate of one environment: `python -m tools.cost --env prod [--json]` (`make cost ENV=prod`).

Quantities come from the environment's config (instance types and counts, schedules, workers, retention) and,
for what config does not hold (traffic, run lengths, data sizes), from the `assumptions` of the price table,
`tools/prices.yaml`. Prices are a dated snapshot of public list prices: an estimate to refresh, never a quote.
No AWS call is made.

Modules: `prices` (the price table), `schedule` (cron runs a month), `model` (lines and the estimate), `usage`
(what the line items share), `items` (one function per line item, in the order of the `LINE_ITEMS` table),
`estimate` (runs the table), `report` (the printed table and the CLI).
"""

from tools.cost.estimate import estimate
from tools.cost.items import LINE_ITEMS
from tools.cost.model import Estimate, Line
from tools.cost.prices import PRICE_TABLE, Assumptions, CostError, PriceTable, load_price_table
from tools.cost.report import ESTIMATE_WARNING, format_table, main
from tools.cost.schedule import runs_per_month
from tools.cost.usage import Usage

__all__ = [
    "ESTIMATE_WARNING",
    "LINE_ITEMS",
    "PRICE_TABLE",
    "Assumptions",
    "CostError",
    "Estimate",
    "Line",
    "PriceTable",
    "Usage",
    "estimate",
    "format_table",
    "load_price_table",
    "main",
    "runs_per_month",
]
