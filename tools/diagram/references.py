"""What a resource's properties refer to: intrinsic references across stacks, and literal physical names."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tools.diagram.model import Kind, Template

_SUB_VARIABLE = re.compile(r"\$\{(?!!)([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


@dataclass(frozen=True)
class Ref:
    stack: str  # stack name
    logical_id: str
    path: tuple[str | int, ...]  # where in the referring resource's properties


class Resolver:
    def __init__(self, templates: Mapping[str, Template]) -> None:
        self.templates = templates
        self.exports: dict[str, tuple[str, Any]] = {}
        for stack, template in templates.items():
            for output in template.get("Outputs", {}).values():
                export = output.get("Export", {}).get("Name")
                if isinstance(export, str):
                    self.exports[export] = (stack, output["Value"])

    def references(self, stack: str, node: Any, path: tuple[str | int, ...] = ()) -> Iterator[Ref]:
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
                    yield Ref(stack, value, path)
                return
            if key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".", 1)[0]
                if target in resources:
                    yield Ref(stack, target, path)
                return
            if key == "Fn::GetStackOutput" and isinstance(value, dict):
                other = str(value.get("StackName"))
                output = self.templates.get(other, {}).get("Outputs", {}).get(value.get("OutputName"))
                if output is not None:
                    yield from (Ref(r.stack, r.logical_id, path) for r in self.references(other, output["Value"]))
                return
            if key == "Fn::ImportValue" and isinstance(value, str):
                if value in self.exports:
                    other, exported = self.exports[value]
                    yield from (Ref(r.stack, r.logical_id, path) for r in self.references(other, exported))
                return
            if key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                resources_here = self.templates[stack].get("Resources", {})
                for name in _SUB_VARIABLE.findall(text):
                    if name in resources_here and name not in variables:
                        yield Ref(stack, name, path)
                yield from self.references(stack, variables, (*path, key))
                return
        for key, value in node.items():
            yield from self.references(stack, value, (*path, key))


def strings(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from strings(item, (*path, index))
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, (*path, key))


def physical_name(resource: Mapping[str, Any], kind: Kind) -> str | None:
    value: Any = resource.get("Properties", {})
    for key in kind.name_path:
        value = value.get(key) if isinstance(value, dict) else None
    # Only compound literal names: a bare word like a table name "employees" would match too much.
    if isinstance(value, str) and len(value) >= 8 and re.search(r"[-_/]", value):
        return value
    return None
