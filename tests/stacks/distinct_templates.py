"""The template sets the linters scan (cfn-lint, checkov), each distinct template once.

An environment's stacks synthesized by hand and the same stacks in the delivery pipeline's stage for it are the same
deployment (tests/stacks/test_hand_deploys.py): their texts differ only in construct paths, which start with the
stage's path (``Esteira-delivery-pipeline/<env>/``) in the stage, and in the relative path of the asset folder in
each resource's ``aws:asset:path`` metadata (``../asset.<hash>`` in a stage's nested assembly). Construct paths are in
resource metadata (``aws:cdk:path``) and in the VPC's Name tags. No rule of either linter reads a construct path's
text, and both only ever see templates with path metadata (the session synthesizes as the cdk CLI does). So each
template's text, with those two differences taken out, is written once to a folder and scanned there; a finding on
that copy counts for every template it stands for.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tests.stacks.conftest import without_stage_paths


@dataclass(frozen=True)
class DistinctTemplates:
    copies: dict[Path, Path]  # each given template -> the copy that is scanned for it

    @classmethod
    def write(cls, templates: list[Path], folder: Path) -> DistinctTemplates:
        """One copy per distinct scanned text in ``folder``, named after the first template that has it."""
        folder.mkdir(parents=True, exist_ok=True)
        by_digest: dict[str, Path] = {}
        copies: dict[Path, Path] = {}
        for template in templates:
            text = without_stage_paths(template.read_text())
            digest = hashlib.sha256(text.encode()).hexdigest()
            if digest not in by_digest:
                copy = folder / f"{len(by_digest):03d}-{template.name}"
                copy.write_text(text)
                by_digest[digest] = copy
            copies[template] = by_digest[digest]
        return cls(copies)

    @property
    def scanned(self) -> list[Path]:
        return sorted(set(self.copies.values()))

    def originals(self, copy: Path) -> list[Path]:
        """The given templates a scanned copy stands for."""
        return [template for template, scanned in self.copies.items() if scanned.resolve() == copy.resolve()]
