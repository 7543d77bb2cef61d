"""What is promoted, kept in two SSM String parameters that this Lambda owns.

* ``PROMOTED_PARAMETER``: the ARN of the promoted model package, or ``none`` (nothing promoted: a push
  deploys no new package, and each stage keeps its served state).
  The delivery pipeline's synth step reads it when the pipeline variable is ``current`` (a git push).
* ``HISTORY_PARAMETER``: a JSON list of the packages promoted before it, newest first, at most
  :data:`HISTORY_LIMIT`: a rejection of the promoted package rolls back to the first one.

Both are read and checked before anything is written: a value that is not what this Lambda writes raises
:class:`MalformedParameterError` and is left for a human, never overwritten. SSM has no conditional write, so a
write does not check the version it read; it logs a warning when the version it makes shows another writer came
in between (see the promoter's caveats: the function should run one invocation at a time).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from delivery.promote.arns import PACKAGE_ARN, same_package
from esteira_contracts.delivery import PromoterSettings
from esteira_contracts.layout import NO_MODEL_PACKAGE

logger = Logger(child=True)

NO_PACKAGE = NO_MODEL_PACKAGE  # PROMOTED_PARAMETER when nothing is promoted; also the pipeline variable deploying none
PROMOTED_PARAMETER = PromoterSettings.name_of("promoted_parameter")  # the variable naming it, for messages
HISTORY_PARAMETER = PromoterSettings.name_of("history_parameter")
HISTORY_LIMIT = 20  # 20 of the longest possible ARNs stay under a standard parameter's 4 KB
_PREVIEW = 200  # characters of a malformed value quoted in the error


class ParameterStoreError(RuntimeError):
    """SSM refused or failed ``GetParameter``/``PutParameter`` on one of the two parameters (after botocore's
    retries)."""

    def __init__(self, message: str, parameter: str, code: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.code = code


class MissingParameterError(ParameterStoreError):
    """A parameter does not exist (``ParameterNotFound``): the stack creates both; the name is wrong or it was
    deleted."""


class MalformedParameterError(ValueError):
    """A parameter holds something this Lambda never writes; it is left as it is for a human to fix."""

    def __init__(self, message: str, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class PromotionState:
    """The two parameters as read. ``history`` is the stored list cleaned of duplicates and of the promoted package
    (a package is never its own rollback target); ``stored_history`` is the list as stored."""

    promoted: str
    history: tuple[str, ...]
    stored_history: tuple[str, ...]
    promoted_version: int
    history_version: int


def without(history: Iterable[str], *packages: str) -> tuple[str, ...]:
    """``history`` in order, without ``packages`` and without repeats (ARNs compared as :func:`same_package`)."""
    seen = {package.lower() for package in packages}
    kept = []
    for arn in history:
        if arn.lower() not in seen:
            seen.add(arn.lower())
            kept.append(arn)
    return tuple(kept)


class PromotionStore:
    """Reads and writes the two parameters with the Lambda's SSM client."""

    def __init__(self, ssm: Any, settings: PromoterSettings) -> None:
        self._ssm = ssm
        self.promoted_parameter = settings.promoted_parameter
        self.history_parameter = settings.history_parameter

    def read(self) -> PromotionState:
        promoted, promoted_version = self._get(self.promoted_parameter, PROMOTED_PARAMETER)
        if promoted != NO_PACKAGE and PACKAGE_ARN.fullmatch(promoted) is None:
            raise MalformedParameterError(
                f"SSM parameter {self.promoted_parameter!r} ({PROMOTED_PARAMETER}) holds {_preview(promoted)}, "
                f"neither a versioned model package ARN nor {NO_PACKAGE!r}; left unchanged: set it by hand",
                self.promoted_parameter,
            )
        raw, history_version = self._get(self.history_parameter, HISTORY_PARAMETER)
        stored = self._parse_history(raw)
        return PromotionState(
            promoted=promoted,
            history=without(stored, promoted),
            stored_history=stored,
            promoted_version=promoted_version,
            history_version=history_version,
        )

    def write_history(self, state: PromotionState, history: tuple[str, ...]) -> bool:
        """Store ``history`` (cut to :data:`HISTORY_LIMIT`) unless it is what is stored; True when written."""
        history = history[:HISTORY_LIMIT]
        if history == state.stored_history:
            return False
        self._put(self.history_parameter, HISTORY_PARAMETER, json.dumps(list(history)), state.history_version)
        return True

    def write_promoted(self, state: PromotionState, package: str) -> bool:
        """Store ``package`` (an ARN or :data:`NO_PACKAGE`) unless it is the promoted one; True when written."""
        if same_package(package, state.promoted):
            return False
        self._put(self.promoted_parameter, PROMOTED_PARAMETER, package, state.promoted_version)
        return True

    def _parse_history(self, raw: str) -> tuple[str, ...]:
        problem = None
        try:
            value = json.loads(raw)
        except ValueError as exc:
            value, problem = None, f"not JSON ({exc})"
        if problem is None and not isinstance(value, list):
            problem = f"a JSON {type(value).__name__}, not a list"
        elif problem is None:
            bad = [item for item in value if not isinstance(item, str) or PACKAGE_ARN.fullmatch(item) is None]
            if bad:
                problem = f"entries that are not versioned model package ARNs: {_preview(bad)}"
        if problem is not None:
            raise MalformedParameterError(
                f"SSM parameter {self.history_parameter!r} ({HISTORY_PARAMETER}) holds {_preview(raw)}: {problem}; "
                "expected a JSON list of model package ARNs, newest first (or []); left unchanged: fix it by hand",
                self.history_parameter,
            )
        return tuple(value)

    def _get(self, name: str, variable: str) -> tuple[str, int]:
        try:
            parameter = self._ssm.get_parameter(Name=name)["Parameter"]
        except ClientError as exc:
            raise _store_error(exc, "read", name, variable) from exc
        return str(parameter["Value"]), int(parameter["Version"])

    def _put(self, name: str, variable: str, value: str, read_version: int) -> None:
        try:
            version = int(self._ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)["Version"])
        except ClientError as exc:
            raise _store_error(exc, "write", name, variable) from exc
        if version != read_version + 1:
            logger.warning(
                "parameter changed by another writer since it was read",
                extra={"parameter": name, "read_version": read_version, "written_version": version},
            )


def _store_error(exc: ClientError, verb: str, name: str, variable: str) -> ParameterStoreError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    if code == "ParameterNotFound":
        return MissingParameterError(
            f"SSM parameter {name!r} ({variable}) does not exist: the stack creates it; is {variable} right?",
            name,
            code,
        )
    return ParameterStoreError(
        f"could not {verb} SSM parameter {name!r} ({variable}): {code}: {error.get('Message', exc)}", name, code
    )


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _PREVIEW else text[:_PREVIEW] + "...'"
