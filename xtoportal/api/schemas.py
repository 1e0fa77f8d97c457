"""JSON Schemas (2020-12) of what the API answers with, as the `to_api()` methods in models.py produce it.

Every field listed is always present, so every one is `required`; "or null" is spelled out. Objects stay open to
fields added later (no `additionalProperties: false`), which is how a merchant's client should read them.
"""
from ..billing.processor import PROVIDERS
from ..events import EVENT_TYPES
from ..models import Invoice, PaymentMethod, Plan, Subscription

EVENT_SOURCES = ("api", "portal", "dashboard", "billing")
ERROR_TYPES = ("invalid_request_error", "authentication_error", "card_error", "permission_error",
               "idempotency_error", "rate_limit_error", "api_error")


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    """`schema` or null: in `type` for a plain type, else as an anyOf."""
    if isinstance(schema.get("type"), str) and "$ref" not in schema:
        widened = {**schema, "type": [schema["type"], "null"]}
        if "enum" in schema:
            widened["enum"] = [*schema["enum"], None]
        return widened
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict, optional: tuple[str, ...] = (), description: str | None = None) -> dict:
    """An object whose properties are all required except `optional`."""
    schema = {"type": "object", "properties": properties,
              "required": [name for name in properties if name not in optional]}
    if description:
        schema["description"] = description
    return schema


def string_enum(values) -> dict:
    return {"type": "string", "enum": list(values)}


def prefixed_id(prefix: str) -> dict:
    return {"type": "string", "pattern": f"^{prefix}_[A-Za-z0-9]+$"}


def const(value) -> dict:
    return {"const": value, "type": {str: "string", bool: "boolean"}[type(value)]}


TIMESTAMP = {"type": "integer", "description": "Unix seconds (UTC)."}
AMOUNT = {"type": "integer", "description": "In the currency's minor unit."}
CURRENCY = {"type": "string", "pattern": "^[a-z]{3}$", "description": "ISO 4217, lower-case."}
LIVEMODE = const(False)


def _resource(prefix: str, name: str, properties: dict, optional: tuple[str, ...] = (), description: str = "") -> dict:
    """A resource: `id`, `object`, `created`, its own fields, `livemode`."""
    return obj({"id": prefixed_id(prefix), "object": const(name), "created": TIMESTAMP, **properties,
                "livemode": LIVEMODE}, optional, description)


CUSTOMER = _resource("cus", "customer", {
    "email": nullable({"type": "string", "format": "email"}),
    "name": nullable({"type": "string"}),
    "phone": nullable({"type": "string", "pattern": r"^\+[1-9][0-9]{1,14}$", "description": "E.164."}),
    "address": nullable(obj({part: nullable({"type": "string"}) for part in
                             ("line1", "line2", "city", "state", "postal_code", "country")},
                            description="Every part, null when not given; `country` is ISO 3166-1 alpha-2.")),
    "preferred_locale": nullable(string_enum(["en", "fr"])),
    "default_payment_method": nullable(prefixed_id("pm")),
    "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
    "credit_balance": {"type": "object", "additionalProperties": {"type": "integer"},
                       "description": "Credit owed to the customer per currency (minor units), from downgrades; "
                                      "applied to the next invoices."},
})

PLAN = _resource("plan", "plan", {
    "name": {"type": "string"},
    "description": nullable({"type": "string"}),
    "amount": AMOUNT,
    "currency": CURRENCY,
    "interval": string_enum(Plan.INTERVALS),
    "interval_count": {"type": "integer", "minimum": 1},
    "active": {"type": "boolean"},
})

PAYMENT_METHOD = _resource("pm", "payment_method", {
    "customer_id": prefixed_id("cus"),
    "type": string_enum(["card", "mobile_money"]),
    "status": string_enum([PaymentMethod.PENDING, PaymentMethod.ACTIVE, PaymentMethod.FAILED]),
    "card": nullable(obj({
        "brand": {"type": "string", "description": "The card network, e.g. visa, mastercard."},
        "last4": {"type": "string", "pattern": "^[0-9]{4}$"},
        "exp_month": {"type": "integer", "minimum": 1, "maximum": 12},
        "exp_year": {"type": "integer"},
    }, description="Present for type `card`, null otherwise.")),
    "mobile_money": nullable(obj({
        "provider": string_enum(PROVIDERS),
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "phone_last4": {"type": "string", "pattern": "^[0-9]{4}$"},
    }, description="Present for type `mobile_money`, null otherwise.")),
    "detached_at": nullable({**TIMESTAMP, "description": "When it was detached (seen in the event of a detach); "
                                                        "null while attached."}),
})

SUBSCRIPTION = _resource("sub", "subscription", {
    "customer_id": prefixed_id("cus"),
    "plan": ref("Plan"),
    "status": string_enum(Subscription.STATUSES),
    "current_period_start": TIMESTAMP,
    "current_period_end": TIMESTAMP,
    "trial_end": nullable(TIMESTAMP),
    "cancel_at_period_end": {"type": "boolean"},
    "canceled_at": nullable(TIMESTAMP),
    "ended_at": nullable(TIMESTAMP),
    "cancellation_details": obj({"reason": nullable({"type": "string"}),
                                 "comment": nullable({"type": "string"})},
                                description="From the portal's cancellation survey (both null without one)."),
    "pause_collection": nullable(obj({"resumes_at": nullable(TIMESTAMP)},
                                     description="Set while the subscription is paused.")),
    "pending_update": nullable(obj({"plan_id": prefixed_id("plan"), "effective_at": TIMESTAMP},
                                   description="A plan change scheduled for the end of the period.")),
})

INVOICE_LINE = obj({
    "description": {"type": "string"},
    "amount": AMOUNT,
    "quantity": {"type": "integer"},
    "period_start": TIMESTAMP,
    "period_end": TIMESTAMP,
    "proration": {"type": "boolean"},
})

INVOICE = _resource("in", "invoice", {
    "number": {"type": "string", "description": "The merchant's prefix and a gap-free sequence, e.g. ACME-000042."},
    "customer_id": prefixed_id("cus"),
    "subscription_id": nullable(prefixed_id("sub")),
    "status": string_enum(Invoice.STATUSES),
    "currency": CURRENCY,
    "subtotal": AMOUNT,
    "tax": AMOUNT,
    "total": AMOUNT,
    "amount_paid": AMOUNT,
    "amount_due": AMOUNT,
    "lines": {"type": "array", "items": ref("InvoiceLine")},
    "period_start": TIMESTAMP,
    "period_end": TIMESTAMP,
    "paid_at": nullable(TIMESTAMP),
})

# The invoice in an `invoice.payment_failed` event also says why the payment failed.
EVENT_INVOICE = {
    **INVOICE,
    "properties": {**INVOICE["properties"], "last_payment_error": obj({
        "code": nullable({"type": "string"}),
        "payment_method_id": nullable(prefixed_id("pm")),
    })},
    "description": "The invoice; in `invoice.payment_failed`, with `last_payment_error`.",
}

FLOW = obj({"type": string_enum(["payment_method_update", "subscription_cancel", "subscription_update"]),
            "subscription_id": prefixed_id("sub")},
           optional=("subscription_id",), description="The one task the portal opens on.")

PORTAL_SESSION = _resource("sess", "customer_portal.session", {
    "customer_id": prefixed_id("cus"),
    "return_url": {"type": "string"},
    "url": {"type": "null", "description": "The link is shown once, when the session is created."},
    "locale": string_enum(["auto", "en", "fr"]),
    "flow": nullable(ref("CustomerPortalFlow")),
    "status": string_enum(["active", "redeemed", "expired", "revoked"]),
    "expires_at": TIMESTAMP,
})

NEW_PORTAL_SESSION = {
    **PORTAL_SESSION,
    "properties": {**PORTAL_SESSION["properties"], "url": {
        "type": "string", "description": "The single-use link into the portal: {PUBLIC_URL}/portal/{token}."}},
    "description": "A new session, with the link that is never shown again.",
}

WEBHOOK_ENDPOINT = _resource("we", "webhook_endpoint", {
    "url": {"type": "string"},
    "enabled_events": {"type": "array", "items": string_enum(["*", *EVENT_TYPES])},
    "description": nullable({"type": "string"}),
    "status": string_enum(["enabled", "disabled"]),
    "disabled_reason": nullable({"type": "string"}),
}, description="The signing secret is only in the answers to create and rotate_secret.")

WEBHOOK_ENDPOINT_WITH_SECRET = {
    **WEBHOOK_ENDPOINT,
    "properties": {**WEBHOOK_ENDPOINT["properties"],
                   "secret": {"type": "string", "pattern": "^whsec_", "description": "Shown only now."}},
    "required": [*WEBHOOK_ENDPOINT["required"], "secret"],
    "description": "The endpoint with its signing secret.",
}

WEBHOOK_DELIVERY = _resource("whd", "webhook_delivery", {
    "event_id": prefixed_id("evt"),
    "endpoint_id": prefixed_id("we"),
    "attempt": {"type": "integer", "minimum": 1},
    "status": string_enum(["pending", "succeeded", "failed"]),
    "response_status": nullable({"type": "integer"}),
    "latency_ms": nullable({"type": "integer"}),
    "response_excerpt": nullable({"type": "string", "description": "The first 500 bytes of the answer."}),
    "next_attempt_at": nullable(TIMESTAMP),
})

EVENT_OBJECT_SCHEMAS = {"customer": "Customer", "subscription": "Subscription", "invoice": "EventInvoice",
                        "payment_method": "PaymentMethod"}

EVENT = obj({
    "id": prefixed_id("evt"),
    "object": const("event"),
    "type": string_enum(EVENT_TYPES),
    "created": TIMESTAMP,
    "livemode": LIVEMODE,
    "data": obj({
        "object": {
            "oneOf": [ref(name) for name in EVENT_OBJECT_SCHEMAS.values()],
            "discriminator": {"propertyName": "object", "mapping": {
                kind: f"#/components/schemas/{name}" for kind, name in EVENT_OBJECT_SCHEMAS.items()}},
            "description": "The resource as it was right after the change.",
        },
        "previous_attributes": {"type": "object",
                                "description": "The changed top-level fields, before the change ({} when none)."},
    }),
    "request": obj({"source": string_enum(EVENT_SOURCES),
                    "idempotency_key": nullable({"type": "string"})}),
})

ERROR = obj({"error": obj({
    "type": string_enum(ERROR_TYPES),
    "code": nullable({"type": "string", "description": "e.g. parameter_missing, parameter_invalid, "
                                                        "resource_missing, api_key_missing, card_declined, "
                                                        "idempotency_key_reused, state_conflict."}),
    "message": {"type": "string"},
    "param": nullable({"type": "string", "description": "The field at fault, nested with dots (address.country)."}),
})})


def deleted(kind: str, prefix: str) -> dict:
    return obj({"id": prefixed_id(prefix), "object": const(kind), "deleted": const(True)})


def list_of(item: str) -> dict:
    """The list object: a page of items, newest first."""
    return obj({"object": const("list"), "url": {"type": "string"},
                "data": {"type": "array", "items": ref(item)}, "has_more": {"type": "boolean"}})


RESPONSE_SCHEMAS = {
    "Customer": CUSTOMER,
    "Plan": PLAN,
    "PaymentMethod": PAYMENT_METHOD,
    "Subscription": SUBSCRIPTION,
    "Invoice": INVOICE,
    "InvoiceLine": INVOICE_LINE,
    "EventInvoice": EVENT_INVOICE,
    "CustomerPortalFlow": FLOW,
    "CustomerPortalSession": PORTAL_SESSION,
    "NewCustomerPortalSession": NEW_PORTAL_SESSION,
    "WebhookEndpoint": WEBHOOK_ENDPOINT,
    "WebhookEndpointWithSecret": WEBHOOK_ENDPOINT_WITH_SECRET,
    "WebhookDelivery": WEBHOOK_DELIVERY,
    "Event": EVENT,
    "Error": ERROR,
    "DeletedPaymentMethod": deleted("payment_method", "pm"),
    "DeletedWebhookEndpoint": deleted("webhook_endpoint", "we"),
    **{f"{item}List": list_of(item) for item in
       ("Customer", "Plan", "PaymentMethod", "Subscription", "Invoice", "WebhookEndpoint", "WebhookDelivery",
        "Event")},
}
