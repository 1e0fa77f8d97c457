"""The portal's forms, and the conventions every portal form route follows.

A form that does not validate is answered **422** with the same form re-rendered (messages beside the fields,
what was typed kept, except a card number or CVC): the form's fragment for htmx, the whole page otherwise.
Success is Post/Redirect/Get. Every form carries a CSRF token; a support preview shows forms disabled and
refuses their posts.
"""
import re
from functools import wraps

import phonenumbers
from flask import g, request
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto  # its marker for "read the request", the default formdata
from wtforms import BooleanField, EmailField, Form, FormField, SelectField, StringField, TelField
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional, ValidationError

from ..billing.processor import PROVIDERS, CardError, InvalidCardField
from ..contact import ADDRESS_MAX_LENGTH, clean_address, countries
from ..extensions import db
from ..models import Customer
from .access import refused_page


# --- how routes answer --------------------------------------------------------------------------------------

def read_only() -> bool:
    """A support preview: the customer's pages are shown, nothing may change."""
    return bool(g.get("portal_preview"))


unavailable = refused_page


def locked_customer() -> Customer:
    """This request's customer, locked and re-read: a change decides on fresh data, and two changes never both
    decide on the same (locks are taken customer first, then a payment method, as in billing)."""
    query = (db.select(Customer).where(Customer.id == g.customer.id).with_for_update()
             .execution_options(populate_existing=True))
    g.customer = db.session.scalars(query).one()
    return g.customer


def refuse_in_preview(view):
    """Refuse (403) a route that changes anything while support staff preview the customer's portal."""
    @wraps(view)
    def checked(*args, **kwargs):
        if read_only():
            return unavailable(_("This is a read-only preview: only the customer can make changes."))
        return view(*args, **kwargs)
    return checked


# --- forms and fields ---------------------------------------------------------------------------------------

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls but tab and line breaks
CONTROL_CHARACTERS_MESSAGE = _l("Remove the invisible control characters from this field.")


def has_control_characters(text) -> bool:
    """Text no person types on purpose (NUL, escape…), which PostgreSQL refuses to store (NUL) anyway."""
    return isinstance(text, str) and CONTROL_CHARACTERS.search(text) is not None


class PortalForm(FlaskForm):
    """A portal form reads the posted text fields only. Flask-WTF would also hand a field an uploaded file or a JSON
    body's values (numbers, lists, objects), which no validator here expects; such a value counts as not sent.
    Every text field refuses control characters, with a message beside it."""

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            if formdata is _Auto:
                return request.form if form.is_submitted() else None
            return formdata

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in _leaf_fields(self):
            if not field.errors and has_control_characters(field.data):
                field.errors = [str(CONTROL_CHARACTERS_MESSAGE)]
                valid = False
        return valid


def _leaf_fields(form):
    for field in form:
        yield from (_leaf_fields(field.form) if isinstance(field, FormField) else [field])


def _stripped(value):
    return value.strip() if isinstance(value, str) else value


def _digits_only(value):
    # People type card numbers in groups; the processor takes the digits.
    return re.sub(r"[\s-]", "", value) if isinstance(value, str) else value


class UnechoedField(StringField):
    """A field whose value is never written back into the page (a card number, a CVC)."""

    def _value(self) -> str:
        return ""


# --- adding a card ------------------------------------------------------------------------------------------

_EXPIRY = re.compile(r"^(\d{1,2})\s*[/.-]\s*(\d{2}|\d{4})$|^(\d{2})(\d{2})$")


class CardForm(PortalForm):
    """A new card. Luhn, brand and expiry are the processor's to check; this form only checks the shape."""

    number = UnechoedField(
        _l("Card number"), validators=[InputRequired(_l("Enter your card number."))], filters=[_digits_only],
        render_kw={"autocomplete": "cc-number", "inputmode": "numeric", "maxlength": 23, "spellcheck": "false",
                   "autocorrect": "off", "placeholder": "1234 1234 1234 1234"},
    )
    expiry = StringField(
        _l("Expiry date"), validators=[InputRequired(_l("Enter the expiry date."))], filters=[_stripped],
        description=_l("MM / YY"),
        render_kw={"autocomplete": "cc-exp", "inputmode": "numeric", "maxlength": 7, "placeholder": _l("MM / YY")},
    )
    cvc = UnechoedField(
        _l("Security code"), validators=[InputRequired(_l("Enter the security code."))], filters=[_digits_only],
        description=_l("3 or 4 digits"),
        render_kw={"autocomplete": "cc-csc", "inputmode": "numeric", "maxlength": 4, "placeholder": _l("CVC")},
    )
    name = StringField(
        _l("Name on card"),
        validators=[DataRequired(_l("Enter the name on the card.")), Length(max=200)], filters=[_stripped],
        render_kw={"autocomplete": "cc-name", "spellcheck": "false"},
    )
    set_default = BooleanField(_l("Use as my default payment method"), default=True)

    def validate_expiry(self, field):
        if field.data and not _EXPIRY.match(field.data):
            raise ValidationError(_("Enter the expiry date as MM / YY."))

    def expiry_parts(self) -> tuple[str, str]:
        """The expiry as typed, split into month and year digits for the processor (which checks them)."""
        match = _EXPIRY.match(self.expiry.data)
        month, year = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
        return month, year

    def show_refusal(self, refusal: InvalidCardField | CardError) -> None:
        """Put the processor's refusal beside the field it names (`card.number`…), or above the form (a decline),
        in the customer's words: the processor's own message is English and may not be shown as it is."""
        field = CARD_FIELD_OF_PARAM.get(refusal.param)
        if isinstance(refusal, InvalidCardField):
            message = CARD_FIELD_MESSAGES[field or "number"]
        else:
            message = CARD_ERROR_MESSAGES.get(refusal.code, CARD_ERROR_MESSAGES["card_declined"])
        errors = self[field].errors if field else self.form_errors
        errors.append(str(message))

    def forget_secrets(self) -> None:
        """Drop the number and CVC from the form once the processor has seen them (they are never rendered either)."""
        self.number.data = self.number.raw_data = None
        self.cvc.data = self.cvc.raw_data = None


# Where a processor refusal is shown, by the `param` the processor names, and what it says to the customer.
CARD_FIELD_OF_PARAM = {"card.number": "number", "card.exp_month": "expiry", "card.exp_year": "expiry",
                       "card.cvc": "cvc"}
CARD_FIELD_MESSAGES = {
    "number": _l("Enter a valid card number."),
    "expiry": _l("Enter a valid expiry date."),
    "cvc": _l("Enter the 3 or 4 digit security code."),
}
CARD_ERROR_MESSAGES = {
    "incorrect_number": _l("This card number is incorrect. Check it and try again."),
    "expired_card": _l("This card has expired. Use another card."),
    "card_declined": _l("Your card was declined. Try another card or payment method."),
}


# --- adding mobile money ------------------------------------------------------------------------------------

class MobileMoneyForm(PortalForm):
    """A mobile-money wallet: the provider and the number the approval prompt goes to."""

    provider = SelectField(_l("Provider"), validators=[InputRequired(_l("Choose your mobile money provider."))])
    phone = TelField(
        _l("Mobile money number"),
        validators=[DataRequired(_l("Enter your mobile money number.")), Length(max=32)], filters=[_stripped],
        description=_l("Include the country code, e.g. +233 24 123 4567"),
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    set_default = BooleanField(_l("Use as my default payment method once approved"), default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.provider.choices = [("", _("Choose a provider"))] + [
            (key, provider.name) for key, provider in PROVIDERS.items()]


def wallet_phone(raw: str, provider: str, home_country: str | None) -> str:
    """The number in E.164 when it can be read (a local number is read in the customer's country if the provider
    serves it, or in the provider's only country); otherwise as typed, for the processor to refuse."""
    served = PROVIDERS[provider].countries if provider in PROVIDERS else frozenset()
    region = home_country if home_country in served else (next(iter(served)) if len(served) == 1 else None)
    try:
        number = phonenumbers.parse(raw, None if raw.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return raw
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def wallet_phone_error(provider: str, phone: str) -> str:
    """Why the processor refused a wallet's number, in the customer's language, naming provider and country."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        return _("Enter a valid mobile number with its country code, e.g. +233 24 123 4567.")
    names = countries(g.get("locale") or "en")
    served = PROVIDERS[provider]
    country = phonenumbers.region_code_for_number(number)
    return _("%(provider)s doesn't serve numbers from %(country)s. It serves: %(countries)s.",
             provider=served.name, country=names.get(country, country),
             countries=", ".join(sorted(names.get(code, code) for code in served.countries)))


# --- billing details ----------------------------------------------------------------------------------------

class AddressForm(Form):
    """The address part of the billing details (its fields are posted as `address-line1`…)."""

    line1 = StringField(_l("Address"), validators=[Length(max=ADDRESS_MAX_LENGTH)], filters=[_stripped],
                        render_kw={"autocomplete": "address-line1"})
    line2 = StringField(_l("Apartment, suite, building (optional)"), validators=[Length(max=ADDRESS_MAX_LENGTH)],
                        filters=[_stripped], render_kw={"autocomplete": "address-line2"})
    city = StringField(_l("City or town"), validators=[Length(max=ADDRESS_MAX_LENGTH)], filters=[_stripped],
                       render_kw={"autocomplete": "address-level2"})
    state = StringField(_l("Region or state (optional)"), validators=[Length(max=ADDRESS_MAX_LENGTH)],
                        filters=[_stripped], render_kw={"autocomplete": "address-level1"})
    postal_code = StringField(_l("Postal code (optional)"), validators=[Length(max=20)], filters=[_stripped],
                              render_kw={"autocomplete": "postal-code"})
    country = SelectField(_l("Country"), render_kw={"autocomplete": "country"})


ADDRESS_REQUIRED = {
    "line1": _l("Enter the first line of your address."),
    "city": _l("Enter your city or town."),
    "country": _l("Choose your country."),
}


class BillingDetailsForm(PortalForm):
    """Name, email, phone and address; built with only the fields the merchant lets customers change."""

    name = StringField(_l("Full name"),
                       validators=[DataRequired(_l("Enter your name.")), Length(max=200)], filters=[_stripped],
                       render_kw={"autocomplete": "name"})
    email = EmailField(_l("Email"),
                       validators=[DataRequired(_l("Enter your email address.")), Length(max=320),
                                   Email(_l("Enter an email address like name@example.com."))],
                       filters=[_stripped], render_kw={"autocomplete": "email", "spellcheck": "false"})
    phone = TelField(_l("Phone (optional)"), validators=[Optional(), Length(max=32)], filters=[_stripped],
                     description=_l("Include the country code, e.g. +233 24 123 4567"),
                     render_kw={"autocomplete": "tel"})
    address = FormField(AddressForm, separator="-")

    def __init__(self, *args, allowed: list[str], locale: str, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("name", "email", "phone", "address"):
            if name not in allowed:
                delattr(self, name)
        if "address" in self:
            self.address.country.choices = [("", _("Choose a country"))] + list(countries(locale).items())
        self.e164_phone: str | None = None

    def validate_phone(self, field):
        region = self.address.country.data if "address" in self else None
        try:
            number = phonenumbers.parse(field.data, None if field.data.startswith("+") else (region or None))
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise ValidationError(_("Enter a valid phone number with its country code, e.g. +233 24 123 4567."))
        self.e164_phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if "address" in self:
            address = self.address.form
            if any(address[name].data for name in ("line1", "line2", "city", "state", "postal_code", "country")):
                for name, message in ADDRESS_REQUIRED.items():
                    if not address[name].data and not address[name].errors:
                        address[name].errors = [*address[name].errors, str(message)]
                        valid = False
        return valid

    def changes(self) -> dict:
        """The validated values as `update_customer` changes: only the fields this form has."""
        changes = {}
        if "name" in self:
            changes["name"] = self.name.data
        if "email" in self:
            changes["email"] = self.email.data
        if "phone" in self and self.phone.raw_data:  # not posted at all: kept (it was never validated)
            changes["phone"] = self.e164_phone if self.phone.data else None
        if "address" in self:
            address = clean_address({name: value or None for name, value in self.address.data.items()})
            changes["address"] = address if any(address.values()) else None
        return changes

    def error_fields(self) -> list:
        """The fields with a message, in page order, for the summary at the top of the form."""
        fields = []
        for field in self:
            fields.extend(list(field) if isinstance(field, FormField) else [field])
        return [field for field in fields if field.errors]


def posted_fields_outside(form: BillingDetailsForm) -> list[str]:
    """Customer fields posted although the form does not have them (the merchant does not allow them)."""
    posted = {key.split("-", 1)[0] for key in request.form}
    return sorted((posted & {"name", "email", "phone", "address"}) - set(form._fields))
