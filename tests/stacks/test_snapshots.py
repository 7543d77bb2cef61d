"""One snapshot per stack per environment: the template, and the assets it uses with the files in each.

Only asset hashes are normalized, each to the name of its asset (its display name in the assembly's asset
manifest), so editing a file's content churns nothing while a file added to or removed from an asset, or a resource
moved to another asset, shows in the snapshot.
"""

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.stacks.conftest import ENVS, SynthesizedDelivery, SynthesizedEnv

ASSET_HASH = re.compile(r"[0-9a-f]{64}")
# CDK's Glue code names its asset "Code<md5 of the script's absolute path>": different in every checkout.
CHECKOUT_PATH_HASH = re.compile(r"(?<=Code)[0-9a-f]{32}$")


def asset_manifest(assembly_dir: Path, stack_name: str) -> dict[str, dict[str, Any]]:
    """Asset hash -> its entry in an asset manifest (display name, source, packaging): the stack's own first, then
    the other manifests of the assembly (a pipeline's template names its stages' assets)."""
    own = assembly_dir / f"{stack_name}.assets.json"
    entries: dict[str, dict[str, Any]] = {}
    for path in [*sorted(set(assembly_dir.rglob("*.assets.json")) - {own}), own]:
        manifest = json.loads(path.read_text())
        for digest, entry in {**manifest.get("dockerImages", {}), **manifest.get("files", {})}.items():
            entries[digest] = {**entry, "directory": path.parent}
    return entries


def asset_files(entry: Mapping[str, Any]) -> list[str]:
    """The files a staged asset holds (a directory's relative paths, or one file's name)."""
    source = entry["source"]
    path = entry["directory"] / source.get("path", source.get("directory", ""))
    if path.is_dir():
        return sorted(str(file.relative_to(path)) for file in path.rglob("*") if file.is_file())
    return [ASSET_HASH.sub("<hash>", path.name)]


def normalized(template: Mapping[str, Any], assembly_dir: Path, stack_name: str) -> Any:
    """The template with each asset hash replaced by its asset's name, and those assets' file lists."""
    assets = asset_manifest(assembly_dir, stack_name)
    text = json.dumps(template)
    used = sorted(set(ASSET_HASH.findall(text)) & set(assets))
    labels = {digest: f"<asset:{CHECKOUT_PATH_HASH.sub('', assets[digest]['displayName'])}>" for digest in used}
    for digest, label in labels.items():
        text = text.replace(digest, label)
    return {
        "assets": {
            labels[digest]: {
                "packaging": assets[digest]["source"].get("packaging", "container-image"),
                "files": asset_files(assets[digest]),
            }
            for digest in used
        },
        "template": json.loads(text),
    }


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def test_normalization_replaces_only_asset_hashes(synth: Callable[[str], SynthesizedEnv]) -> None:
    # GIVEN the Batch template, whose Lambdas share the lambdas/ asset, and a 64-hex value that is no asset's hash
    synthesized = synth("dev")
    other = "ab" * 32
    template = {**synthesized.templates["Batch"].to_json(), "Metadata": {"NotAnAsset": other}}
    # WHEN normalized
    result = normalized(template, synthesized.assembly_dir, "Esteira-dev-Batch")
    # THEN the asset's hash became its name, the other value stayed, and the asset lists its files
    text = json.dumps(result["template"])
    assert other in text
    assert not set(ASSET_HASH.findall(text)) - {other}
    [(label, asset)] = result["assets"].items()
    assert label in text
    assert asset["packaging"] == "zip"
    assert "batch/launcher/handler.py" in asset["files"]
    assert "esteira_contracts/batch.py" in asset["files"]


@pytest.mark.parametrize("env", ENVS)
def test_stack_templates_match_snapshots(
    synth: Callable[[str], SynthesizedEnv], env: str, snapshot_json: SnapshotAssertion
) -> None:
    synthesized = synth(env)
    for component, template in sorted(synthesized.templates.items()):
        stack_name = f"Esteira-{env}-{component}"
        assert normalized(template.to_json(), synthesized.assembly_dir, stack_name) == snapshot_json(
            name=f"{env}-{component}"
        )


@pytest.mark.parametrize("env", ENVS)
def test_serving_template_with_a_model_matches_snapshot(
    synth_with_model: Callable[[str], SynthesizedEnv], env: str, snapshot_json: SnapshotAssertion
) -> None:
    synthesized = synth_with_model(env)
    template = synthesized.templates["Serving"].to_json()
    assert normalized(template, synthesized.assembly_dir, f"Esteira-{env}-Serving") == snapshot_json(
        name=f"{env}-Serving-with-model"
    )


def test_delivery_pipeline_template_matches_snapshot(
    synth_delivery: Callable[[bool], SynthesizedDelivery], snapshot_json: SnapshotAssertion
) -> None:
    # The stages' stacks are the environments' stacks, snapshotted above (the tests check they carry the links).
    synthesized = synth_delivery(False)
    [manifest] = synthesized.assembly_dir.glob("*.assets.json")
    stack_name = manifest.name.removesuffix(".assets.json")
    assert normalized(synthesized.pipeline.to_json(), synthesized.assembly_dir, stack_name) == snapshot_json(
        name="delivery-pipeline"
    )
