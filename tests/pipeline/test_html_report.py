"""report.html: self-contained, one inline SVG chart per section, for each task and for the lifecycle sections."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline import charts, html_report
from pipeline.charts import ChartData

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pipeline"
ROWS = 200


def fixture_report(task: str, with_lifecycle: bool = False) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((FIXTURES / "report.json").read_text())
    report["task"] = task
    if with_lifecycle:
        report |= json.loads((FIXTURES / "lifecycle-sections.json").read_text())
    return report


def synthetic(task: str) -> ChartData:
    rng = np.random.default_rng(7)
    if task == "binary":
        truth = rng.integers(0, 2, ROWS).astype(np.float64)
        predictions = np.clip(truth * 0.6 + rng.uniform(0, 0.4, ROWS), 0, 1)
    elif task == "multiclass":
        truth = rng.integers(0, 3, ROWS).astype(np.float64)
        logits = rng.normal(size=(ROWS, 3)) + 2 * np.eye(3)[truth.astype(int)]
        predictions = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    else:
        truth = rng.normal(50, 10, ROWS)
        predictions = truth + rng.normal(0, 3, ROWS)
    scores = predictions.max(axis=1) if predictions.ndim == 2 else predictions
    return ChartData(holdout_truth=truth, holdout_predictions=predictions, batch_scores=[float(s) for s in scores])


def section_charts(page: str) -> dict[str, int]:
    """Each section's id and how many charts (inline <svg> or data: images) it holds."""
    found = {}
    for match in re.finditer(r'<section id="([^"]+)">(.*?)</section>', page, flags=re.S):
        found[match.group(1)] = match.group(2).count("<svg") + match.group(2).count('<img src="data:')
    return found


@pytest.mark.parametrize(
    ("task", "model_sections"),
    [
        ("binary", ["roc", "calibration"]),
        ("multiclass", ["roc", "calibration"]),
        ("regression", ["predicted-vs-actual", "residuals"]),
    ],
)
def test_each_task_gets_its_own_holdout_charts_and_one_chart_per_section(
    task: str, model_sections: list[str], tmp_path: Path
) -> None:
    # GIVEN a report of the task and the holdout/batch arrays the stages keep
    report = fixture_report(task)
    # WHEN report.html is written next to the JSON
    target = tmp_path / html_report.HTML_FILENAME
    html_report.write_html(report, synthetic(task), target)
    # THEN it is one self-contained page whose sections each hold exactly one chart
    page = target.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)="(https?:|file:|/)', page)  # nothing loaded from elsewhere
    assert section_charts(page) == dict.fromkeys([*model_sections, "scores", "timings"], 1)


def test_lifecycle_sections_render_from_the_documented_json(tmp_path: Path) -> None:
    # GIVEN a report with drift, bias, explainability and model_quality in the documented shapes
    report = fixture_report("binary", with_lifecycle=True)
    # WHEN rendered
    page = html_report.render(report, synthetic("binary"))
    # THEN every section is there, with one chart each, showing the documented values
    assert section_charts(page) == dict.fromkeys(
        ["roc", "calibration", "scores", "drift", "bias", "explainability", "model-quality", "timings"], 1
    )
    assert "1: auc" in page and "2: brier" in page  # per model version
    # AND the bias section charts the gate's metric per facet group and tables every metric, named as in the report
    bias = re.search(r'<section id="bias"><h2>Bias metrics per facet</h2>(.*?)</section>', page, flags=re.S)
    assert bias is not None
    assert "men (masculino=1): DI" in bias.group(1) and "hired after 40 (idade_na_admissao=(40, 65]): DI" in bias.group(
        1
    )
    assert "<td>post-training</td><td>TE</td><td>Infinity</td><td>-</td>" in bias.group(1)
    assert "<td>pre-training</td><td>CI</td><td>0.0400</td><td>0.4100</td>" in bias.group(1)
    assert "outside [0.8, 1.25]" in bias.group(1)
    # AND the SHAP section has one bar per feature
    shap = re.search(r'<section id="explainability"><h2>SHAP importance</h2>(.*?)</section>', page, flags=re.S)
    assert shap is not None and all(name in shap.group(1) for name in ("salario", "idade_na_admissao", "masculino"))
    assert "masculino (inf)" in page  # an infinite drift is drawn, and named as such
    assert "Flagged: salario, masculino" in page


def test_an_unexpected_section_shape_charts_its_numbers_instead_of_failing() -> None:
    # GIVEN a bias section in a shape the module does not document
    report = fixture_report("binary") | {"bias": {"overall": {"dpl": 0.1, "di": [0.9, 1.1]}}}
    # WHEN rendered without holdout data
    page = html_report.render(report, ChartData())
    # THEN its numeric leaves are charted and sections without data are left out
    assert section_charts(page) == {"bias": 1, "timings": 1}
    assert "overall.di.1" in page


def test_a_skipped_drift_says_why_and_has_no_chart() -> None:
    report = fixture_report("binary") | {"drift": {"skipped": "the batch has no rows", "flagged": []}}
    page = html_report.render(report, ChartData())
    assert "Not computed: the batch has no rows" in page


def test_the_roc_curve_of_a_perfect_ranking_reaches_the_corner_first() -> None:
    fpr, tpr = charts.roc_curve(np.array([0.0, 0.0, 1.0, 1.0]), np.array([0.1, 0.2, 0.8, 0.9]))
    assert list(zip(fpr, tpr, strict=True)) == [(0.0, 0.0), (0.0, 0.5), (0.0, 1.0), (0.5, 1.0), (1.0, 1.0)]


def test_calibration_bins_average_each_score_bin() -> None:
    found = charts.calibration_bins(np.array([0.0, 1.0, 1.0, 1.0]), np.array([0.05, 0.15, 0.95, 1.0]))
    assert found == [(0.05, 0.0, 1), (0.15, 1.0, 1), (pytest.approx(0.975), 1.0, 2)]


def test_model_quality_shows_each_versions_labelled_predictions_or_why_there_are_none_yet() -> None:
    # GIVEN the dataset job's quality report, with labelled predictions of two model versions
    report = fixture_report("binary", with_lifecycle=True)
    # WHEN rendered THEN the section charts each version's figures and tabulates its counts, as of the labels' day
    page = html_report.render(report, ChartData())
    body = dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', page, flags=re.S))["model-quality"]
    assert "quality on labels that have since arrived" in body and body.count("<svg") == 1
    assert "labels final as of 2025-07-30" in body
    assert "<tr><td>1</td><td>500</td><td>120</td><td>2</td>" in body
    # GIVEN a first run's report: nothing scored earlier has a final label yet
    first = report | {"model_quality": {"as_of_date": "2025-06-30", "models": [], "reason": "no scoring run"}}
    # WHEN rendered THEN the section says so, with no chart and no numbers charted from the JSON
    body = dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', html_report.render(first, ChartData()), re.S))[
        "model-quality"
    ]
    assert "No labelled predictions as of 2025-06-30: no scoring run." in body and "<svg" not in body


def test_charts_drawn_ahead_make_the_same_page_with_the_final_timings(tmp_path: Path) -> None:
    # GIVEN the chart sections drawn in a thread before the last stage ends, and a timing added after they started
    report = fixture_report("binary", with_lifecycle=True)
    data = synthetic("binary")
    ahead = html_report.charts_ahead(report, data)
    report["stages"] = [*report["stages"], {"name": "consume", "status": "ok", "seconds": 4.2, "summary": "late"}]
    # WHEN the page is written with them, and once more drawing everything at the end
    with_ahead, at_end = tmp_path / "ahead.html", tmp_path / "end.html"
    html_report.write_html(report, data, with_ahead, ahead=ahead)
    html_report.write_html(report, data, at_end)

    # THEN the two pages are the same (matplotlib's random SVG ids and the drawing time aside), the late timing in
    def normalized(path: Path) -> str:
        text = re.sub(r"<dc:date>[^<]*</dc:date>", "", path.read_text())
        return re.sub(r'(id|href|clip-path)="[^"]*"', "", text)

    assert normalized(with_ahead) == normalized(at_end)
    assert "late" in with_ahead.read_text()


def test_charts_that_failed_ahead_are_drawn_again_at_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a chart that fails while the sections are drawn ahead, and works when drawn again
    original, calls = charts.roc_chart, []

    def failing_once(truth: np.ndarray, predictions: np.ndarray) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("font cache busy")
        return original(truth, predictions)

    monkeypatch.setattr(charts, "roc_chart", failing_once)
    report, data = fixture_report("binary"), synthetic("binary")
    ahead = html_report.charts_ahead(report, data)
    # WHEN the page is written
    target = tmp_path / html_report.HTML_FILENAME
    html_report.write_html(report, data, target, ahead=ahead)
    # THEN the sections were drawn again, and the page holds every chart
    assert len(calls) == 2
    assert section_charts(target.read_text()) == dict.fromkeys(["roc", "calibration", "scores", "timings"], 1)
