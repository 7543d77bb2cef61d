"""cfn-lint over every synthesized template of every environment, with the repo's .cfnlintrc.yaml.

One cfn-lint process lints every template set at once, and each distinct template once (distinct_templates.py): the
stacks a model package does not change, an environment's stacks and its pipeline stage's. It runs beside checkov
(linters.py). Each test then asserts on its own set's templates."""

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.stacks.conftest import ENVS, SynthesizedDelivery, SynthesizedEnv
from tests.stacks.linters import Findings, TemplateScans, lint_once


@pytest.fixture(scope="module")
def cfn_lint(template_scans: TemplateScans) -> Findings:
    return template_scans.cfn_lint()


@pytest.mark.parametrize("with_model", [False, True], ids=["no-model", "with-model"])
@pytest.mark.parametrize("env", ENVS)
def test_templates_pass_cfn_lint(
    synth: Callable[[str], SynthesizedEnv],
    synth_with_model: Callable[[str], SynthesizedEnv],
    cfn_lint: Findings,
    env: str,
    with_model: bool,
) -> None:
    templates = (synth_with_model if with_model else synth)(env).template_files()
    assert templates
    assert cfn_lint(templates) == []


@pytest.mark.parametrize("with_model", [False, True], ids=["push", "approval"])
def test_delivery_templates_pass_cfn_lint(
    synth_delivery: Callable[[bool], SynthesizedDelivery], cfn_lint: Findings, with_model: bool
) -> None:
    templates = synth_delivery(with_model).template_files()
    assert len(templates) == 19  # the pipeline stack and six stacks per environment
    assert cfn_lint(templates) == []


def test_a_finding_is_reported_for_each_set_that_holds_the_template(tmp_path: Path) -> None:
    # GIVEN two sets that share a template with an unknown property, and a clean template
    bad = '{"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"Nope": 1}}}}'
    first, second, clean = tmp_path / "a.template.json", tmp_path / "b.template.json", tmp_path / "c.template.json"
    first.write_text(bad)
    second.write_text(bad)
    clean.write_text('{"Resources": {"B": {"Type": "AWS::S3::Bucket"}}}')
    # WHEN they are linted once
    findings = lint_once([first, second, clean], tmp_path / "linted")
    # THEN the finding counts against both sets, and not against the clean template
    assert [line.split(":")[5] for line in findings([first])] == ["E3002"]
    assert [line.split(":")[5] for line in findings([second])] == ["E3002"]
    assert findings([clean]) == []
