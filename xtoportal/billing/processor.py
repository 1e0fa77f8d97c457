"""The payment processor interface and the simulated processor behind test mode.

A processor turns card details or a mobile-money wallet into an opaque token, charges tokens, and reports on
asynchronous work by reference. It keeps no state: web and worker processes share nothing but the database, so
everything the simulator needs later is encoded in the tokens and references it hands out, and the current time
is always passed in as ``now`` (Unix seconds). A card number or CVC never appears in a token, a reference, an
exception or a log line.
"""

import abc
import calendar
import datetime
import re
import secrets
from dataclasses import dataclass

import phonenumbers
from babel import Locale

from xtoportal.billing.money import is_supported_currency

DEFAULT_MOBILE_MONEY_TIMEOUT = 120  # seconds a handset has to answer; MOBILE_MONEY_TIMEOUT in the config
HANDSET_ANSWER_DELAY = 3  # seconds after the request at which a simulated handset that answers does so


# --- errors -------------------------------------------------------------------------------------------------


class ProcessorError(Exception):
    """Anything the processor refuses or cannot do."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class CardError(ProcessorError):
    """The processor refused the card (HTTP 402): ``incorrect_number``, ``expired_card``, ``card_declined``…"""

    def __init__(self, code: str, message: str, param: str | None = None):
        super().__init__(message)
        self.code = code
        self.param = param


class InvalidField(ProcessorError):
    """A malformed or unacceptable field (HTTP 400); ``param`` is the dotted name of the request field."""

    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param


class InvalidCardField(InvalidField):
    """A malformed card field: letters in the number, a month of 13, a CVC of five digits…"""


# --- results ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardToken:
    """A tokenized card: what may be stored and shown."""

    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class WalletLink:
    """A mobile-money wallet waiting for the customer's approval on the handset."""

    token: str  # charges go to this once the link is approved
    reference: str  # poll the link's approval with this
    provider: str
    country: str
    phone_e164: str
    phone_last4: str
    status: str = "pending"


FAILURE_MESSAGES = {
    "card_declined": "The card was declined.",
    "insufficient_funds": "The card has insufficient funds.",
    "declined": "The payment was declined on the handset.",
    "timed_out": "The handset did not answer in time, so the payment was declined.",
}


@dataclass(frozen=True)
class ChargeResult:
    """The state of a charge: ``succeeded``, ``failed`` (with ``failure_code``) or ``pending`` (poll it)."""

    status: str
    reference: str
    failure_code: str | None = None

    @property
    def failure_message(self) -> str | None:
        """A sentence for the customer explaining ``failure_code``."""
        return FAILURE_MESSAGES.get(self.failure_code) if self.failure_code else None


@dataclass(frozen=True)
class MobileMoneyProvider:
    """A mobile-money provider and the countries (ISO 3166-1 alpha-2) where it has wallets."""

    name: str
    countries: frozenset[str]


PROVIDERS = {
    "mtn_momo": MobileMoneyProvider(
        "MTN MoMo", frozenset({"BJ", "CG", "CI", "CM", "GH", "GN", "LR", "RW", "SZ", "UG", "ZA", "ZM"})
    ),
    "mpesa": MobileMoneyProvider("M-Pesa", frozenset({"KE", "TZ"})),
    "airtel_money": MobileMoneyProvider(
        "Airtel Money",
        frozenset({"CD", "CG", "GA", "KE", "MG", "MW", "NE", "NG", "RW", "SC", "TD", "TZ", "UG", "ZM"}),
    ),
    "telecel_cash": MobileMoneyProvider("Telecel Cash", frozenset({"GH"})),
    "orange_money": MobileMoneyProvider(
        "Orange Money",
        frozenset({"BF", "BW", "CD", "CF", "CI", "CM", "GN", "GW", "LR", "MG", "ML", "SL", "SN"}),
    ),
}


# --- the interface ------------------------------------------------------------------------------------------


class PaymentProcessor(abc.ABC):
    """What billing needs from a payment provider. Implementations keep no state between calls."""

    @abc.abstractmethod
    def tokenize_card(self, number: str, exp_month: int, exp_year: int, cvc: str, now: int) -> CardToken:
        """Check a card and return its token; raises InvalidCardField (400) or CardError (402)."""

    @abc.abstractmethod
    def link_wallet(self, provider: str, phone: str, now: int) -> WalletLink:
        """Ask the customer to approve a mobile-money wallet on the handset; raises InvalidField (400)."""

    @abc.abstractmethod
    def poll_wallet_link(self, reference: str, now: int, timeout: int = DEFAULT_MOBILE_MONEY_TIMEOUT) -> str:
        """``pending``, ``approved``, ``declined`` or ``timed_out`` for a wallet link made by ``link_wallet``."""

    @abc.abstractmethod
    def charge(self, token: str, amount: int, currency: str, now: int) -> ChargeResult:
        """Charge ``amount`` (> 0, minor units) to a token. Callers never charge zero: a free invoice is just paid."""

    @abc.abstractmethod
    def poll_charge(self, reference: str, now: int, timeout: int = DEFAULT_MOBILE_MONEY_TIMEOUT) -> ChargeResult:
        """The current state of a charge made by ``charge``."""


# --- card checks --------------------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_brand(digits: str) -> str:
    """The card network from the number's prefix: visa, mastercard, amex, discover, verve, or unknown."""
    six = int(digits[:6]) if len(digits) >= 6 else -1
    if 506099 <= six <= 506198 or 650002 <= six <= 650027 or 507865 <= six <= 507964:
        return "verve"  # Nigeria's network; checked first, as 65… would otherwise read as Discover
    if digits.startswith("4"):
        return "visa"
    if 51 <= int(digits[:2]) <= 55 or 2221 <= int(digits[:4]) <= 2720:
        return "mastercard"
    if digits[:2] in ("34", "37"):
        return "amex"
    if digits.startswith(("6011", "65")) or 644 <= int(digits[:3]) <= 649 or 622126 <= six <= 622925:
        return "discover"
    return "unknown"


def _digits(value: object, param: str, what: str, lengths: range) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidCardField(param, f"The {what} must be a string of digits.")
    value = value.replace(" ", "")
    if not value.isascii() or not value.isdigit():
        raise InvalidCardField(param, f"The {what} must contain only digits.")
    if len(value) not in lengths:
        raise InvalidCardField(param, f"The {what} must be {lengths.start}–{lengths.stop - 1} digits long.")
    return value


def _expiry(exp_month: object, exp_year: object, now: int) -> tuple[int, int]:
    month = int(_digits(exp_month, "card.exp_month", "expiry month", range(1, 3)))
    if not 1 <= month <= 12:
        raise InvalidCardField("card.exp_month", "The expiry month must be between 1 and 12.")
    year_digits = _digits(exp_year, "card.exp_year", "expiry year", range(2, 5))
    year = int(year_digits) + (2000 if len(year_digits) == 2 else 0)
    this_year = datetime.datetime.fromtimestamp(now, tz=datetime.UTC).year
    if len(year_digits) == 3 or not 2000 <= year <= this_year + 50:
        raise InvalidCardField("card.exp_year", f"The expiry year must be a year between 2000 and {this_year + 50}.")
    return month, year


def card_expired(exp_month: int, exp_year: int, now: int) -> bool:
    """Whether a card expiring in ``exp_month/exp_year`` is past its expiry at ``now`` (valid through that month)."""
    next_month_year, next_month = (exp_year + 1, 1) if exp_month == 12 else (exp_year, exp_month + 1)
    return now >= calendar.timegm((next_month_year, next_month, 1, 0, 0, 0))


# --- the simulator ------------------------------------------------------------------------------------------

# Test cards that are refused when attached, or attach with a charge behaviour other than "ok".
_DECLINED_ON_ATTACH = "4000000000000002"
_CARD_BEHAVIOUR = {"4000000000000341": "decline", "4000000000009995": "nofunds"}
_CARD_FAILURE = {"decline": "card_declined", "nofunds": "insufficient_funds"}

# Test phones, by their last four digits: how the handset answers the wallet link, then every charge.
_HANDSET = {
    "1111": ("decline", "decline"),
    "2222": ("silent", "silent"),
    "3333": ("approve", "decline"),
    "4444": ("approve", "silent"),
}
_HANDSET_DEFAULT = ("approve", "approve")
_ANSWER_STATUS = {"approve": "approved", "decline": "declined"}

_TOKEN = re.compile(r"^sim(card|momo)_(ok|decline|nofunds|approve|silent)_[0-9a-f]{32}$")
_REFERENCE = re.compile(r"^sim(link|cardch|momoch)_(ok|decline|nofunds|approve|silent)_(\d+)_[0-9a-f]{32}$")


class SimulatedProcessor(PaymentProcessor):
    """Test mode: outcomes follow the documented test cards and test phones; every other valid card or phone works.

    Tokens look like ``simcard_ok_<random>`` or ``simmomo_silent_<random>``; references (``simlink_…``,
    ``simcardch_…``, ``simmomoch_…``) also carry the time of the request, so a poll at ``now`` can tell whether
    the simulated handset has answered.
    """

    def tokenize_card(self, number: str, exp_month: int, exp_year: int, cvc: str, now: int) -> CardToken:
        """Check a card and return its token; raises InvalidCardField (400) or CardError (402)."""
        digits = _digits(number, "card.number", "card number", range(12, 20))
        month, year = _expiry(exp_month, exp_year, now)
        _digits(cvc, "card.cvc", "CVC", range(3, 5))
        if not luhn_valid(digits):
            raise CardError("incorrect_number", "The card number is incorrect.", "card.number")
        if card_expired(month, year, now):
            raise CardError("expired_card", "The card has expired.", "card.exp_month")
        if digits == _DECLINED_ON_ATTACH:
            raise CardError("card_declined", "The card was declined.")
        behaviour = _CARD_BEHAVIOUR.get(digits, "ok")
        return CardToken(
            token=f"simcard_{behaviour}_{secrets.token_hex(16)}",
            brand=card_brand(digits),
            last4=digits[-4:],
            exp_month=month,
            exp_year=year,
        )

    def link_wallet(self, provider: str, phone: str, now: int) -> WalletLink:
        """Start a wallet link; the handset's answer comes from the phone's last four digits."""
        if provider not in PROVIDERS:
            raise InvalidField(
                "mobile_money.provider", f"The provider must be one of {', '.join(sorted(PROVIDERS))}."
            )
        number, country = _parse_wallet_phone(provider, phone)
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        link_answer, charge_answer = _HANDSET.get(e164[-4:], _HANDSET_DEFAULT)
        return WalletLink(
            token=f"simmomo_{charge_answer}_{secrets.token_hex(16)}",
            reference=f"simlink_{link_answer}_{now}_{secrets.token_hex(16)}",
            provider=provider,
            country=country,
            phone_e164=e164,
            phone_last4=e164[-4:],
        )

    def poll_wallet_link(self, reference: str, now: int, timeout: int = DEFAULT_MOBILE_MONEY_TIMEOUT) -> str:
        """``pending``, ``approved``, ``declined`` or ``timed_out``, from the reference and ``now`` alone."""
        kind, answer, created = _parse_reference(reference)
        if kind != "link":
            raise ProcessorError("This is not a wallet link reference.")
        outcome = _handset_outcome(answer, created, now, timeout)
        return outcome if outcome == "pending" or outcome == "timed_out" else _ANSWER_STATUS[outcome]

    def charge(self, token: str, amount: int, currency: str, now: int) -> ChargeResult:
        """Cards settle at once; mobile money is ``pending`` until the handset answers (see ``poll_charge``)."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError(f"a charge must be a positive integer amount, not {amount!r}")
        if not is_supported_currency(currency):
            raise ValueError(f"unsupported currency: {currency!r}")
        match = _TOKEN.match(token) if isinstance(token, str) else None
        if match is None:
            raise ProcessorError("This payment method token is not one this processor issued.")
        kind, behaviour = match.groups()
        reference = f"sim{kind}ch_{behaviour}_{now}_{secrets.token_hex(16)}"
        if kind == "card":
            return _card_result(reference, behaviour)
        return ChargeResult("pending", reference)

    def poll_charge(self, reference: str, now: int, timeout: int = DEFAULT_MOBILE_MONEY_TIMEOUT) -> ChargeResult:
        """The charge's state at ``now``; a handset that never answers fails it as ``timed_out``."""
        kind, behaviour, created = _parse_reference(reference)
        if kind == "link":
            raise ProcessorError("This is a wallet link reference, not a charge.")
        if kind == "cardch":
            return _card_result(reference, behaviour)
        outcome = _handset_outcome(behaviour, created, now, timeout)
        if outcome == "pending":
            return ChargeResult("pending", reference)
        if outcome == "approve":
            return ChargeResult("succeeded", reference)
        return ChargeResult("failed", reference, "timed_out" if outcome == "timed_out" else "declined")


def _card_result(reference: str, behaviour: str) -> ChargeResult:
    if behaviour in _CARD_FAILURE:
        return ChargeResult("failed", reference, _CARD_FAILURE[behaviour])
    return ChargeResult("succeeded", reference)


def _parse_reference(reference: str) -> tuple[str, str, int]:
    match = _REFERENCE.match(reference) if isinstance(reference, str) else None
    if match is None:
        raise ProcessorError("This reference is not one this processor issued.")
    kind, behaviour, created = match.groups()
    return kind, behaviour, int(created)


def _handset_outcome(answer: str, created: int, now: int, timeout: int) -> str:
    """``pending``, ``timed_out``, or the handset's ``answer``; an answer due after the deadline never comes."""
    deadline = created + timeout
    answer_at = created + HANDSET_ANSWER_DELAY
    if answer != "silent" and answer_at < deadline:
        return answer if now >= answer_at else "pending"
    return "timed_out" if now >= deadline else "pending"


def _parse_wallet_phone(provider: str, phone: object) -> tuple[phonenumbers.PhoneNumber, str]:
    """The parsed number and its country, if it is a valid E.164 number in a country ``provider`` serves."""
    served = PROVIDERS[provider]
    if not isinstance(phone, str) or not phone.startswith("+"):
        raise InvalidField("mobile_money.phone", "The phone number must be in E.164 format, like +233241234567.")
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidField("mobile_money.phone", "The phone number is not a valid number.")
    country = phonenumbers.region_code_for_number(number)
    if country not in served.countries:
        raise InvalidField(
            "mobile_money.phone",
            f"{served.name} does not serve {_country_name(country)}; "
            f"it serves {', '.join(sorted(served.countries))}.",
        )
    return number, country


def _country_name(code: str | None) -> str:
    name = Locale("en").territories.get(code) if code else None
    return f"{name} ({code})" if name else "this number's country"
