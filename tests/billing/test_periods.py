import calendar
import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xtoportal.billing.periods import (
    INTERVALS,
    add_interval,
    next_period,
    period_bounds,
    period_containing,
    period_index_at,
)

DAY = 86_400


def ts(year, month, day, hour=0, minute=0, second=0):
    return calendar.timegm((year, month, day, hour, minute, second))


def utc(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)


# 1970–2199: wide enough for any subscription, narrow enough to stay inside datetime's years.
anchors = st.integers(min_value=0, max_value=ts(2199, 1, 1))
intervals = st.sampled_from(INTERVALS)
counts = st.integers(min_value=1, max_value=12)
indexes = st.integers(min_value=0, max_value=240)


def test_monthly_anchor_on_the_31st_clamps_to_month_end_and_comes_back():
    anchor = ts(2024, 1, 31, 9, 30)
    boundaries = [add_interval(anchor, "month", 1, n) for n in range(5)]
    assert boundaries == [
        ts(2024, 1, 31, 9, 30),
        ts(2024, 2, 29, 9, 30),
        ts(2024, 3, 31, 9, 30),
        ts(2024, 4, 30, 9, 30),
        ts(2024, 5, 31, 9, 30),
    ]
    assert add_interval(ts(2023, 1, 31), "month", 1, 1) == ts(2023, 2, 28)


def test_yearly_anchor_on_leap_day_falls_back_to_the_28th_and_returns_in_leap_years():
    anchor = ts(2024, 2, 29, 12)
    assert [add_interval(anchor, "year", 1, n) for n in range(5)] == [
        ts(2024, 2, 29, 12),
        ts(2025, 2, 28, 12),
        ts(2026, 2, 28, 12),
        ts(2027, 2, 28, 12),
        ts(2028, 2, 29, 12),
    ]


def test_interval_count_multiplies_the_interval():
    anchor = ts(2024, 8, 31)
    assert add_interval(anchor, "month", 3, 1) == ts(2024, 11, 30)
    assert add_interval(anchor, "month", 3, 2) == ts(2025, 2, 28)
    assert add_interval(anchor, "month", 3, 3) == ts(2025, 5, 31)
    assert add_interval(anchor, "week", 2, 3) == anchor + 42 * DAY
    assert add_interval(anchor, "day", 30, 1) == anchor + 30 * DAY
    assert add_interval(anchor, "year", 2, 1) == ts(2026, 8, 31)


def test_monthly_boundaries_cross_the_year_end():
    anchor = ts(2024, 11, 15)
    assert add_interval(anchor, "month", 1, 2) == ts(2025, 1, 15)
    assert add_interval(anchor, "month", 1, -11) == ts(2023, 12, 15)


def test_period_containing_a_boundary_is_the_period_it_starts():
    anchor = ts(2024, 1, 31)
    assert period_containing(anchor, "month", 1, ts(2024, 2, 29)) == (ts(2024, 2, 29), ts(2024, 3, 31))
    assert period_containing(anchor, "month", 1, ts(2024, 2, 29) - 1) == (anchor, ts(2024, 2, 29))
    assert period_containing(anchor, "month", 1, anchor) == (anchor, ts(2024, 2, 29))


def test_period_containing_respects_the_time_of_day():
    anchor = ts(2024, 3, 10, 18)
    assert period_containing(anchor, "month", 1, ts(2024, 4, 10, 17, 59, 59)) == (anchor, ts(2024, 4, 10, 18))
    assert period_containing(anchor, "month", 1, ts(2024, 4, 10, 18)) == (ts(2024, 4, 10, 18), ts(2024, 5, 10, 18))


def test_next_period_steps_from_one_period_to_the_next():
    anchor = ts(2024, 1, 31)
    first = period_bounds(anchor, "month", 1, 0)
    second = next_period(anchor, "month", 1, first[1])
    third = next_period(anchor, "month", 1, second[1])
    assert [first, second, third] == [
        (ts(2024, 1, 31), ts(2024, 2, 29)),
        (ts(2024, 2, 29), ts(2024, 3, 31)),
        (ts(2024, 3, 31), ts(2024, 4, 30)),
    ]


@pytest.mark.parametrize(
    ("interval", "count"),
    [("fortnight", 1), ("month", 0), ("month", -1), ("month", 1.5), ("month", True)],
)
def test_bad_interval_or_count_is_refused(interval, count):
    with pytest.raises(ValueError):
        add_interval(0, interval, count, 1)


@given(anchors, intervals, counts, indexes)
def test_periods_are_contiguous_and_strictly_increasing(anchor, interval, count, index):
    start, end = period_bounds(anchor, interval, count, index)
    following_start, following_end = period_bounds(anchor, interval, count, index + 1)
    assert start < end == following_start < following_end
    assert next_period(anchor, interval, count, end) == (following_start, following_end)


@given(anchors, intervals, counts, indexes)
def test_boundaries_keep_the_anchor_time_of_day(anchor, interval, count, index):
    assert add_interval(anchor, interval, count, index) % DAY == anchor % DAY


@given(anchors, indexes)
def test_monthly_periods_last_28_to_31_days(anchor, index):
    start, end = period_bounds(anchor, "month", 1, index)
    assert (end - start) // DAY in (28, 29, 30, 31)
    assert (end - start) % DAY == 0


@given(anchors, indexes)
def test_monthly_day_returns_to_the_anchor_day_whenever_the_month_has_it(anchor, index):
    boundary = utc(add_interval(anchor, "month", 1, index))
    days_in_month = calendar.monthrange(boundary.year, boundary.month)[1]
    assert boundary.day == min(utc(anchor).day, days_in_month)


@given(anchors, counts, st.integers(min_value=0, max_value=40))
def test_every_n_months_is_n_times_one_month(anchor, count, index):
    assert add_interval(anchor, "month", count, index) == add_interval(anchor, "month", 1, index * count)
    assert add_interval(anchor, "year", count, index) == add_interval(anchor, "month", 12 * count, index)


@given(anchors, st.integers(min_value=0, max_value=150))
def test_yearly_periods_last_365_or_366_days(anchor, index):
    start, end = period_bounds(anchor, "year", 1, index)
    assert end - start in (365 * DAY, 366 * DAY)


@given(anchors, counts, indexes)
def test_days_and_weeks_are_exact(anchor, count, index):
    assert add_interval(anchor, "day", count, index) == anchor + index * count * DAY
    assert add_interval(anchor, "week", count, index) == anchor + index * count * 7 * DAY


@given(anchors, intervals, counts, st.integers(min_value=0, max_value=ts(2150, 1, 1)))
def test_period_containing_contains_the_moment(anchor, interval, count, offset):
    at = anchor + offset
    start, end = period_containing(anchor, interval, count, at)
    assert start <= at < end
    assert period_bounds(anchor, interval, count, period_index_at(anchor, interval, count, at)) == (start, end)


@given(anchors, intervals, counts, st.integers(min_value=1, max_value=10 * 366 * DAY))
def test_moments_before_the_anchor_fall_in_earlier_periods(anchor, interval, count, offset):
    start, end = period_containing(anchor, interval, count, anchor - offset)
    assert start <= anchor - offset < end <= anchor
