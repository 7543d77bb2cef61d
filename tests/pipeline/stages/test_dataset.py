"""The dataset stage's model_quality section: the report the job wrote, its path, the latest version's count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.report import StageFailedError
from pipeline.stages.dataset import model_quality_section


def test_given_a_written_report_when_recorded_then_the_section_is_its_content_with_its_path(tmp_path: Path) -> None:
    # GIVEN a report with two versions, the newer one (3) the latest scored
    report = {
        "report_version": 1,
        "latest_model_version": "3",
        "reason": None,
        "models": [
            {"model_version": "2", "labelled_predictions": 10},
            {"model_version": "3", "labelled_predictions": 42},
        ],
    }
    path = tmp_path / "run_id=ds-1" / "report.json"
    path.parent.mkdir()
    path.write_text(json.dumps(report))
    # WHEN the stage records it
    section = model_quality_section({"model_quality": {"report": str(path)}})
    # THEN it is the report, its path, and the latest version's labelled predictions
    assert section == report | {"path": str(path), "labelled_predictions": 42}


def test_given_no_models_when_recorded_then_labelled_predictions_is_zero(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"latest_model_version": None, "reason": "no scored record", "models": []}))

    assert model_quality_section({"model_quality": {"report": str(path)}})["labelled_predictions"] == 0


def test_given_a_manifest_without_a_report_when_recorded_then_the_stage_fails_saying_so() -> None:
    with pytest.raises(StageFailedError, match="wrote no model-quality report"):
        model_quality_section({"status": "ok"})
