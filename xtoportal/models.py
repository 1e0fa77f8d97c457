"""Tables and their invariants. Every row that belongs to a merchant carries `merchant_id`."""
import copy
import hashlib
import secrets
import time
import string

from sqlalchemy import (
    JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import clock
from .extensions import db

_ALPHABET = string.ascii_letters + string.digits
JSONType = JSON().with_variant(JSONB(), "postgresql")


def new_id(prefix: str) -> str:
    """A random, unguessable id: the type prefix and 22 base62 characters (about 131 bits)."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(22))


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _id_column(prefix: str):
    return mapped_column(String(40), primary_key=True, default=lambda: new_id(prefix))


def _created_column():
    return mapped_column(BigInteger, nullable=False, default=clock.now)


def _sort_key() -> int:
    return time.time_ns() // 1000


def _sort_key_column():
    """Creation order at microsecond resolution: lists are newest first even within one second."""
    return mapped_column(BigInteger, nullable=False, default=_sort_key)


def _merchant_column():
    return mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False, index=True)


class Merchant(db.Model):
    __tablename__ = "merchants"

    id: Mapped[str] = _id_column("mer")
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    invoice_prefix: Mapped[str] = mapped_column(String(12))
    last_invoice_number: Mapped[int] = mapped_column(Integer, default=0)
    address: Mapped[dict | None] = mapped_column(JSONType)
    created: Mapped[int] = _created_column()


class MerchantLogo(db.Model):
    """The merchant's logo, re-encoded by the dashboard before it is stored, served from the database."""

    __tablename__ = "merchant_logos"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    mimetype: Mapped[str] = mapped_column(String(40))
    digest: Mapped[str] = mapped_column(String(64))
    updated: Mapped[int] = mapped_column(BigInteger, default=clock.now)


class StaffUser(db.Model):
    """A dashboard user. `support` may look and preview, never change."""

    __tablename__ = "staff_users"
    ROLES = ("owner", "admin", "support")

    id: Mapped[str] = _id_column("usr")
    merchant_id: Mapped[str] = _merchant_column()
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    created: Mapped[int] = _created_column()
    last_login_at: Mapped[int | None] = mapped_column(BigInteger)

    merchant: Mapped[Merchant] = relationship()


class ApiKey(db.Model):
    """A secret key, stored as its SHA-256 (the key itself has 190+ bits of entropy) with a display prefix."""

    __tablename__ = "api_keys"

    id: Mapped[str] = _id_column("key")
    merchant_id: Mapped[str] = _merchant_column()
    prefix: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[int] = _created_column()
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)

    merchant: Mapped[Merchant] = relationship()

    @classmethod
    def issue(cls, merchant_id: str) -> tuple["ApiKey", str]:
        """Create a key; the plain secret is returned once and never stored."""
        secret = "sk_test_" + "".join(secrets.choice(_ALPHABET) for _ in range(32))
        key = cls(merchant_id=merchant_id, prefix=secret[:12], secret_hash=sha256(secret))
        return key, secret


class Customer(db.Model):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_merchant_order", "merchant_id", "sort_key"),)

    id: Mapped[str] = _id_column("cus")
    merchant_id: Mapped[str] = _merchant_column()
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[dict | None] = mapped_column(JSONType)
    preferred_locale: Mapped[str | None] = mapped_column(String(5))
    default_payment_method_id: Mapped[str | None] = mapped_column(String(40))
    metadata_: Mapped[dict] = mapped_column("metadata", JSONType, default=dict)
    # Credit owed to the customer per currency (minor units), from downgrades; applied to the next invoices.
    credit_balance: Mapped[dict] = mapped_column(JSONType, default=dict)
    created: Mapped[int] = _created_column()
    sort_key: Mapped[int] = _sort_key_column()

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "object": "customer",
            "created": self.created,
            "email": self.email,
            "name": self.name,
            "phone": self.phone,
            "address": self.address,
            "preferred_locale": self.preferred_locale,
            "default_payment_method": self.default_payment_method_id,
            "metadata": dict(self.metadata_ or {}),
            "credit_balance": dict(self.credit_balance or {}),
            "livemode": False,
        }


class Plan(db.Model):
    __tablename__ = "plans"
    __table_args__ = (Index("ix_plans_merchant_order", "merchant_id", "sort_key"),)
    INTERVALS = ("day", "week", "month", "year")

    id: Mapped[str] = _id_column("plan")
    merchant_id: Mapped[str] = _merchant_column()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(5))
    interval_count: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[int] = _created_column()
    sort_key: Mapped[int] = _sort_key_column()

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "object": "plan",
            "created": self.created,
            "name": self.name,
            "description": self.description,
            "amount": self.amount,
            "currency": self.currency,
            "interval": self.interval,
            "interval_count": self.interval_count,
            "active": self.active,
            "livemode": False,
        }


class PaymentMethod(db.Model):
    """Only a processor token, brand, last4 and expiry are kept: never a card number or CVC."""

    __tablename__ = "payment_methods"
    ACTIVE, PENDING, FAILED = "active", "pending", "failed"
    __table_args__ = (Index("ix_payment_methods_customer", "customer_id", "sort_key"),)

    id: Mapped[str] = _id_column("pm")
    merchant_id: Mapped[str] = _merchant_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    processor_token: Mapped[str] = mapped_column(String(200))
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp_month: Mapped[int | None] = mapped_column(Integer)
    card_exp_year: Mapped[int | None] = mapped_column(Integer)
    mm_provider: Mapped[str | None] = mapped_column(String(20))
    mm_country: Mapped[str | None] = mapped_column(String(2))
    mm_phone_last4: Mapped[str | None] = mapped_column(String(4))
    link_reference: Mapped[str | None] = mapped_column(String(200))
    # `set_default` asked for a wallet still waiting for the handset: honoured once it is approved.
    default_when_active: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[int] = _created_column()
    sort_key: Mapped[int] = _sort_key_column()
    detached_at: Mapped[int | None] = mapped_column(BigInteger)

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "object": "payment_method",
            "created": self.created,
            "customer_id": self.customer_id,
            "type": self.type,
            "status": self.status,
            "card": (
                {"brand": self.card_brand, "last4": self.card_last4,
                 "exp_month": self.card_exp_month, "exp_year": self.card_exp_year}
                if self.type == "card" else None
            ),
            "mobile_money": (
                {"provider": self.mm_provider, "country": self.mm_country, "phone_last4": self.mm_phone_last4}
                if self.type == "mobile_money" else None
            ),
            "detached_at": self.detached_at,
            "livemode": False,
        }


class Subscription(db.Model):
    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_merchant_order", "merchant_id", "sort_key"),
        Index("ix_subscriptions_customer", "customer_id", "sort_key"),
        Index("ix_subscriptions_due", "status", "current_period_end"),
    )
    STATUSES = ("trialing", "active", "past_due", "paused", "canceled", "incomplete")

    id: Mapped[str] = _id_column("sub")
    merchant_id: Mapped[str] = _merchant_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"))
    status: Mapped[str] = mapped_column(String(12))
    billing_anchor: Mapped[int] = mapped_column(BigInteger)
    period_index: Mapped[int] = mapped_column(Integer, default=0)
    current_period_start: Mapped[int] = mapped_column(BigInteger)
    current_period_end: Mapped[int] = mapped_column(BigInteger)
    trial_end: Mapped[int | None] = mapped_column(BigInteger)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    canceled_at: Mapped[int | None] = mapped_column(BigInteger)
    ended_at: Mapped[int | None] = mapped_column(BigInteger)
    cancellation_reason: Mapped[str | None] = mapped_column(String(40))
    cancellation_comment: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[int | None] = mapped_column(BigInteger)
    pause_resumes_at: Mapped[int | None] = mapped_column(BigInteger)
    pending_plan_id: Mapped[str | None] = mapped_column(String(40))
    pending_effective_at: Mapped[int | None] = mapped_column(BigInteger)
    created: Mapped[int] = _created_column()
    sort_key: Mapped[int] = _sort_key_column()

    plan: Mapped[Plan] = relationship(lazy="joined")
    customer: Mapped[Customer] = relationship()

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "object": "subscription",
            "created": self.created,
            "customer_id": self.customer_id,
            "plan": self.plan.to_api(),
            "status": self.status,
            "current_period_start": self.current_period_start,
            "current_period_end": self.current_period_end,
            "trial_end": self.trial_end,
            "cancel_at_period_end": self.cancel_at_period_end,
            "canceled_at": self.canceled_at,
            "ended_at": self.ended_at,
            "cancellation_details": {"reason": self.cancellation_reason, "comment": self.cancellation_comment},
            "pause_collection": (
                {"resumes_at": self.pause_resumes_at} if self.status == "paused" else None
            ),
            "pending_update": (
                {"plan_id": self.pending_plan_id, "effective_at": self.pending_effective_at}
                if self.pending_plan_id else None
            ),
            "livemode": False,
        }


class Invoice(db.Model):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("merchant_id", "number"),
        # A customer's invoices newest first, ending in the id: the billing history's order (sort_key, id), so a
        # page of it reads its rows straight off the index whatever the customer's number of invoices.
        Index("ix_invoices_customer_page", "customer_id", "sort_key", "id"),
        Index("ix_invoices_subscription_order", "subscription_id", "sort_key"),
        Index("ix_invoices_merchant_order", "merchant_id", "sort_key"),
    )
    STATUSES = ("draft", "open", "paid", "void", "uncollectible")

    id: Mapped[str] = _id_column("in")
    merchant_id: Mapped[str] = _merchant_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    number: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(15))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    period_start: Mapped[int] = mapped_column(BigInteger)
    period_end: Mapped[int] = mapped_column(BigInteger)
    paid_at: Mapped[int | None] = mapped_column(BigInteger)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_payment_attempt: Mapped[int | None] = mapped_column(BigInteger)
    created: Mapped[int] = _created_column()
    sort_key: Mapped[int] = _sort_key_column()

    lines: Mapped[list["InvoiceLine"]] = relationship(
        order_by="InvoiceLine.position", cascade="all, delete-orphan", lazy="selectin"
    )
    customer: Mapped[Customer] = relationship()

    @property
    def amount_due(self) -> int:
        return 0 if self.status in ("paid", "void") else max(self.total - self.amount_paid, 0)

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "object": "invoice",
            "created": self.created,
            "number": self.number,
            "customer_id": self.customer_id,
            "subscription_id": self.subscription_id,
            "status": self.status,
            "currency": self.currency,
            "subtotal": self.subtotal,
            "tax": self.tax,
            "total": self.total,
            "amount_paid": self.amount_paid,
            "amount_due": self.amount_due,
            "lines": [line.to_api() for line in self.lines],
            "period_start": self.period_start,
            "period_end": self.period_end,
            "paid_at": self.paid_at,
            "livemode": False,
        }


class InvoiceDocument(db.Model):
    """A rendered invoice PDF, kept once the invoice is final so repeat downloads serve the stored bytes."""

    __tablename__ = "invoice_documents"

    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), primary_key=True)
    locale: Mapped[str] = mapped_column(String(5), primary_key=True)
    # The invoice state the bytes were rendered from: a status change (open → paid) renders again.
    rendered_status: Mapped[str] = mapped_column(String(15))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[int] = _created_column()


class InvoiceLine(db.Model):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(String(300))
    amount: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    period_start: Mapped[int] = mapped_column(BigInteger)
    period_end: Mapped[int] = mapped_column(BigInteger)
    proration: Mapped[bool] = mapped_column(Boolean, default=False)
    plan_id: Mapped[str | None] = mapped_column(String(40))

    def to_api(self) -> dict:
        return {
            "description": self.description,
            "amount": self.amount,
            "quantity": self.quantity,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "proration": self.proration,
        }


class Payment(db.Model):
    """One attempt to collect an invoice from a payment method (mobile money ones stay pending a while)."""

    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_pending", "status", "created"),)

    id: Mapped[str] = _id_column("py")
    merchant_id: Mapped[str] = _merchant_column()
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    payment_method_id: Mapped[str] = mapped_column(ForeignKey("payment_methods.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10))
    reference: Mapped[str] = mapped_column(String(200))
    failure_code: Mapped[str | None] = mapped_column(String(40))
    created: Mapped[int] = _created_column()
    decided_at: Mapped[int | None] = mapped_column(BigInteger)


DEFAULT_PORTAL_CONFIGURATION = {
    "branding": {"business_name": None, "logo_url": None, "primary_color": "#1a56db", "accent_color": "#0e9f6e"},
    "business_profile": {"support_email": None, "privacy_policy_url": None, "terms_of_service_url": None},
    "default_return_url": None,
    "allowed_return_hosts": [],
    "features": {
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True, "types": ["card", "mobile_money"]},
        "customer_update": {"enabled": True, "allowed_updates": ["name", "email", "phone", "address"]},
        "subscription_update": {"enabled": True, "plans": [], "proration_behavior": "create_prorations",
                                "downgrades": "immediately"},
        "subscription_cancel": {
            "enabled": True, "mode": "at_period_end",
            "survey": {"enabled": True, "options": [
                "too_expensive", "missing_features", "switched_service", "unused",
                "customer_service", "too_complex", "low_quality", "other"]},
            "pause_before_cancel": {"enabled": True},
        },
        "subscription_pause": {"enabled": True},
    },
}


def merge_settings(base: dict, patch: dict) -> dict:
    """Deep-merge `patch` into a copy of `base`: objects merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_settings(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _json_copy(value):
    """A deep copy of a JSON document (dicts, lists, scalars), several times quicker than copy.deepcopy."""
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value


class PortalConfiguration(db.Model):
    """One per merchant: what the portal shows and allows. Templates hide, routes refuse, both ask here."""

    __tablename__ = "portal_configurations"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), primary_key=True)
    settings: Mapped[dict] = mapped_column(JSONType)
    updated: Mapped[int] = mapped_column(BigInteger, default=clock.now, onupdate=clock.now)

    merchant: Mapped[Merchant] = relationship()

    @property
    def document(self) -> dict:
        """The full configuration: stored settings over the defaults (new default keys appear by themselves).
        A copy of its own: the caller may change it."""
        return _json_copy(self._merged())

    def _merged(self) -> dict:
        """The merged document, shared and never changed in place: worked out once per `settings` value rather than
        on each of the dozen `allows` a portal page asks (a deep copy of the defaults each time). Settings are
        replaced, never edited in place (a JSON column does not track that), so a new value object means a change;
        a refresh or reload from the database brings a new object too."""
        settings = self.settings
        cached = self.__dict__.get("_merged_cache")
        if cached is None or cached[0] is not settings:  # the tuple keeps `settings` alive: its id cannot be reused
            cached = (settings, merge_settings(DEFAULT_PORTAL_CONFIGURATION, settings or {}))
            self.__dict__["_merged_cache"] = cached
        return cached[1]

    def feature(self, name: str) -> dict:
        return _json_copy(self._merged()["features"][name])

    def allows(self, name: str) -> bool:
        return bool(self._merged()["features"][name]["enabled"])

    def to_api(self) -> dict:
        document = self.document
        if not document["branding"]["business_name"]:
            document["branding"]["business_name"] = self.merchant.name
        return {"object": "customer_portal.configuration", **document, "livemode": False}


class PortalSession(db.Model):
    """A customer's 30-minute pass into the portal. The link is single-use; the redeeming browser is remembered."""

    __tablename__ = "portal_sessions"
    LIFETIME = 1800

    id: Mapped[str] = _id_column("sess")
    merchant_id: Mapped[str] = _merchant_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    return_url: Mapped[str] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(5), default="auto")
    flow: Mapped[dict | None] = mapped_column(JSONType)
    created: Mapped[int] = _created_column()
    sort_key: Mapped[int] = _sort_key_column()
    expires_at: Mapped[int] = mapped_column(BigInteger)
    redeemed_at: Mapped[int | None] = mapped_column(BigInteger)
    browser_hash: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)

    customer: Mapped[Customer] = relationship()
    merchant: Mapped[Merchant] = relationship()

    def status_at(self, now: int) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if now >= self.expires_at:
            return "expired"
        if self.redeemed_at is not None:
            return "redeemed"
        return "active"

    def to_api(self, url: str | None = None) -> dict:
        return {
            "id": self.id,
            "object": "customer_portal.session",
            "created": self.created,
            "customer_id": self.customer_id,
            "return_url": self.return_url,
            "url": url,
            "locale": self.locale,
            "flow": self.flow,
            "status": self.status_at(clock.now()),
            "expires_at": self.expires_at,
            "livemode": False,
        }


class Event(db.Model):
    """The outbox: written in the same transaction as the change it describes."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_merchant_order", "merchant_id", "sort_key"),
        Index("ix_events_merchant_type", "merchant_id", "type", "sort_key"),
    )

    id: Mapped[str] = _id_column("evt")
    merchant_id: Mapped[str] = _merchant_column()
    type: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[str] = mapped_column(String(40), index=True)
    data: Mapped[dict] = mapped_column(JSONType)
    request_source: Mapped[str] = mapped_column(String(10))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[int] = _created_column()
    sort_key: Mapped[int] = _sort_key_column()

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "object": "event",
            "type": self.type,
            "created": self.created,
            "livemode": False,
            "data": self.data,
            "request": {"source": self.request_source, "idempotency_key": self.idempotency_key},
        }


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_merchant_order", "merchant_id", "sort_key"),)

    id: Mapped[str] = _id_column("we")
    merchant_id: Mapped[str] = _merchant_column()
    url: Mapped[str] = mapped_column(Text)
    enabled_events: Mapped[list] = mapped_column(JSONType)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="enabled")
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # HMAC needs the secret itself, so it cannot be hashed like an API key.
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[int | None] = mapped_column(BigInteger)
    created: Mapped[int] = _created_column()
    sort_key: Mapped[int] = _sort_key_column()

    def takes(self, event_type: str) -> bool:
        return self.status == "enabled" and ("*" in self.enabled_events or event_type in self.enabled_events)

    def to_api(self, include_secret: bool = False) -> dict:
        body = {
            "id": self.id,
            "object": "webhook_endpoint",
            "created": self.created,
            "url": self.url,
            "enabled_events": list(self.enabled_events),
            "description": self.description,
            "status": self.status,
            "disabled_reason": self.disabled_reason,
            "livemode": False,
        }
        if include_secret:
            body["secret"] = self.secret
        return body


class WebhookDelivery(db.Model):
    """One attempt to deliver one event to one endpoint; a retry is a new row with the next attempt number."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_order", "endpoint_id", "sort_key"),
    )

    id: Mapped[str] = _id_column("whd")
    merchant_id: Mapped[str] = _merchant_column()
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    response_status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[int | None] = mapped_column(BigInteger)
    # A worker's lease while it sends this attempt; a crashed worker's lease runs out and another takes over.
    locked_until: Mapped[int | None] = mapped_column(BigInteger)
    created: Mapped[int] = _created_column()
    sort_key: Mapped[int] = _sort_key_column()

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "object": "webhook_delivery",
            "created": self.created,
            "event_id": self.event_id,
            "endpoint_id": self.endpoint_id,
            "attempt": self.attempt,
            "status": self.status,
            "response_status": self.response_status,
            "latency_ms": self.latency_ms,
            "response_excerpt": self.response_excerpt,
            "next_attempt_at": self.next_attempt_at,
            "livemode": False,
        }


class IdempotencyRecord(db.Model):
    """The first response to an `Idempotency-Key`, replayed for 24 hours."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("merchant_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    merchant_id: Mapped[str] = _merchant_column()
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created: Mapped[int] = _created_column()


class AuditEntry(db.Model):
    """Who did what in the dashboard, and every support preview of a customer's portal."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_merchant_created", "merchant_id", "created"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    merchant_id: Mapped[str] = _merchant_column()
    staff_user_id: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60))
    target_id: Mapped[str | None] = mapped_column(String(40))
    details: Mapped[dict | None] = mapped_column(JSONType)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[int] = _created_column()
