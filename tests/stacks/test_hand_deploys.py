"""An environment deployed by hand (`cdk deploy -c env=<env>`) is the delivery pipeline's stage for it, resource for
resource: moving an environment from hand deploys to the pipeline replaces nothing.

In process, with the cdk CLI's path metadata, for every environment; tests/test_app.py checks the same for prod
through the cdk CLI itself.
"""

from collections.abc import Callable

import pytest

from stacks.config import load_config
from tests.stacks.conftest import (
    ENVS,
    GIT_COMMIT,
    SynthesizedDelivery,
    SynthesizedEnv,
    deployed_view,
    registry_package_arn,
    synthesize,
)


@pytest.mark.parametrize("env", ENVS)
def test_an_environment_deployed_by_hand_equals_its_pipeline_stage(
    synth: Callable[[str], SynthesizedEnv],
    synth_delivery: Callable[[bool], SynthesizedDelivery],
    tmp_path_factory: pytest.TempPathFactory,
    env: str,
) -> None:
    # GIVEN the delivery app approving the registry's package, and a hand synth of env given what the pipeline gives
    # its stage: the same commit, and the package from staging on (dev serves no promoted package: the session's
    # synth of dev, which the cdk CLI's path metadata and that commit make a hand synth already)
    delivery = synth_delivery(True)
    if env in delivery.delivery.promoted_envs():
        config = load_config(env).with_model_package(registry_package_arn(delivery.delivery))
        outdir = tmp_path_factory.mktemp(f"cdk-{env}-by-hand")
        synthesize(env, outdir, config, git_commit=GIT_COMMIT, path_metadata=True)
    else:
        outdir = synth(env).assembly_dir
    # THEN the same stack names hold the same resources, ids and properties
    stage_dir = delivery.assembly_dir / f"assembly-Esteira-delivery-pipeline-{env}"
    assert deployed_view(outdir, env) == deployed_view(stage_dir, env)
