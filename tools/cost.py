"""Monthly cost estimate of one environment: `python -m tools.cost --env prod [--json]` (`make cost ENV=prod`).

Quantities come from the environment's config (instance types and counts, schedules, workers, retention) and,
for what config does not hold (traffic, run lengths, data sizes), from the `assumptions` of the price table,
`tools/prices.yaml`. Prices are a dated snapshot of public list prices: an estimate to refresh, never a quote.
No AWS call is made.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from stacks.config import CHAMPION_VARIANT, ConfigError, EnvironmentConfig, available_envs, load_config

PRICE_TABLE = Path(__file__).resolve().parent / "prices.yaml"
ESTIMATE_WARNING = "Estimate from list prices as of {as_of} ({region}, {currency}); refresh tools/prices.yaml."


class CostError(Exception):
    """The price table is unreadable, or lacks a price or an assumption this environment needs."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    price: float
    per: int = 1
    unit: str
    source: str


class Factor(_Strict):
    value: float
    unit: str
    source: str


class InstancePrices(_Strict):
    unit: str
    source: str
    by_instance_type: dict[str, float]


class WorkerDpus(_Strict):
    unit: str
    source: str
    by_worker_type: dict[str, int]


class Prices(_Strict):
    sagemaker_hosting: InstancePrices
    sagemaker_training: InstancePrices
    sagemaker_processing: InstancePrices
    sagemaker_transform: InstancePrices
    training_spot_discount: Factor
    sagemaker_serverless_compute: Price
    sagemaker_serverless_data: Price
    glue_dpu: Price
    glue_minimum_minutes: Factor
    glue_dpu_per_worker: WorkerDpus
    lambda_compute: Price
    lambda_requests: Price
    sqs_fifo_requests: Price
    s3_standard_storage: Price
    s3_put_requests: Price
    s3_get_requests: Price
    kms_key: Price
    kms_requests: Price
    secrets_manager_secret: Price
    logs_ingestion: Price
    logs_storage: Price
    cloudwatch_alarm: Price
    cloudwatch_dashboard: Price
    dynamodb_writes: Price
    dynamodb_reads: Price
    dynamodb_storage: Price
    stepfunctions_transitions: Price
    ecr_storage: Price
    athena_scanned: Price
    vpc_interface_endpoint: Price


class Assumptions(_Strict):
    """Per-environment inputs that config does not hold. Printed with every estimate."""

    note: str
    requests_per_day: float
    request_kb: float
    serverless_duration_ms: float
    extraction_run_minutes: float
    rows_extracted_per_day: float
    raw_row_bytes: float
    training_runs_per_month: float
    training_run_minutes: float
    batch_runs_per_month_on_demand: float
    batch_transform_minutes: float
    predictions_per_batch_run: float
    prediction_lookups_per_day: float
    lambda_launcher_ms: float
    lambda_fanout_ms_per_1000_predictions: float
    lambda_consumer_ms: float
    lambda_training_steps_ms: float
    stepfunctions_transitions_per_training_run: float
    stepfunctions_transitions_per_batch_run: float
    s3_other_storage_gb: float
    s3_put_requests_per_month: float
    s3_get_requests_per_month: float
    kms_requests_per_month: float
    log_ingestion_gb_per_month: float
    dynamodb_storage_gb: float
    ecr_storage_gb: float
    athena_tb_scanned_per_month: float
    monitoring_run_minutes: float


class PriceTable(_Strict):
    as_of: datetime.date
    region: str
    currency: str
    hours_per_month: float
    days_per_month: float
    prices: Prices
    created_network_interface_endpoints: tuple[str, ...]
    lambda_memory_mb: int
    lambda_sqs_pollers: int
    fixed_alarms: int
    dashboards: int
    assumptions: dict[str, Assumptions]

    def instance_price(self, table: str, instance_type: str) -> float:
        prices: InstancePrices = getattr(self.prices, table)
        try:
            return prices.by_instance_type[instance_type]
        except KeyError:
            known = ", ".join(sorted(prices.by_instance_type))
            raise CostError(
                f"no price for instance type '{instance_type}' in prices.{table} of the price table "
                f"(known: {known}): add it from {prices.source}"
            ) from None

    def for_env(self, env: str) -> Assumptions:
        try:
            return self.assumptions[env]
        except KeyError:
            raise CostError(
                f"no assumptions for env '{env}' in the price table: add an `assumptions.{env}` block"
            ) from None


def load_price_table(path: Path = PRICE_TABLE) -> PriceTable:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CostError(f"{path}: cannot read the price table: {exc}") from exc
    try:
        return PriceTable.model_validate(raw)
    except ValidationError as exc:
        problems = "\n".join(
            f"  - {'.'.join(str(p) for p in item['loc']) or '(top level)'}: {item['msg']}" for item in exc.errors()
        )
        raise CostError(f"{path}: invalid price table\n{problems}") from None


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


# --- schedules ---------------------------------------------------------------------------------------------

_DAY_NAMES = {name: index for index, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


def _count_values(field_text: str, low: int, high: int, names: dict[str, int] | None = None) -> int:
    """How many values a cron field selects ('*', '?', lists, ranges, steps)."""
    if field_text in ("*", "?"):
        return high - low + 1
    selected: set[int] = set()
    for part in field_text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _cron_number(first, names), _cron_number(last, names)
        else:
            start = _cron_number(base, names)
            end = high if step_text else start
        selected.update(range(start, end + 1, step))
    return len(selected)


def _cron_number(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise CostError(f"cannot read cron value '{text}' (only numbers, lists, ranges, steps and day names)")
    return int(text)


def runs_per_month(schedule: str, days_per_month: float) -> float:
    """Runs a month of an EventBridge/Glue `cron(min hour dom month dow year)` expression, approximately."""
    fields = schedule.removeprefix("cron(").removesuffix(")").split()
    if len(fields) != 6:
        raise CostError(f"'{schedule}' is not a six-field cron expression")
    minutes, hours, day_of_month, month, day_of_week, _year = fields
    per_day = _count_values(minutes, 0, 59) * _count_values(hours, 0, 23)
    if day_of_month not in ("*", "?"):
        days = float(_count_values(day_of_month, 1, 31))
    elif day_of_week not in ("*", "?"):
        days = days_per_month * _count_values(day_of_week, 1, 7, _DAY_NAMES) / 7
    else:
        days = days_per_month
    months = _count_values(month, 1, 12) / 12
    return per_day * days * months


# --- the estimate ------------------------------------------------------------------------------------------


def _hours(minutes: float) -> float:
    return minutes / 60


def estimate(config: EnvironmentConfig, table: PriceTable) -> Estimate:
    a = table.for_env(config.name)
    p = table.prices
    hours, days = table.hours_per_month, table.days_per_month
    lines: list[Line] = []
    notes: list[str] = []
    always_on_instances = 0

    # Serving: the endpoint, or what it would be once a model is configured.
    serving = config.serving
    variants = [(v.name, v.instance_type, v.initial_instance_count) for v in serving.variants]
    if not variants:
        notes.append(f"no model configured yet: assuming one {CHAMPION_VARIANT} variant")
        variants = [(CHAMPION_VARIANT, None, None)]
    requests = a.requests_per_day * days
    if serving.serverless is not None:
        memory_gb = serving.serverless.memory_size_mb / 1024
        lines.append(
            Line(
                "SageMaker",
                f"serverless inference compute ({serving.serverless.memory_size_mb} MB)",
                requests * a.serverless_duration_ms / 1000 * memory_gb,
                "GB-s",
                p.sagemaker_serverless_compute.price,
                note=f"{a.requests_per_day:g} requests/day x {a.serverless_duration_ms:g} ms",
            )
        )
        lines.append(
            Line(
                "SageMaker",
                "serverless inference data in + out",
                requests * a.request_kb / 1024 / 1024,
                "GB",
                p.sagemaker_serverless_data.price,
            )
        )
    else:
        floor = serving.autoscaling.min_capacity
        for name, variant_type, variant_count in variants:
            instance_type = variant_type or serving.instance_type
            count = max(variant_count or serving.initial_instance_count, floor)
            always_on_instances += count
            lines.append(
                Line(
                    "SageMaker",
                    f"endpoint instances ({name}: {count} x {instance_type})",
                    count * hours,
                    "instance-h",
                    table.instance_price("sagemaker_hosting", instance_type),
                    note=f"always on; autoscaling floor {floor}",
                )
            )
        if serving.monitoring is not None:
            monitoring_runs = hours if serving.monitoring.schedule == "hourly" else days
            lines.append(
                Line(
                    "SageMaker",
                    f"Model Monitor data quality ({serving.monitoring.schedule}, {serving.monitoring.instance_type})",
                    monitoring_runs * _hours(a.monitoring_run_minutes),
                    "instance-h",
                    table.instance_price("sagemaker_processing", serving.monitoring.instance_type),
                    note=f"{monitoring_runs:g} runs x {a.monitoring_run_minutes:g} min",
                )
            )

    # Training: instance-hours per run, x tuning jobs, at the spot price when spot is on.
    training = config.training
    on_demand = table.instance_price("sagemaker_training", training.instance_type)
    jobs_per_run = training.tuning.max_jobs if training.tuning else 1
    discount = p.training_spot_discount.value if training.spot else 0.0
    training_note = f"{a.training_runs_per_month:g} runs x {a.training_run_minutes:g} min"
    if training.tuning:
        training_note += f" x {jobs_per_run} tuning jobs"
    if training.spot:
        training_note += f"; spot: {discount:.0%} off on-demand ${on_demand:g}/h"
    lines.append(
        Line(
            "SageMaker",
            f"training ({training.instance_count} x {training.instance_type}{', spot' if training.spot else ''})",
            a.training_runs_per_month * jobs_per_run * training.instance_count * _hours(a.training_run_minutes),
            "instance-h",
            on_demand * (1 - discount),
            note=training_note,
        )
    )

    # Batch transform.
    batch = config.batch
    batch_runs = (
        runs_per_month(batch.schedule, days) if batch.schedule is not None else a.batch_runs_per_month_on_demand
    )
    lines.append(
        Line(
            "SageMaker",
            f"batch transform ({batch.instance_count} x {batch.instance_type})",
            batch_runs * batch.instance_count * _hours(a.batch_transform_minutes),
            "instance-h",
            table.instance_price("sagemaker_transform", batch.instance_type),
            note=f"{batch_runs:g} runs x {a.batch_transform_minutes:g} min"
            + ("" if batch.schedule else " (on demand: no schedule)"),
        )
    )

    # Glue extraction.
    extraction = config.extraction
    try:
        dpus = p.glue_dpu_per_worker.by_worker_type[extraction.worker_type] * extraction.number_of_workers
    except KeyError:
        raise CostError(
            f"no DPU count for Glue worker type '{extraction.worker_type}' in prices.glue_dpu_per_worker"
        ) from None
    extraction_runs = runs_per_month(extraction.schedule, days)
    billed_minutes = max(a.extraction_run_minutes, p.glue_minimum_minutes.value)
    lines.append(
        Line(
            "Glue",
            f"extraction ({extraction.number_of_workers} x {extraction.worker_type} = {dpus} DPU)",
            dpus * _hours(billed_minutes) * extraction_runs,
            "DPU-h",
            p.glue_dpu.price,
            note=f"{extraction_runs:g} runs x {billed_minutes:g} min",
        )
    )

    # Lambda: the batch launcher, fan-out and consumer, and the two training steps.
    messages = batch_runs * a.predictions_per_batch_run
    consumer_invocations = math.ceil(messages / batch.consumer_batch_size)
    invocations = batch_runs * 2 + consumer_invocations + a.training_runs_per_month * 2
    milliseconds = (
        batch_runs * a.lambda_launcher_ms
        + batch_runs * a.predictions_per_batch_run / 1000 * a.lambda_fanout_ms_per_1000_predictions
        + consumer_invocations * a.lambda_consumer_ms
        + a.training_runs_per_month * 2 * a.lambda_training_steps_ms
    )
    lines.append(
        Line(
            "Lambda",
            f"compute ({table.lambda_memory_mb} MB)",
            milliseconds / 1000 * table.lambda_memory_mb / 1024,
            "GB-s",
            p.lambda_compute.price,
        )
    )
    lines.append(Line("Lambda", "requests", invocations, "requests", p.lambda_requests.price, p.lambda_requests.per))

    # SQS FIFO: SendMessageBatch of 10, receive + delete per consumer batch, and the pollers' idle long polls.
    sends = math.ceil(messages / 10)
    idle_polls = table.lambda_sqs_pollers * 3 * 60 * hours  # one 20 s long poll per poller, 3 a minute
    lines.append(
        Line(
            "SQS",
            "FIFO requests (send, receive, delete)",
            sends + 2 * consumer_invocations,
            "requests",
            p.sqs_fifo_requests.price,
            p.sqs_fifo_requests.per,
            note=f"{messages:,.0f} messages/month, one per prediction",
        )
    )
    lines.append(
        Line(
            "SQS",
            "idle long polls (Lambda event source)",
            idle_polls,
            "requests",
            p.sqs_fifo_requests.price,
            p.sqs_fifo_requests.per,
            note=f"{table.lambda_sqs_pollers} pollers x 3/min",
        )
    )

    # DynamoDB: one predictions write and two idempotency writes per message; downstream lookups.
    lines.append(
        Line(
            "DynamoDB",
            "writes (predictions + idempotency)",
            messages * 3,
            "WRU",
            p.dynamodb_writes.price,
            p.dynamodb_writes.per,
        )
    )
    lines.append(
        Line(
            "DynamoDB",
            "reads (prediction lookups)",
            a.prediction_lookups_per_day * days,
            "RRU",
            p.dynamodb_reads.price,
            p.dynamodb_reads.per,
        )
    )
    lines.append(Line("DynamoDB", "storage", a.dynamodb_storage_gb, "GB-month", p.dynamodb_storage.price))

    # Step Functions: training pipeline and batch fan-out loop (standard workflows).
    transitions = (
        a.training_runs_per_month * a.stepfunctions_transitions_per_training_run
        + batch_runs * a.stepfunctions_transitions_per_batch_run
    )
    lines.append(
        Line(
            "Step Functions",
            "state transitions (training + fan-out)",
            transitions,
            "transitions",
            p.stepfunctions_transitions.price,
            p.stepfunctions_transitions.per,
        )
    )

    # S3: raw extractions kept `raw_expiration_days`, plus everything else as an assumption.
    raw_gb = a.rows_extracted_per_day * a.raw_row_bytes * config.storage.raw_expiration_days / 1e9
    lines.append(
        Line(
            "S3",
            "Standard storage",
            raw_gb + a.s3_other_storage_gb,
            "GB-month",
            p.s3_standard_storage.price,
            note=f"raw {raw_gb:.1f} GB ({config.storage.raw_expiration_days} days kept) + {a.s3_other_storage_gb:g} GB",
        )
    )
    lines.append(
        Line(
            "S3",
            "PUT/LIST requests",
            a.s3_put_requests_per_month,
            "requests",
            p.s3_put_requests.price,
            p.s3_put_requests.per,
        )
    )
    lines.append(
        Line(
            "S3",
            "GET requests",
            a.s3_get_requests_per_month,
            "requests",
            p.s3_get_requests.price,
            p.s3_get_requests.per,
        )
    )

    # KMS: the one customer managed key of the environment, and its requests.
    lines.append(Line("KMS", "customer managed key", 1, "key-month", p.kms_key.price))
    lines.append(
        Line(
            "KMS",
            "requests",
            a.kms_requests_per_month,
            "requests",
            p.kms_requests.price,
            p.kms_requests.per,
        )
    )
    lines.append(Line("Secrets Manager", "source database secret", 1, "secret-month", p.secrets_manager_secret.price))

    # CloudWatch: log ingestion, steady-state storage at the configured retention, alarms.
    retained_months = config.log_retention_days / days
    lines.append(Line("CloudWatch", "Logs ingestion", a.log_ingestion_gb_per_month, "GB", p.logs_ingestion.price))
    lines.append(
        Line(
            "CloudWatch",
            "Logs storage",
            a.log_ingestion_gb_per_month * retained_months,
            "GB-month",
            p.logs_storage.price,
            note=f"steady state at {config.log_retention_days} days retention",
        )
    )
    alarms = 2 * len(variants) + table.fixed_alarms  # 5xx + latency per variant, and the stacks' fixed alarms
    lines.append(Line("CloudWatch", "alarms", alarms, "alarms", p.cloudwatch_alarm.price))
    lines.append(Line("CloudWatch", "dashboards", table.dashboards, "dashboards", p.cloudwatch_dashboard.price))

    lines.append(Line("ECR", "model images", a.ecr_storage_gb, "GB-month", p.ecr_storage.price))
    lines.append(Line("Athena", "queries", a.athena_tb_scanned_per_month, "TB scanned", p.athena_scanned.price))

    if config.network.mode == "create":
        zones = len(config.network.availability_zones(config.region))
        endpoints = len(table.created_network_interface_endpoints)
        lines.append(
            Line(
                "VPC",
                f"interface endpoints ({endpoints} x {zones} AZ)",
                endpoints * zones * hours,
                "endpoint-AZ-h",
                p.vpc_interface_endpoint.price,
                note=", ".join(table.created_network_interface_endpoints) + " (network.mode: create)",
            )
        )

    if serving.serverless is not None:
        notes.append("serverless endpoint: no always-on instance")
    return Estimate(
        env=config.name,
        as_of=table.as_of.isoformat(),
        region=table.region,
        currency=table.currency,
        lines=tuple(lines),
        always_on_instances=always_on_instances,
        always_on_instance_hours=always_on_instances * hours,
        notes=tuple(notes),
        assumptions=a.model_dump(),
    )


# --- output ------------------------------------------------------------------------------------------------


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
    parser = argparse.ArgumentParser(prog="python -m tools.cost", description=__doc__.splitlines()[0])
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


if __name__ == "__main__":
    sys.exit(main())
