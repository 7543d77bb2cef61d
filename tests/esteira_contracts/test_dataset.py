"""The dataset job's contract: rendered by the state machine's construct, parsed by the job and the local run."""

from __future__ import annotations

from typing import Any

import pytest

from esteira_contracts import SettingsError
from esteira_contracts.dataset import DatasetJobArgs

REQUIRED: dict[str, Any] = {
    "spec_uri": "s3://artifacts/specs/employees.json",
    "curated_uri": "s3://curated/employees",
    "datasets_uri": "s3://curated/datasets",
    "run_id": "exec-2026-12-06",
}


def test_given_required_settings_only_when_rendered_and_parsed_then_defaults_fill_the_rest() -> None:
    args = DatasetJobArgs(**REQUIRED)

    rendered = args.to_args()
    parsed = DatasetJobArgs.from_args({name.removeprefix("--"): value for name, value in rendered.items()})

    assert rendered == {f"--{k}": v for k, v in REQUIRED.items()} | {
        "--train_fraction": "0.7",
        "--validation_fraction": "0.15",
        "--holdout_fraction": "0.15",
    }
    assert parsed == args
    assert (parsed.batch_input_uri, parsed.as_of_date, parsed.drop_columns) == (None, None, ())
    assert (parsed.predictions_uri, parsed.quality_uri, parsed.ground_truth_uri) == (None, None, None)
    assert parsed.split_cuts == (7000, 8500)


def test_given_every_setting_as_argv_when_parsed_then_the_same_contract_comes_back() -> None:
    args = DatasetJobArgs(
        **REQUIRED,
        drop_columns=("matricula", "cargo"),
        train_fraction=0.8,
        validation_fraction=0.1,
        holdout_fraction=0.1,
        batch_input_uri="s3://predictions/batch-input",
        as_of_date="2026-12-06",
        predictions_uri="s3://predictions/batch-output/",
        quality_uri="s3://artifacts/monitoring/model-quality/",
        ground_truth_uri="s3://artifacts/monitoring/ground-truth/",
    )
    argv = [part for name, value in args.to_args().items() for part in (name, value)]

    assert DatasetJobArgs.from_args(argv) == args
    assert DatasetJobArgs.required_names() == ("spec_uri", "curated_uri", "datasets_uri", "run_id")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"train_fraction": "0.8"}, "train_fraction + validation_fraction + holdout_fraction must be 1, got 1.1"),
        ({"holdout_fraction": "0"}, "holdout_fraction=0 must be >= 0.0001"),
        ({"run_id": "a/b"}, "run_id='a/b' is not 1-128 letters, digits"),
        ({"as_of_date": "2026-02-30"}, "as_of_date='2026-02-30' is not a calendar date"),
        ({"as_of_date": "06/12/2026"}, "as_of_date='06/12/2026' is not a YYYY-MM-DD date"),
        ({"drop_columns": "matricula,bad-name"}, "drop_columns='bad-name' does not match"),
        ({"datasets_uri": "s3://curated/employees/"}, "datasets_uri must differ from curated_uri"),
        ({"spec_uri": ""}, "spec_uri is required"),
        ({"predictions_uri": "s3://p/batch-output/"}, "predictions_uri needs quality_uri"),
        (
            {"ground_truth_uri": "s3://a/monitoring/ground-truth/"},
            "quality_uri and ground_truth_uri need predictions_uri",
        ),
    ],
)
def test_given_a_bad_setting_when_parsed_then_the_error_names_it(overrides: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        DatasetJobArgs.from_args(REQUIRED | overrides)

    assert expected in str(caught.value)


def test_given_fractions_that_do_not_add_up_when_rendered_then_synth_fails_naming_them() -> None:
    with pytest.raises(SettingsError, match="train_fraction \\+ validation_fraction \\+ holdout_fraction"):
        DatasetJobArgs(**REQUIRED, train_fraction=0.5).to_args()
