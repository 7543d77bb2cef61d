"""`source_database` of `config/<env>.yaml`: where the extraction reads from, and the CA its reads verify against."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
