"""`serving` in config: the endpoint's variants, rollout, alarms, autoscaling and monitoring (see stacks/config.py)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from stacks.config_base import InstanceType, StrictModel

# An offset is an ISO 8601 duration of at most 15 characters ("-PT<hours>H"); ten years of hours fit well within it.
MAX_GROUND_TRUTH_DELAY_HOURS = 10 * 366 * 24

ModelPackageArn = Annotated[
    str, Field(pattern=r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[A-Za-z0-9-]+(/\d+)?$")
]


class VariantConfig(StrictModel):
    """One production variant. Its name is stable across deployments: blue/green and autoscaling key on it."""

    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
    weight: Annotated[float, Field(ge=0)]
    model_package_arn: ModelPackageArn | None = None
    model_data_url: Annotated[str, Field(pattern=r"^s3://[^/]+/.+")] | None = None
    image: Annotated[str, Field(pattern=r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/.+")] | None = None
    instance_type: InstanceType | None = None
    initial_instance_count: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _one_model_source(self) -> Self:
        by_package = self.model_package_arn is not None
        by_artifact = self.model_data_url is not None or self.image is not None
        if by_package == by_artifact:
            raise ValueError("give either model_package_arn, or model_data_url together with image")
        if by_artifact and (self.model_data_url is None or self.image is None):
            raise ValueError("model_data_url and image go together")
        return self


class RolloutConfig(StrictModel):
    mode: Literal["canary", "linear", "all_at_once"] = "canary"
    canary_percent: Annotated[int, Field(ge=1, le=100)] = 10
    linear_step_percent: Annotated[int, Field(ge=1, le=100)] = 25
    wait_minutes: Annotated[int, Field(ge=0, le=60)] = 10
    termination_wait_minutes: Annotated[int, Field(ge=0, le=60)] = 5
    maximum_execution_timeout_minutes: Annotated[int, Field(ge=10, le=480)] = 60


class EndpointAlarmsConfig(StrictModel):
    latency_p99_ms: Annotated[int, Field(ge=1)] = 500
    errors_5xx_per_minute: Annotated[int, Field(ge=1)] = 5
    evaluation_periods: Annotated[int, Field(ge=1, le=30)] = 2


class AutoscalingConfig(StrictModel):
    min_capacity: Annotated[int, Field(ge=1)] = 2
    max_capacity: Annotated[int, Field(ge=1)] = 5
    invocations_per_instance: Annotated[int, Field(ge=1)] = 800
    cpu_utilization_percent: Annotated[int, Field(ge=1, le=100)] | None = None
    scale_in_cooldown_seconds: Annotated[int, Field(ge=0)] = 300
    scale_out_cooldown_seconds: Annotated[int, Field(ge=0)] = 60

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min_capacity > self.max_capacity:
            raise ValueError(f"min_capacity ({self.min_capacity}) > max_capacity ({self.max_capacity})")
        return self


class ServerlessConfig(StrictModel):
    memory_size_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = 2048
    max_concurrency: Annotated[int, Field(ge=1, le=200)] = 5


class ModelQualityConfig(StrictModel):
    """Model Monitor's model-quality schedule: captured predictions merged with the ground truth the dataset job
    writes (the caller's InferenceId is the record id), scored at the served threshold.

    Each run analyses one schedule period of capture that ended `ground_truth_delay_hours` ago (the schedule's
    StartTimeOffset/EndTimeOffset), so that the labels of those requests have arrived. Labels can take long to
    become final: the capture must outlive the delay (`storage.data_capture_expiration_days`, checked in
    stacks/aws_rules.py).
    """

    enabled: bool = False
    ground_truth_delay_hours: Annotated[int, Field(ge=1, le=MAX_GROUND_TRUTH_DELAY_HOURS)] = 24


class MonitoringConfig(StrictModel):
    schedule: Literal["hourly", "daily"] = "daily"
    instance_type: InstanceType = "ml.m5.large"
    model_quality: ModelQualityConfig = ModelQualityConfig()

    @property
    def period_hours(self) -> int:
        """Hours between two runs of a schedule."""
        return {"hourly": 1, "daily": 24}[self.schedule]


class ServingConfig(StrictModel):
    """What the endpoint serves. No variants means no endpoint: a clean first deploy."""

    variants: tuple[VariantConfig, ...] = ()
    instance_type: InstanceType = "ml.m5.large"
    initial_instance_count: Annotated[int, Field(ge=1)] = 2
    serverless: ServerlessConfig | None = None
    rollout: RolloutConfig = RolloutConfig()
    alarms: EndpointAlarmsConfig = EndpointAlarmsConfig()
    autoscaling: AutoscalingConfig = AutoscalingConfig()
    data_capture_percent: Annotated[int, Field(ge=0, le=100)] = 20
    monitoring: MonitoringConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [variant.name for variant in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        if self.variants and sum(variant.weight for variant in self.variants) <= 0:
            raise ValueError("variant weights must sum to a positive total")
        if self.serverless is not None:
            if self.rollout.mode != "all_at_once":
                raise ValueError("serverless endpoints only support rollout.mode 'all_at_once'")
            if self.data_capture_percent or self.monitoring:
                raise ValueError("serverless endpoints support no data capture or monitoring: set 0 / omit")
        elif self.monitoring is not None and not self.data_capture_percent:
            raise ValueError("monitoring needs data_capture_percent > 0")
        return self
