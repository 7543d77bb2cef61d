"""Prints the model package ARN `make checkov` synthesizes an environment with: its own group's version 1.

Serving a package adds the endpoint, its variants and monitoring to the templates checkov reads.
"""

import sys

from stacks.config import ConfigError, load_config


def model_package_arn(env: str) -> str:
    config = load_config(env)
    return f"arn:aws:sagemaker:{config.region}:{config.account}:model-package/{config.resource_name('model')}/1"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tools.checkov_model_package <env>", file=sys.stderr)
        return 2
    try:
        print(model_package_arn(argv[0]))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
