"""How the config files are parsed: libyaml's parser under the safe constructor."""

import re
from pathlib import Path

import pytest
import yaml

from stacks.config_base import SAFE_YAML_LOADER, parse_yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
YAML_FILES = sorted(
    [*REPO_ROOT.glob("config/**/*.yaml"), *REPO_ROOT.glob("examples/**/*.yaml"), REPO_ROOT / "tools" / "prices.yaml"]
)


def test_the_pinned_pyyaml_parses_with_libyaml() -> None:
    # GIVEN the pinned PyYAML wheel  THEN its C parser is the one used (the pure-Python one is ~10x slower)
    assert SAFE_YAML_LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_shipped_file_parses_to_what_safe_load_gives(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert parse_yaml(text) == yaml.safe_load(text)


def test_a_python_tag_is_refused_as_safe_load_refuses_it() -> None:
    # GIVEN a document that asks for a Python object  WHEN parsed  THEN a YAML error, nothing constructed
    with pytest.raises(yaml.constructor.ConstructorError, match=re.escape("python/object/apply:os.system")):
        parse_yaml("key: !!python/object/apply:os.system ['true']")


def test_invalid_yaml_raises_a_yaml_error_with_its_position() -> None:
    with pytest.raises(yaml.YAMLError, match="line 2"):
        parse_yaml("a: [1, 2\nb: 3\n")
