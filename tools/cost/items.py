"""The cost line items: one function each, run in the order of the `LINE_ITEMS` table.

Each line item reads what it needs from a `Usage` and returns its priced lines: none when it does not apply to
this environment (a serverless endpoint has no instances), one, or one per variant.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from tools.cost.model import Line
from tools.cost.prices import CostError
from tools.cost.schedule import runs_per_month
from tools.cost.usage import Usage, hours

# --- SageMaker -------------------------------------------------------------------------------------------------


def serverless_compute(u: Usage) -> list[Line]:
    serverless = u.config.serving.serverless
    if serverless is None:
        return []
    a = u.assumed
    return [
        Line(
            "SageMaker",
            f"serverless inference compute ({serverless.memory_size_mb} MB)",
            u.requests * a.serverless_duration_ms / 1000 * (serverless.memory_size_mb / 1024),
            "GB-s",
            u.prices.sagemaker_serverless_compute.price,
            note=f"{a.requests_per_day:g} requests/day x {a.serverless_duration_ms:g} ms",
        )
    ]


def serverless_data(u: Usage) -> list[Line]:
    if not u.serverless:
        return []
    quantity = u.requests * u.assumed.request_kb / 1024 / 1024
    return [
        Line(
            "SageMaker", "serverless inference data in + out", quantity, "GB", u.prices.sagemaker_serverless_data.price
        )
    ]


def endpoint_instances(u: Usage) -> list[Line]:
    floor = u.config.serving.autoscaling.min_capacity
    return [
        Line(
            "SageMaker",
            f"endpoint instances ({v.name}: {v.instance_count} x {v.instance_type})",
            v.instance_count * u.hours,
            "instance-h",
            u.table.instance_price("sagemaker_hosting", v.instance_type),
            note=f"always on; autoscaling floor {floor}",
        )
        for v in u.instance_variants
    ]


def model_monitor(u: Usage) -> list[Line]:
    monitoring = u.config.serving.monitoring
    if u.serverless or monitoring is None:
        return []
    runs = u.hours if monitoring.schedule == "hourly" else u.days
    minutes = u.assumed.monitoring_run_minutes
    return [
        Line(
            "SageMaker",
            f"Model Monitor data quality ({monitoring.schedule}, {monitoring.instance_type})",
            runs * hours(minutes),
            "instance-h",
            u.table.instance_price("sagemaker_processing", monitoring.instance_type),
            note=f"{runs:g} runs x {minutes:g} min",
        )
    ]


def training(u: Usage) -> list[Line]:
    """Instance-hours per run, x tuning jobs, at the spot price when spot is on."""
    config, a = u.config.training, u.assumed
    on_demand = u.table.instance_price("sagemaker_training", config.instance_type)
    jobs_per_run = config.tuning.max_jobs if config.tuning else 1
    discount = u.prices.training_spot_discount.value if config.spot else 0.0
    note = f"{a.training_runs_per_month:g} runs x {a.training_run_minutes:g} min"
    if config.tuning:
        note += f" x {jobs_per_run} tuning jobs"
    if config.spot:
        note += f"; spot: {discount:.0%} off on-demand ${on_demand:g}/h"
    return [
        Line(
            "SageMaker",
            f"training ({config.instance_count} x {config.instance_type}{', spot' if config.spot else ''})",
            a.training_runs_per_month * jobs_per_run * config.instance_count * hours(a.training_run_minutes),
            "instance-h",
            on_demand * (1 - discount),
            note=note,
        )
    ]


def batch_transform(u: Usage) -> list[Line]:
    batch, minutes = u.config.batch, u.assumed.batch_transform_minutes
    return [
        Line(
            "SageMaker",
            f"batch transform ({batch.instance_count} x {batch.instance_type})",
            u.batch_runs * batch.instance_count * hours(minutes),
            "instance-h",
            u.table.instance_price("sagemaker_transform", batch.instance_type),
            note=f"{u.batch_runs:g} runs x {minutes:g} min" + ("" if batch.schedule else " (on demand: no schedule)"),
        )
    ]


# --- data and compute around the model ---------------------------------------------------------------------------


def glue_extraction(u: Usage) -> list[Line]:
    extraction, p = u.config.extraction, u.prices
    try:
        dpus = p.glue_dpu_per_worker.by_worker_type[extraction.worker_type] * extraction.number_of_workers
    except KeyError:
        raise CostError(
            f"no DPU count for Glue worker type '{extraction.worker_type}' in prices.glue_dpu_per_worker"
        ) from None
    runs = runs_per_month(extraction.schedule, u.days)
    billed_minutes = max(u.assumed.extraction_run_minutes, p.glue_minimum_minutes.value)
    return [
        Line(
            "Glue",
            f"extraction ({extraction.number_of_workers} x {extraction.worker_type} = {dpus} DPU)",
            dpus * hours(billed_minutes) * runs,
            "DPU-h",
            p.glue_dpu.price,
            note=f"{runs:g} runs x {billed_minutes:g} min",
        )
    ]


def lambda_compute(u: Usage) -> list[Line]:
    """The batch launcher, fan-out and consumer, and the two training steps."""
    a = u.assumed
    milliseconds = (
        u.batch_runs * a.lambda_launcher_ms
        + u.batch_runs * a.predictions_per_batch_run / 1000 * a.lambda_fanout_ms_per_1000_predictions
        + u.consumer_invocations * a.lambda_consumer_ms
        + a.training_runs_per_month * 2 * a.lambda_training_steps_ms
    )
    memory_mb = u.table.lambda_memory_mb
    quantity = milliseconds / 1000 * memory_mb / 1024
    return [Line("Lambda", f"compute ({memory_mb} MB)", quantity, "GB-s", u.prices.lambda_compute.price)]


def lambda_requests(u: Usage) -> list[Line]:
    invocations = u.batch_runs * 2 + u.consumer_invocations + u.assumed.training_runs_per_month * 2
    price = u.prices.lambda_requests
    return [Line("Lambda", "requests", invocations, "requests", price.price, price.per)]


def sqs_fifo_requests(u: Usage) -> list[Line]:
    """SendMessageBatch of 10, and a receive and a delete per consumer batch."""
    price = u.prices.sqs_fifo_requests
    quantity = math.ceil(u.messages / 10) + 2 * u.consumer_invocations
    note = f"{u.messages:,.0f} messages/month, one per prediction"
    return [Line("SQS", "FIFO requests (send, receive, delete)", quantity, "requests", price.price, price.per, note)]


def sqs_idle_polls(u: Usage) -> list[Line]:
    pollers, price = u.table.lambda_sqs_pollers, u.prices.sqs_fifo_requests
    idle_polls = pollers * 3 * 60 * u.hours  # one 20 s long poll per poller, 3 a minute
    note = f"{pollers} pollers x 3/min"
    return [Line("SQS", "idle long polls (Lambda event source)", idle_polls, "requests", price.price, price.per, note)]


def dynamodb_writes(u: Usage) -> list[Line]:
    """One predictions write and two idempotency writes per message."""
    price = u.prices.dynamodb_writes
    return [Line("DynamoDB", "writes (predictions + idempotency)", u.messages * 3, "WRU", price.price, price.per)]


def dynamodb_reads(u: Usage) -> list[Line]:
    price, lookups = u.prices.dynamodb_reads, u.assumed.prediction_lookups_per_day * u.days
    return [Line("DynamoDB", "reads (prediction lookups)", lookups, "RRU", price.price, price.per)]


def dynamodb_storage(u: Usage) -> list[Line]:
    return [Line("DynamoDB", "storage", u.assumed.dynamodb_storage_gb, "GB-month", u.prices.dynamodb_storage.price)]


def stepfunctions_transitions(u: Usage) -> list[Line]:
    """The training pipeline and the batch fan-out loop (standard workflows)."""
    a, price = u.assumed, u.prices.stepfunctions_transitions
    transitions = (
        a.training_runs_per_month * a.stepfunctions_transitions_per_training_run
        + u.batch_runs * a.stepfunctions_transitions_per_batch_run
    )
    item = "state transitions (training + fan-out)"
    return [Line("Step Functions", item, transitions, "transitions", price.price, price.per)]


def s3_storage(u: Usage) -> list[Line]:
    """Raw extractions kept `raw_expiration_days`, plus everything else as an assumption."""
    a, kept_days = u.assumed, u.config.storage.raw_expiration_days
    raw_gb = a.rows_extracted_per_day * a.raw_row_bytes * kept_days / 1e9
    note = f"raw {raw_gb:.1f} GB ({kept_days} days kept) + {a.s3_other_storage_gb:g} GB"
    quantity = raw_gb + a.s3_other_storage_gb
    return [Line("S3", "Standard storage", quantity, "GB-month", u.prices.s3_standard_storage.price, note=note)]


def s3_put_requests(u: Usage) -> list[Line]:
    price = u.prices.s3_put_requests
    return [Line("S3", "PUT/LIST requests", u.assumed.s3_put_requests_per_month, "requests", price.price, price.per)]


def s3_get_requests(u: Usage) -> list[Line]:
    price = u.prices.s3_get_requests
    return [Line("S3", "GET requests", u.assumed.s3_get_requests_per_month, "requests", price.price, price.per)]


# --- security, operations, network ------------------------------------------------------------------------------


def kms_key(u: Usage) -> list[Line]:
    """The environment's one customer managed key."""
    return [Line("KMS", "customer managed key", 1, "key-month", u.prices.kms_key.price)]


def kms_requests(u: Usage) -> list[Line]:
    price = u.prices.kms_requests
    return [Line("KMS", "requests", u.assumed.kms_requests_per_month, "requests", price.price, price.per)]


def source_secret(u: Usage) -> list[Line]:
    price = u.prices.secrets_manager_secret.price
    return [Line("Secrets Manager", "source database secret", 1, "secret-month", price)]


def logs_ingestion(u: Usage) -> list[Line]:
    gb = u.assumed.log_ingestion_gb_per_month
    return [Line("CloudWatch", "Logs ingestion", gb, "GB", u.prices.logs_ingestion.price)]


def logs_storage(u: Usage) -> list[Line]:
    """Steady-state storage at the configured retention."""
    retention = u.config.log_retention_days
    quantity = u.assumed.log_ingestion_gb_per_month * (retention / u.days)  # months retained
    note = f"steady state at {retention} days retention"
    return [Line("CloudWatch", "Logs storage", quantity, "GB-month", u.prices.logs_storage.price, note=note)]


def cloudwatch_alarms(u: Usage) -> list[Line]:
    """5xx and latency per variant, and the stacks' fixed alarms."""
    alarms = 2 * len(u.variant_names) + u.table.fixed_alarms
    return [Line("CloudWatch", "alarms", alarms, "alarms", u.prices.cloudwatch_alarm.price)]


def cloudwatch_dashboards(u: Usage) -> list[Line]:
    return [Line("CloudWatch", "dashboards", u.table.dashboards, "dashboards", u.prices.cloudwatch_dashboard.price)]


def ecr_storage(u: Usage) -> list[Line]:
    return [Line("ECR", "model images", u.assumed.ecr_storage_gb, "GB-month", u.prices.ecr_storage.price)]


def athena_queries(u: Usage) -> list[Line]:
    scanned = u.assumed.athena_tb_scanned_per_month
    return [Line("Athena", "queries", scanned, "TB scanned", u.prices.athena_scanned.price)]


def vpc_interface_endpoints(u: Usage) -> list[Line]:
    """Only a network the stacks create pays for its interface endpoints."""
    if u.config.network.mode != "create":
        return []
    zones = len(u.config.network.availability_zones(u.config.region))
    created = u.table.created_network_interface_endpoints
    return [
        Line(
            "VPC",
            f"interface endpoints ({len(created)} x {zones} AZ)",
            len(created) * zones * u.hours,
            "endpoint-AZ-h",
            u.prices.vpc_interface_endpoint.price,
            note=", ".join(created) + " (network.mode: create)",
        )
    ]


LineItem = Callable[[Usage], list[Line]]

# The estimate's lines, in the order they are printed.
LINE_ITEMS: tuple[LineItem, ...] = (
    serverless_compute,
    serverless_data,
    endpoint_instances,
    model_monitor,
    training,
    batch_transform,
    glue_extraction,
    lambda_compute,
    lambda_requests,
    sqs_fifo_requests,
    sqs_idle_polls,
    dynamodb_writes,
    dynamodb_reads,
    dynamodb_storage,
    stepfunctions_transitions,
    s3_storage,
    s3_put_requests,
    s3_get_requests,
    kms_key,
    kms_requests,
    source_secret,
    logs_ingestion,
    logs_storage,
    cloudwatch_alarms,
    cloudwatch_dashboards,
    ecr_storage,
    athena_queries,
    vpc_interface_endpoints,
)
