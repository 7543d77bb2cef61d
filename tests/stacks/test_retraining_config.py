"""``training.retraining``: the window's bounds and the alarm name are checked at synth, naming the key."""

from pathlib import Path

import pytest
import yaml

from esteira_contracts.retraining import MAX_INTERVAL_HOURS, MIN_INTERVAL_HOURS, RetrainSettings
from stacks.config import CONFIG_DIR, ConfigError, available_envs, load_config
from stacks.config_base import parse_yaml


def write_staging(tmp_path: Path, retraining: dict[str, object]) -> Path:
    data = parse_yaml((CONFIG_DIR / "staging.yaml").read_text())
    data["training"]["retraining"] = retraining
    (tmp_path / "staging.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_every_shipped_environment_has_a_window_the_lambda_accepts() -> None:
    # GIVEN every shipped config WHEN loaded THEN its window, in seconds, is one the trigger's contract parses
    for env in available_envs():
        hours = load_config(env).training.retraining.min_interval_hours
        settings = RetrainSettings.settings()["min_interval_seconds"]
        assert settings.minimum is not None and settings.maximum is not None
        assert settings.minimum <= hours * 3600 <= settings.maximum


@pytest.mark.parametrize(
    ("retraining", "named"),
    [
        ({"min_interval_hours": MIN_INTERVAL_HOURS - 1}, "training.retraining.min_interval_hours"),
        ({"min_interval_hours": MAX_INTERVAL_HOURS + 1}, "training.retraining.min_interval_hours"),
        ({"min_interval_hours": "daily"}, "training.retraining.min_interval_hours"),
        ({"quality_alarm_name": ""}, "training.retraining.quality_alarm_name"),
        ({"quality_alarm_name": "bad\nname"}, "training.retraining.quality_alarm_name"),
        ({"enabled": "sometimes"}, "training.retraining.enabled"),
        ({"window": 3}, "training.retraining.window"),
    ],
)
def test_a_bad_retraining_setting_fails_naming_the_key(
    tmp_path: Path, retraining: dict[str, object], named: str
) -> None:
    # GIVEN a retraining setting out of bounds, of the wrong type or unknown
    config_dir = write_staging(tmp_path, retraining)
    # WHEN the config is loaded THEN the error names the key
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config("staging", config_dir)


def test_the_bounds_are_accepted(tmp_path: Path) -> None:
    # GIVEN the smallest and largest window WHEN loaded THEN both are kept as written
    for hours in (MIN_INTERVAL_HOURS, MAX_INTERVAL_HOURS):
        config = load_config("staging", write_staging(tmp_path, {"min_interval_hours": hours, "enabled": False}))
        assert config.training.retraining.min_interval_hours == hours
        assert config.training.retraining.enabled is False
