"""Writes powers_of_five.h beside this file: `python3 powers_of_five.py`. tests/containers/model/test_native_csv.py
checks that the committed header is what this writes.

The table is fast_float's (Lemire, "Number Parsing at a Gigabyte per Second", 2021): for each decimal exponent q in
[-342, 308], the 128 most significant bits of 5^q (for q < 0, of its reciprocal, rounded up), which the
Eisel-Lemire step in csv_codec.cc multiplies a 64-bit mantissa by.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

SMALLEST_POWER = -342
LARGEST_POWER = 308
HEADER = Path(__file__).with_name("powers_of_five.h")


def entries() -> Iterator[int]:
    for q in range(SMALLEST_POWER, 0):
        power5 = 5**-q
        z = (power5 - 1).bit_length()  # the smallest z with 2^z >= 5^-q
        if q >= -27:
            value = 2 ** (z + 127) // power5 + 1
        else:
            value = 2 ** (2 * z + 128) // power5 + 1
            while value >= 1 << 128:
                value //= 2
        yield value
    for q in range(0, LARGEST_POWER + 1):
        power5 = 5**q
        while power5 < 1 << 127:
            power5 *= 2
        while power5 >= 1 << 128:
            power5 //= 2
        yield power5


def header() -> str:
    lines = [
        "/* Written by powers_of_five.py: the 128 most significant bits of 5^q, q = "
        f"{SMALLEST_POWER}..{LARGEST_POWER}, high word first. */",
        f"constexpr int SMALLEST_POWER_OF_FIVE = {SMALLEST_POWER};",
        f"constexpr int LARGEST_POWER_OF_FIVE = {LARGEST_POWER};",
        f"constexpr uint64_t POWERS_OF_FIVE[{2 * (LARGEST_POWER - SMALLEST_POWER + 1)}] = {{",
    ]
    for value in entries():
        assert 1 << 127 <= value < 1 << 128
        lines.append(f"    0x{value >> 64:016x}, 0x{value & (2**64 - 1):016x},")
    lines.append("};")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    HEADER.write_text(header())
