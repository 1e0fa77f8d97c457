import decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xtoportal.billing.proration import Proration, prorate, round_half_up, unused_credit, unused_fraction

START = 1_700_000_000
END = START + 30 * 86_400

amounts = st.integers(min_value=0, max_value=10**12)
lengths = st.integers(min_value=1, max_value=366 * 86_400 * 12)


def oracle_line(amount, seconds_left, seconds_in_period):
    """The contract's rounding, computed independently with decimal's ROUND_HALF_UP."""
    with decimal.localcontext() as context:
        context.prec = 80
        exact = decimal.Decimal(amount * seconds_left) / decimal.Decimal(seconds_in_period)
        return int(exact.quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))


def test_halfway_through_a_period_credits_and_charges_half():
    middle = START + 15 * 86_400
    assert prorate(5000, 8000, START, END, middle) == Proration(credit=-2500, charge=4000, fraction=Fraction(1, 2))
    assert prorate(5000, 8000, START, END, middle).net == 1500


def test_each_line_is_rounded_half_up_on_its_own():
    # r = 1/2: 4.5 rounds to 5 and 2.5 rounds to 3, not to the even neighbour.
    result = prorate(9, 5, 0, 10, 5)
    assert (result.credit, result.charge, result.net) == (-5, 3, -2)
    # r = 1/3: 1.666… rounds to 2, 0.333… to 0.
    result = prorate(5, 1, 0, 3, 1)
    assert (result.credit, result.charge) == (-3, 1)
    result = prorate(1, 2, 0, 3, 2)
    assert (result.credit, result.charge) == (0, 1)


def test_a_change_at_the_start_moves_the_whole_amount():
    result = prorate(5000, 8000, START, END, START)
    assert (result.credit, result.charge, result.fraction) == (-5000, 8000, 1)


def test_moments_outside_the_period_are_clamped():
    assert prorate(5000, 8000, START, END, START - 10) == prorate(5000, 8000, START, END, START)
    ended = prorate(5000, 8000, START, END, END + 10)
    assert (ended.credit, ended.charge, ended.net, ended.fraction) == (0, 0, 0, 0)
    assert prorate(5000, 8000, START, END, END).net == 0


def test_a_downgrade_nets_a_credit():
    assert prorate(8000, 5000, START, END, START + 10 * 86_400).net == -2000


def test_unused_credit_is_the_negative_unused_part():
    assert unused_credit(3000, START, END, START + 20 * 86_400) == -1000
    assert unused_credit(3000, START, END, END) == 0
    assert unused_credit(3000, START, END, START) == -3000


def test_round_half_up():
    assert [round_half_up(Fraction(n, 2)) for n in range(6)] == [0, 1, 1, 2, 2, 3]
    assert round_half_up(Fraction(7, 3)) == 2
    assert round_half_up(Fraction(8, 3)) == 3
    with pytest.raises(ValueError):
        round_half_up(Fraction(-1, 2))


@pytest.mark.parametrize("amount", [-1, 1.5, True, "100"])
def test_amounts_must_be_non_negative_integers(amount):
    with pytest.raises(ValueError):
        prorate(amount, 100, START, END, START)
    with pytest.raises(ValueError):
        unused_credit(amount, START, END, START)


def test_an_empty_period_is_refused():
    with pytest.raises(ValueError):
        unused_fraction(START, START, START)


@given(amounts, amounts, lengths, st.data())
def test_lines_match_the_decimal_oracle(old_amount, new_amount, length, data):
    at = data.draw(st.integers(min_value=START, max_value=START + length))
    result = prorate(old_amount, new_amount, START, START + length, at)
    seconds_left = START + length - at
    assert result.credit == -oracle_line(old_amount, seconds_left, length)
    assert result.charge == oracle_line(new_amount, seconds_left, length)
    assert unused_credit(old_amount, START, START + length, at) == result.credit


@given(amounts, amounts, lengths, st.data())
def test_lines_are_bounded_and_add_up(old_amount, new_amount, length, data):
    at = data.draw(st.integers(min_value=START - length, max_value=START + 2 * length))
    result = prorate(old_amount, new_amount, START, START + length, at)
    assert result.credit + result.charge == result.net
    assert -old_amount <= result.credit <= 0
    assert 0 <= result.charge <= new_amount
    assert 0 <= result.fraction <= 1


@given(amounts, lengths, st.data())
def test_staying_on_the_same_plan_nets_zero(amount, length, data):
    at = data.draw(st.integers(min_value=START, max_value=START + length))
    assert prorate(amount, amount, START, START + length, at).net == 0


@given(amounts, amounts, lengths, st.data())
def test_lines_shrink_as_the_period_runs_out(old_amount, new_amount, length, data):
    earlier = data.draw(st.integers(min_value=START, max_value=START + length))
    later = data.draw(st.integers(min_value=earlier, max_value=START + length))
    first = prorate(old_amount, new_amount, START, START + length, earlier)
    second = prorate(old_amount, new_amount, START, START + length, later)
    assert first.credit <= second.credit
    assert first.charge >= second.charge
