"""The graph of an app's templates: drawn resources as nodes, their references and events as edges."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tools.diagram.model import (
    ALARM_TYPE,
    ALERT_TARGETS,
    EVENT_SOURCE_MAPPING,
    HUB_SOURCES,
    HUB_TARGETS,
    KINDS,
    OBSERVERS,
    Edge,
    Graph,
    Node,
    Template,
    component_of,
    short_logical_id,
)
from tools.diagram.references import Resolver, physical_name, strings

# Free text that merely mentions names.
_TEXT_KEYS = ("Description", "Tags", "InputTemplate")


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
            name = physical_name(resource, kind) if kind else None
            if name and (stack, logical_id) in node_of:
                pattern = re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])")
                names.append((pattern, node_of[(stack, logical_id)]))

    resolver = Resolver(templates)
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
            for path, text in strings(properties):
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
    graph: Graph, node_of: Mapping[tuple[str, str], str], resolver: Resolver, stack: str, properties: Any
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
