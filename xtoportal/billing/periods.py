"""Billing period arithmetic over integer Unix timestamps (UTC).

A subscription's periods are numbered from its billing anchor: period ``k`` runs from boundary ``k`` to boundary
``k + 1``, and boundary ``n`` is always computed from the anchor (``n × count`` intervals later), never by adding to
the previous boundary. So a monthly anchor on the 31st gives Jan 31 → Feb 28 → Mar 31 → Apr 30: the day clamps to
the month's end and comes back. The time of day of the anchor is kept.
"""

import calendar
import datetime

INTERVALS = ("day", "week", "month", "year")

_SECONDS_PER_DAY = 86_400
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_FIXED_SECONDS = {"day": _SECONDS_PER_DAY, "week": 7 * _SECONDS_PER_DAY}
_MONTHS = {"month": 1, "year": 12}


def add_interval(anchor_ts: int, interval: str, count: int, n: int) -> int:
    """The timestamp of boundary ``n``: ``n × count`` intervals after ``anchor_ts`` (``n`` may be negative)."""
    _check(interval, count)
    if interval in _FIXED_SECONDS:
        return anchor_ts + n * count * _FIXED_SECONDS[interval]
    return _add_months(anchor_ts, n * count * _MONTHS[interval])


def period_bounds(anchor_ts: int, interval: str, count: int, index: int) -> tuple[int, int]:
    """``(start, end)`` of period ``index``; period 0 starts at the anchor."""
    return (add_interval(anchor_ts, interval, count, index), add_interval(anchor_ts, interval, count, index + 1))


def period_index_at(anchor_ts: int, interval: str, count: int, at_ts: int) -> int:
    """The index of the period that contains ``at_ts`` (a boundary belongs to the period it starts)."""
    _check(interval, count)
    if interval in _FIXED_SECONDS:
        return (at_ts - anchor_ts) // (count * _FIXED_SECONDS[interval])
    anchor, at = _to_datetime(anchor_ts), _to_datetime(at_ts)
    months = (at.year - anchor.year) * 12 + (at.month - anchor.month)
    index = months // (count * _MONTHS[interval])
    # The calendar estimate is off by at most one period either way: the day and time of day decide.
    while add_interval(anchor_ts, interval, count, index) > at_ts:
        index -= 1
    while add_interval(anchor_ts, interval, count, index + 1) <= at_ts:
        index += 1
    return index


def period_containing(anchor_ts: int, interval: str, count: int, at_ts: int) -> tuple[int, int]:
    """``(start, end)`` of the period that contains ``at_ts``, with ``start <= at_ts < end``."""
    return period_bounds(anchor_ts, interval, count, period_index_at(anchor_ts, interval, count, at_ts))


def next_period(anchor_ts: int, interval: str, count: int, current_end: int) -> tuple[int, int]:
    """``(start, end)`` of the period that follows the one ending at ``current_end``."""
    return period_containing(anchor_ts, interval, count, current_end)


def _check(interval: str, count: int) -> None:
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, not {interval!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"interval count must be a positive integer, not {count!r}")


def _to_datetime(ts: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC)


def _add_months(anchor_ts: int, months: int) -> int:
    days, time_of_day = divmod(anchor_ts, _SECONDS_PER_DAY)
    anchor = datetime.date.fromordinal(_EPOCH_ORDINAL + days)
    year, month_index = divmod(anchor.year * 12 + (anchor.month - 1) + months, 12)
    month = month_index + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    target = datetime.date(year, month, day)
    return (target.toordinal() - _EPOCH_ORDINAL) * _SECONDS_PER_DAY + time_of_day
