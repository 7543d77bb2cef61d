"""What every section of `config/<env>.yaml` shares: strict, frozen models and the SageMaker instance type."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """A config section: unknown keys are errors, and a parsed config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


InstanceType = Annotated[str, Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")]
