"""``training.retraining`` in `config/<env>.yaml`: when monitoring violations or a quality alarm retrain the model.

Its own module (``stacks.training_config`` imports it): the window's bounds live in the contract
(``esteira_contracts.retraining``), which the Lambda's settings check too.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from esteira_contracts.retraining import MAX_INTERVAL_HOURS, MIN_INTERVAL_HOURS
from stacks.config_base import StrictModel

# A CloudWatch alarm name: 1-255 characters, no control characters (PutMetricAlarm's AlarmName).
ALARM_NAME = r"^[^\x00-\x1f\x7f]{1,255}$"


class RetrainingConfig(StrictModel):
    """Retrain on drift: a monitoring execution with violations, or the model-quality alarm, starts training.

    ``min_interval_hours``: at most one retraining starts per window; triggers inside it are debounced (noted in
    the alerts topic), concurrent ones coalesce. The model-quality alarm the training stack creates
    (``training.quality``) triggers too; ``quality_alarm_name`` names another alarm to trigger instead (one the team
    manages, a composite alarm), and is the only quality trigger when the stack creates none.
    """

    enabled: bool = True
    min_interval_hours: Annotated[int, Field(ge=MIN_INTERVAL_HOURS, le=MAX_INTERVAL_HOURS)] = 24
    quality_alarm_name: Annotated[str, Field(pattern=ALARM_NAME)] | None = None
