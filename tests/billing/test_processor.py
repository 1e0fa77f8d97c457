import calendar

import pytest

from xtoportal.billing.processor import (
    DEFAULT_MOBILE_MONEY_TIMEOUT,
    PROVIDERS,
    CardError,
    CardToken,
    ChargeResult,
    InvalidCardField,
    InvalidField,
    PaymentProcessor,
    ProcessorError,
    SimulatedProcessor,
    WalletLink,
    card_brand,
    card_expired,
    luhn_valid,
)

NOW = calendar.timegm((2025, 6, 15, 12, 0, 0))


@pytest.fixture
def processor():
    return SimulatedProcessor()


def tokenize(processor, number, exp_month=12, exp_year=2030, cvc="123", now=NOW):
    return processor.tokenize_card(number, exp_month, exp_year, cvc, now)


def card_error(processor, number, **kwargs):
    with pytest.raises(CardError) as caught:
        tokenize(processor, number, **kwargs)
    return caught.value


def invalid_card_field(processor, number="4242424242424242", **kwargs):
    with pytest.raises(InvalidCardField) as caught:
        tokenize(processor, number, **kwargs)
    return caught.value


# --- the interface ------------------------------------------------------------------------------------------


def test_the_simulator_implements_the_processor_interface():
    assert isinstance(SimulatedProcessor(), PaymentProcessor)
    with pytest.raises(TypeError):
        PaymentProcessor()


def test_errors_share_one_hierarchy():
    assert issubclass(CardError, ProcessorError)
    assert issubclass(InvalidField, ProcessorError)
    assert issubclass(InvalidCardField, InvalidField)


# --- Luhn and brands ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "4242424242424242",
        "5555555555554444",
        "4000000000000002",
        "4000000000000341",
        "4000000000009995",
        "378282246310005",
        "6011111111111117",
        "79927398713",
    ],
)
def test_luhn_accepts_valid_numbers(number):
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4242424242424241", "5555555555554445", "79927398710", "1234567812345678"])
def test_luhn_rejects_invalid_numbers(number):
    assert not luhn_valid(number)


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("2720990000000000", "mastercard"),
        ("378282246310005", "amex"),
        ("341111111111111", "amex"),
        ("6011111111111117", "discover"),
        ("6445644564456445", "discover"),
        ("6500000000000002", "discover"),
        ("5061000000000000", "verve"),
        ("6500020000000000", "verve"),
        ("5078650000000000", "verve"),
        ("2721000000000000", "unknown"),
        ("9999999999999995", "unknown"),
    ],
)
def test_card_brand_from_prefix(number, brand):
    assert card_brand(number) == brand


# --- cards --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "brand"), [("4242424242424242", "visa"), ("5555555555554444", "mastercard")])
def test_test_cards_that_succeed(processor, number, brand):
    card = tokenize(processor, number, exp_month=7, exp_year=2031)
    assert card == CardToken(token=card.token, brand=brand, last4=number[-4:], exp_month=7, exp_year=2031)
    assert card.token.startswith("simcard_ok_")
    assert processor.charge(card.token, 5000, "ghs", NOW).status == "succeeded"


def test_any_other_luhn_valid_number_succeeds(processor):
    card = tokenize(processor, "378282246310005", cvc="1234")
    assert (card.brand, card.last4) == ("amex", "0005")
    assert processor.charge(card.token, 100, "usd", NOW).status == "succeeded"


def test_tokens_are_unique(processor):
    assert tokenize(processor, "4242424242424242").token != tokenize(processor, "4242424242424242").token


def test_card_declined_on_attach(processor):
    error = card_error(processor, "4000000000000002")
    assert error.code == "card_declined"


def test_card_that_attaches_but_every_charge_is_declined(processor):
    card = tokenize(processor, "4000000000000341")
    assert card.token.startswith("simcard_decline_")
    result = processor.charge(card.token, 5000, "ghs", NOW)
    assert (result.status, result.failure_code) == ("failed", "card_declined")
    assert result.failure_message
    assert processor.poll_charge(result.reference, NOW + 999) == result


def test_card_that_attaches_but_every_charge_lacks_funds(processor):
    card = tokenize(processor, "4000000000009995")
    result = processor.charge(card.token, 5000, "ghs", NOW)
    assert (result.status, result.failure_code) == ("failed", "insufficient_funds")


def test_card_charges_settle_at_once_and_poll_the_same(processor):
    card = tokenize(processor, "4242424242424242")
    result = processor.charge(card.token, 5000, "ghs", NOW)
    assert result == ChargeResult("succeeded", result.reference, None)
    assert result.failure_message is None
    assert processor.poll_charge(result.reference, NOW) == result


def test_number_failing_luhn_is_incorrect_number(processor):
    error = card_error(processor, "4242424242424241")
    assert (error.code, error.param) == ("incorrect_number", "card.number")


def test_spaces_in_the_number_are_ignored(processor):
    assert tokenize(processor, "4242 4242 4242 4242").last4 == "4242"


def test_past_expiry_is_expired_card(processor):
    assert card_error(processor, "4242424242424242", exp_month=5, exp_year=2025).code == "expired_card"
    assert card_error(processor, "4242424242424242", exp_month=12, exp_year=2024).code == "expired_card"


def test_card_expiring_this_month_is_valid_until_the_month_ends(processor):
    last_second = calendar.timegm((2025, 6, 30, 23, 59, 59))
    assert tokenize(processor, "4242424242424242", exp_month=6, exp_year=2025, now=last_second).exp_month == 6
    error = card_error(processor, "4242424242424242", exp_month=6, exp_year=2025, now=last_second + 1)
    assert error.code == "expired_card"


def test_card_expired_rolls_over_december():
    assert not card_expired(12, 2025, calendar.timegm((2025, 12, 31, 23, 59, 59)))
    assert card_expired(12, 2025, calendar.timegm((2026, 1, 1, 0, 0, 0)))


def test_two_digit_years_and_digit_strings_are_accepted(processor):
    card = tokenize(processor, "4242424242424242", exp_month="07", exp_year="30")
    assert (card.exp_month, card.exp_year) == (7, 2030)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"number": "4242abcd42424242"}, "card.number"),
        ({"number": "42424242424"}, "card.number"),
        ({"number": "42424242424242424242"}, "card.number"),
        ({"number": "4242-4242-4242-4242"}, "card.number"),
        ({"number": None}, "card.number"),
        ({"number": "４２４２４２４２４２４２４２４２"}, "card.number"),
        ({"exp_month": 13}, "card.exp_month"),
        ({"exp_month": 0}, "card.exp_month"),
        ({"exp_month": "ab"}, "card.exp_month"),
        ({"exp_month": True}, "card.exp_month"),
        ({"exp_month": 1.5}, "card.exp_month"),
        ({"exp_year": 1999}, "card.exp_year"),
        ({"exp_year": 2200}, "card.exp_year"),
        ({"exp_year": 203}, "card.exp_year"),
        ({"exp_year": "twenty"}, "card.exp_year"),
        ({"cvc": "12"}, "card.cvc"),
        ({"cvc": "12345"}, "card.cvc"),
        ({"cvc": "12a"}, "card.cvc"),
        ({"cvc": None}, "card.cvc"),
    ],
)
def test_malformed_card_fields_are_invalid_not_refused(processor, kwargs, param):
    assert invalid_card_field(processor, **kwargs).param == param


def test_a_malformed_field_is_reported_before_a_bad_checksum(processor):
    assert invalid_card_field(processor, number="4242424242424241", cvc="1").param == "card.cvc"


SECRET_NUMBERS = ["4242424242424242", "4000000000000002", "4000000000000341", "4000000000009995", "4242424242424241"]


@pytest.mark.parametrize("number", SECRET_NUMBERS)
def test_card_number_and_cvc_never_leak(processor, number):
    cvc = "987"
    texts = []
    try:
        card = tokenize(processor, number, cvc=cvc)
    except CardError as error:
        texts += [str(error), repr(error), error.message, repr(error.args)]
    else:
        result = processor.charge(card.token, 5000, "ghs", NOW)
        texts += [repr(card), card.token, repr(result), result.reference]
    for malformed in ({"cvc": "98x"}, {"exp_month": 13}, {"number": number + "x"}):
        fields = {"number": number, "cvc": cvc} | malformed
        with pytest.raises(InvalidCardField) as caught:
            tokenize(processor, **fields)
        texts += [str(caught.value), repr(caught.value), repr(caught.value.args)]
    for text in texts:
        assert number not in text
        assert number[:12] not in text
        assert cvc not in text


# --- mobile money -------------------------------------------------------------------------------------------


def link(processor, phone, provider="mtn_momo", now=NOW):
    return processor.link_wallet(provider, phone, now)


def test_providers_name_their_countries():
    assert set(PROVIDERS) == {"mtn_momo", "mpesa", "airtel_money", "telecel_cash", "orange_money"}
    assert {"GH", "UG", "RW", "CM", "CI", "ZM"} <= PROVIDERS["mtn_momo"].countries
    assert PROVIDERS["mpesa"].countries == {"KE", "TZ"}
    assert {"UG", "KE", "TZ", "ZM", "MW"} <= PROVIDERS["airtel_money"].countries
    assert PROVIDERS["telecel_cash"].countries == {"GH"}
    assert {"SN", "CI", "CM", "ML"} <= PROVIDERS["orange_money"].countries
    assert PROVIDERS["mpesa"].name == "M-Pesa"


def test_link_wallet_starts_pending_with_the_number_country(processor):
    wallet = link(processor, "+233 24 123 5678")
    assert wallet == WalletLink(
        token=wallet.token,
        reference=wallet.reference,
        provider="mtn_momo",
        country="GH",
        phone_e164="+233241235678",
        phone_last4="5678",
        status="pending",
    )
    assert processor.poll_wallet_link(wallet.reference, NOW) == "pending"


@pytest.mark.parametrize(
    ("provider", "phone", "country"),
    [
        ("mpesa", "+254712340000", "KE"),
        ("mpesa", "+255712340000", "TZ"),
        ("airtel_money", "+256772340000", "UG"),
        ("telecel_cash", "+233201230000", "GH"),
        ("orange_money", "+221771230000", "SN"),
        ("orange_money", "+2250701230000", "CI"),
        ("mtn_momo", "+250781230000", "RW"),
    ],
)
def test_providers_link_wallets_in_their_countries(processor, provider, phone, country):
    assert link(processor, phone, provider).country == country


def test_unknown_provider_is_an_invalid_field(processor):
    with pytest.raises(InvalidField) as caught:
        link(processor, "+233241230000", "paypal")
    assert caught.value.param == "mobile_money.provider"


@pytest.mark.parametrize(
    ("provider", "phone", "words"),
    [
        ("mpesa", "+233241230000", ["M-Pesa", "Ghana", "GH"]),
        ("telecel_cash", "+254712340000", ["Telecel Cash", "Kenya", "KE"]),
        ("mtn_momo", "+221771230000", ["MTN MoMo", "Senegal", "SN"]),
        ("orange_money", "+14155550100", ["Orange Money", "United States", "US"]),
    ],
)
def test_a_country_the_provider_does_not_serve_is_refused(processor, provider, phone, words):
    with pytest.raises(InvalidField) as caught:
        link(processor, phone, provider)
    assert caught.value.param == "mobile_money.phone"
    assert all(word in caught.value.message for word in words)


@pytest.mark.parametrize(
    "phone", ["0241230000", "+23324", "+2332412300001234", "+999123456789", "", None, 233241230000]
)
def test_an_invalid_phone_is_refused(processor, phone):
    with pytest.raises(InvalidField) as caught:
        link(processor, phone)
    assert caught.value.param == "mobile_money.phone"


def approve_link(processor, phone):
    wallet = link(processor, phone)
    assert processor.poll_wallet_link(wallet.reference, NOW + 3) == "approved"
    return wallet


def poll_charge_at(processor, wallet, elapsed, timeout=DEFAULT_MOBILE_MONEY_TIMEOUT):
    pending = processor.charge(wallet.token, 5000, "ghs", NOW)
    assert pending.status == "pending" and pending.failure_code is None
    return processor.poll_charge(pending.reference, NOW + elapsed, timeout)


def test_phone_ending_0000_approves_the_link_and_charges_within_five_seconds(processor):
    wallet = link(processor, "+233241230000")
    assert processor.poll_wallet_link(wallet.reference, NOW + 2) == "pending"
    assert processor.poll_wallet_link(wallet.reference, NOW + 3) == "approved"
    assert processor.poll_wallet_link(wallet.reference, NOW + 5000) == "approved"
    pending = processor.charge(wallet.token, 5000, "ghs", NOW)
    assert processor.poll_charge(pending.reference, NOW + 2) == pending
    assert processor.poll_charge(pending.reference, NOW + 5) == ChargeResult("succeeded", pending.reference)


def test_any_other_phone_behaves_like_0000(processor):
    wallet = approve_link(processor, "+233241235678")
    assert poll_charge_at(processor, wallet, 5).status == "succeeded"


def test_phone_ending_1111_declines_within_five_seconds(processor):
    wallet = link(processor, "+233241231111")
    assert processor.poll_wallet_link(wallet.reference, NOW + 1) == "pending"
    assert processor.poll_wallet_link(wallet.reference, NOW + 5) == "declined"
    result = poll_charge_at(processor, wallet, 5)
    assert (result.status, result.failure_code) == ("failed", "declined")


def test_phone_ending_2222_never_answers_and_times_out(processor):
    wallet = link(processor, "+233241232222")
    assert processor.poll_wallet_link(wallet.reference, NOW + 119) == "pending"
    assert processor.poll_wallet_link(wallet.reference, NOW + 120) == "timed_out"
    assert processor.poll_wallet_link(wallet.reference, NOW + 9, timeout=10) == "pending"
    assert processor.poll_wallet_link(wallet.reference, NOW + 10, timeout=10) == "timed_out"
    result = poll_charge_at(processor, wallet, 120)
    assert (result.status, result.failure_code) == ("failed", "timed_out")


def test_phone_ending_3333_approves_the_link_but_declines_every_charge(processor):
    wallet = approve_link(processor, "+233241233333")
    assert poll_charge_at(processor, wallet, 2).status == "pending"
    result = poll_charge_at(processor, wallet, 5)
    assert (result.status, result.failure_code) == ("failed", "declined")


def test_phone_ending_4444_approves_the_link_but_never_answers_a_charge(processor):
    wallet = approve_link(processor, "+233241234444")
    assert poll_charge_at(processor, wallet, 119).status == "pending"
    result = poll_charge_at(processor, wallet, 120)
    assert (result.status, result.failure_code) == ("failed", "timed_out")
    assert poll_charge_at(processor, wallet, 30, timeout=30).failure_code == "timed_out"


def test_an_answer_due_after_the_deadline_never_comes(processor):
    wallet = link(processor, "+233241230000")
    assert processor.poll_wallet_link(wallet.reference, NOW + 1, timeout=2) == "pending"
    assert processor.poll_wallet_link(wallet.reference, NOW + 2, timeout=2) == "timed_out"
    assert processor.poll_wallet_link(wallet.reference, NOW + 3, timeout=2) == "timed_out"


def test_polls_are_stateless(processor):
    wallet = link(processor, "+233241230000")
    assert SimulatedProcessor().poll_wallet_link(wallet.reference, NOW + 3) == "approved"
    pending = processor.charge(wallet.token, 5000, "ghs", NOW)
    assert SimulatedProcessor().poll_charge(pending.reference, NOW + 3).status == "succeeded"


def test_tokens_and_references_do_not_hold_the_phone_number(processor):
    wallet = link(processor, "+233241239876")
    pending = processor.charge(wallet.token, 5000, "ghs", NOW)
    for text in (wallet.token, wallet.reference, pending.reference):
        # Not even the last four: the random hex part could contain them by chance, so look outside it.
        visible = "_".join(part for part in text.split("_") if len(part) != 32)
        assert "9876" not in visible.replace(str(NOW), "")
        assert "241239876" not in text


# --- charges ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -100, 1.5, True])
def test_charges_must_be_for_a_positive_integer_amount(processor, amount):
    card = tokenize(processor, "4242424242424242")
    with pytest.raises(ValueError):
        processor.charge(card.token, amount, "ghs", NOW)


def test_charges_must_be_in_a_supported_currency(processor):
    card = tokenize(processor, "4242424242424242")
    with pytest.raises(ValueError):
        processor.charge(card.token, 100, "GHS", NOW)


@pytest.mark.parametrize("token", ["tok_visa", "simcard_ok_", "simcard_ok_zz", None, "simlink_approve_1_" + "0" * 32])
def test_unknown_tokens_are_refused(processor, token):
    with pytest.raises(ProcessorError):
        processor.charge(token, 100, "ghs", NOW)


def test_references_are_checked_for_their_kind(processor):
    wallet = link(processor, "+233241230000")
    pending = processor.charge(wallet.token, 5000, "ghs", NOW)
    with pytest.raises(ProcessorError):
        processor.poll_charge(wallet.reference, NOW)
    with pytest.raises(ProcessorError):
        processor.poll_wallet_link(pending.reference, NOW)
    with pytest.raises(ProcessorError):
        processor.poll_charge("nonsense", NOW)
