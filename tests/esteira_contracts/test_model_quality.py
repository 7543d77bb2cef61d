"""The quality publisher's contract: what the construct renders parses back the same; what CloudWatch or the alarm
would refuse is refused, naming the setting."""

import pytest

from esteira_contracts import SettingsError
from esteira_contracts.model_quality import QualityPublisherSettings, metrics_namespace, quality_alarm_state

TOKEN_BUCKET = "${Token[TOKEN.123]}"


def test_the_rendered_environment_parses_back_the_same() -> None:
    settings = QualityPublisherSettings.for_env("prod", "esteira-prod-artifacts-1", 250)
    env = settings.to_env()
    assert env["METRICS_NAMESPACE"] == metrics_namespace("prod") == "Esteira/prod/ModelQuality"
    assert env["REPORT_PREFIX"] == "monitoring/model-quality/"
    assert QualityPublisherSettings.from_env(env) == settings


def test_a_bucket_known_only_at_deploy_renders_as_is() -> None:
    env = QualityPublisherSettings.for_env("dev", TOKEN_BUCKET, 200).to_env()
    assert env["ARTIFACTS_BUCKET"] == TOKEN_BUCKET


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("METRICS_NAMESPACE", "AWS/SageMaker"),  # reserved for AWS's own services
        ("METRICS_NAMESPACE", ":leading-colon"),
        ("METRICS_NAMESPACE", "caf\u00e9"),  # ASCII only
        ("MIN_LABELLED_PREDICTIONS", "0"),
        ("REPORT_PREFIX", "/"),  # reports are read from one prefix, never the whole bucket
        ("ARTIFACTS_BUCKET", "Not_A_Bucket"),
    ],
)
def test_what_cloudwatch_or_the_alarm_would_refuse_is_refused_by_name(name: str, value: str) -> None:
    env = QualityPublisherSettings.for_env("dev", "esteira-dev-artifacts-1", 200).to_env()
    with pytest.raises(SettingsError, match=name):
        QualityPublisherSettings.from_env({**env, name: value})


@pytest.mark.parametrize(
    ("figure", "labelled", "state"),
    [
        (0.79, 200, "ALARM"),  # below the threshold, exactly the minimum of labels
        (0.8, 200, "OK"),  # at the threshold: LessThanThreshold does not breach
        (0.5, 199, "INSUFFICIENT_DATA"),  # one label short: the alarm's expression yields the threshold
        (None, 500, "INSUFFICIENT_DATA"),  # no published figure: missing data, not breaching
        (0.5, None, "INSUFFICIENT_DATA"),
    ],
)
def test_the_alarms_rule_at_its_boundaries(figure: float | None, labelled: int | None, state: str) -> None:
    # GIVEN the gate's 0.8 and a minimum of 200 labels WHEN judged THEN the alarm's state, with a reason
    judged, reason = quality_alarm_state(figure, labelled, threshold=0.8, min_labelled_predictions=200)
    assert judged == state
    assert reason
