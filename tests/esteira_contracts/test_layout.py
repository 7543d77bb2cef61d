"""The layout's prefixes: one definition, the form every reader of them expects."""

from __future__ import annotations

from esteira_contracts import layout, normalize_prefix
from stacks import names


def test_every_prefix_is_normalized() -> None:
    # S3 key prefixes only: the image tag prefixes (`candidate-`, `promoted-`) start tags, not folders
    prefixes = {
        name: value
        for name, value in vars(layout).items()
        if name.endswith("_PREFIX") and not name.endswith("_TAG_PREFIX")
    }
    assert prefixes
    assert {name: value for name, value in prefixes.items() if normalize_prefix(value) != value} == {}


def test_stacks_names_are_the_layouts() -> None:
    # GIVEN the names the stacks use WHEN compared with the layout THEN each shared one is the same object
    shared = {name for name in vars(layout) if name.isupper()} & set(vars(names))
    assert "CURATED_EXTRACTION_PREFIX" in shared
    assert {name for name in shared if getattr(names, name) is not getattr(layout, name)} == set()


def test_curated_prefix_of_a_spec() -> None:
    assert layout.curated_extraction_prefix("employees") == "extractions/employees/"
