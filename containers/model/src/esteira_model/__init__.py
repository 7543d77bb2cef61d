"""Esteira's default model image: train and serve an XGBoost model on SageMaker."""

from esteira_model.metrics import METRIC_DEFINITIONS

__all__ = ["METRIC_DEFINITIONS"]
