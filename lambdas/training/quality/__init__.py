"""The quality publisher: a dataset run's ground-truth model-quality report becomes CloudWatch metrics."""
