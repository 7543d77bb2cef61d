"""The linters scan each distinct template once (tests/stacks/distinct_templates.py)."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.stacks.conftest import ENVS, SynthesizedDelivery, SynthesizedEnv
from tests.stacks.distinct_templates import DistinctTemplates


def template(folder: Path, name: str, resources: dict[str, object]) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"Resources": resources}))
    return path


def bucket(path: str, asset: str = "asset.abc", versioned: bool = True) -> dict[str, object]:
    status = "Enabled" if versioned else "Suspended"
    return {
        "B": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"VersioningConfiguration": {"Status": status}},
            "Metadata": {"aws:cdk:path": path, "aws:asset:path": asset},
        }
    }


def test_a_stage_copy_of_a_template_is_scanned_once_and_any_other_difference_is_scanned(tmp_path: Path) -> None:
    # GIVEN a hand synth's template, its pipeline stage's copy (stage path, nested asset folder), and a template that
    # differs in a property
    by_hand = template(tmp_path / "hand", "Esteira-dev-X.template.json", bucket("Esteira-dev-X/B/Resource"))
    in_stage = template(
        tmp_path / "stage",
        "X.template.json",
        bucket("Esteira-delivery-pipeline/dev/Esteira-dev-X/B/Resource", asset="../asset.abc"),
    )
    other = template(tmp_path / "other", "X.template.json", bucket("Esteira-dev-X/B/Resource", versioned=False))
    # WHEN the distinct ones are written
    distinct = DistinctTemplates.write([by_hand, in_stage, other], tmp_path / "scanned")
    # THEN the hand synth and its stage share one copy, which is the hand synth's text; the other has its own
    assert distinct.copies[by_hand] == distinct.copies[in_stage] != distinct.copies[other]
    assert distinct.copies[by_hand].read_text() == by_hand.read_text()
    assert distinct.originals(distinct.copies[by_hand]) == [by_hand, in_stage]
    assert len(distinct.scanned) == 2


@pytest.mark.parametrize("env", ENVS)
def test_an_environments_stacks_and_its_push_stage_are_scanned_once(
    synth: Callable[[str], SynthesizedEnv],
    synth_delivery: Callable[[bool], SynthesizedDelivery],
    tmp_path: Path,
    env: str,
) -> None:
    # GIVEN env's stacks synthesized as the cdk CLI does, and the delivery app's stage for env (a push: no package)
    by_hand = synth(env).template_files()
    stage = sorted((synth_delivery(False).assembly_dir / f"assembly-Esteira-delivery-pipeline-{env}").glob("*.json"))
    stage = [path for path in stage if path.name.endswith(".template.json")]
    # WHEN the distinct ones are written
    distinct = DistinctTemplates.write([*by_hand, *stage], tmp_path)
    # THEN each stage template is scanned as one of the hand synth's: the linters scan six templates, not twelve
    assert len(by_hand) == len(stage) == 6
    assert {distinct.copies[path] for path in stage} == {distinct.copies[path] for path in by_hand}
    assert len(distinct.scanned) == 6
