"""`cdk synth` through the pinned cdk CLI from npm, as users and the pipeline's synth step run it."""

import os
import subprocess
from pathlib import Path

import pytest

from stacks.delivery_config import load_delivery_config
from stacks.nag_report import summarize
from tests.stacks.conftest import GIT_COMMIT, deployed_view, registry_package_arn

REPO_ROOT = Path(__file__).resolve().parents[1]
CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"
PACKAGE = "arn:aws:sagemaker:eu-west-1:222222222222:model-package/esteira-staging-model/7"


def cdk_synth(outdir: Path, *context: str, validate: bool = True) -> subprocess.CompletedProcess[str]:
    """`cdk synth -q -c ...`; validate=False turns off aws-cdk-lib's built-in CloudFormation validation
    (CDK_VALIDATION=false), about 6.6 s of the ~13 s of CPU of a synth, for a synth whose templates another synth
    already validates."""
    if not CDK.exists():
        pytest.fail(f"{CDK} is missing: run `make install` (npm ci) first")
    arguments = [item for pair in (("-c", c) for c in context) for item in pair]
    return subprocess.run(
        [str(CDK), "synth", "-q", *arguments, "--output", str(outdir)],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "CDK_DISABLE_VERSION_CHECK": "1",
            "CDK_VALIDATION": "true" if validate else "false",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def delivery_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GIVEN an approval's package  WHEN the pipeline's synth step runs `cdk synth -c delivery=pipeline`

    (without the built-in validation: tests/stacks/conftest.py's synth_delivery(True) synthesizes the same app, with the
    same package and commit, in process with it, and tests/stacks/test_cfn_lint.py lints those templates)"""
    outdir = tmp_path_factory.mktemp("cdk-cli-delivery")
    context = ["delivery=pipeline", f"model_package_arn={PACKAGE}", f"git_commit={GIT_COMMIT}"]
    result = cdk_synth(outdir, *context, validate=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return outdir


def test_the_cli_synth_is_the_app_the_session_validates_in_process() -> None:
    # The delivery synth here skips the built-in validation because the session's approval synth validates the same
    # app: the same package and commit.
    assert registry_package_arn(load_delivery_config()) == PACKAGE


def test_the_cli_synthesizes_the_delivery_pipeline_with_an_approved_package(delivery_assembly: Path) -> None:
    # THEN it succeeds offline: the pipeline stack and six stacks per stage, no unacknowledged cdk-nag finding
    lines, unacknowledged = summarize(delivery_assembly)
    assert unacknowledged == 0
    assert lines[0] == "Stacks (19):"

    # AND staging and prod record the package as what they serve (the Registry stack's served-state recorder; the
    # Serving template reads that state at deploy time, so it never names a package itself), dev does not
    def holding_package(stack: str) -> dict[str, bool]:
        return {
            path.parent.name.removeprefix("assembly-Esteira-delivery-pipeline-"): PACKAGE in path.read_text()
            for path in delivery_assembly.glob(f"assembly-*/*{stack}*.template.json")
        }

    assert holding_package("Registry") == {"dev": False, "staging": True, "prod": True}
    assert holding_package("Serving") == {"dev": False, "staging": False, "prod": False}


def test_the_cli_refuses_a_package_from_outside_the_registry_naming_the_key(tmp_path: Path) -> None:
    foreign = PACKAGE.replace("222222222222", "111111111111").replace("staging", "dev")
    result = cdk_synth(tmp_path, "delivery=pipeline", f"model_package_arn={foreign}")
    assert result.returncode != 0
    assert "-c model_package_arn" in result.stderr and "promotion.registry_env 'staging'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_prod_deployed_by_hand_through_the_cli_equals_its_pipeline_stage(
    tmp_path: Path, delivery_assembly: Path
) -> None:
    """Through the cdk CLI for prod, the environment with every stack feature; tests/stacks/test_hand_deploys.py
    checks every environment in process (each CLI synth costs ~12 s)."""
    # GIVEN `cdk synth -c env=prod` with what the pipeline gives that stage: the same commit and the package
    # (without the built-in validation: the test ends by showing these templates equal the delivery synth's stage,
    # which the validation passed)
    context = ["env=prod", f"git_commit={GIT_COMMIT}", f"model_package_arn={PACKAGE}"]
    assert cdk_synth(tmp_path, *context, validate=False).returncode == 0
    # THEN the same stack names hold the same resources, ids and properties: switching an environment from hand
    # deploys to the pipeline replaces nothing
    stage = delivery_assembly / "assembly-Esteira-delivery-pipeline-prod"
    assert deployed_view(tmp_path, "prod") == deployed_view(stage, "prod")
