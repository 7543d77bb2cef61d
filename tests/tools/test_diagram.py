"""The architecture diagram: graph extraction on a small fixture, and the checked-in DOT against a fresh synth."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tools import diagram
from tools.diagram import Edge, build_graph, short_logical_id, to_dot

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tools" / "small_app.json"


@pytest.fixture(scope="module")
def small_app() -> dict[str, Any]:
    templates: dict[str, Any] = json.loads(FIXTURE.read_text())
    return templates


def test_short_logical_id() -> None:
    assert short_logical_id("ExtractionJobE0C7C401") == "ExtractionJob"
    assert short_logical_id("ExtractionJdbcConnection0F6AED406") == "ExtractionJdbcConnection0"
    assert short_logical_id("CDKMetadata") == "CDKMetadata"


def test_fixture_nodes(small_app: dict[str, Any]) -> None:
    graph = build_graph(small_app)
    assert graph.stacks == ["Data", "Flow"]
    assert sorted(graph.nodes) == [
        "Data.AlertsTopic",
        "Data.DataKey",
        "Data.ExtractionJob",
        "Data.ExtractionSchedule",
        "Data.LakeRaw",
        "Flow.Alarms",
        "Flow.ConsumerFunction",
        "Flow.Dashboard",
        "Flow.PipelineStateMachine",
        "Flow.PrepareFunction",
        "Flow.Queue",
        "Flow.StartOnExtraction",
    ]
    assert graph.nodes["Flow.Alarms"].members == ("ConsumerErrors", "QueueAgeAlarm")
    assert graph.nodes["Data.DataKey"].note == "used by 1 resource (edges not drawn)"
    assert graph.nodes["Flow.Dashboard"].note == "shows 2 resources (edges not drawn)"


def test_fixture_edges(small_app: dict[str, Any]) -> None:
    assert build_graph(small_app).edges == {
        Edge("Data.ExtractionSchedule", "Data.ExtractionJob"),  # trigger action (Ref)
        Edge("Data.ExtractionJob", "Data.LakeRaw"),  # Fn::Sub
        Edge("Data.ExtractionJob", "Flow.StartOnExtraction", "event"),  # job name in the rule's pattern
        Edge("Flow.StartOnExtraction", "Flow.PipelineStateMachine"),  # rule target
        Edge("Flow.PipelineStateMachine", "Flow.PrepareFunction"),  # Fn::GetAtt inside Fn::Join
        Edge("Flow.PrepareFunction", "Data.LakeRaw"),  # Fn::GetStackOutput
        Edge("Flow.PrepareFunction", "Flow.Queue"),
        Edge("Flow.Queue", "Flow.ConsumerFunction"),  # the event source mapping, collapsed
        Edge("Flow.Alarms", "Data.AlertsTopic"),  # Fn::ImportValue
        Edge("Flow.Alarms", "Flow.Queue", "observe"),  # queue name in a dimension
        Edge("Flow.Alarms", "Flow.ConsumerFunction", "observe"),
    }


def test_dot_is_sorted_and_deterministic(small_app: dict[str, Any]) -> None:
    dot = to_dot(build_graph(small_app), "fixture")
    reordered = copy.deepcopy(small_app)
    for template in reordered.values():
        template["Resources"] = dict(reversed(list(template["Resources"].items())))
    assert to_dot(build_graph(reordered), "fixture") == dot
    edges = [line for line in dot.splitlines() if line.startswith('  "') and " -> " in line]
    assert edges == sorted(edges)
    assert 'subgraph "cluster_Data"' in dot
    assert '"Data.ExtractionJob" [label="ExtractionJob\\n(Glue job)"' in dot
    assert "IAM" not in dot
    assert "ExtractionLogs" not in dot
    assert "CDKMetadata" not in dot


def test_check_reports_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(diagram, "render_dot", lambda env: "digraph fresh {}\n")
    stale = tmp_path / "architecture.dot"
    stale.write_text("digraph old {}\n")
    assert diagram.main(["--check", "--dot", str(stale)]) == 1
    assert "diagram is stale: run make diagram" in capsys.readouterr().err
    stale.write_text("digraph fresh {}\n")
    assert diagram.main(["--check", "--dot", str(stale)]) == 0


def test_checked_in_diagram_is_fresh() -> None:
    """Synthesizes prod in process with a model configured; compares DOT text only (no Graphviz needed)."""
    fresh = diagram.render_dot(diagram.DEFAULT_ENV)
    checked_in = diagram.DOT_FILE.read_text(encoding="utf-8") if diagram.DOT_FILE.is_file() else ""
    assert checked_in == fresh, f"{diagram.DOT_FILE}: {diagram.STALE_MESSAGE}"
    assert "Serving.Endpoint" in fresh
