"""The retrain trigger Lambda's contract, and the names its triggers and decisions travel under.

The construct (``stacks/constructs/retraining.py``) builds :class:`RetrainSettings` from config and renders it with
``to_env()``; the handler parses it back with ``from_env()``. The local run reads the window from the same config
key (``training.retraining.min_interval_hours``) and decides with the same function (``training.retrain.logic``).
"""

from __future__ import annotations

import dataclasses
from typing import Final

from esteira_contracts._base import EnvContract, setting

# What started a retraining: the input's "trigger" and the debounce item's attribute.
TRIGGER_DATA_QUALITY: Final = "data_quality_violation"
TRIGGER_MODEL_QUALITY: Final = "model_quality_alarm"
# The training state machine's input names its source, as the extraction rule's input does ("extraction").
SOURCE: Final = "retraining"
# The debounce table: one item per environment, keyed by the environment's name.
TABLE_PARTITION_KEY: Final = "env"
LAST_STARTED_ATTRIBUTE: Final = "last_started_at"
# Bounds of training.retraining.min_interval_hours: at least an hour (a training run takes that long), at most
# 90 days (a window longer than that is "never", which training.retraining.enabled says more plainly).
MIN_INTERVAL_HOURS: Final = 1
MAX_INTERVAL_HOURS: Final = 90 * 24

_STATE_MACHINE_ARN = r"arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[A-Za-z0-9_-]{1,80}"
_TOPIC_ARN = r"arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetrainSettings(EnvContract):
    """What one retrain trigger invocation needs."""

    component = "retrain trigger"

    env_name: str = setting("ENV_NAME", pattern=r"[a-z0-9-]{1,32}", pattern_help="the environment's name")
    state_machine_arn: str = setting(
        "STATE_MACHINE_ARN", pattern=_STATE_MACHINE_ARN, pattern_help="the training state machine's ARN"
    )
    topic_arn: str = setting("ALERTS_TOPIC_ARN", pattern=_TOPIC_ARN, pattern_help="the alerts topic's ARN")
    table_name: str = setting("DEBOUNCE_TABLE", pattern=r"[A-Za-z0-9_.-]{3,255}", pattern_help="a DynamoDB table name")
    min_interval_seconds: int = setting(
        "MIN_INTERVAL_SECONDS",
        default=24 * 3600,
        minimum=MIN_INTERVAL_HOURS * 3600,
        maximum=MAX_INTERVAL_HOURS * 3600,
    )
