"""The CD pipeline's settings: `config/delivery/<name>.yaml`, parsed and checked against the environments it deploys.

The pipeline lives in a toolchain account and deploys the environments in `stages`, in order. The environment
named by `promotion.registry_env` is where models are trained and approved: its approvals start the pipeline, and
it and every later stage serve the promoted package. `DeliveryConfig.links_for` tells each environment's stacks
what that means for them, so an environment deployed by hand (`cdk deploy -c env=...`) is the same as one deployed
by the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, ValidationError, model_validator

from esteira_contracts import aws_names
from esteira_contracts.delivery import DEFAULT_PIPELINE_VARIABLE
from stacks import names
from stacks.config import (
    CONFIG_DIR,
    AccountId,
    AlertsConfig,
    ConfigError,
    EnvironmentConfig,
    LambdaConfig,
    LogRetentionDays,
    Region,
    _format_errors,
    available_envs,
    load_config,
    read_mapping,
)
from stacks.config_base import StrictModel

DELIVERY_DIR = CONFIG_DIR / "delivery"
DEFAULT_DELIVERY = "pipeline"
CONNECTION_ARN = r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"


class SourceConfig(StrictModel):
    """The repository, through a CodeConnections connection created (and authorized) once in the console."""

    connection_arn: Annotated[str, Field(pattern=CONNECTION_ARN)]
    repository: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
    branch: Annotated[str, Field(min_length=1, max_length=255)] = "main"


class SmokeTestConfig(StrictModel):
    env: str
    min_match_rate: Annotated[float, Field(gt=0, le=1)] = 0.8
    rows_per_request: Annotated[int, Field(ge=1, le=10_000)] = 500


class PromotionConfig(StrictModel):
    registry_env: str
    # The pipeline variable that carries the package ARN; `current` means "what was last promoted".
    variable: Annotated[str, Field(pattern=f"^{aws_names.PIPELINE_VARIABLE}$")] = DEFAULT_PIPELINE_VARIABLE


class BuildConfig(StrictModel):
    compute: Annotated[str, Field(pattern=r"^(SMALL|MEDIUM|LARGE|X2_LARGE)$")] = "LARGE"
    timeout_minutes: Annotated[int, Field(ge=5, le=480)] = 60


class DeliveryConfig(StrictModel):
    """The whole of one `config/delivery/<name>.yaml`."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,20}$")]
    account: AccountId
    region: Region
    pipeline_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9.@\-_]{1,100}$")]
    source: SourceConfig
    stages: Annotated[tuple[str, ...], Field(min_length=1)]
    manual_approval_before: tuple[str, ...] = ()
    smoke_test: SmokeTestConfig
    promotion: PromotionConfig
    build: BuildConfig = BuildConfig()
    lambdas: LambdaConfig = LambdaConfig()
    alerts: AlertsConfig = AlertsConfig()
    log_retention_days: LogRetentionDays = 90

    @model_validator(mode="after")
    def _step_role_name_fits(self) -> Self:
        if len(self.smoke_test_step_role_name) > names.IAM_ROLE_NAME_MAX_LENGTH:
            raise ValueError(
                f"pipeline_name '{self.pipeline_name}' is too long: the smoke-test step's role "
                f"'{self.smoke_test_step_role_name}' would exceed IAM's {names.IAM_ROLE_NAME_MAX_LENGTH} characters"
            )
        return self

    @property
    def smoke_test_step_role_name(self) -> str:
        return f"{self.pipeline_name}-{names.SMOKE_TEST_STEP_ROLE_SUFFIX}"

    @model_validator(mode="after")
    def _stages_known_and_ordered(self) -> Self:
        known = available_envs()
        unknown = [env for env in self.stages if env not in known]
        if unknown:
            raise ValueError(f"stages {unknown} have no config/<env>.yaml (valid: {', '.join(known)})")
        if len(set(self.stages)) != len(self.stages):
            raise ValueError(f"stages must not repeat an environment: {list(self.stages)}")
        for key, env in (
            ("smoke_test.env", self.smoke_test.env),
            ("promotion.registry_env", self.promotion.registry_env),
        ):
            if env not in self.stages:
                raise ValueError(f"{key} '{env}' is not one of the stages {list(self.stages)}")
        for env in self.manual_approval_before:
            if env not in self.stages:
                raise ValueError(f"manual_approval_before '{env}' is not one of the stages {list(self.stages)}")
        if self.stages.index(self.smoke_test.env) < self.stages.index(self.promotion.registry_env):
            raise ValueError(
                f"smoke_test.env '{self.smoke_test.env}' comes before promotion.registry_env "
                f"'{self.promotion.registry_env}': it would test a model it does not serve"
            )
        return self

    def promoted_envs(self) -> tuple[str, ...]:
        """The stages that serve the promoted package: the registry's environment and every later one."""
        return self.stages[self.stages.index(self.promotion.registry_env) :]

    def stage_configs(self, model_package_arn: str | None) -> list[EnvironmentConfig]:
        """Each stage's config, in order; with an ARN, the promoted stages serve that package.

        The package must come from the registry stage's group: the other stages can read nothing else.
        """
        configs = [load_config(env) for env in self.stages]
        if not model_package_arn:
            return configs
        registry = configs[self.stages.index(self.promotion.registry_env)]
        expected = (
            f"arn:aws:sagemaker:{registry.region}:{registry.account}:model-package/"
            f"{registry.resource_name(names.MODEL_PACKAGE_GROUP_SUFFIX)}/"
        )
        if not model_package_arn.startswith(expected):
            raise ConfigError(
                f"-c model_package_arn: '{model_package_arn}' is not a version in the registry of "
                f"promotion.registry_env '{registry.name}' (expected {expected}<version>)"
            )
        promoted = self.promoted_envs()
        return [
            config.with_model_package(model_package_arn) if config.name in promoted else config for config in configs
        ]

    def links_for(self, env: EnvironmentConfig, registry: EnvironmentConfig) -> DeliveryLinks | None:
        """What the pipeline needs from `env`'s stacks; None when the pipeline does not deploy `env`."""
        if env.name not in self.stages:
            return None
        promoted = self.promoted_envs()
        is_registry = env.name == registry.name
        smoke_env = load_config(self.smoke_test.env)
        return DeliveryLinks(
            toolchain_account=self.account,
            toolchain_region=self.region,
            registry_env=registry.name,
            registry_account=registry.account,
            registry_region=registry.region,
            forwards_approvals=is_registry,
            share_models_with=(
                tuple(sorted({self._account_of(name) for name in promoted} - {env.account})) if is_registry else ()
            ),
            serves_promoted_models=env.name in promoted,
            serves_foreign_models=env.name in promoted and env.account != registry.account,
            hosts_smoke_test=env.name == self.smoke_test.env,
            smoke_test_step_role_name=self.smoke_test_step_role_name,
            smoke_test_holdout_reader=(
                (smoke_env.account, smoke_env.resource_name(names.SMOKE_TEST_ROLE_SUFFIX))
                if is_registry and smoke_env.account != env.account
                else None
            ),
            retains_data=env.name in promoted,
        )

    def _account_of(self, env: str) -> str:
        return load_config(env).account


@dataclass(frozen=True)
class DeliveryLinks:
    """One environment's part in delivery. Everything here is derived from the delivery config."""

    toolchain_account: str
    toolchain_region: str
    registry_env: str
    registry_account: str
    registry_region: str
    # The registry environment forwards its approval events to the toolchain account's default bus...
    forwards_approvals: bool
    # ...and lets the accounts of later stages read its packages, artifacts and images.
    share_models_with: tuple[str, ...]
    # The registry's stage and later ones serve the promoted package (and batch scores with it)...
    serves_promoted_models: bool
    # ...and a later stage in another account reads the registry's packages, artifacts and images.
    serves_foreign_models: bool
    # The smoke-test environment has a role the pipeline's smoke-test step assumes.
    hosts_smoke_test: bool
    # ...which trusts only the pipeline's smoke-test step role, by name, in the toolchain account.
    smoke_test_step_role_name: str
    # The registry's artifacts bucket lets the smoke-test role of another account read the dataset runs' holdouts:
    # (account, role name); None when the smoke test runs in the registry's account, or for other environments.
    smoke_test_holdout_reader: tuple[str, str] | None = None
    # What prod serves depends on this environment: it serves the promoted package, or holds the registry (package
    # group, artifacts, images, key) it comes from. Its stateful resources are kept whatever its `removal` says.
    retains_data: bool = False

    def applied_to(self, config: EnvironmentConfig) -> EnvironmentConfig:
        """`config` as this environment's stacks must build it: `removal: retain` when `retains_data`."""
        if self.retains_data and not config.retain:
            return config.model_copy(update={"removal": "retain"})
        return config


def available_deliveries(delivery_dir: Path = DELIVERY_DIR) -> list[str]:
    return sorted(path.stem for path in delivery_dir.glob("*.yaml"))


def load_delivery_config(name: str | None = None, delivery_dir: Path = DELIVERY_DIR) -> DeliveryConfig:
    """Read and validate `config/delivery/<name>.yaml`; raise ConfigError naming the file and key on any problem."""
    name = name or DEFAULT_DELIVERY
    valid = available_deliveries(delivery_dir)
    if name not in valid:
        raise ConfigError(
            f"unknown delivery '{name}': valid ones are {', '.join(valid) or '(none)'} (files in {delivery_dir})"
        )
    path = delivery_dir / f"{name}.yaml"
    raw = read_mapping(path)
    try:
        return DeliveryConfig.model_validate({"name": name, **raw})
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None


def delivery_links(env: EnvironmentConfig, delivery_dir: Path = DELIVERY_DIR) -> DeliveryLinks | None:
    """The links of `env` to the default delivery pipeline, when one is configured."""
    if DEFAULT_DELIVERY not in available_deliveries(delivery_dir):
        return None
    delivery = load_delivery_config(DEFAULT_DELIVERY, delivery_dir)
    return delivery.links_for(env, load_config(delivery.promotion.registry_env))
