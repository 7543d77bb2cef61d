"""The contract mechanism: one frozen dataclass per component renders its settings and parses them back.

A contract declares each setting once, as a dataclass field made with :func:`setting`: the name it travels under
(an environment variable, or a job argument without its ``--``), its default and its limits. Then:

- the construct builds the contract from config and calls ``to_env()`` (Lambda) or ``to_args()`` (Glue);
- the handler, the job and the local run call ``from_env()`` / ``from_args()`` and get the same typed object.

Parsing collects every problem and raises one :class:`SettingsError` naming each offending name. Rendering skips
``None`` and refuses a concrete value that parsing would refuse, so a bad config fails at synth; CDK tokens
(``${Token[...]}``, resolved only at deploy) are rendered as they are and checked where they are parsed. Each
concrete value is checked even beside tokens; the cross-field rules (:meth:`Contract.problems`) need every value,
so at synth they run only when no value is a token.

Pure: standard library only, no boto3, no CDK. Stacks, Lambdas, Glue jobs and the local run all import it.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, Self, get_args, get_origin

# What CDK puts in a string for a value known only at deploy time (a bucket name, an ARN).
_TOKEN = re.compile(r"\$\{Token\[[^\]]+\]\}")
_MISSING: Any = dataclasses.MISSING


class SettingsError(ValueError):
    """A component's environment or arguments do not configure it; the message names every bad setting."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """How one field travels: its name, limits and normalization."""

    name: str
    minimum: float | None = None
    maximum: float | None = None
    pattern: re.Pattern[str] | None = None
    pattern_help: str = ""
    prefix: bool = False  # an S3 key prefix: no leading '/', exactly one trailing '/' ('' stays '')


def setting(
    name: str,
    *,
    default: Any = _MISSING,
    minimum: float | None = None,
    maximum: float | None = None,
    pattern: str | None = None,
    pattern_help: str = "",
    prefix: bool = False,
) -> Any:
    """A contract field: ``name`` is the environment variable or argument; no ``default`` means required."""
    meta = Setting(name, minimum, maximum, re.compile(pattern) if pattern else None, pattern_help, prefix)
    return dataclasses.field(default=default, metadata={"setting": meta})


def is_token(value: str) -> bool:
    """True when the value holds a CDK token, known only at deploy time."""
    return bool(_TOKEN.search(value))


def normalize_prefix(value: str) -> str:
    """A key prefix with no leading '/' and exactly one trailing '/' ('' stays '')."""
    value = value.strip().strip("/")
    return f"{value}/" if value else ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Contract:
    """Base of every contract. Subclasses are ``@dataclass(frozen=True, kw_only=True)`` with :func:`setting` fields.

    ``component`` names the component in error messages. Override :meth:`problems` for rules that span fields.
    """

    component: ClassVar[str] = "component"

    # --- what subclasses may override ----------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Cross-field rules; each problem names the settings involved."""
        return []

    # --- declared names ------------------------------------------------------------------------------------------
    @classmethod
    def settings(cls) -> dict[str, Setting]:
        """Field name -> how it travels, in declaration order."""
        return {f.name: f.metadata["setting"] for f in dataclasses.fields(cls) if "setting" in f.metadata}

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every variable or argument name the contract reads."""
        return tuple(s.name for s in cls.settings().values())

    @classmethod
    def name_of(cls, field: str) -> str:
        """The variable or argument name of one field (for messages that name a setting)."""
        return cls.settings()[field].name

    @classmethod
    def required_names(cls) -> tuple[str, ...]:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        return tuple(
            s.name
            for key, s in cls.settings().items()
            if fields[key].default is _MISSING and fields[key].default_factory is _MISSING
        )

    # --- rendering -----------------------------------------------------------------------------------------------
    def render(self) -> dict[str, str]:
        """Name -> text for every setting that is not None; raises SettingsError on a bad concrete value."""
        rendered = {}
        problems: list[str] = []
        hints = typing.get_type_hints(type(self))
        for key, meta in self.settings().items():
            value = getattr(self, key)
            if value is None or value == ():
                continue
            text = rendered[meta.name] = _render_value(value)
            if not is_token(text):  # a concrete value is checked even when another setting is a token
                problems.extend(problem for _, problem in [_parse_value(text, hints[key], meta)] if problem)
        # Cross-field rules need every value: they run when none is a token (and again where the values are parsed).
        if not problems and not any(is_token(v) for v in rendered.values()):
            problems = self._check(rendered)
        if problems:
            raise SettingsError(f"{self.component} settings: " + "; ".join(problems))
        return rendered

    def _check(self, rendered: Mapping[str, str]) -> list[str]:
        try:
            type(self).parse(rendered)
        except SettingsError as error:
            return [str(error).split(": ", 1)[-1]]
        return []

    # --- parsing -------------------------------------------------------------------------------------------------
    @classmethod
    def parse(cls, values: Mapping[str, str | None]) -> Self:
        """Build the contract from name -> text; unknown names are ignored (the environment holds others)."""
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        errors: list[str] = []
        kwargs: dict[str, Any] = {}
        for key, meta in cls.settings().items():
            raw = values.get(meta.name)
            text = raw.strip() if isinstance(raw, str) else ""
            if not text:
                if fields[key].default is _MISSING:
                    errors.append(f"{meta.name} is required")
                continue
            value, problem = _parse_value(text, hints[key], meta)
            if problem:
                errors.append(problem)
            else:
                kwargs[key] = value
        contract = None
        if not errors:
            contract = cls(**kwargs)
            errors.extend(contract.problems())
        if errors or contract is None:
            raise SettingsError(f"{cls.component} settings: " + "; ".join(errors))
        return contract


class EnvContract(Contract):
    """Settings a Lambda reads from its environment."""

    def to_env(self) -> dict[str, str]:
        return self.render()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        import os  # the only place a contract touches the process environment

        return cls.parse(os.environ if environ is None else environ)


class ArgsContract(Contract):
    """Settings a Glue job reads from its arguments (``--name value``)."""

    def to_args(self) -> dict[str, str]:
        return {f"--{name}": value for name, value in self.render().items()}

    @classmethod
    def from_args(cls, args: Mapping[str, str | None] | Sequence[str]) -> Self:
        """From Glue's resolved options (a mapping without ``--``) or an argv list (``--name value`` pairs)."""
        if isinstance(args, Mapping):
            return cls.parse(args)
        values: dict[str, str | None] = {}
        items = list(args)
        index = 0
        while index < len(items):
            item = items[index]
            if item.startswith("--"):
                name, sep, inline = item[2:].partition("=")
                if sep:
                    values[name] = inline
                elif index + 1 < len(items) and not items[index + 1].startswith("--"):
                    values[name] = items[index + 1]
                    index += 1
            index += 1
        return cls.parse(values)


def _render_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(str(item) for item in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _parse_value(text: str, hint: Any, meta: Setting) -> tuple[Any, str | None]:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in get_args(hint) if arg is not type(None)]
        hint = options[0] if len(options) == 1 else str
        origin = get_origin(hint)
    if origin is Literal:
        allowed = get_args(hint)
        if text not in allowed:
            return None, f"{meta.name}={text!r} must be one of {', '.join(map(repr, allowed))}"
        return text, None
    if origin is tuple:
        items = tuple(part.strip() for part in text.split(",") if part.strip())
        bad = [item for item in items if meta.pattern and not meta.pattern.fullmatch(item)]
        if bad:
            return None, "; ".join(f"{meta.name}={item!r} {_pattern_words(meta)}" for item in bad)
        return items, None
    if hint is bool:
        if text.lower() not in ("true", "false"):
            return None, f"{meta.name}={text!r} must be true or false"
        return text.lower() == "true", None
    if hint in (int, float):
        try:
            number: float = int(text) if hint is int else float(text)
        except ValueError:
            return None, f"{meta.name}={text!r} is not {'an integer' if hint is int else 'a number'}"
        if not math.isfinite(number):
            return None, f"{meta.name}={text!r} must be finite"
        if meta.minimum is not None and number < meta.minimum:
            return None, f"{meta.name}={text} must be >= {meta.minimum:g}"
        if meta.maximum is not None and number > meta.maximum:
            return None, f"{meta.name}={text} must be <= {meta.maximum:g}"
        return number, None
    value = normalize_prefix(text) if meta.prefix else text
    if meta.pattern and not meta.pattern.fullmatch(value):
        return None, f"{meta.name}={value!r} {_pattern_words(meta)}"
    return value, None


def _pattern_words(meta: Setting) -> str:
    return f"is not {meta.pattern_help}" if meta.pattern_help else f"does not match {meta.pattern.pattern!r}"  # type: ignore[union-attr]
