"""`make swap-weights ENV=<env> ARGS="champion=90 challenger=10"`: change the served state's variant weights.

The weights live in the served state (SSM, `esteira_contracts.served`), which every deploy reads, so a swap lasts:
the next deploy keeps it. The endpoint, when it exists, takes the new weights at once
(UpdateEndpointWeightsAndCapacities); `--state-only` leaves it for the next deploy. Needs AWS credentials for the
environment's account.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.exceptions import ClientError

from esteira_contracts.served import CHAMPION_VARIANT, variant_parameter
from stacks.config import ConfigError, EnvironmentConfig, load_config


class SwapError(ValueError):
    """A weight or variant the swap refuses, or a state it cannot read; the message names it."""


def variant_names(config: EnvironmentConfig) -> list[str]:
    """The variants the served state holds for `config` (as the Serving stack builds them)."""
    if any(variant.model_data_url for variant in config.serving.variants):
        raise SwapError(
            f"env {config.name}: serving.variants serve model artifacts (model_data_url), whose weights are config: "
            "edit serving.variants[].weight instead"
        )
    return [variant.name for variant in config.serving.variants] or [CHAMPION_VARIANT]


def parse_weights(pairs: Sequence[str], known: Sequence[str]) -> dict[str, float]:
    """`name=weight` pairs: known variant names, each once, weights finite and >= 0."""
    weights: dict[str, float] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise SwapError(f"'{pair}' is not <variant>=<weight>, e.g. champion=90")
        if name not in known:
            raise SwapError(f"'{name}' is not a variant of this environment (variants: {', '.join(known)})")
        if name in weights:
            raise SwapError(f"variant '{name}' is given twice")
        try:
            weight = float(raw)
        except ValueError:
            raise SwapError(f"{name}: weight '{raw}' is not a number") from None
        if not math.isfinite(weight) or weight < 0:
            raise SwapError(f"{name}: weight {raw} must be a finite number >= 0")
        weights[name] = weight
    if not weights:
        raise SwapError("give at least one <variant>=<weight>")
    return weights


def swap(config: EnvironmentConfig, pairs: Sequence[str], *, ssm: Any, sagemaker: Any, state_only: bool) -> str:
    """Write the new weights to the served state (and the live endpoint); return what was done, for the user."""
    names = variant_names(config)
    weights = parse_weights(pairs, names)
    current: dict[str, float] = {}
    for name in names:
        parameter = variant_parameter(config.name, name, "weight")
        try:
            current[name] = float(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ParameterNotFound":
                raise SwapError(
                    f"env {config.name} has no served state ({parameter} is missing): deploy it once first"
                ) from None
            raise
    new = {**current, **weights}
    if sum(new.values()) <= 0:
        raise SwapError(f"the weights would sum to 0 ({new}): at least one variant must take traffic")
    for name, weight in weights.items():
        ssm.put_parameter(
            Name=variant_parameter(config.name, name, "weight"), Value=_text(weight), Type="String", Overwrite=True
        )
    summary = ", ".join(f"{name} {_text(current[name])} -> {_text(new[name])}" for name in names)
    endpoint = config.resource_name("endpoint")
    if state_only:
        return f"served state of {config.name}: {summary}; the next deploy applies it"
    try:
        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": name, "DesiredWeight": new[name]} for name in names],
        )
    except ClientError as exc:
        if "Could not find endpoint" not in str(exc):
            raise
        return f"served state of {config.name}: {summary}; no endpoint {endpoint} yet, its first deploy uses them"
    return f"served state of {config.name}: {summary}; endpoint {endpoint} updated, later deploys keep it"


def _text(weight: float) -> str:
    return f"{weight:g}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make swap-weights", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="the environment (config/<env>.yaml)")
    parser.add_argument("--state-only", action="store_true", help="leave the endpoint for the next deploy")
    parser.add_argument("weights", nargs="*", metavar="VARIANT=WEIGHT")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.env)
        session = boto3.session.Session(region_name=config.region)
        print(
            swap(
                config,
                args.weights,
                ssm=session.client("ssm"),
                sagemaker=session.client("sagemaker"),
                state_only=args.state_only,
            )
        )
    except (ConfigError, SwapError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
