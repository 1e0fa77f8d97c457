"""Portal: the customer's payment methods: list them, add a card, add mobile money and wait for the handset's
approval, choose the default, remove one; and the `payment_method_update` deep link.

The rules of payment methods live in billing/payment_methods.py. This module adds what only the portal decides:
which types the merchant lets customers add, and that the last active method cannot be removed while a
subscription still needs it.
"""
from functools import wraps

from flask import (
    abort, current_app, flash, g, make_response, redirect, render_template, request, session, url_for,
)
from flask_babel import gettext as _

from .. import clock
from ..billing import payment_methods as billing
from ..billing.payments import processor
from ..billing.processor import PROVIDERS, CardError, InvalidCardField, InvalidField, card_expired
from ..billing.subscriptions import LIVE_STATUSES
from ..contact import countries
from ..events import BILLING, Origin
from ..extensions import db
from ..models import Customer, PaymentMethod, PortalConfiguration, PortalSession, Subscription
from . import bp
from .access import portal_login_required, portal_payment_method_or_404
from .access import wants_fragment
from .forms import (
    CardForm, MobileMoneyForm, locked_customer, read_only, refuse_in_preview, unavailable, wallet_phone,
    wallet_phone_error,
)

PORTAL = Origin("portal")
FLOW_TYPE = "payment_method_update"
FINISHED_FLOWS = "portal_finished_flows"  # in the Flask session: portal sessions whose deep-linked task is done
CARD_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover",
               "verve": "Verve"}
STOP_POLLING = 286  # htmx stops an `every 2s` trigger on this status, and swaps what came with it


# --- what the merchant allows -------------------------------------------------------------------------------

def addable_types() -> list[str]:
    """The payment method types this customer may add here (none when the feature is off)."""
    feature = g.portal_config.feature("payment_method_update")
    return list(feature["types"]) if feature["enabled"] else []


def payment_methods_enabled(view):
    """Refuse (403) every payment-method route when the merchant's configuration turns the feature off."""
    @wraps(view)
    def checked(*args, **kwargs):
        if not g.portal_config.allows("payment_method_update"):
            return unavailable(_("Payment methods can't be changed here. Contact %(name)s for help.",
                                 name=_business_name()))
        return view(*args, **kwargs)
    return checked


def adding(kind: str):
    """Refuse (403) adding a `kind` of payment method that the merchant's configuration does not offer."""
    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            if kind not in addable_types():
                return unavailable(_("This kind of payment method can't be added here."))
            return view(*args, **kwargs)
        return payment_methods_enabled(checked)
    return decorate


def _business_name() -> str:
    return g.portal_config.document["branding"]["business_name"] or g.merchant.name


# --- the deep link ------------------------------------------------------------------------------------------

def flow_destination(portal_session: PortalSession) -> str | None:
    """Where opening the link of a session that deep-links into updating a payment method lands while that task
    is not done: its page. None otherwise (the caller lands on the overview)."""
    if not _flow_open(portal_session):
        return None
    config = db.session.get(PortalConfiguration, portal_session.merchant_id)
    if config is None or not config.allows("payment_method_update"):
        return None
    return url_for("portal.payment_methods")


def _flow_open(portal_session: PortalSession) -> bool:
    return ((portal_session.flow or {}).get("type") == FLOW_TYPE
            and portal_session.id not in session.get(FINISHED_FLOWS, []))


def _finish_flow() -> bool:
    """Mark this session's deep-linked task done; True if it was open (the customer is then offered the way back)."""
    if not _flow_open(g.portal_session):
        return False
    session[FINISHED_FLOWS] = [*session.get(FINISHED_FLOWS, [])[-4:], g.portal_session.id]
    return True


# --- reading ------------------------------------------------------------------------------------------------

def method_label(method: PaymentMethod) -> str:
    """"Visa", "MTN MoMo": what the customer calls this method (its last four digits are shown beside it)."""
    if method.type == "card":
        return CARD_BRANDS.get(method.card_brand, _("Card"))
    provider = PROVIDERS.get(method.mm_provider)
    return provider.name if provider else _("Mobile money")


def method_description(method: PaymentMethod) -> str:
    """"Visa ending in 4242": a method in a sentence."""
    last4 = method.card_last4 if method.type == "card" else method.mm_phone_last4
    return _("%(method)s ending in %(last4)s", method=method_label(method), last4=last4)


def usable_methods(customer: Customer) -> list[PaymentMethod]:
    """The methods the customer can pay with or is still approving, default first, then newest first, each
    wallet as the handset last answered. A wallet the handset refused is left out: it can never be charged,
    and the waiting step already said what happened (the API still lists it, as `failed`)."""
    methods = list(db.session.scalars(
        billing.attached_methods(customer).order_by(PaymentMethod.sort_key.desc(), PaymentMethod.id.desc())))
    pending = [method for method in methods if method.status == PaymentMethod.PENDING]
    if pending:
        changed = [method for method in pending if wallet_outcome(method, commit=False) != "pending"]
        if changed:
            db.session.commit()
    methods = [method for method in methods if method.status != PaymentMethod.FAILED]
    return sorted(methods, key=lambda method: method.id != customer.default_payment_method_id)


def last_needed_method(customer: Customer, methods: list[PaymentMethod]) -> PaymentMethod | None:
    """The method that cannot be removed: the only active one, while a subscription is trialing, active or past
    due (it would have nothing to charge)."""
    active = [method for method in methods if method.status == PaymentMethod.ACTIVE]
    if len(active) != 1:
        return None
    live = db.session.scalar(
        db.select(Subscription.id)
        .where(Subscription.merchant_id == customer.merchant_id, Subscription.customer_id == customer.id,
               Subscription.status.in_(LIVE_STATUSES))
        .limit(1))
    return active[0] if live is not None else None


def wallet_outcome(method: PaymentMethod, commit: bool = True) -> str:
    """Ask whether the handset answered a wallet's prompt: `pending`, `approved`, `declined` or `timed_out`.

    The handset's answer is the billing clock's news, whoever asks first (API.md: `request.source` "billing").
    """
    timeout = current_app.config["MOBILE_MONEY_TIMEOUT"]
    before = method.status
    billing.refresh_wallet_link(method, clock.now(), timeout, BILLING)
    if commit and method.status != before:
        db.session.commit()
    if method.status == PaymentMethod.PENDING:
        return "pending"
    if method.status == PaymentMethod.ACTIVE:
        return "approved"
    # A failed link does not say why; the processor still knows whether the handset said no or never answered.
    answer = processor().poll_wallet_link(method.link_reference, clock.now(), timeout)
    return answer if answer == "timed_out" else "declined"


@bp.context_processor
def payment_method_helpers():
    return {"method_label": method_label, "method_description": method_description, "read_only": read_only,
            "card_is_expired": lambda method: card_expired(method.card_exp_month, method.card_exp_year,
                                                           clock.now()),
            "country_name": lambda code: countries(g.get("locale") or "en").get(code, code)}


# --- pages --------------------------------------------------------------------------------------------------

@bp.get("/payment-methods")
@portal_login_required
@payment_methods_enabled
def payment_methods():
    """The customer's payment methods and the ways to add one; the landing page of the deep link."""
    return _list_page(usable_methods(g.customer))


@bp.get("/payment-methods/<id>")
@portal_login_required
@payment_methods_enabled
def payment_method(id):
    """One method as the list shows it (htmx puts it back after "cancel"); a browser gets the list."""
    method = portal_payment_method_or_404(id)
    if not wants_fragment():
        return redirect(url_for(".payment_methods", _anchor=method.id), 303)
    methods = usable_methods(g.customer)
    return render_template("portal/_payment_method.html", **_item_context(method, methods))


@bp.get("/payment-methods/add-card")
@portal_login_required
@adding("card")
def new_card():
    return _card_form(CardForm())


@bp.post("/payment-methods/add-card")
@portal_login_required
@adding("card")
@refuse_in_preview
def add_card():
    """Tokenize a card with the processor and attach it; the number and CVC go nowhere else."""
    form = CardForm()
    method = None
    if form.validate():
        month, year = form.expiry_parts()
        try:
            method = billing.attach_card(g.customer, form.number.data, month, year, form.cvc.data,
                                         form.set_default.data, PORTAL, clock.now())
        except (InvalidCardField, CardError) as refusal:
            form.show_refusal(refusal)
    form.forget_secrets()
    if method is None:
        return _card_form(form, 422)
    db.session.commit()
    return _changed(_("%(method)s was added.", method=method_description(method)), finishes_flow=True,
                    navigate=True)


@bp.get("/payment-methods/add-mobile-money")
@portal_login_required
@adding("mobile_money")
def new_mobile_money():
    form = MobileMoneyForm()
    if provider := _requested_provider():
        form.provider.data = provider
    return _wallet_form(form)


@bp.post("/payment-methods/add-mobile-money")
@portal_login_required
@adding("mobile_money")
@refuse_in_preview
def add_mobile_money():
    """Send the approval prompt to the customer's phone; the next step waits for the handset's answer."""
    form = MobileMoneyForm()
    if not form.validate():
        return _wallet_form(form, 422)
    provider = form.provider.data
    phone = wallet_phone(form.phone.data, provider, (g.customer.address or {}).get("country"))
    try:
        method = billing.attach_mobile_money(g.customer, provider, phone, form.set_default.data, PORTAL,
                                             clock.now())
    except InvalidField as exc:
        if exc.param == "mobile_money.phone":
            form.phone.errors.append(wallet_phone_error(provider, phone))
        else:
            form.provider.errors.append(_("Choose your mobile money provider."))
        return _wallet_form(form, 422)
    db.session.commit()
    if wants_fragment():
        return render_template("portal/_wallet_waiting.html", **_waiting_context(method, "pending", focus=True))
    return redirect(url_for(".wallet_approval", id=method.id), 303)


@bp.get("/payment-methods/<id>/approval")
@portal_login_required
@payment_methods_enabled
def wallet_approval(id):
    """The waiting step: "approve the prompt on your phone" until the handset approves, declines or times out.

    htmx polls it every 2 s: while nothing changed it answers 204 (nothing to swap, nothing re-announced); the
    answer comes with status 286, which stops the polling, into the same live region.
    """
    method = portal_payment_method_or_404(id)
    if method.type != "mobile_money":
        abort(404)
    outcome = wallet_outcome(method)
    flow_done = outcome == "approved" and _finish_flow()
    context = _waiting_context(method, outcome, flow_done=flow_done)
    if wants_fragment():
        if outcome == "pending":
            return "", 204
        return render_template("portal/_wallet_status.html", **context), STOP_POLLING
    return render_template("portal/payment_method_add.html", step="waiting", **context)


@bp.post("/payment-methods/<id>/default")
@portal_login_required
@payment_methods_enabled
@refuse_in_preview
def make_default(id):
    """Charge this method from now on."""
    customer = locked_customer()
    method = portal_payment_method_or_404(id, lock=True)
    try:
        billing.set_default(customer, method, PORTAL)
    except billing.NotActive:
        return _refused(_("%(method)s can't be your default until it is active.",
                          method=method_description(method)))
    db.session.commit()
    return _changed(_("%(method)s is now your default payment method.", method=method_description(method)),
                    finishes_flow=True)


@bp.get("/payment-methods/<id>/remove")
@portal_login_required
@payment_methods_enabled
def confirm_removal(id):
    """Ask before removing: in place of the method for htmx, as a page otherwise."""
    method = portal_payment_method_or_404(id)
    context = _item_context(method, usable_methods(g.customer), confirming=True)
    if wants_fragment():
        return render_template("portal/_payment_method.html", **context)
    return render_template("portal/payment_method_remove.html", standalone=True, **context)


@bp.post("/payment-methods/<id>/remove")
@portal_login_required
@payment_methods_enabled
@refuse_in_preview
def remove_payment_method(id):
    """Detach a method, unless it is the last one a live subscription can be charged to."""
    customer = locked_customer()
    method = portal_payment_method_or_404(id, lock=True)
    # The list as stored, without asking about pending wallets: that could commit, and so let the locks go.
    methods = list(db.session.scalars(billing.attached_methods(customer)))
    if last_needed_method(customer, methods) is method:
        return _refused(_("You can't remove your only payment method while you have an active subscription. "
                          "Add another payment method first."))
    billing.detach(method, PORTAL, clock.now())
    db.session.commit()
    return _changed(_("%(method)s was removed.", method=method_description(method)), focus_list=True)


# --- answers ------------------------------------------------------------------------------------------------

def _list_context(methods: list[PaymentMethod], **extra) -> dict:
    types = addable_types()
    return {
        "methods": methods, "default_id": g.customer.default_payment_method_id,
        "blocked": last_needed_method(g.customer, methods), "can_add_card": "card" in types,
        "can_add_mobile_money": "mobile_money" in types, "in_flow": _flow_open(g.portal_session), **extra,
    }


def _item_context(method: PaymentMethod, methods: list[PaymentMethod], confirming: bool = False) -> dict:
    return {"method": method, "default_id": g.customer.default_payment_method_id,
            "blocked": last_needed_method(g.customer, methods), "confirming": confirming,
            "other_active": any(other.status == PaymentMethod.ACTIVE and other.id != method.id for other in methods)}


def _list_page(methods: list[PaymentMethod], status: int = 200, **extra):
    return render_template("portal/payment_methods.html", **_list_context(methods, **extra)), status


def _list_fragment(status: int = 200, **extra):
    methods = usable_methods(g.customer)
    return render_template("portal/_payment_method_list.html", oob_status=True,
                           **_list_context(methods, **extra)), status


def _changed(message: str, finishes_flow: bool = False, navigate: bool = False, focus_list: bool = False):
    """After a change: htmx gets the list in place, unless the change happened on another page (`navigate`) or
    finished the deep-linked task; otherwise the customer goes to the list, where the message waits (PRG)."""
    if finishes_flow and _finish_flow():
        flash(message, "flow_done")
        return _go_to(url_for(".payment_methods"))
    if wants_fragment() and not navigate:
        return _list_fragment(message=message, focus_list=focus_list)
    flash(message, "success")
    return _go_to(url_for(".payment_methods"))


def _refused(message: str):
    """A change the rules refuse: the list again with the reason (422, so htmx swaps it in, as for forms)."""
    if wants_fragment():
        return _list_fragment(422, error=message)
    return _list_page(usable_methods(g.customer), 422, error=message)


def _go_to(url: str):
    """A redirect that htmx follows as a navigation (HX-Location) and a browser as 303 See Other."""
    if wants_fragment():
        response = make_response("", 200)
        response.headers["HX-Location"] = url
        return response
    return redirect(url, 303)


def _card_form(form: CardForm, status: int = 200):
    if wants_fragment():
        return render_template("portal/_add_card.html", form=form), status
    return render_template("portal/payment_method_add.html", step="card", form=form), status


def _wallet_form(form: MobileMoneyForm, status: int = 200):
    context = {"form": form, "can_add_card": "card" in addable_types()}
    if wants_fragment():
        return render_template("portal/_add_mobile_money.html", **context), status
    return render_template("portal/payment_method_add.html", step="mobile_money", **context), status


def _waiting_context(method: PaymentMethod, outcome: str, focus: bool = False, flow_done: bool = False) -> dict:
    return {"method": method, "outcome": outcome, "focus": focus, "flow_done": flow_done,
            "timeout": current_app.config["MOBILE_MONEY_TIMEOUT"],
            "is_default": g.customer.default_payment_method_id == method.id,
            "can_add_card": "card" in addable_types()}


def _requested_provider() -> str | None:
    """`?provider=` of a "try again" link, if it names a provider."""
    provider = request.args.get("provider")
    return provider if provider in PROVIDERS else None
