"""Contact details shared by the API and the portal forms: phone numbers, countries, addresses."""
from functools import lru_cache

import phonenumbers
from babel import Locale

ADDRESS_FIELDS = ("line1", "line2", "city", "state", "postal_code", "country")
ADDRESS_MAX_LENGTH = 200


@lru_cache(maxsize=4)
def countries(locale: str = "en") -> dict[str, str]:
    """ISO 3166-1 alpha-2 codes and their names in `locale`, sorted by name."""
    names = Locale.parse(locale).territories
    codes = [code for code in names if len(code) == 2 and code.isalpha() and code not in ("EU", "EZ", "UN", "ZZ", "QO")]
    return dict(sorted(((code, names[code]) for code in codes), key=lambda item: item[1]))


def is_country(code: str) -> bool:
    return isinstance(code, str) and code in countries()


def normalize_phone(raw: str, region: str | None = None) -> str:
    """The number in E.164, or ValueError with a sentence a customer understands."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValueError("enter a phone number in international format, e.g. +233201234567") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("this is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_address(address: dict) -> dict:
    """Strip, drop empty parts, check the country; ValueError naming the part that is wrong."""
    cleaned = {}
    for field in ADDRESS_FIELDS:
        value = address.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValueError(f"{field}: must be a string")
        value = value.strip()
        if len(value) > ADDRESS_MAX_LENGTH:
            raise ValueError(f"{field}: at most {ADDRESS_MAX_LENGTH} characters")
        if field == "country":
            value = value.upper()
            if not is_country(value):
                raise ValueError("country: use an ISO 3166-1 alpha-2 code such as GH")
        if value:
            cleaned[field] = value
    return {field: cleaned.get(field) for field in ADDRESS_FIELDS}


def display_phone(e164: str) -> str:
    """+233 24 412 3456: the international format people read, from the stored E.164."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
