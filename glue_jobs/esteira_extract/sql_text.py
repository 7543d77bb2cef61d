"""Spark SQL text for the transforms: quoted identifiers and literals.

The transforms build each column as one Spark SQL expression (``sf.expr``) rather than with pyspark's Column API.
Every Column API call (``sf.col``, ``sf.lit``, ``sf.when``, ``.cast``, an operator) is a py4j round trip to the
driver's JVM, and a function call is three (two reflection look-ups, then the call): the demo spec's rules took about
1,000 round trips, ~1 s of the extraction job's driver twice per run at 100k rows (it builds the rules once to check
them before writing anything, then once for the run). One ``sf.expr`` is three, whatever the expression.

Values from the spec are data, never SQL: identifiers are backquoted (a backquote doubled), and a string literal is
written as the hex of its UTF-8 bytes cast to a string unless it holds only characters no parser setting treats
specially, so no value can end its literal, whatever ``spark.sql.parser.escapedStringLiterals`` says.
"""

from __future__ import annotations

import math
import re

from esteira_extract.spec_checker import Scalar

_PLAIN = re.compile(r"[A-Za-z0-9_:./ -]*")


def ident(name: str) -> str:
    """A column name as a quoted identifier: any name, even one with a backquote, means itself."""
    return "`" + name.replace("`", "``") + "`"


def string(value: str) -> str:
    """A STRING literal whose value is exactly ``value``."""
    if _PLAIN.fullmatch(value):
        return f"'{value}'"
    return f"CAST(X'{value.encode('utf-8').hex()}' AS STRING)"


def scalar(value: Scalar) -> str:
    """A literal typed as ``functions.lit(value)`` types it: INT or BIGINT by size, DOUBLE, STRING, BOOLEAN, or
    NULL; an integer beyond BIGINT is DECIMAL(38,0)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # As lit() types a Java Integer or Long; beyond a long (which lit() cannot take), an exact decimal.
        return str(value) if -(2**63) <= value < 2**63 else f"CAST({value} AS DECIMAL(38,0))"
    if isinstance(value, float):
        if math.isfinite(value):
            return f"{value!r}D"
        name = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return f"CAST('{name}' AS DOUBLE)"
    return string(value)
