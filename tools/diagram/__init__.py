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

Modules: `model` (what is drawn, and the graph), `references` (what properties refer to), `graph` (templates
to graph), `dot` (graph to DOT); this one synthesizes the app and is the command line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools.diagram.dot import LEGEND, to_dot
from tools.diagram.graph import build_graph
from tools.diagram.model import KINDS, Edge, Graph, Kind, Node, Template, component_of, short_logical_id

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_DIR = REPO_ROOT / "docs"
DOT_FILE = DOCS_DIR / "architecture.dot"
PNG_FILE = DOCS_DIR / "architecture.png"
DEFAULT_ENV = "prod"
STALE_MESSAGE = "diagram is stale: run make diagram"

__all__ = [
    "DEFAULT_ENV",
    "DOT_FILE",
    "KINDS",
    "LEGEND",
    "PNG_FILE",
    "STALE_MESSAGE",
    "Edge",
    "Graph",
    "Kind",
    "Node",
    "Template",
    "build_graph",
    "component_of",
    "main",
    "render_dot",
    "short_logical_id",
    "to_dot",
]


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
