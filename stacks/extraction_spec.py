"""The part of an extraction spec (glue_jobs/specs/*.json) the stacks need: the table name, its columns and key.

The spec is data, not code: the stacks read it to declare the Athena table, the job reads it to run.
"""

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stacks.config import ConfigError

ColumnType = Literal["int", "bigint", "double", "float", "string", "date", "timestamp", "boolean"]


class OutputColumn(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]
    type: ColumnType


class ExtractionSpecSummary(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]
    output_columns: Annotated[tuple[OutputColumn, ...], Field(min_length=1)]
    # The key the dataset job keeps one version of, and the training job's `id_column` (not a feature).
    primary_key: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None


def read_spec_summary(path: Path) -> ExtractionSpecSummary:
    try:
        return ExtractionSpecSummary.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read extraction spec: {exc}") from exc
    except ValidationError as exc:
        keys = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: invalid extraction spec: {keys}") from None
