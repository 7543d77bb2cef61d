"""pyproject.toml's mypy settings: mypy type-checks every aws_cdk module the code imports, and skips the rest.

aws_cdk's package imports all of its ~680 modules (428 MB of generated Python), so following them all cost a cold
mypy run 93 s of CPU and 3.7 GB; `make test` runs it beside the tests. pyproject.toml skips `aws_cdk.*` and names the
modules in use, which mypy then checks in full. A module the code imports but the list misses would silently be
`Any`: this test names it.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
import tomllib
from pathlib import Path

from mypy.config_parser import parse_config_file
from mypy.options import Options

REPO = Path(__file__).resolve().parents[1]
SKIPPED_TREES = {".venv", ".venv-checkov", "node_modules", "cdk.out", ".git", ".mypy_cache", "build"}


def mypy_options() -> Options:
    """The repository's mypy options, read by mypy's own parser."""
    options = Options()
    parse_config_file(options, lambda: None, str(REPO / "pyproject.toml"), sys.stdout, sys.stderr)
    return options


def followed_cdk_modules() -> set[str]:
    """The aws_cdk modules pyproject.toml names for mypy to follow (follow_imports = "normal")."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    found: set[str] = set()
    for override in config["tool"]["mypy"]["overrides"]:
        if override.get("follow_imports") == "normal":
            found.update(override["module"])
    return found


@functools.cache
def cdk_package_dir() -> Path:
    spec = importlib.util.find_spec("aws_cdk")  # finds the package without importing it
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def is_cdk_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    package = cdk_package_dir() / relative
    return (package / "__init__.py").is_file() or package.with_suffix(".py").is_file()


def imported_cdk_modules(source: str) -> set[str]:
    """Every aws_cdk module a file imports: `import aws_cdk.x`, `from aws_cdk.x import y`, and `from aws_cdk import x`
    where x is a module rather than a name (a class, a function)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "aws_cdk")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "aws_cdk":
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}" for alias in node.names if is_cdk_module(f"{node.module}.{alias.name}")
            )
    return found


def repo_python_files() -> list[Path]:
    return [path for path in REPO.rglob("*.py") if not SKIPPED_TREES.intersection(path.relative_to(REPO).parts[:-1])]


def test_every_aws_cdk_module_the_code_imports_is_type_checked() -> None:
    # GIVEN every import of an aws_cdk module in the repository's Python
    used = set().union(*(imported_cdk_modules(path.read_text()) for path in repo_python_files()))
    # THEN mypy follows each of them, and each module named in pyproject.toml exists in the installed aws_cdk
    followed = followed_cdk_modules()
    assert {"aws_cdk.aws_s3", "aws_cdk.assertions", "aws_cdk.interfaces.aws_events"} <= used
    assert sorted(used - followed) == []
    assert sorted(name for name in followed if not is_cdk_module(name)) == []


def test_the_import_scan_tells_modules_from_names() -> None:
    # GIVEN imports of modules, of names, and of a nested module
    source = (
        "import aws_cdk.aws_sqs\n"
        "from aws_cdk import Duration, aws_s3 as s3\n"
        "from aws_cdk.interfaces import aws_events\n"
        "from aws_cdk.aws_iam import PolicyStatement\n"
        "import json\n"
    )
    # WHEN scanned THEN the modules are found and the classes are not
    assert imported_cdk_modules(source) == {
        "aws_cdk",
        "aws_cdk.aws_sqs",
        "aws_cdk.aws_s3",
        "aws_cdk.interfaces",
        "aws_cdk.interfaces.aws_events",
        "aws_cdk.aws_iam",
    }


def test_mypy_follows_the_named_modules_and_skips_the_rest_of_aws_cdk() -> None:
    # GIVEN the options mypy itself resolves per module (a named module is more specific than aws_cdk.*)
    options = mypy_options()
    # THEN the named modules, their packages and the code are followed, and other aws_cdk modules are skipped
    for name in [*followed_cdk_modules(), "stacks.app", "pipeline.moto_http"]:
        assert options.clone_for_module(name).follow_imports == "normal", name
    for name in ("aws_cdk.aws_quicksight", "aws_cdk.aws_medialive", "aws_cdk.interfaces.aws_sqs"):
        assert options.clone_for_module(name).follow_imports == "skip", name
