"""Currencies, their minor units, and how amounts are shown.

Amounts are integers in the currency's minor unit everywhere (``5000`` GHS is GH₵50.00, ``5000`` UGX is
USh 5,000). This module is the one place that turns them into major units or text.
"""

import unicodedata
from decimal import Decimal

from babel import Locale
from babel.core import UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision

# Lower-case ISO 4217 codes we accept for plans and invoices.
CURRENCIES = frozenset(
    {
        "cdf",
        "egp",
        "eur",
        "gbp",
        "ghs",
        "gnf",
        "kes",
        "mad",
        "mwk",
        "ngn",
        "rwf",
        "tzs",
        "ugx",
        "usd",
        "xaf",
        "xof",
        "zar",
        "zmw",
    }
)

# The country whose usage gives a currency its familiar symbol: in English GHS is "GH₵" (en_GH), not "GHS".
_HOME_TERRITORY = {
    "cdf": "CD",
    "egp": "EG",
    "ghs": "GH",
    "gnf": "GN",
    "kes": "KE",
    "mad": "MA",
    "mwk": "MW",
    "ngn": "NG",
    "rwf": "RW",
    "tzs": "TZ",
    "ugx": "UG",
    "xaf": "CM",
    "xof": "SN",
    "zar": "ZA",
    "zmw": "ZM",
}


def is_supported_currency(code: object) -> bool:
    """Whether ``code`` is a lower-case currency code we bill in."""
    return isinstance(code, str) and code in CURRENCIES


def _require_supported(currency: str) -> None:
    if not is_supported_currency(currency):
        raise ValueError(f"unsupported currency: {currency!r}")


def minor_digits(currency: str) -> int:
    """Decimal places of the currency's minor unit (2 for GHS, 0 for UGX, XOF, XAF, RWF).

    Read from Babel's CLDR data, which agrees with ISO 4217 for every currency in CURRENCIES; the tests pin the
    ISO values, because a change here would silently rescale every stored amount.
    """
    _require_supported(currency)
    return get_currency_precision(currency.upper())


def to_major(amount_minor: int, currency: str) -> Decimal:
    """The exact amount in major units: ``to_major(5000, "ghs") == Decimal("50.00")``."""
    return Decimal(amount_minor).scaleb(-minor_digits(currency))


def format_money(amount_minor: int, currency: str, locale: str = "en") -> str:
    """Show an amount the way a reader of ``locale`` expects, e.g. "GH₵50.00", "USh 5,000", "50,00 GHS" (fr).

    Numbers follow ``locale``; the symbol is the one used in the currency's home country in that language
    when CLDR knows it (en_GH gives "GH₵"), else the locale's own. Zero-decimal currencies show no decimals.
    """
    code = currency.upper()
    reader = Locale.parse(locale.replace("-", "_"))
    symbol = _currency_symbol(currency, reader)
    pattern = reader.currency_formats["standard"].pattern
    return format_currency(
        to_major(amount_minor, currency),
        code,
        format=_with_symbol(pattern, symbol),
        locale=reader,
        currency_digits=True,
    )


def _currency_symbol(currency: str, reader: Locale) -> str:
    code = currency.upper()
    territory = _HOME_TERRITORY.get(currency)
    if territory and not reader.territory:
        try:
            home = Locale(reader.language, territory)
        except UnknownLocaleError:
            home = None
        if home is not None and code in home.currency_symbols:
            return home.currency_symbols[code]
    return reader.currency_symbols.get(code, code)


def _with_symbol(pattern: str, symbol: str) -> str:
    """Put ``symbol`` as a literal where the pattern has ``¤``, spaced from the digits when it ends in a letter.

    This is CLDR's currency-spacing rule ("USh 5,000" but "GH₵50.00"), which Babel does not apply; a plain space
    keeps the text searchable.
    """
    quoted = "'" + symbol.replace("'", "''") + "'"
    spaced_after = quoted + " " if not _is_symbol_char(symbol[-1]) else quoted
    spaced_before = " " + quoted if not _is_symbol_char(symbol[0]) else quoted
    out = []
    for index, char in enumerate(pattern):
        if char != "¤":
            out.append(char)
            continue
        before = pattern[index - 1] if index > 0 else ""
        after = pattern[index + 1] if index + 1 < len(pattern) else ""
        if after and after in "#0":
            out.append(spaced_after)
        elif before and before in "#0":
            out.append(spaced_before)
        else:
            out.append(quoted)
    return "".join(out)


def _is_symbol_char(char: str) -> bool:
    return unicodedata.category(char).startswith("S")
