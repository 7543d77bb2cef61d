"""The retrain trigger: a monitoring violation or a model-quality alarm starts training, at most once a window."""
