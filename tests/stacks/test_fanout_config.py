"""``batch.fanout``: a retry's re-sends must fall inside SQS FIFO's 5-minute deduplication window, checked at synth."""

from pathlib import Path

import pytest
import yaml

from esteira_contracts.fanout import FIFO_DEDUPLICATION_WINDOW_SECONDS
from stacks.config import CONFIG_DIR, ConfigError, available_envs, load_config
from stacks.config_base import parse_yaml
from stacks.fanout_config import FanoutConfig


def write_staging(tmp_path: Path, fanout: dict[str, object]) -> Path:
    data = parse_yaml((CONFIG_DIR / "staging.yaml").read_text())
    data.setdefault("batch", {})["fanout"] = fanout
    (tmp_path / "staging.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_every_shipped_environment_resends_inside_the_window() -> None:
    # GIVEN every shipped config WHEN loaded THEN timeout + margin + the longest retry delay is under 300 s
    for env in available_envs():
        fanout = load_config(env).batch.fanout
        total = fanout.timeout_seconds + fanout.handover_margin_seconds + fanout.longest_retry_delay_seconds()
        assert total < FIFO_DEDUPLICATION_WINDOW_SECONDS


@pytest.mark.parametrize(
    ("fanout", "named"),
    [
        ({"timeout_seconds": 900}, "batch.fanout.timeout_seconds (900)"),
        ({"handover_margin_seconds": 100}, "batch.fanout.handover_margin_seconds (100)"),
        ({"retry_max_delay_seconds": 120, "retry_max_attempts": 7}, "the longest retry delay (120 s"),
        ({"retry_interval_seconds": 90, "retry_max_delay_seconds": 100, "retry_max_attempts": 1}, "delay (90 s"),
    ],
)
def test_a_config_that_resends_outside_the_window_fails_naming_the_keys(
    tmp_path: Path, fanout: dict[str, object], named: str
) -> None:
    # GIVEN a fan-out timeout, margin or retry delay that adds up to 300 s or more
    config_dir = write_staging(tmp_path, fanout)
    # WHEN the config is loaded (as synth does) THEN it fails, naming the file, the keys and the window
    with pytest.raises(ConfigError) as error:
        load_config("staging", config_dir)
    message = str(error.value)
    assert str(config_dir / "staging.yaml") in message
    assert "  - batch.fanout:" in message
    assert named in message
    assert "300 s deduplication window" in message


def test_the_margin_must_leave_time_to_work(tmp_path: Path) -> None:
    # GIVEN a handover margin as long as the timeout WHEN loaded THEN both keys are named
    with pytest.raises(ConfigError, match=r"batch.fanout.handover_margin_seconds \(60\) must be less than"):
        load_config("staging", write_staging(tmp_path, {"timeout_seconds": 60, "handover_margin_seconds": 60}))


def test_longest_retry_delay_is_the_capped_last_one() -> None:
    # GIVEN 2 s doubling over 6 retries (2, 4, 8, 16, 32, 64) capped at 60 THEN the longest wait is 60 s
    config = FanoutConfig(retry_interval_seconds=2, retry_backoff_rate=2.0, retry_max_attempts=6)
    assert config.longest_retry_delay_seconds() == 60
    assert FanoutConfig(retry_max_attempts=3).longest_retry_delay_seconds() == 8
