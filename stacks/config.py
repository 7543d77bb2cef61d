"""Per-environment settings: `config/<env>.yaml` parsed into typed, validated objects.

Every error names the file and the key, and is raised before any construct is built.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from esteira_contracts.batch import MAX_TRANSFORM_BUFFER_MB
from stacks import aws_rules
from stacks.aws_rules import CHAMPION_VARIANT as CHAMPION_VARIANT
from stacks.config_base import InstanceType, StrictModel, parse_yaml
from stacks.fanout_config import FanoutConfig

# Serving and training have their own modules; the `X as X` imports keep `from stacks.config import X` working.
from stacks.serving_config import AutoscalingConfig as AutoscalingConfig
from stacks.serving_config import MonitoringConfig as MonitoringConfig
from stacks.serving_config import ServingConfig as ServingConfig
from stacks.source_database import SourceDatabaseConfig
from stacks.training_config import GateConfig as GateConfig
from stacks.training_config import HyperparameterValue as HyperparameterValue
from stacks.training_config import TrainingConfig as TrainingConfig
from stacks.training_config import TuningConfig as TuningConfig

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_ENV = "dev"

AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
# EventBridge/Glue cron: six fields, e.g. "cron(0 2 * * ? *)".
GLUE_CRON = re.compile(r"^cron\((\S+\s){5}\S+\)$")


class ConfigError(Exception):
    """A config file is missing, unreadable or invalid. The message names the file and the key."""


RemovalBehaviour = Literal["retain", "destroy"]
# The retention periods CloudWatch Logs accepts.
LogRetentionDays = Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653]
NetworkMode = Literal["create", "existing"]


class SubnetConfig(StrictModel):
    id: Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]
    availability_zone: Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")]


class NetworkConfig(StrictModel):
    """Either `mode: create` (a new isolated VPC, meant for dev) or explicit existing ids."""

    mode: NetworkMode
    vpc_id: Annotated[str, Field(pattern=r"^vpc-[0-9a-f]{8,17}$")] | None = None
    subnets: tuple[SubnetConfig, ...] = ()
    security_group_ids: tuple[Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")], ...] = ()
    max_azs: Annotated[int, Field(ge=1, le=3)] = 2
    # Mode 'existing': the groups of the VPC's own interface endpoints for com.amazonaws.<region>.sagemaker.api and
    # sagemaker.runtime. Clarify jobs (training's group) call both from inside the VPC; the stack creates no endpoint
    # there, since a second private-DNS endpoint for a service collides with one the VPC already has.
    sagemaker_endpoint_security_group_ids: tuple[Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")], ...] = ()

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
        elif self.vpc_id or self.subnets or self.security_group_ids or self.sagemaker_endpoint_security_group_ids:
            raise ValueError(
                "mode 'create' builds its own VPC: remove vpc_id, subnets, security_group_ids and "
                "sagemaker_endpoint_security_group_ids"
            )
        return self


class ExtractionConfig(StrictModel):
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


class StorageConfig(StrictModel):
    raw_expiration_days: Annotated[int, Field(ge=1)] = 90
    curated_infrequent_access_days: Annotated[int, Field(ge=30)] = 90
    noncurrent_version_expiration_days: Annotated[int, Field(ge=1)] = 30
    access_log_expiration_days: Annotated[int, Field(ge=1)] = 365
    athena_results_expiration_days: Annotated[int, Field(ge=1)] = 30
    # Endpoint requests and responses (personal data): kept long enough to monitor and investigate, then deleted.
    data_capture_expiration_days: Annotated[int, Field(ge=1, le=3650)] = 90
    # Model Monitor's reports; its baselines stay, the schedule needs them as long as the endpoint serves.
    monitoring_reports_expiration_days: Annotated[int, Field(ge=1, le=3650)] = 180
    # Batch transform outputs (with each run's scoring record) and the fan-out's summaries. They are the store the
    # ground-truth quality step joins with outcomes, so they must outlive the time a scored record's label takes to
    # become final (the demo spec's: up to 12 months after admission), or the quality step finds no predictions.
    batch_output_expiration_days: Annotated[int, Field(ge=1, le=3650)] = 400
    # The dataset job's rows to score (batch-input/run_id=<run>/): each run's input, scored within days.
    batch_input_expiration_days: Annotated[int, Field(ge=1, le=3650)] = 30


class RegistryConfig(StrictModel):
    keep_images: Annotated[int, Field(ge=1, le=1000)] = 20
    untagged_expiration_days: Annotated[int, Field(ge=1)] = 1


class BatchConfig(StrictModel):
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


class LambdaConfig(StrictModel):
    powertools_layer_version: Annotated[int, Field(ge=1)] = 27


class AlertsConfig(StrictModel):
    emails: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")], ...] = ()


class EnvironmentConfig(StrictModel):
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
    def _clarify_reaches_sagemaker(self) -> Self:
        # Clarify's shadow endpoint is created and called through SageMaker's API and Runtime from inside the job
        # (https://docs.aws.amazon.com/sagemaker/latest/dg/clarify-vpc.html); in an existing VPC the job reaches them
        # only through that VPC's interface endpoints.
        network = self.network
        if (
            network.mode == "existing"
            and self.training.bias.enabled
            and not network.sagemaker_endpoint_security_group_ids
        ):
            raise ValueError(
                "network.sagemaker_endpoint_security_group_ids: training.bias.enabled runs Clarify in the existing "
                "VPC, which calls SageMaker's API and Runtime; name the security group(s) of the VPC's interface "
                "endpoints for com.amazonaws.<region>.sagemaker.api and sagemaker.runtime"
            )
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
        raw = parse_yaml(path.read_text(encoding="utf-8"))
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
