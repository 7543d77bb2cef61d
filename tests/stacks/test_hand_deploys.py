"""An environment deployed by hand (`cdk deploy -c env=<env>`) is the delivery pipeline's stage for it, resource for
resource: moving an environment from hand deploys to the pipeline replaces nothing.

In process, with the cdk CLI's path metadata, for every environment; tests/test_app.py checks the same for prod
through the cdk CLI itself.
"""

from collections.abc import Callable

import pytest

from tests.stacks.conftest import (
    ENVS,
    SynthesizedDelivery,
    SynthesizedEnv,
    deployed_view,
    registry_package_arn,
)


@pytest.mark.parametrize("env", ENVS)
def test_an_environment_deployed_by_hand_equals_its_pipeline_stage(
    synth: Callable[[str], SynthesizedEnv],
    synth_with_model: Callable[[str], SynthesizedEnv],
    synth_delivery: Callable[[bool], SynthesizedDelivery],
    env: str,
) -> None:
    # GIVEN the delivery app approving the registry's package, and a hand synth of env given what the pipeline gives
    # its stage: the same commit, and the package from staging on (dev serves no promoted package: the session's
    # synth of dev, which the cdk CLI's path metadata and that commit make a hand synth already)
    delivery = synth_delivery(True)
    if env in delivery.delivery.promoted_envs():
        # (the session's synth with a model serves the registry's package there: served_package_arn)
        by_hand = synth_with_model(env)
        assert by_hand.config.serving.variants[0].model_package_arn == registry_package_arn(delivery.delivery)
    else:
        by_hand = synth(env)
    outdir = by_hand.assembly_dir
    # THEN the same stack names hold the same resources, ids and properties
    stage_dir = delivery.assembly_dir / f"assembly-Esteira-delivery-pipeline-{env}"
    assert deployed_view(outdir, env) == deployed_view(stage_dir, env)
