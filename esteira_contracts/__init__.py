"""Contracts between the stacks, the runtime code and the local run: one typed settings class per component.

Pure (standard library only), so stacks, Lambdas, Glue jobs and ``python -m pipeline`` may all import it.
"""

from esteira_contracts._base import (
    ArgsContract,
    Contract,
    EnvContract,
    Setting,
    SettingsError,
    is_token,
    normalize_prefix,
    setting,
)

__all__ = [
    "ArgsContract",
    "Contract",
    "EnvContract",
    "Setting",
    "SettingsError",
    "is_token",
    "normalize_prefix",
    "setting",
]
