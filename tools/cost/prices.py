"""The price table, `tools/prices.yaml`: dated list prices and the per-environment traffic assumptions."""

from __future__ import annotations

import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from stacks.config_base import parse_yaml

PRICE_TABLE = Path(__file__).resolve().parent.parent / "prices.yaml"


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
        raw = parse_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CostError(f"{path}: cannot read the price table: {exc}") from exc
    try:
        return PriceTable.model_validate(raw)
    except ValidationError as exc:
        problems = "\n".join(
            f"  - {'.'.join(str(p) for p in item['loc']) or '(top level)'}: {item['msg']}" for item in exc.errors()
        )
        raise CostError(f"{path}: invalid price table\n{problems}") from None
