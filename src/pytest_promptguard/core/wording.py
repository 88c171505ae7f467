"""How figures read wherever they are printed: money to its significant digits, counts with their noun.

One place, so that a cost reads the same in the terminal, the reports, a budget error and a dry run, and a call of
a few millionths of a dollar never reads as `$0.0000`.
"""

from __future__ import annotations

import math

SIGNIFICANT = 2  # digits of an amount under a dollar


def usd(value: float) -> str:
    """`$1,234.50` and `$0.42` for dollars, `$0.000041` for fractions of a cent (two significant digits), `$0`."""
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    decimals = max(2, SIGNIFICANT - 1 - math.floor(math.log10(abs(value))))
    return f"${value:.{decimals}f}"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 call`, `2 calls`, `0 calls`."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
