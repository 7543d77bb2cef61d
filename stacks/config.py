"""Per-environment settings: `config/<env>.yaml` parsed into typed, validated objects.

Every error names the file and the key, and is raised before any construct is built.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from esteira_contracts.batch import MAX_TRANSFORM_BUFFER_MB
from esteira_contracts.layout import CANDIDATE_IMAGE_TAG_PREFIX
from esteira_contracts.tasks import DEFAULT_OBJECTIVE, TASK_METRICS, task_of_objective
from stacks import aws_rules
from stacks.aws_rules import CHAMPION_VARIANT as CHAMPION_VARIANT
from stacks.dataset_config import DatasetConfig
from stacks.fanout_config import FanoutConfig
from stacks.retraining_config import RetrainingConfig
from stacks.source_database import SourceDatabaseConfig

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_ENV = "dev"

AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
# EventBridge/Glue cron: six fields, e.g. "cron(0 2 * * ? *)".
GLUE_CRON = re.compile(r"^cron\((\S+\s){5}\S+\)$")


class ConfigError(Exception):
    """A config file is missing, unreadable or invalid. The message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


RemovalBehaviour = Literal["retain", "destroy"]
# The retention periods CloudWatch Logs accepts.
LogRetentionDays = Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653]
NetworkMode = Literal["create", "existing"]


class SubnetConfig(_Strict):
    id: Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]
    availability_zone: Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")]


class NetworkConfig(_Strict):
    """Either `mode: create` (a new isolated VPC, meant for dev) or explicit existing ids."""

    mode: NetworkMode
    vpc_id: Annotated[str, Field(pattern=r"^vpc-[0-9a-f]{8,17}$")] | None = None
    subnets: tuple[SubnetConfig, ...] = ()
    security_group_ids: tuple[Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")], ...] = ()
    max_azs: Annotated[int, Field(ge=1, le=3)] = 2

    def availability_zones(self, region: str) -> list[str]:
        """Zones come from config so that synth never asks the account which zones it has."""
        if self.mode == "existing":
            return sorted({subnet.availability_zone for subnet in self.subnets})
        return [f"{region}{letter}" for letter in "abc"[: self.max_azs]]

    @model_validator(mode="after")
    def _ids_match_mode(self) -> Self:
        if self.mode == "existing":
            missing = [
                key
                for key, value in (
                    ("vpc_id", self.vpc_id),
                    ("subnets", self.subnets),
                    ("security_group_ids", self.security_group_ids),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"mode 'existing' needs {', '.join(missing)}")
        elif self.vpc_id or self.subnets or self.security_group_ids:
            raise ValueError("mode 'create' builds its own VPC: remove vpc_id, subnets and security_group_ids")
        return self


class ExtractionConfig(_Strict):
    schedule: Annotated[str, Field(description="Glue trigger cron, UTC")] = "cron(0 2 * * ? *)"
    spec: Annotated[str, Field(min_length=1)] = "glue_jobs/specs/employees.json"
    worker_type: Literal["G.1X", "G.2X", "G.4X", "G.8X"] = "G.1X"
    number_of_workers: Annotated[int, Field(ge=2, le=299)] = 2
    timeout_minutes: Annotated[int, Field(ge=5, le=2880)] = 60
    max_retries: Annotated[int, Field(ge=0, le=10)] = 0

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not GLUE_CRON.match(value):
            raise ValueError(f"'{value}' is not a six-field cron expression like 'cron(0 2 * * ? *)'")
        return value

    @field_validator("spec")
    @classmethod
    def _spec_exists(cls, value: str) -> str:
        if not (CONFIG_DIR.parent / value).is_file():
            raise ValueError(f"extraction spec '{value}' does not exist (paths are relative to the repo root)")
        return value

    @property
    def spec_path(self) -> Path:
        return CONFIG_DIR.parent / self.spec


class StorageConfig(_Strict):
    raw_expiration_days: Annotated[int, Field(ge=1)] = 90
    curated_infrequent_access_days: Annotated[int, Field(ge=30)] = 90
    noncurrent_version_expiration_days: Annotated[int, Field(ge=1)] = 30
    access_log_expiration_days: Annotated[int, Field(ge=1)] = 365
    athena_results_expiration_days: Annotated[int, Field(ge=1)] = 30
    # Endpoint requests and responses (personal data): kept long enough to monitor and investigate, then deleted.
    data_capture_expiration_days: Annotated[int, Field(ge=1, le=3650)] = 90
    # Model Monitor's reports; its baselines stay, the schedule needs them as long as the endpoint serves.
    monitoring_reports_expiration_days: Annotated[int, Field(ge=1, le=3650)] = 180
    # Batch transform outputs and the fan-out's summaries, once delivered to the queue and the tables.
    batch_output_expiration_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # The dataset job's rows to score (batch-input/run_id=<run>/): each run's input, scored within days.
    batch_input_expiration_days: Annotated[int, Field(ge=1, le=3650)] = 30


class RegistryConfig(_Strict):
    keep_images: Annotated[int, Field(ge=1, le=1000)] = 20
    untagged_expiration_days: Annotated[int, Field(ge=1)] = 1


InstanceType = Annotated[str, Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")]
ModelPackageArn = Annotated[
    str, Field(pattern=r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[A-Za-z0-9-]+(/\d+)?$")
]


class VariantConfig(_Strict):
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


class RolloutConfig(_Strict):
    mode: Literal["canary", "linear", "all_at_once"] = "canary"
    canary_percent: Annotated[int, Field(ge=1, le=100)] = 10
    linear_step_percent: Annotated[int, Field(ge=1, le=100)] = 25
    wait_minutes: Annotated[int, Field(ge=0, le=60)] = 10
    termination_wait_minutes: Annotated[int, Field(ge=0, le=60)] = 5
    maximum_execution_timeout_minutes: Annotated[int, Field(ge=10, le=480)] = 60


class EndpointAlarmsConfig(_Strict):
    latency_p99_ms: Annotated[int, Field(ge=1)] = 500
    errors_5xx_per_minute: Annotated[int, Field(ge=1)] = 5
    evaluation_periods: Annotated[int, Field(ge=1, le=30)] = 2


class AutoscalingConfig(_Strict):
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


class ServerlessConfig(_Strict):
    memory_size_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = 2048
    max_concurrency: Annotated[int, Field(ge=1, le=200)] = 5


class MonitoringConfig(_Strict):
    schedule: Literal["hourly", "daily"] = "daily"
    instance_type: InstanceType = "ml.m5.large"


class ServingConfig(_Strict):
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


HyperparameterValue = str | int | float | bool


class ParameterRange(_Strict):
    type: Literal["continuous", "integer", "categorical"]
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()
    scaling: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = "Auto"

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.type == "categorical":
            if not self.values:
                raise ValueError("a categorical range needs values")
        elif self.min is None or self.max is None or self.min >= self.max:
            raise ValueError("a numeric range needs min < max")
        return self


class TuningConfig(_Strict):
    max_jobs: Annotated[int, Field(ge=1, le=500)] = 9
    max_parallel_jobs: Annotated[int, Field(ge=1, le=100)] = 3
    objective_metric: str = "validation:auc"
    objective_type: Literal["Maximize", "Minimize"] = "Maximize"
    strategy: Literal["Bayesian", "Random", "Hyperband", "Grid"] = "Bayesian"
    ranges: Annotated[dict[str, ParameterRange], Field(min_length=1)]

    @model_validator(mode="after")
    def _parallel(self) -> Self:
        if self.max_parallel_jobs > self.max_jobs:
            raise ValueError(f"max_parallel_jobs ({self.max_parallel_jobs}) > max_jobs ({self.max_jobs})")
        return self


class GateConfig(_Strict):
    metric: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")] = "auc"
    threshold: Annotated[float, Field(ge=0)] = 0.8
    min_improvement: Annotated[float, Field(ge=0)] = 0.0


class TrainingConfig(_Strict):
    image_tag: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    instance_type: InstanceType = "ml.m5.xlarge"
    instance_count: Annotated[int, Field(ge=1, le=20)] = 1
    volume_size_gb: Annotated[int, Field(ge=1, le=16384)] = 30
    max_runtime_minutes: Annotated[int, Field(ge=1, le=7200)] = 120
    spot: bool = True
    max_wait_minutes: Annotated[int, Field(ge=1, le=7200)] = 240
    hyperparameters: dict[str, HyperparameterValue] = {}
    gate: GateConfig = GateConfig()
    approval: Literal["Approved", "PendingManualApproval"] = "PendingManualApproval"
    tuning: TuningConfig | None = None
    dataset: DatasetConfig = DatasetConfig()
    retraining: RetrainingConfig = RetrainingConfig()

    @field_validator("image_tag")
    @classmethod
    def _not_a_candidate(cls, value: str) -> str:
        # The ECR lifecycle expires candidate images; a registered package must never name one.
        if value.startswith(CANDIDATE_IMAGE_TAG_PREFIX):
            raise ValueError(
                f"'{value}' is a candidate image tag ({CANDIDATE_IMAGE_TAG_PREFIX}*), which the ECR lifecycle "
                "expires: train with a commit or release tag"
            )
        return value

    @model_validator(mode="after")
    def _spot_wait(self) -> Self:
        if self.spot and self.max_wait_minutes < self.max_runtime_minutes:
            raise ValueError(
                f"max_wait_minutes ({self.max_wait_minutes}) must be >= max_runtime_minutes "
                f"({self.max_runtime_minutes}) with spot capacity"
            )
        if "target" not in self.hyperparameters:
            raise ValueError("hyperparameters need 'target', the label column")
        return self

    @model_validator(mode="after")
    def _metrics_fit_the_objective(self) -> Self:
        # The gate (and a tuner) can only compare a metric `train` computes for the objective's task.
        objective = str(self.hyperparameters.get("objective", DEFAULT_OBJECTIVE))
        task = task_of_objective(objective)
        known = TASK_METRICS[task]
        chosen = {"gate.metric": self.gate.metric}
        if self.tuning is not None:
            chosen["tuning.objective_metric"] = self.tuning.objective_metric.removeprefix("validation:")
        for key, metric in chosen.items():
            if metric not in known:
                raise ValueError(
                    f"training.{key} '{metric}' does not fit training.hyperparameters.objective '{objective}' "
                    f"(a {task} task): use one of {', '.join(known)}"
                )
        return self


class BatchConfig(_Strict):
    schedule: Annotated[str, Field(description="launcher cron, UTC")] | None = "cron(0 5 * * ? *)"
    instance_type: InstanceType = "ml.m5.large"
    instance_count: Annotated[int, Field(ge=1, le=100)] = 1
    max_payload_mb: Annotated[int, Field(ge=1, le=100)] = 6
    max_concurrent_transforms: Annotated[int, Field(ge=1, le=100)] = 4
    message_group_strategy: Literal["entity", "single"] = "entity"
    max_receive_count: Annotated[int, Field(ge=1, le=1000)] = 5
    consumer_batch_size: Annotated[int, Field(ge=1, le=10)] = 10
    consumer_max_concurrency: Annotated[int, Field(ge=2, le=1000)] = 5
    oldest_message_alarm_minutes: Annotated[int, Field(ge=1)] = 60
    fanout: FanoutConfig = FanoutConfig()

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not GLUE_CRON.match(value):
            raise ValueError(f"'{value}' is not a six-field cron expression like 'cron(0 5 * * ? *)'")
        return value

    @model_validator(mode="after")
    def _buffer(self) -> Self:
        if self.max_payload_mb * self.max_concurrent_transforms > MAX_TRANSFORM_BUFFER_MB:
            raise ValueError(
                f"max_payload_mb * max_concurrent_transforms = {self.max_payload_mb * self.max_concurrent_transforms}"
                f" MB exceeds SageMaker's {MAX_TRANSFORM_BUFFER_MB} MB per instance"
            )
        return self


class LambdaConfig(_Strict):
    powertools_layer_version: Annotated[int, Field(ge=1)] = 27


class AlertsConfig(_Strict):
    emails: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")], ...] = ()


class EnvironmentConfig(_Strict):
    """The whole of one `config/<env>.yaml`."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,15}$")]
    account: AccountId
    region: Region
    removal: RemovalBehaviour
    network: NetworkConfig
    source_database: SourceDatabaseConfig
    extraction: ExtractionConfig = ExtractionConfig()
    storage: StorageConfig = StorageConfig()
    registry: RegistryConfig = RegistryConfig()
    serving: ServingConfig = ServingConfig()
    training: TrainingConfig
    lambdas: LambdaConfig = LambdaConfig()
    batch: BatchConfig = BatchConfig()
    alerts: AlertsConfig = AlertsConfig()
    log_retention_days: LogRetentionDays = 30

    @model_validator(mode="after")
    def _capture_outlives_monitoring(self) -> Self:
        # A monitoring run reads the last hour's or day's capture: it must still be there.
        if self.serving.monitoring is not None and self.storage.data_capture_expiration_days < 2:
            raise ValueError(
                f"storage.data_capture_expiration_days ({self.storage.data_capture_expiration_days}) must be at "
                "least 2 while serving.monitoring reads the captured data"
            )
        return self

    @model_validator(mode="after")
    def _database_reachable(self) -> Self:
        # The job's own group (mode 'create') lets traffic out only to the database port of this network or group.
        database = self.source_database
        if self.network.mode == "create" and database.cidr is None and database.security_group_id is None:
            raise ValueError("network.mode 'create' needs source_database.cidr or source_database.security_group_id")
        return self

    @model_validator(mode="after")
    def _aws_rules(self) -> Self:  # AWS's documented rules across keys: stacks/aws_rules.py, docs/aws-rules.md
        if problems := aws_rules.violations(self):
            raise ValueError("\n".join(problems))
        return self

    @property
    def retain(self) -> bool:
        return self.removal == "retain"

    def with_model_package(self, model_package_arn: str) -> EnvironmentConfig:
        """The config with `-c model_package_arn=...` applied: the first (champion) variant serves that package;
        with no variants configured, a single `champion` variant takes all traffic."""
        data = self.model_dump()
        variants = data["serving"]["variants"] = list(data["serving"]["variants"])
        champion = {"model_package_arn": model_package_arn, "model_data_url": None, "image": None}
        if variants:
            variants[0].update(champion)
        else:
            variants.append({"name": CHAMPION_VARIANT, "weight": 1.0, **champion})
        try:
            return EnvironmentConfig.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_format_errors(Path(f"-c model_package_arn (env {self.name})"), exc)) from None

    def resource_name(self, suffix: str) -> str:
        """Physical names that must be unique per environment, e.g. `esteira-dev-extract`."""
        return f"esteira-{self.name}-{suffix}"


def available_envs(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(path.stem for path in config_dir.glob("*.yaml"))


def _format_errors(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        # A whole-config rule (stacks/aws_rules.py) names its own keys, one "<key>: <problem>" per line.
        whole = not item["loc"] and item["type"] == "value_error"
        lines += (
            [f"  - {line}" for line in str(item["ctx"]["error"]).splitlines()]
            if whole
            else [f"  - {key}: {item['msg']}"]
        )
    return "\n".join(lines)


def read_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping; ConfigError naming the file otherwise."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return raw


def load_config(env: str | None = None, config_dir: Path = CONFIG_DIR) -> EnvironmentConfig:
    """Read and validate `config/<env>.yaml`; raise ConfigError naming the file and key on any problem."""
    env = env or DEFAULT_ENV
    valid = available_envs(config_dir)
    if env not in valid:
        raise ConfigError(f"unknown env '{env}': valid environments are {', '.join(valid)} (files in {config_dir})")
    path = config_dir / f"{env}.yaml"
    raw = read_mapping(path)
    if raw.get("name", env) != env:
        raise ConfigError(f"{path}: key 'name' is '{raw['name']}' but the file is for env '{env}'")
    try:
        return EnvironmentConfig.model_validate({"name": env, **raw})
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
