"""The endpoint model-quality contract: offsets, threshold, inference ids and prefixes, as the stacks and the local
run both use them."""

import pytest

from esteira_contracts import endpoint_quality as quality
from esteira_contracts.endpoint_quality import EndpointQualityError


def test_the_window_is_one_period_that_ended_the_delay_ago() -> None:
    # GIVEN labels that take a day THEN an hourly run reads hour -25h..-24h, a daily one day -48h..-24h
    assert quality.analysis_window(24, 1) == ("-PT25H", "-PT24H")
    assert quality.analysis_window(24, 24) == ("-PT48H", "-PT24H")
    with pytest.raises(EndpointQualityError, match="at least one hour back"):
        quality.hours_offset(0)


@pytest.mark.parametrize("raw", ["1.5", "-0.1", "nan", "high"])
def test_a_threshold_that_is_no_probability_names_the_hyperparameter(raw: str) -> None:
    with pytest.raises(EndpointQualityError, match=r"^training\.hyperparameters\.threshold: "):
        quality.served_threshold({"threshold": raw})


@pytest.mark.parametrize(("raw", "value"), [(None, 0.5), ("0", 0.0), (1, 1.0), ("0.7", 0.7)])
def test_the_served_threshold_is_the_hyperparameter_or_the_containers_default(raw: object, value: float) -> None:
    hyperparameters = {} if raw is None else {"threshold": raw}
    assert quality.served_threshold(hyperparameters) == value


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("emp-42", True),
        ("x" * 64, True),
        ("a b", True),
        ("", False),
        (" a", False),
        ("x" * 65, False),
        ("é", False),
        ("a\tb", False),
    ],
)
def test_inference_ids_are_what_invoke_endpoint_accepts(value: str, accepted: bool) -> None:
    if accepted:
        assert quality.check_inference_id(value) == value
    else:
        with pytest.raises(EndpointQualityError, match="is no InferenceId"):
            quality.check_inference_id(value)


def test_each_schedule_reports_in_its_own_folder_and_reads_its_endpoints_capture() -> None:
    assert quality.schedule_name("esteira-prod-endpoint") == "esteira-prod-endpoint-model-quality"
    assert quality.reports_prefix("esteira-prod-endpoint") == "monitoring/reports/esteira-prod-endpoint-model-quality/"
    assert quality.capture_prefix("esteira-prod-endpoint") == "data-capture/esteira-prod-endpoint/"
