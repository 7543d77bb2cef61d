"""Clarify: write the run's analysis configs (bias, explainability) and name its temporary model and jobs."""
