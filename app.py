#!/usr/bin/env python3
"""CDK entry point.

- `cdk synth -c env=<dev|staging|prod>` (dev when omitted): every stack of one environment.
- `cdk synth -c delivery=pipeline`: the delivery pipeline stack, whose stages hold every environment's stacks.

Both take `-c model_package_arn=<arn>` (the package to serve) and `-c git_commit=<sha>` (lineage).
"""

import sys

from aws_cdk import App

from stacks.app_builder import attach_checks, build_stacks
from stacks.config import ConfigError, load_config
from stacks.delivery_config import delivery_links, load_delivery_config
from stacks.delivery_stack import build_delivery


def main() -> None:
    app = App()
    git_commit = app.node.try_get_context("git_commit") or "unknown"
    model_package_arn = app.node.try_get_context("model_package_arn") or None
    delivery_name = app.node.try_get_context("delivery")
    try:
        if delivery_name:
            build_delivery(app, load_delivery_config(delivery_name), model_package_arn, git_commit)
        else:
            config = load_config(app.node.try_get_context("env"))
            if model_package_arn:
                config = config.with_model_package(model_package_arn)
            build_stacks(app, config, git_commit=git_commit, delivery=delivery_links(config))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    attach_checks(app)
    app.synth()


if __name__ == "__main__":
    main()
