"""What every section of `config/<env>.yaml` shares: strict, frozen models, the SageMaker instance type, and how the
files are parsed."""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

# libyaml's parser, which PyYAML's wheels include, under the same safe constructor: the same values, ~10x faster on
# these files (config/prod.yaml: 14 -> 1.2 ms). A synth reads each environment's file several times (the delivery
# links read every environment's), so the stack tests parsed ~800 files: 8.6 s of CPU with the pure-Python parser.
# PyYAML built without libyaml falls back to the pure-Python one.
SAFE_YAML_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load``, with libyaml's parser when there is one (raises yaml.YAMLError as safe_load does)."""
    return yaml.load(text, Loader=SAFE_YAML_LOADER)  # a safe loader: plain data only, never objects


class StrictModel(BaseModel):
    """A config section: unknown keys are errors, and a parsed config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


InstanceType = Annotated[str, Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")]
