"""cfn-lint and checkov over the session's templates, started together and awaited by the tests that read them.

Each linter scans every distinct template of its sets once (distinct_templates.py) in one process. The session starts
both processes as soon as the first of their tests asks (tests/stacks/conftest.py's ``template_scans``): they then
run side by side while that test waits for cfn-lint, and checkov has finished, or nearly, by the time its tests run.
Run one after the other they kept the worker running the cdk tests waiting 33 s, mostly on one core.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.stacks.conftest import REPO_ROOT
from tests.stacks.distinct_templates import DistinctTemplates

Findings = Callable[[list[Path]], list[str]]

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
# As `make checkov` runs it: CloudFormation only (the assets are code, which the Python tests and linters cover), no
# download of external checks.
CHECKOV_ARGS = ("--framework", "cloudformation", "--compact", "--skip-download", "--output", "json")
TIMEOUT_SECONDS = 600


@dataclass
class Started:
    """A linter's process, its output going to files beside the templates it scans (no pipe to fill up)."""

    process: subprocess.Popen[str]
    stdout: Path
    stderr: Path

    @classmethod
    def run(cls, argv: list[str], folder: Path) -> Started:
        stdout, stderr = folder / "linter.stdout", folder / "linter.stderr"
        with stdout.open("w") as out, stderr.open("w") as err:
            return cls(subprocess.Popen(argv, cwd=REPO_ROOT, stdout=out, stderr=err, text=True), stdout, stderr)

    def finish(self) -> tuple[int, str, str]:
        try:
            returncode = self.process.wait(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        return returncode, self.stdout.read_text(), self.stderr.read_text()


def start_cfn_lint(templates: list[Path], folder: Path) -> Callable[[], Findings]:
    """cfn-lint on each distinct template (written to ``folder``), started now; the returned call waits for it and
    gives the findings (parseable format) of any given templates."""
    distinct = DistinctTemplates.write(templates, folder)
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    started = Started.run([str(cfn_lint), "--format", "parseable", *map(str, distinct.scanned)], folder)

    def finish() -> Findings:
        returncode, stdout, stderr = started.finish()
        findings: dict[Path, list[str]] = {path: [] for path in distinct.scanned}
        unattributed: list[str] = []
        for line in stdout.splitlines():
            path = Path(line.split(":", 1)[0])
            findings.get(path, unattributed).append(line)
        # Exit 0: no error and no warning that .cfnlintrc.yaml does not ignore with a reason; 1 is cfn-lint failing.
        assert returncode != 1 and not unattributed, stdout + stderr
        assert (returncode == 0) == all(not found for found in findings.values()), stdout + stderr

        def of(files: list[Path]) -> list[str]:
            return [finding for path in files for finding in findings[distinct.copies[path]]]

        return of

    return finish


def lint_once(templates: list[Path], folder: Path) -> Findings:
    return start_cfn_lint(templates, folder)()


@dataclass(frozen=True)
class Scan:
    report: dict[str, Any]
    templates: DistinctTemplates


def start_checkov(templates: list[Path], folder: Path) -> Callable[[], Scan]:
    """checkov on each distinct template (written to ``folder``), started now; the returned call awaits its report."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make checkov` or `make test` once (they install .venv-checkov)")
    distinct = DistinctTemplates.write(templates, folder)
    argv = [str(CHECKOV), *CHECKOV_ARGS, *(item for path in distinct.scanned for item in ("-f", str(path)))]
    started = Started.run(argv, folder)

    def finish() -> Scan:
        returncode, stdout, stderr = started.finish()
        # One framework: one report; exit 1 means failed checks (in the report), anything else is checkov failing.
        assert returncode in (0, 1), stdout[-3000:] + stderr[-3000:]
        report: dict[str, Any] = json.loads(stdout)
        assert report["check_type"] == "cloudformation"
        return Scan(report, distinct)

    return finish


@dataclass(frozen=True)
class TemplateScans:
    """Both linters' runs over the session's templates, each awaited once (functools.cache) by the first test that
    reads it."""

    cfn_lint: Callable[[], Findings]
    checkov: Callable[[], Scan]

    @classmethod
    def start(cls, lint_templates: list[Path], checkov_templates: list[Path], folder: Path) -> TemplateScans:
        return cls(
            cfn_lint=functools.cache(start_cfn_lint(lint_templates, folder / "cfn-lint")),
            checkov=functools.cache(start_checkov(checkov_templates, folder / "checkov")),
        )
