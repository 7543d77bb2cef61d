"""checkov over every environment serving a model package and over the delivery app with its stages: 0 failed checks.

`make test` runs it here, on the apps the session has already synthesized (tests/stacks/conftest.py), instead of
synthesizing them again: `make checkov` runs the same scan on its own synths through the cdk CLI. checkov is pinned in
tools/requirements-checkov.txt and lives in its own venv (.venv-checkov), which `make test` installs.
"""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.stacks.conftest import ENVS, SynthesizedDelivery, SynthesizedEnv
from tests.stacks.linters import Scan, TemplateScans


@pytest.fixture(scope="module")
def checkov_scan(template_scans: TemplateScans) -> Scan:
    # GIVEN each environment as `make checkov` synthesizes it (serving a model package) and the delivery app (a push)
    # WHEN checkov scans every distinct template at once (tests/stacks/distinct_templates.py), beside cfn-lint
    return template_scans.checkov()


def test_checkov_finds_no_failed_check_in_any_environment_or_the_delivery_app(checkov_scan: Scan) -> None:
    checkov_report = checkov_scan.report
    # THEN no check failed, and it did check: every resource type we deploy has checks that passed
    failed = [
        f"{check['check_id']} {check['file_path']}:{check['resource']}"
        for check in checkov_report["results"]["failed_checks"]
    ]
    assert failed == []
    summary = checkov_report["summary"]
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0
    assert summary["passed"] > 500
    # AND the skips in the templates' metadata were read (each with its reason, tests/stacks/test_checkov_skips.py)
    assert summary["skipped"] > 0


def test_checkov_scanned_every_template_that_holds_a_resource_it_checks(
    checkov_scan: Scan,
    synth_with_model: Callable[[str], SynthesizedEnv],
    synth_delivery: Callable[[bool], SynthesizedDelivery],
) -> None:
    results = [
        check
        for kind in ("passed_checks", "failed_checks", "skipped_checks")
        for check in checkov_scan.report["results"][kind]
    ]
    # (each scanned copy stands for the templates that share its text)
    scanned = {
        str(template.resolve())
        for copy in {Path(check["file_abs_path"]) for check in results}
        for template in checkov_scan.templates.originals(copy)
    }
    checked_types = {check["resource"].split(".", 1)[0] for check in results}
    expected = [path for env in ENVS for path in synth_with_model(env).template_files()]
    expected += synth_delivery(False).template_files()

    def holds_a_checked_type(path: Path) -> bool:
        resources = json.loads(path.read_text())["Resources"].values()
        return any(resource["Type"] in checked_types for resource in resources)

    # (the Operations stacks hold only alarms and a dashboard, which checkov has no check for)
    assert [str(path) for path in expected if holds_a_checked_type(path) and str(path.resolve()) not in scanned] == []
    assert len(scanned) >= len(expected) - 2 * len(ENVS)
