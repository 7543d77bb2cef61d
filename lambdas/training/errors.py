"""The named errors the training Lambdas raise (a bad environment raises the contracts' ``SettingsError``).

Step Functions records a Lambda's exception class name as ``Error`` and its message as ``Cause``. The state
machine catches every error alike (``States.ALL``) and its failure notification carries both, so these names are
what an operator reads: they say what went wrong. They deliberately carry no ``Error`` suffix, hence the
``noqa: N818``.
"""

from __future__ import annotations


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


class InvalidAnalysis(ValueError):  # noqa: N818
    """Clarify's analysis.json lacks the bias gate's section or metric, or holds ill-typed values."""
