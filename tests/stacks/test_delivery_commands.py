"""The delivery buildspecs' commands, run by a real shell with stub `make`, `aws` and `python`: a package ARN that
breaks its rule stops the build before any use, and is never executed."""

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks import names
from tests.stacks.conftest import SynthesizedDelivery

Delivery = Callable[[bool], SynthesizedDelivery]
VALID_ARN = "arn:aws:sagemaker:eu-west-1:222222222222:model-package/esteira-staging-model/7"
PAYLOADS = [
    "x;touch {marker};#",
    "$(touch {marker})",
    "`touch {marker}`",
    f"{VALID_ARN};touch {{marker}}",
    f"{VALID_ARN}\ntouch {{marker}}",
    "arn:aws:sagemaker:eu-west-1:1:model-package/g/1' ; touch {marker} ; '",
]
# A stub that records its arguments, one per line, and prints what AWS_STUB_OUTPUT holds.
STUB = '#!/bin/sh\nprintf "%s\\n" "$(basename "$0")" "$@" >> "$CALLS"\nprintf "%s" "${AWS_STUB_OUTPUT:-}"\n'


def commands_of(template: Template, stage_name: str, action_name: str) -> list[str]:
    (pipeline,) = template.find_resources("AWS::CodePipeline::Pipeline").values()
    (stage,) = [s for s in pipeline["Properties"]["Stages"] if s["Name"] == stage_name]
    (action,) = [a for a in stage["Actions"] if a["Name"] == action_name]
    project = template.to_json()["Resources"][action["Configuration"]["ProjectName"]["Ref"]]
    spec: dict[str, Any] = json.loads(project["Properties"]["Source"]["BuildSpec"])
    commands: list[str] = spec["phases"]["build"]["commands"]
    return commands


def run_commands(commands: list[str], tmp_path: Path, shell: str, env: dict[str, str]) -> tuple[int, str, str]:
    """As CodeBuild runs a phase: the commands in one shell, stopping at the first failure."""
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    for tool in ("make", "aws", "python"):
        (stubs / tool).write_text(STUB)
        (stubs / tool).chmod(0o755)
    calls = tmp_path / "calls"
    script = tmp_path / "build.sh"
    script.write_text("set -e\n" + "\n".join(commands) + "\n")
    result = subprocess.run(
        [shell, str(script)],
        cwd=tmp_path,
        env={"PATH": f"{stubs}:/usr/bin:/bin", "CALLS": str(calls), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.returncode, result.stderr, calls.read_text() if calls.exists() else ""


@pytest.mark.parametrize("shell", ["sh", "bash"])
@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_pipeline_variable_that_breaks_the_arn_rule_stops_synth_unexecuted(
    delivery: Delivery, tmp_path: Path, shell: str, payload: str
) -> None:
    # GIVEN the synth step's commands and a pipeline variable carrying a command
    commands = commands_of(delivery(False).pipeline, "Build", "Synth")
    marker = tmp_path / "marker"
    # WHEN the build runs them
    code, stderr, calls = run_commands(commands, tmp_path, shell, {"REQUESTED_PACKAGE": payload.format(marker=marker)})
    # THEN it stops naming the rule, before make runs, and the command never ran
    assert code == 2
    assert "ModelPackageArn" in stderr and "breaks rule model-package-arn" in stderr
    assert "make" not in calls.splitlines()
    assert not marker.exists()


def test_a_promoted_parameter_that_breaks_the_rule_stops_synth_too(delivery: Delivery, tmp_path: Path) -> None:
    commands = commands_of(delivery(False).pipeline, "Build", "Synth")
    marker = tmp_path / "marker"
    code, stderr, calls = run_commands(
        commands,
        tmp_path,
        "sh",
        {"REQUESTED_PACKAGE": names.CURRENT_MODEL_PACKAGE, "AWS_STUB_OUTPUT": f"$(touch {marker})"},
    )
    assert code == 2 and "breaks rule model-package-arn" in stderr
    assert calls.splitlines()[0] == "aws" and "make" not in calls.splitlines()
    assert not marker.exists()


@pytest.mark.parametrize(
    ("requested", "ssm", "expected"),
    [
        (VALID_ARN, "", VALID_ARN),
        (names.CURRENT_MODEL_PACKAGE, VALID_ARN, VALID_ARN),
        (names.CURRENT_MODEL_PACKAGE, names.NO_MODEL_PACKAGE, ""),
        (names.NO_MODEL_PACKAGE, "", ""),
    ],
)
def test_a_valid_package_reaches_make_synth_as_one_quoted_argument(
    delivery: Delivery, tmp_path: Path, requested: str, ssm: str, expected: str
) -> None:
    commands = commands_of(delivery(False).pipeline, "Build", "Synth")
    code, stderr, calls = run_commands(
        commands,
        tmp_path,
        "sh",
        {"REQUESTED_PACKAGE": requested, "AWS_STUB_OUTPUT": ssm, "CODEBUILD_RESOLVED_SOURCE_VERSION": "0123abcd"},
    )
    assert code == 0, stderr
    synth_call = calls.split("make\n")[-1].splitlines()
    assert synth_call == ["synth", "DELIVERY=pipeline", f"MODEL_PACKAGE_ARN={expected}", "GIT_COMMIT=0123abcd"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_smoke_test_refuses_a_resolved_package_that_breaks_the_rule(
    delivery: Delivery, tmp_path: Path, payload: str
) -> None:
    commands = commands_of(delivery(False).pipeline, "staging", "SmokeTest")
    marker = tmp_path / "marker"
    code, stderr, calls = run_commands(commands, tmp_path, "sh", {"MODEL_PACKAGE_ARN": payload.format(marker=marker)})
    assert code == 2 and "breaks rule model-package-arn" in stderr
    assert calls == "" and not marker.exists()


def test_the_smoke_test_passes_a_valid_package_as_one_argument(delivery: Delivery, tmp_path: Path) -> None:
    commands = commands_of(delivery(False).pipeline, "staging", "SmokeTest")
    code, stderr, calls = run_commands(commands, tmp_path, "sh", {"MODEL_PACKAGE_ARN": VALID_ARN})
    assert code == 0, stderr
    arguments = calls.splitlines()
    assert arguments[:3] == ["python", "-m", "pipeline.smoke"]
    assert arguments[arguments.index("--model-package-arn") + 1] == VALID_ARN


@pytest.fixture
def delivery(synth_delivery: Delivery) -> Delivery:
    return synth_delivery
