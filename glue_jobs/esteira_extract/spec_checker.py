"""Walking a spec's JSON: one :class:`Checker` collects every problem, each naming its key's path."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

SNAKE_CASE = re.compile(r"^[a-z_][a-z0-9_]*$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
QUALIFIED_COLUMN = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*\.)?([A-Za-z_][A-Za-z0-9_]*)$")

Scalar = str | int | float | bool | None


class SpecError(ValueError):
    """The spec is invalid. ``errors`` lists every problem, each naming the offending key."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("invalid extraction spec:\n  - " + "\n  - ".join(self.errors))


class Checker:
    """Collects errors while walking the JSON, so one load reports every problem at once."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def err(self, path: str, msg: str) -> None:
        if not self.reported(path):  # one message per key: "is required" beats "must be a string"
            self.errors.append(f"{path}: {msg}")

    def reported(self, path: str) -> bool:
        return any(e.startswith(f"{path}: ") for e in self.errors)

    def obj(self, value: Any, path: str, required: set[str], optional: set[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.err(path, f"must be a JSON object, got {type(value).__name__}")
            return None
        for key in sorted(required - value.keys()):
            self.err(f"{path}.{key}", "is required")
        for key in sorted(value.keys() - required - optional):
            allowed = ", ".join(sorted(required | optional))
            self.err(f"{path}.{key}", f"unknown key (allowed: {allowed})")
        return value

    def string(self, value: Any, path: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        if not isinstance(value, str) or not value.strip():
            self.err(path, f"must be a non-empty string, got {value!r}")
            return ""
        if pattern is not None and not pattern.match(value):
            self.err(path, f"{value!r} is not a valid {what or 'value'} (must match {pattern.pattern})")
        return value

    def sql(self, value: Any, path: str) -> str:
        text = self.string(value, path)
        if ";" in text.strip().rstrip(";"):
            self.err(path, "must be a single SQL statement/expression (no ';')")
        return text.strip().rstrip(";").strip()

    def string_list(
        self, value: Any, path: str, pattern: re.Pattern[str] | None = None, what: str = ""
    ) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            self.err(path, f"must be a non-empty list of strings, got {value!r}")
            return ()
        return tuple(self.string(v, f"{path}[{i}]", pattern, what) for i, v in enumerate(value))

    def number(self, value: Any, path: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.err(path, f"must be a number, got {value!r}")
            return None
        return float(value)

    def scalar(self, value: Any, path: str) -> Scalar:
        if value is not None and not isinstance(value, str | int | float | bool):
            self.err(path, f"must be a string, number, boolean or null, got {type(value).__name__}")
            return None
        return value


class ObjectReader:
    """One JSON object at ``path`` read through a :class:`Checker`: each accessor names ``<path>.<key>``."""

    def __init__(self, checker: Checker, obj: dict[str, Any], path: str) -> None:
        self.checker = checker
        self.obj = obj
        self.path = path

    def key(self, key: str) -> str:
        return f"{self.path}.{key}"

    def has(self, key: str) -> bool:
        return key in self.obj

    def get(self, key: str, default: Any = None) -> Any:
        return self.obj.get(key, default)

    def err(self, key: str | None, msg: str) -> None:
        """A problem with ``key`` (or with the object itself when ``key`` is None)."""
        self.checker.err(self.path if key is None else self.key(key), msg)

    def column(self, key: str = "column") -> str:
        return self.checker.string(self.obj.get(key), self.key(key), SNAKE_CASE, "column name")

    def columns(self, key: str = "columns") -> tuple[str, ...]:
        return self.checker.string_list(self.obj.get(key), self.key(key), SNAKE_CASE, "column name")

    def string(self, key: str, default: Any = None, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        return self.checker.string(self.obj.get(key, default), self.key(key), pattern, what)

    def strings(self, key: str) -> tuple[str, ...]:
        return self.checker.string_list(self.obj.get(key), self.key(key))

    def sql(self, key: str) -> str:
        return self.checker.sql(self.obj.get(key), self.key(key))

    def number(self, key: str) -> float | None:
        return self.checker.number(self.obj.get(key), self.key(key))

    def scalar(self, key: str, default: Scalar = None) -> Scalar:
        return self.checker.scalar(self.obj.get(key, default), self.key(key))
