"""One snapshot per stack per environment. Asset hashes are normalized, so editing job code churns nothing."""

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.stacks.conftest import ENVS, SynthesizedDelivery, SynthesizedEnv

ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def normalized(template: Mapping[str, Any]) -> Any:
    return json.loads(ASSET_HASH.sub("<asset-hash>", json.dumps(template)))


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("env", ENVS)
def test_stack_templates_match_snapshots(
    synth: Callable[[str], SynthesizedEnv], env: str, snapshot_json: SnapshotAssertion
) -> None:
    for component, template in sorted(synth(env).templates.items()):
        assert normalized(template.to_json()) == snapshot_json(name=f"{env}-{component}")


@pytest.mark.parametrize("env", ENVS)
def test_serving_template_with_a_model_matches_snapshot(
    synth_with_model: Callable[[str], SynthesizedEnv], env: str, snapshot_json: SnapshotAssertion
) -> None:
    template = synth_with_model(env).templates["Serving"]
    assert normalized(template.to_json()) == snapshot_json(name=f"{env}-Serving-with-model")


def test_delivery_pipeline_template_matches_snapshot(
    synth_delivery: Callable[[bool], SynthesizedDelivery], snapshot_json: SnapshotAssertion
) -> None:
    # The stages' stacks are the environments' stacks, snapshotted above (the tests check they carry the links).
    assert normalized(synth_delivery(False).pipeline.to_json()) == snapshot_json(name="delivery-pipeline")
