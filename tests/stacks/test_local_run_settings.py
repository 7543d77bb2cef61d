"""The local run builds each Lambda's settings as the stacks do: from one config file, the same values.

For every environment, the settings ``python -m pipeline --env <env>`` gives a Lambda (``pipeline.settings``) equal
what that environment's synthesized template sets, once the names of resources (buckets, tables, the package
group), which are local stand-ins, are taken from the template. Lives beside the stack tests to share their synth.
"""

import dataclasses
import json
from collections.abc import Callable

import pytest

from esteira_contracts import EnvContract
from pipeline import settings
from pipeline.options import REPO
from stacks.config import EnvironmentConfig, load_config
from tests.stacks.conftest import ENVS, SynthesizedEnv
from tests.stacks.test_lambda_contracts import concrete, functions

# Fields that name a resource: the local run has its own (moto's) resources by other names. URIs keep their keys.
RESOURCE_FIELDS = frozenset(
    {
        "model_package_group",
        "artifacts_bucket",
        "predictions_table",
        "idempotency_table",
        "queue_url",
        "job_name_prefix",
        "predictions_bucket",
        # the launcher's: the predictions bucket, its transform role, its run id prefix (the job name prefix);
        # the package is the local registry's (no promotion pins one) and moto has no VPC
        "bucket",
        "role_arn",
        "run_id_prefix",
        "model_package_arn",
        "subnet_ids",
        "security_group_ids",
    }
)
URI_FIELDS = frozenset({"curated_uri"})
# The key of the deployed objects: the local run's S3 (moto) has none.
KEY_FIELDS = frozenset({"kms_key_id"})


def key_of(uri: str) -> str:
    """s3://bucket/key -> key: the layout, without the bucket's name."""
    return uri.removeprefix("s3://").partition("/")[2]


def spec_name(config: EnvironmentConfig) -> str:
    return str(json.loads((REPO / config.extraction.spec).read_text())["name"])


def synthesized(env: SynthesizedEnv, handler: str, contract: type[EnvContract]) -> EnvContract:
    (found,) = [(where, props) for where, name, props in functions(env.templates, env.config.name) if name == handler]
    where, props = found
    variables = props.get("Environment", {}).get("Variables", {})
    return contract.from_env({name: concrete(where, name, value) for name, value in variables.items()})


def same_but_resources(local: EnvContract, deployed: EnvContract) -> None:
    fields = {f.name for f in dataclasses.fields(local)}
    for name in fields & URI_FIELDS:
        assert key_of(getattr(local, name)) == key_of(getattr(deployed, name)), name
    names = fields & (RESOURCE_FIELDS | URI_FIELDS | KEY_FIELDS)
    localized = dataclasses.replace(local, **{name: getattr(deployed, name) for name in names})
    assert localized == deployed


@pytest.mark.parametrize("env", ENVS)
def test_the_local_run_builds_every_lambdas_settings_as_the_synth_does(
    synth: Callable[[str], SynthesizedEnv], env: str
) -> None:
    # GIVEN one environment's config file, synthesized and loaded as the local run loads it
    deployed_env, config = synth(env), load_config(env)
    # WHEN each Lambda's settings are built by the local run and read back from the template
    pairs = {
        "training.prepare.handler.handler": settings.prepare_settings(spec_name(config)),
        "training.evaluate.handler.handler": settings.evaluate_settings(config),
        "batch.launcher.handler.handler": settings.launcher_settings(config),
        "batch.consumer.handler.handler": settings.consumer_settings(),
        "batch.fanout.handler.handler": settings.fanout_settings(config, "https://sqs.local/q.fifo"),
    }
    # THEN they are equal but for the names of resources (the job name prefix is the local run's own, too)
    for handler, local in pairs.items():
        same_but_resources(local, synthesized(deployed_env, handler, type(local)))
