"""Drift of a scored batch against the baseline's statistics, on small hand-computed fixtures."""

from __future__ import annotations

import json

import pytest

from pipeline import baseline, drift

FEATURES = ["salary", "rating", "team"]
# salary: mean 20, population std 10 (10, 30, 10, 30); rating: one of 4 missing; team: strings.
BASELINE_ROWS = [["10", "1", "a"], ["30", "", "b"], ["10", "3", "a"], ["30", "2", "b"]]


def base_stats() -> dict[str, object]:
    return baseline.statistics(BASELINE_ROWS)


def test_an_unchanged_batch_has_no_drift() -> None:
    # GIVEN batch records (record id first) with the baseline's own feature values
    lines = [f"id{i}," + ",".join(row) for i, row in enumerate(BASELINE_ROWS)]
    # WHEN compared with the baseline
    result = drift.drift_of_batch(base_stats(), lines, FEATURES)
    # THEN every measure is zero and nothing is flagged
    assert result["flagged"] == []
    assert result["batch_rows"] == 4 and result["baseline_rows"] == 4
    salary = result["features"][0]
    assert salary["mean_shift_std"] == 0.0 and salary["missing_rate_diff"] == 0.0
    assert result["features"][2]["mean_shift_std"] is None  # a string feature has no mean


def test_a_moved_mean_and_more_missing_values_are_flagged_with_the_thresholds() -> None:
    # GIVEN a batch whose salary mean is 35 (1.5 baseline std above 20) and whose rating is half missing
    lines = ["k1,30,,a", "k2,40,2,b", "k3,35,,a", "k4,35,1,b"]
    # WHEN compared
    result = drift.drift_of_batch(base_stats(), lines, FEATURES)
    # THEN salary and rating are flagged, with the measures and reasons the module documents
    assert result["flagged"] == ["salary", "rating"]
    assert result["thresholds"] == {"mean_shift_std": 0.5, "missing_rate": 0.1}
    salary, rating, team = result["features"]
    assert salary["mean_shift_std"] == pytest.approx(1.5)
    assert salary["reasons"] == ["mean moved +1.50 baseline std"]
    assert rating["missing_rate_diff"] == pytest.approx(0.5 - 0.25)
    assert rating["reasons"][-1] == "missing rate +0.25"
    assert not team["flagged"]
    json.dumps(result, allow_nan=False)  # valid JSON: no NaN or infinity


def test_a_type_the_baseline_does_not_admit_is_flagged() -> None:
    # GIVEN an Integral baseline column and a batch where it holds text
    result = drift.drift_of_batch(base_stats(), ["k1,20,x,a", "k2,20,y,b"], FEATURES)
    # THEN that feature is flagged for its type
    rating = result["features"][1]
    assert rating["type_admitted"] is False
    assert rating["reasons"] == ["type String where the baseline has Integral"]


def test_a_constant_baseline_column_shifts_to_infinity_as_json_text() -> None:
    # GIVEN a baseline column with std 0 and a batch with another value
    stats = baseline.statistics([["5"], ["5"]])
    result = drift.drift_of_batch(stats, ["k1,6"], ["constant"])
    # THEN the shift is infinite (written as text) and flagged
    assert result["features"][0]["mean_shift_std"] == "inf"
    assert result["flagged"] == ["constant"]


def test_an_empty_batch_is_reported_as_skipped() -> None:
    result = drift.drift_of_batch(base_stats(), [], FEATURES)
    assert result["skipped"] == "the batch has no rows"
    assert drift.sentence(result) == "not computed: the batch has no rows"


def test_a_batch_of_another_width_is_a_clear_error() -> None:
    with pytest.raises(drift.DriftInputError, match="2 feature columns, the baseline 3"):
        drift.drift_of_batch(base_stats(), ["k1,1,2"], FEATURES)


def test_the_summary_sentence_names_the_flagged_features_and_thresholds() -> None:
    result = drift.drift_of_batch(base_stats(), ["k1,90,2,a"], FEATURES)
    text = drift.sentence(result)
    assert text.startswith("1 of 3 features flagged on 1 batch rows (|mean shift| > 0.5 baseline std")
    assert text.endswith(": salary")
