"""Proration of a plan change inside a billing period, as the contract defines it.

With ``r`` = seconds left in the period ÷ seconds in the period, a change bills two lines: a credit of
``-round(old × r)`` and a charge of ``+round(new × r)``, each rounded half-up to the minor unit. All arithmetic is
exact (integers and Fractions); no floats.
"""

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Proration:
    """The two lines of a mid-period plan change, in minor units."""

    credit: int  # <= 0: the unused part of the old plan
    charge: int  # >= 0: the rest of the period on the new plan
    fraction: Fraction  # r, the part of the period left, in [0, 1]

    @property
    def net(self) -> int:
        """What the proration invoice totals: ``credit + charge``."""
        return self.credit + self.charge


def round_half_up(value: Fraction) -> int:
    """Round a non-negative exact value to the nearest integer, halves up (2.5 → 3)."""
    if value < 0:
        raise ValueError("round_half_up takes non-negative values")
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


def unused_fraction(period_start: int, period_end: int, at: int) -> Fraction:
    """``r``: the part of the period still ahead at ``at`` — 1 at or before the start, 0 at or after the end."""
    if period_end <= period_start:
        raise ValueError("a period must end after it starts")
    clamped = min(max(at, period_start), period_end)
    return Fraction(period_end - clamped, period_end - period_start)


def prorate(old_amount: int, new_amount: int, period_start: int, period_end: int, at: int) -> Proration:
    """Credit for the rest of the period on the old plan and charge for it on the new one, as of ``at``."""
    fraction = unused_fraction(period_start, period_end, at)
    return Proration(
        credit=-_part(old_amount, fraction),
        charge=_part(new_amount, fraction),
        fraction=fraction,
    )


def unused_credit(amount: int, period_start: int, period_end: int, at: int) -> int:
    """The credit (<= 0) for the unused rest of a period, for a switch that starts a new period at ``at``."""
    return -_part(amount, unused_fraction(period_start, period_end, at))


def _part(amount: int, fraction: Fraction) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError(f"an amount must be a non-negative integer, not {amount!r}")
    return round_half_up(amount * fraction)
