"""`xtoportal demo`: a demo merchant, Kente Cloud, with a year of billing history made by the real billing engine.

The history is replayed, not inserted: each customer's story (signing up, adding a card or a wallet, subscribing,
upgrading, pausing, cancelling…) happens at its moment on a frozen clock, and between moments the billing clock
runs exactly as `xtoportal worker` would have, so renewals, invoice numbers, payments, retries and events are the
ones the product makes. (It is the real billing clock, so whatever else in the database is overdue is billed too,
as the worker would.) The demo is found again by its owner's email; a second run seeds nothing more.
"""
from collections.abc import Callable
from dataclasses import dataclass, field

import click
from flask import current_app

from . import clock
from .billing import payment_methods
from .billing import subscriptions as billing
from .billing.clock import run_due_billing
from .billing.periods import add_interval
from .contact import clean_address
from .events import Origin
from .extensions import db
from .merchants import create_merchant
from .models import (ApiKey, Customer, Invoice, Merchant, Payment, PaymentMethod, Plan, PortalConfiguration,
                     StaffUser, Subscription)
from .portal.tokens import issue_portal_session
from .portal_settings import update_portal_configuration

EMAIL = "demo@example.com"
PASSWORD = "demo-password"
MAIN_CUSTOMER_EMAIL = "ama@example.com"  # the signed-in user of examples/merchant_app
RETURN_URL = "http://127.0.0.1:5001/account"  # examples/merchant_app's account page

API, PORTAL = Origin("api"), Origin("portal")
MINUTE, HOUR, DAY = 60, 3600, 86400
HANDSET_ANSWERS_WITHIN = 5  # seconds: API.md's promise for a test phone that answers

MERCHANT = {"name": "Kente Cloud", "address": {"line1": "4 Liberation Road", "city": "Accra", "country": "GH"}}
PORTAL_SETTINGS = {
    "branding": {"business_name": "Kente Cloud", "primary_color": "#b45309", "accent_color": "#047857"},
    "business_profile": {"support_email": "support@example.com"},
    "default_return_url": RETURN_URL,
    "features": {"subscription_update": {"downgrades": "at_period_end"}},
}

# key: (name, currency, amount in minor units, interval, description). UGX and XOF have no minor unit.
PLANS = {
    "starter_ghs": ("Starter", "ghs", 5_000, "month", "One website, 10 GB storage, email support."),
    "pro_ghs": ("Pro", "ghs", 15_000, "month", "Five websites, 100 GB storage, daily backups."),
    "business_ghs": ("Business", "ghs", 40_000, "month", "Unlimited websites, 1 TB storage, phone support."),
    "starter_ghs_year": ("Starter (yearly)", "ghs", 50_000, "year", "Starter, billed yearly: two months free."),
    "pro_ghs_year": ("Pro (yearly)", "ghs", 150_000, "year", "Pro, billed yearly: two months free."),
    "business_ghs_year": ("Business (yearly)", "ghs", 400_000, "year", "Business, billed yearly: two months free."),
    "pro_ngn": ("Pro", "ngn", 1_500_000, "month", "Five websites, 100 GB storage, daily backups."),
    "pro_kes": ("Pro", "kes", 150_000, "month", "Five websites, 100 GB storage, daily backups."),
    "starter_ugx": ("Starter", "ugx", 15_000, "month", "One website, 10 GB storage, email support."),
    "pro_ugx": ("Pro", "ugx", 45_000, "month", "Five websites, 100 GB storage, daily backups."),
    "pro_usd": ("Pro", "usd", 1_200, "month", "Five websites, 100 GB storage, daily backups."),
    "pro_usd_year": ("Pro (yearly)", "usd", 12_000, "year", "Pro, billed yearly: two months free."),
    "starter_xof": ("Starter", "xof", 3_000, "month", "Un site, 10 Go de stockage, support par e-mail."),
    "pro_xof": ("Pro", "xof", 9_000, "month", "Cinq sites, 100 Go de stockage, sauvegardes quotidiennes."),
}

# key: (name, email, phone, preferred_locale, address (line1, city, country)).
CUSTOMERS = {
    "ama": ("Ama Mensah", MAIN_CUSTOMER_EMAIL, "+233244123456", "en",
            ("14 Oxford Street, Osu", "Accra", "GH")),
    "kwame": ("Kwame Asante", "kwame.asante@example.com", "+233208123457", "en",
              ("22 Prempeh II Street", "Kumasi", "GH")),
    "chinedu": ("Chinedu Okafor", "chinedu.okafor@example.com", "+2348031234567", "en",
                ("15 Admiralty Way, Lekki", "Lagos", "NG")),
    "wanjiru": ("Wanjiru Kamau", "wanjiru.kamau@example.com", "+254712345678", "en",
                ("Kimathi Street 8", "Nairobi", "KE")),
    "brian": ("Brian Okello", "brian.okello@example.com", "+256772123456", "en",
              ("Plot 31 Kampala Road", "Kampala", "UG")),
    "fatou": ("Fatou Diop", "fatou.diop@example.com", "+221771234567", "fr",
              ("12 rue Carnot, Plateau", "Dakar", "SN")),
    "kofi": ("Kofi Boateng", "kofi.boateng@example.com", "+233245556789", "en",
             ("3 Beach Road", "Takoradi", "GH")),
    "aissata": ("Aïssata Koné", "aissata.kone@example.com", "+2250707123456", "fr",
                ("Rue des Jardins, Cocody", "Abidjan", "CI")),
    "tunde": ("Tunde Bakare", "tunde.bakare@example.com", "+2348021234444", "en",
              ("7 Ring Road", "Ibadan", "NG")),
    "aline": ("Aline Uwase", "aline.uwase@example.com", "+250788123456", "en",
              ("KG 9 Avenue", "Kigali", "RW")),
    "esi": ("Esi Owusu", "esi.owusu@example.com", "+233209876543", "en",
            ("9 Castle Road", "Cape Coast", "GH")),
    "abena": ("Abena Osei", "abena.osei@example.com", "+233551234568", "en",
              ("18 Liberty Avenue", "Tamale", "GH")),
}


def seed_demo() -> dict:
    """Seed the demo merchant unless it exists; either way issue a fresh API key and a fresh portal link.

    API keys are stored hashed, so a key printed before cannot be printed again: every run issues a new one and
    leaves the earlier ones valid (an example app configured with one keeps working; revoke them in the dashboard).
    Returns merchant_id, secret_key, email, password, dashboard_url, portal_url and customer_id (the main customer).
    """
    merchant = _demo_merchant()
    if merchant is None:
        merchant, secret = _seed(clock.now())
    else:
        secret = None
    customer = db.session.scalars(
        db.select(Customer).filter_by(merchant_id=merchant.id, email=MAIN_CUSTOMER_EMAIL)).first()
    if customer is None:
        raise click.ClickException(
            f"The demo merchant ({EMAIL}) exists but its seed did not finish: start from a fresh database.")
    if secret is None:
        key, secret = ApiKey.issue(merchant.id)
        db.session.add(key)
    session, url = issue_portal_session(customer, RETURN_URL)
    db.session.commit()
    return {
        "merchant_id": merchant.id, "secret_key": secret, "email": EMAIL, "password": PASSWORD,
        "dashboard_url": current_app.config["PUBLIC_URL"] + "/dashboard/",
        "portal_url": url, "customer_id": customer.id,
    }


def _demo_merchant() -> Merchant | None:
    owner = db.session.scalars(db.select(StaffUser).filter_by(email=EMAIL)).first()
    return owner.merchant if owner is not None else None


def _seed(now: int) -> tuple[Merchant, str]:
    """The merchant, its plans and the year its customers had, ending at `now`; returns it and its first key."""
    with clock.frozen(now - 400 * DAY):
        merchant, secret = create_merchant(MERCHANT["name"], EMAIL, PASSWORD)
        merchant.address = clean_address(MERCHANT["address"])
        plans = {key: Plan(merchant_id=merchant.id, name=name, currency=currency, amount=amount, interval=interval,
                           interval_count=1, description=description, active=True)
                 for key, (name, currency, amount, interval, description) in PLANS.items()}
        db.session.add_all(plans.values())
        db.session.flush()
        update_portal_configuration(db.session.get(PortalConfiguration, merchant.id), PORTAL_SETTINGS)
        db.session.commit()
        year = _Year(merchant.id, plans, now, current_app.config["MOBILE_MONEY_TIMEOUT"])
        for story in STORIES:
            story(year)
        year.play()
    return merchant, secret


@dataclass
class _Year:
    """The demo's timeline: steps at given moments, and the billing clock running between them."""

    merchant_id: str
    plans: dict[str, Plan]
    now: int
    mobile_money_timeout: int
    steps: list[tuple[int, int, Callable[[], object]]] = field(default_factory=list)
    customers: dict[str, Customer] = field(default_factory=dict)
    methods: dict[str, PaymentMethod] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)

    def at(self, moment: int, action: Callable[[], object]) -> None:
        self.steps.append((moment, len(self.steps), action))

    def play(self) -> None:
        """Run every step in time order (each in its own transaction), then let billing catch up to `now`."""
        for moment, _, action in sorted(self.steps, key=lambda step: step[:2]):
            self._bill_until(moment)
            action()
            db.session.commit()
        self._bill_until(self.now)

    def _bill_until(self, moment: int) -> None:
        """What the worker would have done up to `moment`, waking only when something of the demo falls due."""
        while True:
            run_due_billing(self.mobile_money_timeout, clock.now())
            wake = self._next_wake()
            if wake is None or wake > moment:
                break
            clock.advance(wake - clock.now())
        clock.advance(max(moment - clock.now(), 0))

    def _next_wake(self) -> int | None:
        """The next moment something of the demo falls due: a renewal, a pause ending, a retry, a handset's answer."""
        now, merchant_id = clock.now(), self.merchant_id
        due = [
            db.select(db.func.min(Subscription.current_period_end)).where(
                Subscription.merchant_id == merchant_id, Subscription.status.in_(billing.LIVE_STATUSES),
                Subscription.current_period_end > now),
            db.select(db.func.min(Subscription.pause_resumes_at)).where(
                Subscription.merchant_id == merchant_id, Subscription.status == "paused",
                Subscription.pause_resumes_at > now),
            db.select(db.func.min(Invoice.next_payment_attempt)).where(
                Invoice.merchant_id == merchant_id, Invoice.status == "open", Invoice.next_payment_attempt > now),
        ]
        moments = [moment for query in due if (moment := db.session.scalar(query)) is not None]
        asked = [*db.session.scalars(db.select(Payment.created).filter_by(merchant_id=merchant_id, status="pending")),
                 *db.session.scalars(db.select(PaymentMethod.created).filter_by(
                     merchant_id=merchant_id, status=PaymentMethod.PENDING, detached_at=None))]
        for created in asked:  # a handset answers within seconds, or never and times out
            moments += [moment for moment in (created + HANDSET_ANSWERS_WITHIN, created + self.mobile_money_timeout)
                        if moment > now][:1]
        return min(moments, default=None)

    # --- what customers do, scheduled at a moment ----------------------------------------------------------

    def sign_up(self, moment: int, key: str) -> None:
        name, email, phone, locale, (line1, city, country) = CUSTOMERS[key]

        def create():
            customer = Customer(merchant_id=self.merchant_id, name=name, email=email, phone=phone,
                                preferred_locale=locale, metadata_={"kente_account": key},
                                address=clean_address({"line1": line1, "city": city, "country": country}))
            db.session.add(customer)
            self.customers[key] = customer
        self.at(moment, create)

    def add_card(self, moment: int, key: str, number: str, method: str, origin: Origin = API,
                 set_default: bool = False) -> None:
        def attach():
            self.methods[method] = payment_methods.attach_card(
                self.customers[key], number, 12, 2031, "123", set_default, origin, clock.now())
        self.at(moment, attach)

    def add_wallet(self, moment: int, key: str, provider: str, phone: str, method: str,
                   origin: Origin = API) -> None:
        """A wallet waiting for the handset; the billing clock sees its approval (the first becomes the default)."""
        def attach():
            self.methods[method] = payment_methods.attach_mobile_money(
                self.customers[key], provider, phone, False, origin, clock.now())
        self.at(moment, attach)

    def subscribe(self, moment: int, key: str, plan: str, subscription: str, trial_days: int | None = None) -> None:
        def create():
            self.subscriptions[subscription] = billing.create_subscription(
                self.customers[key], self.plans[plan], API, clock.now(), trial_period_days=trial_days)
        self.at(moment, create)


def _months_before(moment: int, months: int) -> int:
    return add_interval(moment, "month", 1, -months)


# --- the customers' year -----------------------------------------------------------------------------------------
# Moments are counted back from `now`. A step that must land inside a given period is placed from a chosen renewal
# date (`_months_before`), so the outcome does not depend on the month the demo is seeded in.


def _ama(year: _Year) -> None:
    """The main customer: two sites for a year (24-odd invoices), a card then mobile money, one upgrade."""
    start = year.now - 365 * DAY + 6 * HOUR  # twelve months later is still ahead of `now`
    year.sign_up(start, "ama")
    year.add_card(start + MINUTE, "ama", "4242424242424242", "ama_card")
    year.subscribe(start + 2 * MINUTE, "ama", "pro_ghs", "ama_site")
    year.subscribe(start + 20 * DAY, "ama", "starter_ghs", "ama_shop")
    year.add_wallet(start + 150 * DAY, "ama", "mtn_momo", "+233244123456", "ama_momo", origin=PORTAL)
    year.at(start + 150 * DAY + HOUR,
            lambda: payment_methods.set_default(year.customers["ama"], year.methods["ama_momo"], PORTAL))
    year.at(start + 215 * DAY, lambda: billing.change_plan(
        year.subscriptions["ama_shop"], year.plans["business_ghs"], "create_prorations", PORTAL, clock.now()))


def _kwame(year: _Year) -> None:
    """A yearly customer after a trial, with a downgrade scheduled for the end of the year (`pending_update`)."""
    start = year.now - 390 * DAY
    year.sign_up(start, "kwame")
    year.add_wallet(start + MINUTE, "kwame", "telecel_cash", "+233208123457", "kwame_cash")
    year.subscribe(start + 10 * MINUTE, "kwame", "business_ghs_year", "kwame_agency", trial_days=14)
    year.at(year.now - 5 * DAY, lambda: billing.schedule_plan_change(
        year.subscriptions["kwame_agency"], year.plans["pro_ghs_year"], PORTAL))


def _chinedu(year: _Year) -> None:
    """Past due: a replacement card that declines, so the last renewal and its first retry failed."""
    renewal = year.now - 2 * DAY
    start = _months_before(renewal, 7)
    year.sign_up(start, "chinedu")
    year.add_card(start + MINUTE, "chinedu", "5555555555554444", "chinedu_old_card")
    year.subscribe(start + 2 * MINUTE, "chinedu", "pro_ngn", "chinedu_store")
    year.add_card(renewal - 10 * DAY, "chinedu", "4000000000000341", "chinedu_card", PORTAL, set_default=True)
    year.at(renewal - 10 * DAY + MINUTE,
            lambda: payment_methods.detach(year.methods["chinedu_old_card"], PORTAL, clock.now()))


def _wanjiru(year: _Year) -> None:
    """Trialing: signed up five days ago with M-Pesa."""
    start = year.now - 5 * DAY
    year.sign_up(start, "wanjiru")
    year.add_wallet(start + MINUTE, "wanjiru", "mpesa", "+254712345678", "wanjiru_mpesa")
    year.subscribe(start + 5 * MINUTE, "wanjiru", "pro_kes", "wanjiru_blog", trial_days=14)


def _brian(year: _Year) -> None:
    """Shillings without a minor unit; paused for a month, then resumed by the billing clock."""
    start = year.now - 300 * DAY
    year.sign_up(start, "brian")
    year.add_wallet(start + MINUTE, "brian", "mtn_momo", "+256772123456", "brian_momo")
    year.subscribe(start + 5 * MINUTE, "brian", "pro_ugx", "brian_school")
    year.at(year.now - 190 * DAY, lambda: billing.pause(
        year.subscriptions["brian_school"], year.now - 160 * DAY, PORTAL, clock.now()))


def _fatou(year: _Year) -> None:
    """Paused (with no date to resume) instead of cancelling; reads the portal in French."""
    start = year.now - 250 * DAY
    year.sign_up(start, "fatou")
    year.add_wallet(start + MINUTE, "fatou", "orange_money", "+221771234567", "fatou_orange")
    year.subscribe(start + 5 * MINUTE, "fatou", "pro_xof", "fatou_boutique")
    year.at(year.now - 20 * DAY, lambda: billing.pause(
        year.subscriptions["fatou_boutique"], None, PORTAL, clock.now()))


def _kofi(year: _Year) -> None:
    """Canceled: cancelled at period end from the portal, with a survey answer."""
    start = year.now - 330 * DAY
    year.sign_up(start, "kofi")
    year.add_card(start + MINUTE, "kofi", "4242424242424242", "kofi_card")
    year.subscribe(start + 2 * MINUTE, "kofi", "starter_ghs", "kofi_portfolio")
    year.at(year.now - 100 * DAY, lambda: billing.cancel(
        year.subscriptions["kofi_portfolio"], True, PORTAL, clock.now(),
        reason="too_expensive", comment="Too dear for me this year."))


def _aissata(year: _Year) -> None:
    """Incomplete: a new customer whose card declined the first invoice, which stays open to pay in the portal."""
    start = year.now - 2 * HOUR
    year.sign_up(start, "aissata")
    year.add_card(start + MINUTE, "aissata", "4000000000000341", "aissata_card")
    year.subscribe(start + 2 * MINUTE, "aissata", "starter_xof", "aissata_shop")


def _tunde(year: _Year) -> None:
    """Incomplete: the first charge is waiting for the handset (a test phone that never answers a charge)."""
    start = year.now - 90
    year.sign_up(start, "tunde")
    year.add_wallet(start + 1, "tunde", "airtel_money", "+2348021234444", "tunde_airtel")
    year.subscribe(year.now - 45, "tunde", "pro_ngn", "tunde_app")


def _aline(year: _Year) -> None:
    """Active, set to cancel at the end of the period (dollars)."""
    renewal = year.now - 10 * DAY
    start = _months_before(renewal, 8)
    year.sign_up(start, "aline")
    year.add_card(start + MINUTE, "aline", "4242424242424242", "aline_card")
    year.subscribe(start + 2 * MINUTE, "aline", "pro_usd", "aline_studio")
    year.at(year.now - 6 * DAY, lambda: billing.cancel(
        year.subscriptions["aline_studio"], True, PORTAL, clock.now(),
        reason="switched_service", comment="Moving to our parent company's account."))


def _esi(year: _Year) -> None:
    """A first charge that failed for want of funds, paid on the billing clock's retry after a new card."""
    start = year.now - 270 * DAY
    year.sign_up(start, "esi")
    year.add_card(start + MINUTE, "esi", "4000000000009995", "esi_first_card")
    year.subscribe(start + 2 * MINUTE, "esi", "pro_ghs", "esi_clinic")
    year.add_card(start + 3 * HOUR, "esi", "5555555555554444", "esi_card", PORTAL, set_default=True)
    year.at(start + 3 * HOUR + MINUTE,
            lambda: payment_methods.detach(year.methods["esi_first_card"], PORTAL, clock.now()))


def _abena(year: _Year) -> None:
    """A downgrade scheduled from the portal and applied by the billing clock at the end of that period."""
    start = year.now - 300 * DAY
    year.sign_up(start, "abena")
    year.add_wallet(start + MINUTE, "abena", "mtn_momo", "+233551234568", "abena_momo")
    year.subscribe(start + 5 * MINUTE, "abena", "pro_ghs", "abena_church")
    year.at(year.now - 160 * DAY, lambda: billing.schedule_plan_change(
        year.subscriptions["abena_church"], year.plans["starter_ghs"], PORTAL))


STORIES = (_ama, _kwame, _chinedu, _wanjiru, _brian, _fatou, _kofi, _aissata, _tunde, _aline, _esi, _abena)
