"""cfn-lint over every synthesized template of every environment, with the repo's .cfnlintrc.yaml."""

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.stacks.conftest import ENVS, REPO_ROOT, SynthesizedDelivery, SynthesizedEnv


@pytest.mark.parametrize("with_model", [False, True], ids=["no-model", "with-model"])
@pytest.mark.parametrize("env", ENVS)
def test_templates_pass_cfn_lint(
    synth: Callable[[str], SynthesizedEnv],
    synth_with_model: Callable[[str], SynthesizedEnv],
    env: str,
    with_model: bool,
) -> None:
    templates = (synth_with_model if with_model else synth)(env).template_files()
    assert templates
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), *map(str, templates)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    # Exit 0: no error and no warning that .cfnlintrc.yaml does not ignore with a reason.
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("with_model", [False, True], ids=["push", "approval"])
def test_delivery_templates_pass_cfn_lint(
    synth_delivery: Callable[[bool], SynthesizedDelivery], with_model: bool
) -> None:
    templates = synth_delivery(with_model).template_files()
    assert len(templates) == 19  # the pipeline stack and six stacks per environment
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), *map(str, templates)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
