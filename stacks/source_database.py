"""`source_database` of `config/<env>.yaml`: where the extraction reads from, and the CA its reads verify against."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Secrets Manager's limits (RotationRulesType, AWS Secrets Manager API Reference,
# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotationRulesType.html): ScheduleExpression
# "can rotate a secret as often as every four hours"; AutomaticallyAfterDays has a valid range of 1 to 1000.
MIN_ROTATION_INTERVAL = timedelta(hours=4)
MAX_ROTATION_INTERVAL = timedelta(days=1000)
_RATE = re.compile(r"^rate\((?P<value>[1-9]\d*) (?P<unit>hours?|days?)\)$")


class RotationConfig(BaseModel):
    """How the source secret's password is rotated.

    `hosted`: Secrets Manager's hosted single-user rotation for PostgreSQL, in the job's network. `external`: the
    database's owner rotates it and writes the new value into the secret; the job re-reads the secret at every run.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["hosted", "external"]
    # A rate expression, e.g. "rate(30 days)" or "rate(12 hours)".
    schedule: str = "rate(30 days)"

    @field_validator("schedule")
    @classmethod
    def _rate_within_limits(cls, value: str) -> str:
        match = _RATE.match(value)
        if not match:
            raise ValueError(f"'{value}' is not a rate expression like 'rate(30 days)' or 'rate(12 hours)'")
        unit = "hours" if match["unit"].startswith("hour") else "days"
        interval = timedelta(**{unit: int(match["value"])})
        if not MIN_ROTATION_INTERVAL <= interval <= MAX_ROTATION_INTERVAL:
            raise ValueError(f"'{value}': Secrets Manager rotates at most every 4 hours and at least every 1000 days")
        return value

    @property
    def interval(self) -> timedelta:
        match = _RATE.match(self.schedule)
        assert match is not None  # validated above
        unit = "hours" if match["unit"].startswith("hour") else "days"
        return timedelta(**{unit: int(match["value"])})


class SourceDatabaseConfig(BaseModel):
    """Where the extraction reads from. Credentials live in the secret, never here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Literal["postgresql", "mysql", "sqlserver", "oracle"]
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)]
    database: Annotated[str, Field(min_length=1)]
    secret_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$")]
    # The CA the database's certificate must chain to: a file in glue_jobs/esteira_extract/certs (shipped in the
    # job's library). PostgreSQL takes a PEM bundle (RDS: global-bundle.pem), MySQL a PKCS12/JKS trust store.
    tls_ca_bundle: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\.(pem|crt|p12|pfx|jks)$")] = (
        "rds-global-bundle.pem"
    )
    rotation: RotationConfig
    # Where the database is, for the job's egress rule to its port: its network (CIDR) or its security group.
    cidr: str | None = None
    security_group_id: Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")] | None = None

    @field_validator("cidr")
    @classmethod
    def _cidr_parses(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            return str(ipaddress.ip_network(value, strict=True))
        except ValueError as exc:
            raise ValueError(f"'{value}' is not a network in CIDR notation like '10.0.0.0/16': {exc}") from None

    @model_validator(mode="after")
    def _rotation_fits_engine(self) -> Self:
        if self.rotation.mode == "hosted" and self.engine != "postgresql":
            raise ValueError(
                f"rotation.mode 'hosted' is Secrets Manager's PostgreSQL single-user rotation; engine '{self.engine}'"
                " needs rotation.mode 'external'"
            )
        if self.cidr is not None and self.security_group_id is not None:
            raise ValueError("give the database's cidr or its security_group_id, not both")
        return self

    @model_validator(mode="after")
    def _bundle_fits_engine(self) -> Self:
        pem = self.tls_ca_bundle.endswith((".pem", ".crt"))
        if self.engine == "postgresql" and not pem:
            raise ValueError(f"tls_ca_bundle '{self.tls_ca_bundle}': PostgreSQL verifies with a PEM bundle (.pem)")
        if self.engine == "mysql" and pem:
            raise ValueError(
                f"tls_ca_bundle '{self.tls_ca_bundle}': MySQL Connector/J needs a trust store (.p12 or .jks)"
            )
        return self

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
