"""Every value a caller gives make is checked against its rule before any recipe runs, and never executed."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
VALID_ARN = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/esteira-dev-model/3"
# The Makefile variable, a target that uses it, and the rule its error names.
VARIABLES = [
    ("ENV", "synth", "rule name"),
    ("DIAGRAM_ENV", "diagram-check", "rule name"),
    ("DELIVERY", "synth", "rule name"),
    ("MODEL_PACKAGE_ARN", "synth", "rule arn"),
    ("GIT_COMMIT", "synth", "rule commit"),
    ("CDK_OUT", "synth", "rule path"),
    ("GLUE_RUNNER", "glue-runner", "rule path"),
    ("ARGS", "pipeline", "rule args"),
    ("ARGS", "swap-weights", "rule args"),
    ("ENV", "swap-weights", "rule name"),
]
# Each payload would create MARKER if a shell (or make's own $(shell)) ever ran it.
PAYLOADS = [
    "x;touch {marker};#",
    "x && touch {marker}",
    "x|touch {marker}",
    "$(touch {marker})",
    "`touch {marker}`",
    "$(shell touch {marker})",
    "x'; touch {marker}; '",
    'x"; touch {marker}; "',
    "x\ntouch {marker}",
    "x>{marker}",
]


def run_make(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """make over a copy of the Makefile in `workdir`, so that anything a recipe might create lands there."""
    return subprocess.run(
        ["make", "--no-print-directory", "-f", str(workdir / "Makefile"), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def dry_run(*args: str) -> subprocess.CompletedProcess[str]:
    """`make -n` in the repository: prints the recipes of a value that passes its rule, runs none of them."""
    return subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(REPO_ROOT / "Makefile", tmp_path / "Makefile")
    return tmp_path


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize(("variable", "target", "rule"), VARIABLES)
def test_shell_metacharacters_in_a_make_value_are_rejected_and_never_run(
    workdir: Path, variable: str, target: str, rule: str, payload: str
) -> None:
    # GIVEN a value carrying a command that would create a marker file
    marker = workdir / "marker"
    value = payload.format(marker=marker)
    # WHEN make is asked to use it
    result = run_make(workdir, target, f"{variable}={value}")
    # THEN make stops before any recipe, naming the variable and the rule; the command never ran
    assert result.returncode != 0
    assert f"{variable}=" in result.stderr and f"breaks {rule}" in result.stderr, result.stderr
    assert not marker.exists()
    assert sorted(path.name for path in workdir.iterdir()) == ["Makefile"]


def test_a_value_from_the_environment_is_checked_unexpanded(workdir: Path) -> None:
    # GIVEN make's own function syntax in an environment variable (make would expand it on export)
    marker = workdir / "marker"
    result = subprocess.run(
        ["make", "-f", "Makefile", "synth"],
        cwd=workdir,
        env={"PATH": "/usr/bin:/bin", "MODEL_PACKAGE_ARN": f"$(shell touch {marker})"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "breaks rule arn" in result.stderr
    assert not marker.exists()


def test_the_issue_example_fails_and_creates_nothing(workdir: Path) -> None:
    # GIVEN `make synth ENV=dev MODEL_PACKAGE_ARN='x;touch f;#'`  WHEN run
    result = run_make(workdir, "synth", "ENV=dev", "MODEL_PACKAGE_ARN=x;touch f;#")
    # THEN it fails naming the rule, and the directory holds only the Makefile
    assert result.returncode == 2
    assert "MODEL_PACKAGE_ARN='x;touch f;#' breaks rule arn" in result.stderr
    assert sorted(path.name for path in workdir.iterdir()) == ["Makefile"]


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        (VALID_ARN, True),
        ("arn:aws-us-gov:sagemaker:us-gov-west-1:111111111111:model-package/esteira-dev-model/3", True),
        ("esteira-dev-model/3", False),  # not an ARN
        ("arn:aws:sagemaker:eu-west-1:1:model-package/a b", False),
    ],
)
def test_model_package_arn_rule(value: str, accepted: bool) -> None:
    result = dry_run("synth", "ENV=dev", f"MODEL_PACKAGE_ARN={value}")
    assert (result.returncode == 0) is accepted, result.stderr
    if accepted:
        # THEN the recipe reads the value from the environment, quoted, never from its own text
        assert '-c model_package_arn="$MODEL_PACKAGE_ARN"' in result.stdout or not value
        assert VALID_ARN not in result.stdout


def test_recipes_take_every_checked_value_from_the_environment_quoted() -> None:
    result = dry_run("synth", "DELIVERY=pipeline", "CDK_OUT=out/dir", "GIT_COMMIT=abc123")
    assert result.returncode == 0, result.stderr
    assert 'rm -rf -- "$CDK_OUT"' in result.stdout
    assert '-c delivery="$DELIVERY"' in result.stdout and '-c git_commit="$GIT_COMMIT"' in result.stdout
    assert "out/dir" not in result.stdout and "abc123" not in result.stdout


def test_args_may_hold_several_plain_words() -> None:
    result = dry_run("pipeline", "ARGS=--rows 20000 --change-rows 500")
    assert result.returncode == 0, result.stderr
    assert "-m pipeline $ARGS" in result.stdout


def test_swap_weights_passes_env_quoted_and_the_weights_as_checked_words() -> None:
    result = dry_run("swap-weights", "ENV=prod", "ARGS=champion=90 challenger=10.5 --state-only")
    assert result.returncode == 0, result.stderr
    assert '-m tools.swap_weights --env "$ENV" $ARGS' in result.stdout
    assert "champion=90" not in result.stdout


@pytest.mark.parametrize("value", ["-rf", ""])
def test_cdk_out_may_not_be_empty_or_an_option(workdir: Path, value: str) -> None:
    result = run_make(workdir, "-n", "synth", f"CDK_OUT={value}")
    assert result.returncode != 0 and "breaks rule path" in result.stderr


@pytest.mark.parametrize("value", ["-rf", ""])
def test_the_glue_runners_socket_may_not_be_empty_or_an_option(workdir: Path, value: str) -> None:
    result = run_make(workdir, "-n", "glue-runner", f"GLUE_RUNNER={value}")
    assert result.returncode != 0 and "GLUE_RUNNER=" in result.stderr and "breaks rule path" in result.stderr


def test_the_glue_runner_listens_on_the_checked_socket_quoted() -> None:
    result = dry_run("glue-runner", "GLUE_RUNNER=.out/my.sock")
    assert result.returncode == 0, result.stderr
    assert '-m pipeline.glue_runner --listen "$GLUE_RUNNER"' in result.stdout and "my.sock" not in result.stdout
