"""Portal: the customer's billing details (name, email, phone, address), as far as the merchant allows.

The form has only the fields the portal configuration's `customer_update.allowed_updates` lists; a post that
carries another one anyway is refused (403), not quietly trimmed, since only a tampered form can send it.
"""
from functools import wraps

import phonenumbers
from flask import flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from ..contact import ADDRESS_FIELDS
from ..customers import update_customer
from ..events import Origin
from ..extensions import db
from ..models import Customer
from . import bp
from .access import portal_login_required
from .access import wants_fragment
from .forms import BillingDetailsForm, locked_customer, posted_fields_outside, refuse_in_preview, unavailable

PORTAL = Origin("portal")


def details_enabled(view):
    """Refuse (403) the billing details when the merchant's configuration turns `customer_update` off."""
    @wraps(view)
    def checked(*args, **kwargs):
        if not g.portal_config.allows("customer_update"):
            return unavailable(_("Billing details can't be changed here."))
        return view(*args, **kwargs)
    return checked


def details_form(customer: Customer) -> BillingDetailsForm:
    """The form with the fields the merchant allows, filled from the customer (a post's values win)."""
    address = customer.address or {}
    current = {
        "name": customer.name, "email": customer.email, "phone": _readable_phone(customer.phone),
        "address": {field: address.get(field) or "" for field in ADDRESS_FIELDS},
    }
    return BillingDetailsForm(data=current, allowed=g.portal_config.feature("customer_update")["allowed_updates"],
                              locale=g.locale)


@bp.get("/details")
@portal_login_required
@details_enabled
def billing_details():
    return _details_page(details_form(g.customer))


@bp.post("/details")
@portal_login_required
@details_enabled
@refuse_in_preview
def update_billing_details():
    """Save what the customer typed, or show each problem beside its field (422) with everything kept."""
    form = details_form(g.customer)
    if posted_fields_outside(form):
        return unavailable(_("Some of these details can't be changed here."))
    if not form.validate():
        return _details_page(form, 422)
    update_customer(locked_customer(), form.changes(), PORTAL)
    db.session.commit()
    message = _("Your billing details are saved.")
    if wants_fragment():
        return render_template("portal/_details_form.html", form=details_form(g.customer), message=message,
                               oob_status=True)
    flash(message, "success")
    return redirect(url_for(".billing_details"), 303)


def _details_page(form: BillingDetailsForm, status: int = 200):
    if wants_fragment():
        return render_template("portal/_details_form.html", form=form), status
    return render_template("portal/details.html", form=form), status


def _readable_phone(phone: str | None) -> str:
    """An E.164 number as people write it: +233 24 412 3456."""
    if not phone:
        return ""
    try:
        return phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return phone
