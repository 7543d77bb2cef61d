#!/usr/bin/env python3
"""CDK entry point.

- `cdk synth -c env=<dev|staging|prod>` (dev when omitted): every stack of one environment.
- `cdk synth -c delivery=pipeline`: the delivery pipeline stack, whose stages hold every environment's stacks.

Both take `-c model_package_arn=<arn>` (the package to serve) and `-c git_commit=<sha>` (lineage).

The context is checked before the CDK loads (the jsii kernel and aws-cdk-lib take ~3 s of CPU): an unknown env or
delivery, a bad config or a package from outside the registry ends the synth at once, naming the key.
"""

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from stacks.config import ConfigError, EnvironmentConfig, load_config
from stacks.delivery_config import DeliveryConfig, delivery_links, load_delivery_config

# How the cdk CLI hands an app its context (cdk.json's, cdk.context.json's and each -c): as JSON in this variable, or,
# when that is too long for the environment, in the file this one names. aws-cdk-lib's App reads the same two
# (cx-api's CONTEXT_ENV and CONTEXT_OVERFLOW_LOCATION_ENV).
CONTEXT_ENV = "CDK_CONTEXT_JSON"
CONTEXT_OVERFLOW_ENV = "CONTEXT_OVERFLOW_LOCATION_ENV"


def cli_context() -> dict[str, Any]:
    """The context the cdk CLI gave this process; empty when run without it (`python app.py`: dev)."""
    context: dict[str, Any] = json.loads(os.environ.get(CONTEXT_ENV) or "{}")
    overflow = os.environ.get(CONTEXT_OVERFLOW_ENV)
    if overflow and Path(overflow).is_file():
        context.update(json.loads(Path(overflow).read_text()))
    return context


@dataclass(frozen=True)
class Target:
    """What the context asks for: one environment's stacks, or the delivery pipeline with its stages."""

    git_commit: str
    model_package_arn: str | None
    config: EnvironmentConfig | None = None
    delivery: DeliveryConfig | None = None

    @classmethod
    def from_context(cls, context: dict[str, Any]) -> "Target":
        """Every config the synth will use, loaded and checked; raises ConfigError naming the key."""
        git_commit = context.get("git_commit") or "unknown"
        model_package_arn = context.get("model_package_arn") or None
        if context.get("delivery"):
            delivery = load_delivery_config(context["delivery"])
            # Only checked here (a package from outside the registry fails): build_delivery makes the stages' configs.
            delivery.stage_configs(model_package_arn)
            return cls(git_commit, model_package_arn, delivery=delivery)
        config = load_config(context.get("env"))
        if model_package_arn:
            config = config.with_model_package(model_package_arn)
        return cls(git_commit, model_package_arn, config=config)


def fail(error: ConfigError) -> NoReturn:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    try:
        target = Target.from_context(cli_context())
    except ConfigError as error:
        fail(error)
    # The CDK (and the modules that build on it), once the context is known to be good.
    from aws_cdk import App

    from stacks.app_builder import attach_checks, build_stacks
    from stacks.delivery_stack import build_delivery

    app = App()
    try:
        if target.delivery is not None:
            build_delivery(app, target.delivery, target.model_package_arn, target.git_commit)
        elif target.config is not None:
            build_stacks(app, target.config, git_commit=target.git_commit, delivery=delivery_links(target.config))
    except ConfigError as error:
        fail(error)
    attach_checks(app)
    app.synth()


if __name__ == "__main__":
    main()
