"""The PublishModelQuality step in the training definition (built in a bare Stack): where it runs, what it is given,
and that its failure is notified without ending the run (it runs for real in test_training_execution.py)."""

from typing import Any

import pytest

from stacks.constructs.training_quality import report_uri_format
from tests.stacks.test_training_definition import walk
from tests.stacks.training_definition_builder import TRAINING, build


@pytest.fixture(scope="module")
def with_quality() -> dict[str, Any]:
    return build(TRAINING, quality=True)


def data_without_champion(state: dict[str, Any]) -> str | None:
    """NewData and DatasetStatus: there is data (the default); Champion: none (the first choice)."""
    first = state["Choices"][0]
    return str(first["Next"]) if "IsNull" in first else str(state["Default"])


def test_the_quality_is_published_after_an_ok_dataset_run_and_before_training(with_quality: dict[str, Any]) -> None:
    # GIVEN the definition with a quality publisher WHEN walked from Prepare with data and no champion
    path = walk(with_quality, "Prepare", data_without_champion)
    # THEN PublishModelQuality runs between the dataset's status and the champion's choice
    assert path[:8] == [
        "Prepare",
        "NewData",
        "Dataset",
        "ReadDatasetManifest",
        "DatasetStatus",
        "PublishModelQuality",
        "Champion",
        "Channels",
    ]
    # AND a dataset run with no new data never publishes: the status choice ends it first
    status = with_quality["States"]["DatasetStatus"]
    assert status["Choices"][0]["Next"] == "NoNewData"
    assert status["Default"] == "PublishModelQuality"


def test_the_publisher_gets_the_dataset_runs_report_uri(with_quality: dict[str, Any]) -> None:
    state = with_quality["States"]["PublishModelQuality"]
    # THEN the report URI is formatted from Prepare's bucket and dataset run, at the layout's key
    assert state["Parameters"] == {
        "report_uri.$": (
            f"States.Format('{report_uri_format()}', $.prepare.dataset_manifest_bucket, $.prepare.dataset_run_id)"
        )
    }
    assert report_uri_format() == "s3://{}/monitoring/model-quality/run_id={}/report.json"
    assert state["ResultPath"] == "$.model_quality"
    assert set(state["ResultSelector"]) == {
        "report_uri.$",
        "published_metrics.$",
        "latest_model_version.$",
        "enough_labels_for_alarm.$",
    }


def test_a_publishing_failure_is_notified_and_training_goes_on(with_quality: dict[str, Any]) -> None:
    states = with_quality["States"]
    publish, notify = states["PublishModelQuality"], states["NotifyQualityNotPublished"]
    # THEN every error of the step goes to its own notification (not NotifyFailure), kept apart from $.error
    assert publish["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.quality_error", "Next": "NotifyQualityNotPublished"}
    ]
    # AND both the step and its notification lead on to training, even if the notice itself fails
    assert publish["Next"] == notify["Next"] == "Champion"
    assert notify["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.quality_notice_error", "Next": "Champion"}
    ]
    message = notify["Parameters"]["Message"]
    assert message["outcome"] == "model_quality_not_published"
    assert message["error.$"] == "$.quality_error.Error" and message["cause.$"] == "$.quality_error.Cause"
    assert notify["Parameters"]["Subject"].endswith("model quality not published (training continues)")
    # AND Lambda's service errors are retried, and a CloudWatch refusal once more a minute later
    retried = {tuple(r["ErrorEquals"]): r for r in publish["Retry"]}
    assert retried[("MetricsNotPublished",)]["MaxAttempts"] == 2
    assert retried[("MetricsNotPublished",)]["IntervalSeconds"] == 60
    assert any("Lambda.ServiceException" in errors for errors in retried)


def test_without_a_publisher_there_is_no_quality_step() -> None:
    states = build(TRAINING)["States"]
    assert "PublishModelQuality" not in states and "NotifyQualityNotPublished" not in states
    assert states["DatasetStatus"]["Default"] == "Champion"
