"""Per-environment settings: `config/<env>.yaml` parsed into typed, validated objects.

Every error names the file and the key, and is raised before any construct is built.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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


class SourceDatabaseConfig(_Strict):
    """Where the extraction reads from. Credentials live in the secret, never here."""

    engine: Literal["postgresql", "mysql", "sqlserver", "oracle"]
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)]
    database: Annotated[str, Field(min_length=1)]
    secret_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$")]

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, data: object) -> object:
        if isinstance(data, dict) and any(k in data for k in ("password", "username", "user")):
            raise ValueError("credentials never go in config: put them in the secret named by secret_name")
        return data

    @property
    def jdbc_url(self) -> str:
        if self.engine == "sqlserver":
            return f"jdbc:sqlserver://{self.host}:{self.port};databaseName={self.database}"
        if self.engine == "oracle":
            return f"jdbc:oracle:thin:@//{self.host}:{self.port}/{self.database}"
        return f"jdbc:{self.engine}://{self.host}:{self.port}/{self.database}"


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


class RegistryConfig(_Strict):
    keep_images: Annotated[int, Field(ge=1, le=1000)] = 20
    untagged_expiration_days: Annotated[int, Field(ge=1)] = 1


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
    alerts: AlertsConfig = AlertsConfig()
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653] = 30

    @property
    def retain(self) -> bool:
        return self.removal == "retain"

    def resource_name(self, suffix: str) -> str:
        """Physical names that must be unique per environment, e.g. `esteira-dev-extract`."""
        return f"esteira-{self.name}-{suffix}"


def available_envs(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(path.stem for path in config_dir.glob("*.yaml"))


def _format_errors(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  - {key}: {item['msg']}")
    return "\n".join(lines)


def load_config(env: str | None = None, config_dir: Path = CONFIG_DIR) -> EnvironmentConfig:
    """Read and validate `config/<env>.yaml`; raise ConfigError naming the file and key on any problem."""
    env = env or DEFAULT_ENV
    valid = available_envs(config_dir)
    if env not in valid:
        raise ConfigError(f"unknown env '{env}': valid environments are {', '.join(valid)} (files in {config_dir})")
    path = config_dir / f"{env}.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    if raw.get("name", env) != env:
        raise ConfigError(f"{path}: key 'name' is '{raw['name']}' but the file is for env '{env}'")
    try:
        return EnvironmentConfig.model_validate({"name": env, **raw})
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
