from decimal import Decimal

import pytest

from xtoportal.billing.money import CURRENCIES, format_money, is_supported_currency, minor_digits, to_major

# ISO 4217 minor units, typed from the standard: stored amounts are in minor units, so a data update that changed
# one of these would rescale every amount already in the database.
ISO_4217_MINOR_UNITS = {
    "cdf": 2,
    "egp": 2,
    "eur": 2,
    "gbp": 2,
    "ghs": 2,
    "gnf": 0,
    "kes": 2,
    "mad": 2,
    "mwk": 2,
    "ngn": 2,
    "rwf": 0,
    "tzs": 2,
    "ugx": 0,
    "usd": 2,
    "xaf": 0,
    "xof": 0,
    "zar": 2,
    "zmw": 2,
}

REQUIRED = set("ghs ngn kes ugx usd eur gbp xof xaf rwf tzs zar zmw mwk egp mad".split())


def test_supports_the_currencies_of_our_markets():
    assert REQUIRED <= CURRENCIES
    assert all(code == code.lower() and len(code) == 3 for code in CURRENCIES)


@pytest.mark.parametrize("currency", sorted(CURRENCIES))
def test_minor_digits_follow_iso_4217(currency):
    assert minor_digits(currency) == ISO_4217_MINOR_UNITS[currency]


def test_is_supported_currency_takes_lower_case_codes_only():
    assert is_supported_currency("ghs")
    assert not is_supported_currency("GHS")
    assert not is_supported_currency("xyz")
    assert not is_supported_currency(None)
    assert not is_supported_currency(5)


def test_unsupported_currency_is_refused():
    with pytest.raises(ValueError):
        minor_digits("xyz")
    with pytest.raises(ValueError):
        format_money(100, "GHS")


def test_to_major_is_exact():
    assert to_major(5000, "ghs") == Decimal("50.00")
    assert str(to_major(5, "ghs")) == "0.05"
    assert to_major(5000, "ugx") == Decimal(5000)
    assert to_major(-1234, "usd") == Decimal("-12.34")
    assert to_major(10**12 + 1, "kes") == Decimal("10000000000.01")


def test_formats_cedis_with_the_ghanaian_symbol():
    assert format_money(5000, "ghs") == "GH₵50.00"


def test_zero_decimal_currencies_show_no_decimals():
    assert format_money(5000, "ugx") == "USh 5,000"
    assert format_money(5000, "rwf") == "RF 5,000"
    assert format_money(5000, "xaf") == "FCFA 5,000"
    assert format_money(5000, "xof", "fr") == "5\u202f000\xa0F\u202fCFA"


def test_letter_symbols_are_spaced_from_the_digits_and_sign_symbols_are_not():
    assert format_money(123456, "kes") == "Ksh 1,234.56"
    assert format_money(123456, "ngn") == "₦1,234.56"
    assert format_money(123456, "usd") == "$1,234.56"
    assert format_money(123456, "eur") == "€1,234.56"
    assert format_money(123456, "egp") == "EGP 1,234.56"


def test_french_puts_the_symbol_after_with_french_separators():
    assert format_money(123456, "ghs", "fr") == "1\u202f234,56\xa0GHS"
    assert format_money(123456, "eur", "fr") == "1\u202f234,56\xa0€"
    assert format_money(5000, "ugx", "fr") == "5\u202f000\xa0UGX"


def test_negative_amounts_show_a_minus_sign():
    assert format_money(-2500, "ghs") == "-GH₵25.00"
    assert format_money(-2500, "ugx") == "-USh 2,500"


def test_zero_is_formatted():
    assert format_money(0, "ghs") == "GH₵0.00"
    assert format_money(0, "xof") == "F\u202fCFA 0"


def test_a_regional_locale_keeps_its_own_symbol():
    assert format_money(5000, "usd", "en_US") == "$50.00"
    assert format_money(5000, "ghs", "en-GH") == "GH₵50.00"


@pytest.mark.parametrize("currency", sorted(CURRENCIES))
@pytest.mark.parametrize("locale", ["en", "fr"])
def test_every_currency_formats_with_its_number_of_decimals(currency, locale):
    text = format_money(1234567, currency, locale)
    decimal_mark = "." if locale == "en" else ","
    digits = minor_digits(currency)
    if digits:
        assert f"{decimal_mark}67" in text
    else:
        assert decimal_mark not in text.replace("F\u202fCFA", "")
        assert "567" in text
