"""cdk-nag AwsSolutions: no unacknowledged finding in any environment, and every acknowledgment says why."""

from collections.abc import Callable

import pytest

from tests.stacks.conftest import ENVS, SynthesizedEnv


@pytest.mark.parametrize("env", ENVS)
def test_no_unacknowledged_findings(synth: Callable[[str], SynthesizedEnv], env: str) -> None:
    reports = {report["pluginName"]: report for report in synth(env).validation_report["pluginReports"]}  # type: ignore[attr-defined]
    nag = reports["AwsSolutions"]
    assert nag["violations"] == [], [v["ruleName"] for v in nag["violations"]]
    assert nag["conclusion"] == "success"
    for plugin, report in reports.items():
        assert report["violations"] == [], f"{plugin}: {[v['ruleName'] for v in report['violations']]}"


@pytest.mark.parametrize("env", ENVS)
def test_every_acknowledgment_carries_a_specific_reason(synth: Callable[[str], SynthesizedEnv], env: str) -> None:
    for report in synth(env).validation_report["pluginReports"]:  # type: ignore[attr-defined]
        for finding in report.get("suppressedViolations", []):
            reason = finding["reason"]
            assert len(reason) >= 40, f"{finding['ruleName']}: reason too vague: {reason!r}"


@pytest.mark.parametrize("env", ENVS)
def test_no_unacknowledged_findings_with_a_model_served(
    synth_with_model: Callable[[str], SynthesizedEnv], env: str
) -> None:
    for report in synth_with_model(env).validation_report["pluginReports"]:  # type: ignore[attr-defined]
        assert report["violations"] == [], [v["ruleName"] for v in report["violations"]]
