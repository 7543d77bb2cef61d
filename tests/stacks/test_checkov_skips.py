"""checkov skips (`make checkov`): each sits on one resource, names one check, and says why the check does not apply."""

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs

from stacks.nag import CHECKOV_MIN_REASON, skip_checkov
from tests.stacks.conftest import ENVS, REPO_ROOT, SynthesizedDelivery, SynthesizedEnv
from tests.stacks.linters import CHECKOV_ARGS

CHECK_ID = re.compile(r"^CKV2?_AWS_[0-9]+$")
# checkov options that skip or soften checks for every resource at once.
BLANKET_OPTIONS = ("--skip-check", "--soft-fail", "--check ", "-s ", "--skip-framework", "--baseline")


def checkov_problems(template_file: Path) -> list[str]:
    """Every skip in a template that is blanket, malformed or without a real reason."""
    template = json.loads(template_file.read_text())
    problems = (
        [f"{template_file.name}: template-level checkov metadata"] if "checkov" in template.get("Metadata", {}) else []
    )
    for logical_id, resource in template.get("Resources", {}).items():
        settings = resource.get("Metadata", {}).get("checkov")
        if settings is None:
            continue
        where = f"{template_file.name}:{logical_id}"
        if set(settings) != {"skip"} or not isinstance(settings["skip"], list) or not settings["skip"]:
            problems.append(f"{where}: checkov metadata other than a list of skips: {settings!r}")
            continue
        ids = [skip.get("id") for skip in settings["skip"]]
        if len(ids) != len(set(ids)):
            problems.append(f"{where}: a check skipped twice: {ids}")
        for skip in settings["skip"]:
            if set(skip) != {"id", "comment"} or not CHECK_ID.match(str(skip.get("id"))):
                problems.append(f"{where}: a skip must name one check id and a comment: {skip!r}")
            elif len(str(skip["comment"]).strip()) < CHECKOV_MIN_REASON:
                problems.append(f"{where}: {skip['id']} skipped without a reason: {skip['comment']!r}")
    return problems


def skipped_checks(template_files: list[Path]) -> set[str]:
    return {
        skip["id"]
        for path in template_files
        for resource in json.loads(path.read_text()).get("Resources", {}).values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }


@pytest.mark.parametrize("env", ENVS)
def test_every_skip_in_an_env_names_one_check_and_a_reason(
    synth_with_model: Callable[[str], SynthesizedEnv], env: str
) -> None:
    # GIVEN the environment as make checkov synthesizes it (serving a model package)
    files = synth_with_model(env).template_files()
    # WHEN its checkov skips are read
    problems = [problem for path in files for problem in checkov_problems(path)]
    # THEN each names one check on one resource with a reason, and there are some to check
    assert problems == []
    assert "CKV_AWS_117" in skipped_checks(files)


def test_every_skip_in_the_delivery_app_names_one_check_and_a_reason(
    synth_delivery: Callable[[bool], SynthesizedDelivery],
) -> None:
    files = synth_delivery(False).template_files()
    problems = [problem for path in files for problem in checkov_problems(path)]
    assert problems == []
    assert "CKV_AWS_18" in skipped_checks(files)


def test_a_skip_without_a_reason_or_without_one_check_is_found(tmp_path: Path) -> None:
    # GIVEN a template with a blanket skip, a skip without a reason and a template-level skip
    template = {
        "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_18", "comment": "the whole template, on purpose"}]}},
        "Resources": {
            "Everything": {
                "Type": "AWS::S3::Bucket",
                "Metadata": {"checkov": {"skip": [{"id": "ALL", "comment": "x" * 40}]}},
            },
            "Vague": {
                "Type": "AWS::S3::Bucket",
                "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_18", "comment": "n/a"}]}},
            },
            "Silent": {"Type": "AWS::S3::Bucket", "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_21"}]}}},
        },
    }
    path = tmp_path / "Bad.template.json"
    path.write_text(json.dumps(template))
    # WHEN it is checked
    problems = checkov_problems(path)
    # THEN every bad skip is named
    assert len(problems) == 4
    for name in ("template-level", "Everything", "Vague", "Silent"):
        assert any(name in problem for problem in problems), name


def test_skip_checkov_refuses_a_short_reason_and_a_blanket_id() -> None:
    stack = Stack(App(), "Test")
    queue = sqs.Queue(stack, "Queue")
    with pytest.raises(ValueError, match="reason"):
        skip_checkov(queue, "CKV_AWS_27", "not needed")
    with pytest.raises(ValueError, match="one check id"):
        skip_checkov(queue, "ALL", "a reason that is long enough to pass the length rule")


def test_skip_checkov_keeps_each_check_once_next_to_the_resource() -> None:
    # GIVEN two skips on one queue, the second given twice
    stack = Stack(App(), "Test")
    queue = sqs.Queue(stack, "Queue")
    skip_checkov(queue, "CKV_AWS_27", "first reason, long enough to say why it does not apply")
    skip_checkov(queue, "CKV_AWS_28", "second reason, long enough to say why it does not apply")
    skip_checkov(queue, "CKV_AWS_28", "second reason, restated: the later one is the one kept")
    # WHEN the stack is synthesized
    resources = App.of(stack).synth().get_stack_by_name("Test").template["Resources"]  # type: ignore[union-attr]
    # THEN the queue's metadata lists each check once, with its latest reason
    (queue_resource,) = [r for r in resources.values() if r["Type"] == "AWS::SQS::Queue"]
    assert queue_resource["Metadata"]["checkov"]["skip"] == [
        {"id": "CKV_AWS_27", "comment": "first reason, long enough to say why it does not apply"},
        {"id": "CKV_AWS_28", "comment": "second reason, restated: the later one is the one kept"},
    ]


def test_make_checkov_passes_no_option_that_skips_checks_everywhere() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    commands = [line for line in makefile.splitlines() if "bin/checkov " in line]
    recipe = makefile[makefile.index("\ncheckov:") : makefile.index("\nimage:")]
    assert commands, "make checkov runs checkov"
    for option in BLANKET_OPTIONS:
        assert option not in recipe, f"make checkov passes {option!r}"
        # nor does the suite's own scan (tests/stacks/test_checkov.py)
        assert option.strip() not in CHECKOV_ARGS, f"tests/stacks/test_checkov.py passes {option!r}"
    # and `make test` runs that scan: its tests (`$(MAKE) -j3 ... lint test-only`) need the checkov venv
    test_recipe = makefile[makefile.index("\ntest:") : makefile.index("\ntest-only:")]
    (sub_make,) = [line for line in test_recipe.splitlines() if line.startswith("\t$(MAKE)")]
    assert sub_make.split()[-2:] == ["lint", "test-only"]
    (test_only,) = [line for line in makefile.splitlines() if line.startswith("test-only:")]
    assert "$(CHECKOV_VENV)/.installed" in test_only.split()
