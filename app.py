#!/usr/bin/env python3
"""CDK entry point: `cdk synth -c env=<dev|staging|prod>` (dev when omitted)."""

import sys

from aws_cdk import App

from stacks.app_builder import build_stacks
from stacks.config import ConfigError, load_config


def main() -> None:
    app = App()
    try:
        config = load_config(app.node.try_get_context("env"))
        model_package_arn = app.node.try_get_context("model_package_arn")
        if model_package_arn:
            config = config.with_model_package(model_package_arn)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    build_stacks(app, config, git_commit=app.node.try_get_context("git_commit") or "unknown")
    app.synth()


if __name__ == "__main__":
    main()
