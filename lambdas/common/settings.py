"""The environment variables of the launcher, consumer and promoter, and the settings dataclasses built from them.

The fan-out's settings are a contract of their own: ``esteira_contracts.fanout.FanoutSettings``.

This is the only module that touches ``os.environ``; handlers call ``<X>Settings.from_env()`` per invocation
(never at import), and logic modules receive the dataclass. A missing or ill-typed variable raises
:class:`SettingsError` naming every offending variable at once.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

# --- launcher -------------------------------------------------------------------------------------------------
MODEL_PACKAGE_GROUP = "MODEL_PACKAGE_GROUP"
# Optional: the exact package version to score with (the one the environment's endpoint serves, promoted by the
# delivery pipeline, possibly from another account's registry). Unset: the newest Approved one of the group.
MODEL_PACKAGE_ARN = "MODEL_PACKAGE_ARN"
SAGEMAKER_ROLE_ARN = "SAGEMAKER_ROLE_ARN"
PREDICTIONS_BUCKET = "PREDICTIONS_BUCKET"
INPUT_PREFIX = "INPUT_PREFIX"
OUTPUT_PREFIX = "OUTPUT_PREFIX"
INSTANCE_TYPE = "INSTANCE_TYPE"
INSTANCE_COUNT = "INSTANCE_COUNT"
MAX_PAYLOAD_MB = "MAX_PAYLOAD_MB"
MAX_CONCURRENT_TRANSFORMS = "MAX_CONCURRENT_TRANSFORMS"
INVOCATION_TIMEOUT_SECONDS = "INVOCATION_TIMEOUT_SECONDS"
INVOCATION_MAX_RETRIES = "INVOCATION_MAX_RETRIES"
KMS_KEY_ID = "KMS_KEY_ID"
ENV_NAME = "ENV_NAME"
RUN_ID_PREFIX = "RUN_ID_PREFIX"
SUBNET_IDS = "SUBNET_IDS"
SECURITY_GROUP_IDS = "SECURITY_GROUP_IDS"

# --- consumer -------------------------------------------------------------------------------------------------
PREDICTIONS_TABLE = "PREDICTIONS_TABLE"
IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
IDEMPOTENCY_TTL_SECONDS = "IDEMPOTENCY_TTL_SECONDS"

# --- promoter (delivery) --------------------------------------------------------------------------------------
PIPELINE_NAME = "PIPELINE_NAME"
PIPELINE_VARIABLE = "PIPELINE_VARIABLE"
MODEL_PACKAGE_GROUPS = "MODEL_PACKAGE_GROUPS"
REGISTRY_ACCOUNT = "REGISTRY_ACCOUNT"
PROMOTED_PARAMETER = "PROMOTED_PARAMETER"
HISTORY_PARAMETER = "HISTORY_PARAMETER"

LAUNCHER_VARIABLES = (
    MODEL_PACKAGE_GROUP,
    MODEL_PACKAGE_ARN,
    SAGEMAKER_ROLE_ARN,
    PREDICTIONS_BUCKET,
    INPUT_PREFIX,
    OUTPUT_PREFIX,
    INSTANCE_TYPE,
    INSTANCE_COUNT,
    MAX_PAYLOAD_MB,
    MAX_CONCURRENT_TRANSFORMS,
    INVOCATION_TIMEOUT_SECONDS,
    INVOCATION_MAX_RETRIES,
    KMS_KEY_ID,
    ENV_NAME,
    RUN_ID_PREFIX,
    SUBNET_IDS,
    SECURITY_GROUP_IDS,
)
CONSUMER_VARIABLES = (PREDICTIONS_TABLE, IDEMPOTENCY_TABLE, IDEMPOTENCY_TTL_SECONDS)
PROMOTER_VARIABLES = (
    PIPELINE_NAME,
    PIPELINE_VARIABLE,
    MODEL_PACKAGE_GROUPS,
    REGISTRY_ACCOUNT,
    PROMOTED_PARAMETER,
    HISTORY_PARAMETER,
)

# SageMaker: MaxPayloadInMB <= 100 and MaxConcurrentTransforms * MaxPayloadInMB <= 100 (CreateTransformJob docs).
MAX_TRANSFORM_BUFFER_MB = 100

# The API's own patterns: CodePipeline's StartPipelineExecution (pipeline and variable names) and SageMaker's
# ModelPackageGroupName; an account id is 12 digits.
PIPELINE_NAME_PATTERN = re.compile(r"[A-Za-z0-9.@\-_]{1,100}")
PIPELINE_VARIABLE_PATTERN = re.compile(r"[A-Za-z0-9@\-_]{1,128}")
MODEL_PACKAGE_GROUP_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
ACCOUNT_PATTERN = re.compile(r"[0-9]{12}")
# A versioned model package ARN (arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>).
MODEL_PACKAGE_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[A-Za-z0-9-]+/\d+$")
# An SSM parameter name (PutParameter's naming constraints): at most 1011 characters (the API's bound counts the
# parameter's whole ARN, so this one is loose); not prefixed with "aws" or "ssm" in any case; a-zA-Z0-9_.- only,
# either flat or a hierarchy with a leading slash and at most 15 levels. A name, not an ARN: the Lambda writes it.
SSM_PARAMETER_NAME_PATTERN = re.compile(
    r"(?=.{1,1011}\Z)(?!/?(?i:aws|ssm))(?:[a-zA-Z0-9_.\-]+|(?:/[a-zA-Z0-9_.\-]+){1,15})"
)

T = TypeVar("T")


class SettingsError(ValueError):
    """The environment does not configure this Lambda; the message names every bad variable."""


class EnvReader:
    """Reads settings from an environment mapping, collecting every problem; `done` raises them at once."""

    error_class: type[Exception] = SettingsError

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.errors: list[str] = []

    def text(self, name: str, default: str | None = None) -> str:
        value = self._environ.get(name, "").strip()
        if value:
            return value
        if default is None:
            self.errors.append(f"{name} is required")
            return ""
        return default

    def optional(self, name: str) -> str | None:
        return self._environ.get(name, "").strip() or None

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        return self._parse(name, default, int, minimum, maximum)

    def optional_integer(self, name: str, minimum: int = 0) -> int | None:
        return None if self.optional(name) is None else self.integer(name, 0, minimum)

    def csv(self, name: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in self._environ.get(name, "").split(",") if part.strip())

    def _parse(self, name: str, default: T, parse: Callable[[str], T], minimum: int, maximum: int | None) -> T:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = parse(raw)
        except ValueError:
            self.errors.append(f"{name}={raw!r} is not an integer")
            return default
        if isinstance(value, int) and (value < minimum or (maximum is not None and value > maximum)):
            upper = "" if maximum is None else f" and <= {maximum}"
            self.errors.append(f"{name}={value} must be >= {minimum}{upper}")
        return value

    def number(self, name: str, default: float | None = None, minimum: float | None = None) -> float:
        raw = self._environ.get(name, "").strip()
        if not raw:
            if default is None:
                self.errors.append(f"{name} is required")
                return 0.0
            return default
        try:
            value = float(raw)
        except ValueError:
            self.errors.append(f"{name}={raw!r} is not a number")
            return 0.0
        if not math.isfinite(value):
            self.errors.append(f"{name}={raw!r} must be finite")
        elif minimum is not None and value < minimum:
            self.errors.append(f"{name}={raw!r} must be >= {minimum:g}")
        return value

    def done(self, what: str) -> None:
        if self.errors:
            raise self.error_class(f"{what} settings: " + "; ".join(self.errors))


def _prefix(value: str) -> str:
    value = value.lstrip("/")
    return value if not value or value.endswith("/") else value + "/"


@dataclass(frozen=True)
class LauncherSettings:
    model_package_group: str
    model_package_arn: str | None  # pinned package version; None scores with the group's newest Approved one
    role_arn: str
    bucket: str
    input_prefix: str
    output_prefix: str
    instance_type: str
    instance_count: int
    max_payload_mb: int
    max_concurrent_transforms: int
    invocation_timeout_seconds: int | None
    invocation_max_retries: int | None
    kms_key_id: str | None
    env_name: str
    run_id_prefix: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LauncherSettings:
        env = EnvReader(os.environ if environ is None else environ)
        env_name = env.text(ENV_NAME)
        settings = cls(
            model_package_group=env.text(MODEL_PACKAGE_GROUP),
            model_package_arn=env.optional(MODEL_PACKAGE_ARN),
            role_arn=env.text(SAGEMAKER_ROLE_ARN),
            bucket=env.text(PREDICTIONS_BUCKET),
            input_prefix=_prefix(env.text(INPUT_PREFIX, "batch-input/")),
            output_prefix=_prefix(env.text(OUTPUT_PREFIX, "batch-output/")),
            instance_type=env.text(INSTANCE_TYPE),
            instance_count=env.integer(INSTANCE_COUNT, 1, minimum=1),
            max_payload_mb=env.integer(MAX_PAYLOAD_MB, 6, minimum=0, maximum=MAX_TRANSFORM_BUFFER_MB),
            max_concurrent_transforms=env.integer(MAX_CONCURRENT_TRANSFORMS, 4, minimum=0),
            invocation_timeout_seconds=env.optional_integer(INVOCATION_TIMEOUT_SECONDS, minimum=1),
            invocation_max_retries=env.optional_integer(INVOCATION_MAX_RETRIES),
            kms_key_id=env.optional(KMS_KEY_ID),
            env_name=env_name,
            run_id_prefix=env.text(RUN_ID_PREFIX, f"esteira-{env_name}"),
            subnet_ids=env.csv(SUBNET_IDS),
            security_group_ids=env.csv(SECURITY_GROUP_IDS),
        )
        if settings.max_payload_mb * settings.max_concurrent_transforms > MAX_TRANSFORM_BUFFER_MB:
            env.errors.append(
                f"{MAX_CONCURRENT_TRANSFORMS} * {MAX_PAYLOAD_MB} = {settings.max_concurrent_transforms} * "
                f"{settings.max_payload_mb} MB exceeds SageMaker's {MAX_TRANSFORM_BUFFER_MB} MB"
            )
        if bool(settings.subnet_ids) != bool(settings.security_group_ids):
            env.errors.append(f"{SUBNET_IDS} and {SECURITY_GROUP_IDS} go together (both or neither)")
        if settings.model_package_arn and not MODEL_PACKAGE_ARN_PATTERN.fullmatch(settings.model_package_arn):
            env.errors.append(
                f"{MODEL_PACKAGE_ARN}={settings.model_package_arn!r} is not a versioned model package ARN "
                "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)"
            )
        env.done("launcher")
        return settings


@dataclass(frozen=True)
class ConsumerSettings:
    predictions_table: str
    idempotency_table: str
    idempotency_ttl_seconds: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConsumerSettings:
        env = EnvReader(os.environ if environ is None else environ)
        settings = cls(
            predictions_table=env.text(PREDICTIONS_TABLE),
            idempotency_table=env.text(IDEMPOTENCY_TABLE),
            idempotency_ttl_seconds=env.integer(IDEMPOTENCY_TTL_SECONDS, 86_400, minimum=60),
        )
        env.done("consumer")
        return settings


@dataclass(frozen=True)
class PromoterSettings:
    pipeline_name: str
    pipeline_variable: str
    model_package_groups: tuple[str, ...]
    registry_account: str
    promoted_parameter: str  # SSM String: the promoted package's ARN, or "none"
    history_parameter: str  # SSM String: a JSON list of the packages promoted before, newest first

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PromoterSettings:
        env = EnvReader(os.environ if environ is None else environ)
        settings = cls(
            pipeline_name=env.text(PIPELINE_NAME),
            pipeline_variable=env.text(PIPELINE_VARIABLE, "ModelPackageArn"),
            model_package_groups=env.csv(MODEL_PACKAGE_GROUPS),
            registry_account=env.text(REGISTRY_ACCOUNT),
            promoted_parameter=env.text(PROMOTED_PARAMETER),
            history_parameter=env.text(HISTORY_PARAMETER),
        )
        checks = (
            (PIPELINE_NAME, (settings.pipeline_name,), PIPELINE_NAME_PATTERN, "a CodePipeline name"),
            (PIPELINE_VARIABLE, (settings.pipeline_variable,), PIPELINE_VARIABLE_PATTERN, "a pipeline variable name"),
            (MODEL_PACKAGE_GROUPS, settings.model_package_groups, MODEL_PACKAGE_GROUP_PATTERN, "a model package group"),
            (REGISTRY_ACCOUNT, (settings.registry_account,), ACCOUNT_PATTERN, "a 12-digit account id"),
            (PROMOTED_PARAMETER, (settings.promoted_parameter,), SSM_PARAMETER_NAME_PATTERN, "an SSM parameter name"),
            (HISTORY_PARAMETER, (settings.history_parameter,), SSM_PARAMETER_NAME_PATTERN, "an SSM parameter name"),
        )
        for name, values, pattern, what in checks:
            env.errors.extend(f"{name}={v!r} is not {what}" for v in values if v and not pattern.fullmatch(v))
        if settings.promoted_parameter and settings.promoted_parameter == settings.history_parameter:
            env.errors.append(f"{PROMOTED_PARAMETER} and {HISTORY_PARAMETER} must name two different parameters")
        if not settings.model_package_groups:
            env.errors.append(f"{MODEL_PACKAGE_GROUPS} is required (comma-separated model package group names)")
        env.done("promoter")
        return settings
