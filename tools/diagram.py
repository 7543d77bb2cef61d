"""Architecture diagram drawn from the synthesized app: `python -m tools.diagram [--env prod] [--check]`.

Synthesizes every stack of an environment in process (offline, no AWS call), with a model configured so that the
serving part appears, keeps the architecturally meaningful resources (one cluster per stack), and links them by
the references in their properties:

* `Ref`, `Fn::GetAtt`, `Fn::Sub`, and the cross-stack `Fn::GetStackOutput` / `Fn::ImportValue`, resolved to the
  resource behind the other stack's output;
* literal physical names: a property naming another resource (a model package ARN, an endpoint name in an alarm
  dimension, a Glue job name in an EventBridge pattern) links to it like a reference;
* EventBridge rules: the resource whose events a pattern matches points at the rule, the rule at its targets;
  Lambda event source mappings become an edge from the queue to the function.

An arrow A -> B reads "A sends to / uses B", so work flows left to right. Edges into the KMS key and alarm
actions are drawn light so that the data flow stands out. Output is sorted and deterministic, so the checked-in
`docs/architecture.dot` can be compared with a fresh one (`--check`, and tests/tools/test_diagram.py).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS_DIR = REPO_ROOT / "docs"
DOT_FILE = DOCS_DIR / "architecture.dot"
PNG_FILE = DOCS_DIR / "architecture.png"
DEFAULT_ENV = "prod"
STALE_MESSAGE = "diagram is stale: run make diagram"

Template = Mapping[str, Any]


@dataclass(frozen=True)
class Kind:
    label: str
    shape: str
    fill: str
    name_path: tuple[str, ...] = ()  # where the resource's literal physical name is, if any


_COMPUTE, _STORE, _EVENT, _ML, _SECURITY, _OPS = "#ffe8cc", "#d9ecff", "#f3e1ff", "#dff5e1", "#fde2e2", "#eeeeee"

# The resource types worth drawing. Everything else (IAM, log groups, policies, custom resources, metadata) is noise.
KINDS: dict[str, Kind] = {
    "AWS::Athena::WorkGroup": Kind("Athena workgroup", "box", _STORE, ("Name",)),
    "AWS::ApplicationAutoScaling::ScalableTarget": Kind("autoscaling target", "box", _OPS),
    "AWS::CloudWatch::Alarm": Kind("CloudWatch alarms", "note", _OPS),
    "AWS::CloudWatch::Dashboard": Kind("CloudWatch dashboard", "note", _OPS),
    "AWS::DynamoDB::GlobalTable": Kind("DynamoDB table", "cylinder", _STORE, ("TableName",)),
    "AWS::DynamoDB::Table": Kind("DynamoDB table", "cylinder", _STORE, ("TableName",)),
    "AWS::ECR::Repository": Kind("ECR repository", "cylinder", _STORE, ("RepositoryName",)),
    "AWS::Events::Rule": Kind("EventBridge rule", "hexagon", _EVENT),
    "AWS::Glue::Connection": Kind("Glue connection", "box", _COMPUTE, ("ConnectionInput", "Name")),
    "AWS::Glue::Database": Kind("Glue database", "cylinder", _STORE, ("DatabaseInput", "Name")),
    "AWS::Glue::Job": Kind("Glue job", "box", _COMPUTE, ("Name",)),
    "AWS::Glue::Table": Kind("Glue table", "cylinder", _STORE, ("TableInput", "Name")),
    "AWS::Glue::Trigger": Kind("Glue trigger", "hexagon", _EVENT, ("Name",)),
    "AWS::KMS::Key": Kind("KMS key", "octagon", _SECURITY),
    "AWS::Lambda::Function": Kind("Lambda function", "box", _COMPUTE, ("FunctionName",)),
    "AWS::S3::Bucket": Kind("S3 bucket", "cylinder", _STORE, ("BucketName",)),
    "AWS::SNS::Topic": Kind("SNS topic", "hexagon", _EVENT, ("TopicName",)),
    "AWS::SQS::Queue": Kind("SQS queue", "box3d", _EVENT, ("QueueName",)),
    "AWS::SageMaker::DataQualityJobDefinition": Kind("data quality job", "box", _ML, ("JobDefinitionName",)),
    "AWS::SageMaker::Endpoint": Kind("SageMaker endpoint", "box", _ML, ("EndpointName",)),
    "AWS::SageMaker::EndpointConfig": Kind("endpoint config", "box", _ML, ("EndpointConfigName",)),
    "AWS::SageMaker::Model": Kind("SageMaker model", "box", _ML, ("ModelName",)),
    "AWS::SageMaker::ModelPackageGroup": Kind("model package group", "cylinder", _ML, ("ModelPackageGroupName",)),
    "AWS::SageMaker::MonitoringSchedule": Kind("monitoring schedule", "hexagon", _ML, ("MonitoringScheduleName",)),
    "AWS::SecretsManager::Secret": Kind("secret", "octagon", _SECURITY, ("Name",)),
    "AWS::StepFunctions::StateMachine": Kind("state machine", "box", _COMPUTE, ("StateMachineName",)),
}
ALARM_TYPE = "AWS::CloudWatch::Alarm"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
# Hubs whose edges would drown the picture: they are counted in the node's label instead of drawn.
HUB_TARGETS = frozenset({"AWS::KMS::Key"})  # everything is encrypted with the key
HUB_SOURCES = frozenset({"AWS::CloudWatch::Dashboard"})  # the dashboard shows everything
# Edges from these to what they watch are drawn light; their edges to an SNS topic are the alerting path.
OBSERVERS = frozenset({ALARM_TYPE})
ALERT_TARGETS = frozenset({"AWS::SNS::Topic"})
# Free text that merely mentions names.
_TEXT_KEYS = ("Description", "Tags", "InputTemplate")

_HASH_SUFFIX = re.compile(r"^(?P<name>.+?)[0-9A-F]{8}$")
_SUB_VARIABLE = re.compile(r"\$\{(?!!)([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


@dataclass(frozen=True, order=True)
class Node:
    id: str
    stack: str
    label: str
    kind: str  # resource type
    members: tuple[str, ...] = ()  # grouped resources (alarms)
    note: str = ""


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    style: str = "flow"  # flow | event | observe | both


@dataclass
class Graph:
    stacks: list[str]  # component names, in app order
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: set[Edge] = field(default_factory=set)

    def clustered(self) -> Iterator[tuple[str, list[Node]]]:
        for stack in self.stacks:
            yield stack, sorted(node for node in self.nodes.values() if node.stack == stack)


def short_logical_id(logical_id: str) -> str:
    """`ExtractionJobE0C7C401` -> `ExtractionJob`: the logical id without CDK's 8-hex-digit hash suffix."""
    match = _HASH_SUFFIX.match(logical_id)
    return match.group("name") if match else logical_id


def component_of(stack_name: str) -> str:
    """`Esteira-prod-DataPlatform` -> `DataPlatform`."""
    return stack_name.rsplit("-", 1)[-1]


# --- references --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ref:
    stack: str  # stack name
    logical_id: str
    path: tuple[str | int, ...]  # where in the referring resource's properties


class _Resolver:
    def __init__(self, templates: Mapping[str, Template]) -> None:
        self.templates = templates
        self.exports: dict[str, tuple[str, Any]] = {}
        for stack, template in templates.items():
            for output in template.get("Outputs", {}).values():
                export = output.get("Export", {}).get("Name")
                if isinstance(export, str):
                    self.exports[export] = (stack, output["Value"])

    def references(self, stack: str, node: Any, path: tuple[str | int, ...] = ()) -> Iterator[_Ref]:
        """Every resource a property value refers to, following outputs into the other stacks."""
        if isinstance(node, list):
            for index, item in enumerate(node):
                yield from self.references(stack, item, (*path, index))
            return
        if not isinstance(node, dict):
            return
        if len(node) == 1:
            (key, value), *_ = node.items()
            resources = self.templates[stack].get("Resources", {})
            if key == "Ref" and isinstance(value, str):
                if value in resources:
                    yield _Ref(stack, value, path)
                return
            if key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".", 1)[0]
                if target in resources:
                    yield _Ref(stack, target, path)
                return
            if key == "Fn::GetStackOutput" and isinstance(value, dict):
                other = str(value.get("StackName"))
                output = self.templates.get(other, {}).get("Outputs", {}).get(value.get("OutputName"))
                if output is not None:
                    yield from (_Ref(r.stack, r.logical_id, path) for r in self.references(other, output["Value"]))
                return
            if key == "Fn::ImportValue" and isinstance(value, str):
                if value in self.exports:
                    other, exported = self.exports[value]
                    yield from (_Ref(r.stack, r.logical_id, path) for r in self.references(other, exported))
                return
            if key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                resources_here = self.templates[stack].get("Resources", {})
                for name in _SUB_VARIABLE.findall(text):
                    if name in resources_here and name not in variables:
                        yield _Ref(stack, name, path)
                yield from self.references(stack, variables, (*path, key))
                return
        for key, value in node.items():
            yield from self.references(stack, value, (*path, key))


def _strings(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _strings(item, (*path, index))
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, key))


def _physical_name(resource: Mapping[str, Any], kind: Kind) -> str | None:
    value: Any = resource.get("Properties", {})
    for key in kind.name_path:
        value = value.get(key) if isinstance(value, dict) else None
    # Only compound literal names: a bare word like a table name "employees" would match too much.
    if isinstance(value, str) and len(value) >= 8 and re.search(r"[-_/]", value):
        return value
    return None


# --- the graph ---------------------------------------------------------------------------------------------


def build_graph(templates: Mapping[str, Template]) -> Graph:
    """Nodes and edges of the templates, keyed by stack name (in app order)."""
    graph = Graph(stacks=[component_of(name) for name in templates])
    node_of: dict[tuple[str, str], str] = {}  # (stack name, logical id) -> node id
    for stack, template in templates.items():
        component = component_of(stack)
        alarms = sorted(
            short_logical_id(lid) for lid, r in template.get("Resources", {}).items() if r.get("Type") == ALARM_TYPE
        )
        for logical_id, resource in template.get("Resources", {}).items():
            kind = resource.get("Type")
            if kind not in KINDS:
                continue
            if kind == ALARM_TYPE:
                node_id = f"{component}.Alarms"
                graph.nodes[node_id] = Node(node_id, component, "Alarms", kind, tuple(alarms))
            else:
                label = short_logical_id(logical_id)
                node_id = f"{component}.{label}"
                if node_id in graph.nodes:  # two ids that differ only by their hash: keep them apart
                    node_id, label = f"{component}.{logical_id}", logical_id
                graph.nodes[node_id] = Node(node_id, component, label, kind)
            node_of[(stack, logical_id)] = node_id

    names: list[tuple[re.Pattern[str], str]] = []
    for stack, template in templates.items():
        for logical_id, resource in template.get("Resources", {}).items():
            kind = KINDS.get(resource.get("Type", ""))
            name = _physical_name(resource, kind) if kind else None
            if name and (stack, logical_id) in node_of:
                pattern = re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])")
                names.append((pattern, node_of[(stack, logical_id)]))

    resolver = _Resolver(templates)
    mentions: list[tuple[str, tuple[str | int, ...], str, str]] = []
    for stack, template in templates.items():
        for logical_id, resource in template.get("Resources", {}).items():
            kind = resource.get("Type", "")
            properties = resource.get("Properties", {})
            if kind == EVENT_SOURCE_MAPPING:
                _add_event_source_mapping(graph, node_of, resolver, stack, properties)
                continue
            source = node_of.get((stack, logical_id))
            if source is None:
                continue
            for ref in resolver.references(stack, properties):
                if (ref.stack, ref.logical_id) in node_of:
                    _link(graph, kind, ref.path, source, node_of[(ref.stack, ref.logical_id)])
            for path, text in _strings(properties):
                if not any(key in str(part) for part in path for key in _TEXT_KEYS):
                    mentions.extend((kind, path, source, target) for pattern, target in names if pattern.search(text))
    # A name mentioned where a reference already links the pair the other way (an endpoint config's data capture
    # prefix naming the endpoint that uses it) says nothing new.
    for kind, path, source, target in mentions:
        if not any((e.source, e.target) == (target, source) for e in graph.edges):
            _link(graph, kind, path, source, target)
    _merge_opposite_edges(graph)
    _collapse_hubs(graph)
    return graph


def _link(graph: Graph, kind: str, path: tuple[str | int, ...], source: str, target: str) -> None:
    if target == source:
        return
    if kind == "AWS::Events::Rule" and path[:1] == ("EventPattern",):
        _add_edge(graph, target, source, "event")  # the event's source -> the rule
    elif kind in OBSERVERS and graph.nodes[target].kind not in ALERT_TARGETS:
        _add_edge(graph, source, target, "observe")
    else:
        _add_edge(graph, source, target, "flow")


def _count(items: set[str], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _collapse_hubs(graph: Graph) -> None:
    for node_id, node in sorted(graph.nodes.items()):
        if node.kind in HUB_TARGETS:
            edges = {e for e in graph.edges if e.target == node_id}
            note = f"used by {_count({e.source for e in edges}, 'resource')} (edges not drawn)"
        elif node.kind in HUB_SOURCES:
            edges = {e for e in graph.edges if e.source == node_id}
            note = f"shows {_count({e.target for e in edges}, 'resource')} (edges not drawn)"
        else:
            continue
        graph.edges -= edges
        graph.nodes[node_id] = replace(node, note=note)


def _add_event_source_mapping(
    graph: Graph, node_of: Mapping[tuple[str, str], str], resolver: _Resolver, stack: str, properties: Any
) -> None:
    def first(key: str) -> str | None:
        for ref in resolver.references(stack, properties.get(key)):
            if (ref.stack, ref.logical_id) in node_of:
                return node_of[(ref.stack, ref.logical_id)]
        return None

    queue, function = first("EventSourceArn"), first("FunctionName")
    if queue and function:
        _add_edge(graph, queue, function, "flow")


def _add_edge(graph: Graph, source: str, target: str, style: str) -> None:
    # One edge per pair: an event edge wins over a plain reference between the same two nodes.
    plain, event = Edge(source, target, "flow"), Edge(source, target, "event")
    if style == "flow" and event in graph.edges:
        return
    if style == "event":
        graph.edges.discard(plain)
    graph.edges.add(Edge(source, target, style))


def _merge_opposite_edges(graph: Graph) -> None:
    """A -> B and B -> A (an alarm watching the endpoint that rolls back on it) become one two-headed edge."""
    for edge in sorted(graph.edges):
        reverse = next((e for e in graph.edges if (e.source, e.target) == (edge.target, edge.source)), None)
        if (
            reverse is not None
            and edge in graph.edges
            and edge.source < edge.target
            and edge.style == reverse.style == "flow"
        ):
            graph.edges.discard(edge)
            graph.edges.discard(reverse)
            graph.edges.add(Edge(edge.source, edge.target, "both"))


# --- DOT -----------------------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    """A DOT string; newlines become DOT's centred line breaks."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _node_label(node: Node) -> str:
    kind = KINDS[node.kind]
    lines = [f"{kind.label} ({len(node.members)})", *node.members] if node.members else [node.label, f"({kind.label})"]
    if node.note:
        lines.append(node.note)
    return "\n".join(lines)


LEGEND = (
    "\nA -> B: A references, starts or writes to B (solid); emits an EventBridge event B matches (dashed);"
    " alarm A watches B (dotted)"
)
_EDGE_STYLES = {
    "flow": 'color="#404040"',
    "event": 'color="#8e44ad", style=dashed, label="event"',
    "observe": 'color="#b0b0b0", style=dotted, constraint=false',
    "both": 'color="#404040", dir=both',
}


def to_dot(graph: Graph, title: str) -> str:
    lines = [
        "// Generated by `python -m tools.diagram` (make diagram) from the synthesized CloudFormation. Do not edit.",
        "digraph esteira {",
        f"  label={_quote(title + LEGEND)};",
        '  labelloc=t; labeljust=l; fontname="Helvetica"; fontsize=20;',
        "  rankdir=LR; newrank=true; nodesep=0.25; ranksep=0.6; compound=true;",
        '  node [fontname="Helvetica", fontsize=11, style="filled", penwidth=0.8];',
        '  edge [fontname="Helvetica", fontsize=9, arrowsize=0.7];',
    ]
    for stack, nodes in graph.clustered():
        lines.append(f"  subgraph {_quote('cluster_' + stack)} {{")
        lines.append(f'    label={_quote(stack + " stack")}; style="rounded"; color="#7f8c8d"; fontsize=14;')
        for node in nodes:
            kind = KINDS[node.kind]
            shape = "box" if kind.shape == "box" else kind.shape
            style = '"filled,rounded"' if shape == "box" else '"filled"'
            lines.append(
                f"    {_quote(node.id)} [label={_quote(_node_label(node))}, shape={shape}, "
                f'style={style}, fillcolor="{kind.fill}"];'
            )
        lines.append("  }")
    for edge in sorted(graph.edges):
        lines.append(f"  {_quote(edge.source)} -> {_quote(edge.target)} [{_EDGE_STYLES[edge.style]}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- synthesis -----------------------------------------------------------------------------------------------


def example_model_package_arn(env: str, region: str, account: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:model-package/esteira-{env}-model/1"


def synthesize_templates(env: str) -> dict[str, dict[str, Any]]:
    """Every stack's template of `env`, with a champion model configured, by stack name in app order."""
    from aws_cdk import App  # imported here: the graph functions need no CDK

    from stacks.app_builder import build_stacks
    from stacks.config import load_config
    from stacks.delivery_config import delivery_links

    base = load_config(env)
    config = base.with_model_package(example_model_package_arn(base.name, base.region, base.account))
    context = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    with tempfile.TemporaryDirectory(prefix="esteira-diagram-") as outdir:
        app = App(context=context, outdir=outdir, analytics_reporting=False)
        stacks = build_stacks(app, config, delivery=delivery_links(config))
        app.synth()
        return {
            stack.stack_name: json.loads((Path(outdir) / stack.template_file).read_text(encoding="utf-8"))
            for stack in stacks
        }


def render_dot(env: str) -> str:
    templates = synthesize_templates(env)
    return to_dot(build_graph(templates), f"Esteira ({env}): architecture from the synthesized stacks")


def render_png(dot_file: Path, png_file: Path) -> None:
    dot = shutil.which("dot")
    if dot is None:
        raise FileNotFoundError("Graphviz `dot` not found: install the Debian package graphviz")
    subprocess.run([dot, "-Tpng", "-Gdpi=110", "-o", str(png_file), str(dot_file)], check=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.diagram", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=DEFAULT_ENV, help=f"environment to draw (default {DEFAULT_ENV})")
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/architecture.dot is stale")
    parser.add_argument("--dot", type=Path, default=DOT_FILE, help="DOT file to write or check")
    parser.add_argument("--png", type=Path, default=PNG_FILE, help="PNG to render (skipped with --check)")
    args = parser.parse_args(argv)
    fresh = render_dot(args.env)
    if args.check:
        current = args.dot.read_text(encoding="utf-8") if args.dot.is_file() else ""
        if current != fresh:
            print(f"{args.dot}: {STALE_MESSAGE}", file=sys.stderr)
            return 1
        print(f"{args.dot} is up to date")
        return 0
    args.dot.parent.mkdir(parents=True, exist_ok=True)
    args.dot.write_text(fresh, encoding="utf-8")
    try:
        render_png(args.dot, args.png)
    except (FileNotFoundError, subprocess.CalledProcessError) as error:
        print(f"wrote {args.dot}; could not render {args.png}: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.dot} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
