"""Errors that carry a message meant for the person reading the job's failure reason."""


class TrainingError(Exception):
    """Bad input or configuration: the job fails with this message in output/failure."""


class ModelLoadError(Exception):
    """The model directory is missing or inconsistent."""
