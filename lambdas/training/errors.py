"""The named errors the training Lambdas raise.

Step Functions shows a Lambda's exception class name as ``Error`` and its message as ``Cause``. The state machine
catches ``States.ALL`` (it matches no name), so these names are what a failed execution and its failure
notification report: they say what went wrong without a log search. They deliberately carry no ``Error`` suffix,
hence the ``noqa: N818``.
"""

from __future__ import annotations

# The environment does not configure the Lambda: raised by the contracts' from_env(), re-exported for the handlers.
from esteira_contracts import SettingsError

__all__ = [
    "EvaluationNotFound",
    "InvalidEvaluation",
    "InvalidManifest",
    "InvalidRequest",
    "ManifestNotFound",
    "NoTrainingData",
    "SettingsError",
]


class InvalidRequest(ValueError):  # noqa: N818
    """The invocation payload is malformed (a missing key, a bad URI or run id)."""


class ManifestNotFound(LookupError):  # noqa: N818
    """No manifest exists for the requested extraction run."""


class InvalidManifest(ValueError):  # noqa: N818
    """The manifest is not valid JSON, lacks required keys or holds ill-typed values."""


class NoTrainingData(RuntimeError):  # noqa: N818
    """No committed extraction run has written any rows, so there is nothing to train on."""


class EvaluationNotFound(LookupError):  # noqa: N818
    """Neither output.tar.gz nor model.tar.gz of the training job holds an evaluation.json."""


class InvalidEvaluation(ValueError):  # noqa: N818
    """evaluation.json is not valid JSON, or its gate metric is missing, non-numeric or not finite."""
