"""GET /v1/openapi.json: the OpenAPI 3.1 description of the merchant API, served without auth, built once per process.

Request bodies are generated from the pydantic models the routes parse, responses come from schemas.py, and the
error responses follow from each operation's method, path and inputs. tests/api/test_openapi.py checks that every
route is described and that every answer the API gives matches what is declared for it.
"""
import copy
import functools
import re
from dataclasses import dataclass

from flask import current_app, jsonify
from pydantic import BaseModel

from ..billing.money import CURRENCIES
from ..events import EVENT_TYPES
from ..models import Invoice, Subscription
from ..portal_settings import PortalSettings
from . import bp
from .customers import CustomerFields, CustomerUpdate
from .events import Resend
from .idempotency import MAX_KEY_LENGTH
from .parsing import Body
from .payment_methods import TYPES as PAYMENT_METHOD_TYPES, AttachPaymentMethod
from .plans import PlanCreate, PlanUpdate
from .portal_sessions import SessionCreate
from .schemas import RESPONSE_SCHEMAS, const, ref, string_enum
from .subscriptions import CancelRequest, PauseRequest, SubscriptionCreate, SubscriptionUpdate
from .webhook_endpoints import EndpointCreate, EndpointUpdate, SecretRotation

SCHEMAS = "#/components/schemas/"
PORTAL_CONFIGURATION_PATCH = "portal configuration patch"  # a body validated as a patch of PortalSettings
DESCRIPTION = """\
The merchant API of the Xtopay Customer Portal (test mode only: `livemode` is always false).

- Authenticate with `Authorization: Bearer sk_test_…`.
- Money is an integer in the currency's minor unit; currencies are lower-case ISO 4217; timestamps are Unix seconds.
- Lists take `limit` (1–100, default 10) and `starting_after` (an id) and are newest first.
- Every POST takes an `Idempotency-Key`: the same key with the same body within 24 h replays the first answer
  (`Idempotent-Replayed: true`); with another body it is 409 `idempotency_key_reused`.
- Errors are `{"error": {"type", "code", "message", "param"}}`; `param` names the field, nested with dots.
"""


@dataclass(frozen=True)
class Operation:
    """One route as the document shows it."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    response: str  # the schema of the 200 answer
    body: type[BaseModel] | str | None = None
    body_note: str | None = None
    query: tuple[dict, ...] = ()
    paginated: bool = False
    card_errors: bool = False  # 402 when the processor refuses a card
    state_conflicts: bool = False  # 409 state_conflict when the object's state does not allow it
    public: bool = False


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _filter_by(kind: str, prefix: str) -> dict:
    return _query(f"{kind}_id", {"type": "string"}, f"Only those of this {kind} ({prefix}_…).")


def _status_filter(statuses) -> dict:
    return _query("status", string_enum(statuses), "Only those with this status.")


NO_PARAMETERS = "Takes no parameters: send no body, or `{}`."

OPERATIONS = (
    Operation("post", "/v1/customers", "createCustomer", "Create a customer", "Customers", "Customer",
              body=CustomerFields),
    Operation("get", "/v1/customers", "listCustomers", "List customers", "Customers", "CustomerList",
              paginated=True),
    Operation("get", "/v1/customers/{id}", "getCustomer", "Retrieve a customer", "Customers", "Customer"),
    Operation("post", "/v1/customers/{id}", "updateCustomer", "Update a customer", "Customers", "Customer",
              body=CustomerUpdate,
              body_note="Only the fields given change. `metadata` merges: a key set to \"\" is removed."),
    Operation("post", "/v1/customers/{id}/payment_methods", "attachPaymentMethod", "Attach a payment method",
              "Payment methods", "PaymentMethod", body=AttachPaymentMethod, card_errors=True,
              body_note="Give `card` with type `card`, or `mobile_money` with type `mobile_money`. A card is "
                        "active at once; a mobile-money wallet is `pending` until the customer approves it."),
    Operation("get", "/v1/customers/{id}/payment_methods", "listPaymentMethods", "List a customer's payment methods",
              "Payment methods", "PaymentMethodList", paginated=True,
              query=(_query("type", string_enum(PAYMENT_METHOD_TYPES), "Only those of this type."),)),
    Operation("delete", "/v1/customers/{id}/payment_methods/{pm}", "detachPaymentMethod",
              "Detach a payment method", "Payment methods", "DeletedPaymentMethod"),
    Operation("post", "/v1/plans", "createPlan", "Create a plan", "Plans", "Plan", body=PlanCreate,
              body_note="A period lasts at most three years: `interval_count` is at most 1095 days, 156 weeks, "
                        "36 months or 3 years."),
    Operation("get", "/v1/plans", "listPlans", "List plans", "Plans", "PlanList", paginated=True,
              query=(_query("active", {"type": "boolean"}, "Only active (true) or inactive (false) plans."),)),
    Operation("get", "/v1/plans/{id}", "getPlan", "Retrieve a plan", "Plans", "Plan"),
    Operation("post", "/v1/plans/{id}", "updatePlan", "Update a plan", "Plans", "Plan", body=PlanUpdate,
              body_note="Only `name`, `description` and `active` change after creation."),
    Operation("post", "/v1/subscriptions", "createSubscription", "Create a subscription", "Subscriptions",
              "Subscription", body=SubscriptionCreate, state_conflicts=True,
              body_note="Bills the first period at once from the default payment method, or starts a trial. "
                        "With no method or a refused charge the subscription is `incomplete`."),
    Operation("get", "/v1/subscriptions", "listSubscriptions", "List subscriptions", "Subscriptions",
              "SubscriptionList", paginated=True,
              query=(_filter_by("customer", "cus"), _status_filter(Subscription.STATUSES))),
    Operation("get", "/v1/subscriptions/{id}", "getSubscription", "Retrieve a subscription", "Subscriptions",
              "Subscription"),
    Operation("post", "/v1/subscriptions/{id}", "updateSubscription", "Change a subscription's plan",
              "Subscriptions", "Subscription", body=SubscriptionUpdate, state_conflicts=True,
              body_note="Applies at once; `create_prorations` bills the difference for the rest of the period."),
    Operation("post", "/v1/subscriptions/{id}/cancel", "cancelSubscription", "Cancel a subscription",
              "Subscriptions", "Subscription", body=CancelRequest, state_conflicts=True),
    Operation("post", "/v1/subscriptions/{id}/pause", "pauseSubscription", "Pause a subscription",
              "Subscriptions", "Subscription", body=PauseRequest, state_conflicts=True,
              body_note="`resumes_at`, if given, must be in the future; without it the pause lasts until resumed."),
    Operation("post", "/v1/subscriptions/{id}/resume", "resumeSubscription", "Resume a paused subscription",
              "Subscriptions", "Subscription", body=Body, body_note=NO_PARAMETERS, state_conflicts=True),
    Operation("get", "/v1/invoices", "listInvoices", "List invoices", "Invoices", "InvoiceList", paginated=True,
              query=(_filter_by("customer", "cus"), _filter_by("subscription", "sub"),
                     _status_filter(Invoice.STATUSES))),
    Operation("get", "/v1/invoices/{id}", "getInvoice", "Retrieve an invoice", "Invoices", "Invoice"),
    Operation("get", "/v1/invoices/{id}/pdf", "getInvoicePdf", "Download an invoice as PDF", "Invoices", "pdf",
              query=(_query("locale", {"type": "string", "enum": ["en", "fr"], "default": "en"},
                            "The language of the PDF."),)),
    Operation("post", "/v1/customer_portal/sessions", "createCustomerPortalSession", "Create a portal session",
              "Customer portal", "NewCustomerPortalSession", body=SessionCreate,
              body_note="`return_url` falls back to the configuration's `default_return_url`; with neither, 400. "
                        "A `flow` for a feature the configuration disables is refused."),
    Operation("get", "/v1/customer_portal/sessions/{id}", "getCustomerPortalSession", "Retrieve a portal session",
              "Customer portal", "CustomerPortalSession"),
    Operation("post", "/v1/customer_portal/sessions/{id}/revoke", "revokeCustomerPortalSession",
              "Revoke a portal session", "Customer portal", "CustomerPortalSession", body=Body,
              body_note=NO_PARAMETERS),
    Operation("get", "/v1/customer_portal/configuration", "getCustomerPortalConfiguration",
              "Retrieve the portal configuration", "Customer portal", "CustomerPortalConfiguration"),
    Operation("post", "/v1/customer_portal/configuration", "updateCustomerPortalConfiguration",
              "Update the portal configuration", "Customer portal", "CustomerPortalConfiguration",
              body=PORTAL_CONFIGURATION_PATCH,
              body_note="Any part of the configuration: it is merged over the current one and the whole is "
                        "validated. Posting back what GET returned is accepted."),
    Operation("post", "/v1/webhook_endpoints", "createWebhookEndpoint", "Create a webhook endpoint", "Webhooks",
              "WebhookEndpointWithSecret", body=EndpointCreate,
              body_note="`url` is https://, or http:// to localhost, 127.0.0.1 or [::1]; an address that resolves "
                        "to another private, loopback or link-local address is refused."),
    Operation("get", "/v1/webhook_endpoints", "listWebhookEndpoints", "List webhook endpoints", "Webhooks",
              "WebhookEndpointList", paginated=True),
    Operation("get", "/v1/webhook_endpoints/{id}", "getWebhookEndpoint", "Retrieve a webhook endpoint", "Webhooks",
              "WebhookEndpoint"),
    Operation("post", "/v1/webhook_endpoints/{id}", "updateWebhookEndpoint", "Update a webhook endpoint",
              "Webhooks", "WebhookEndpoint", body=EndpointUpdate,
              body_note="Only the fields given change; `null` is refused for `url`, `enabled_events` and `status`."),
    Operation("delete", "/v1/webhook_endpoints/{id}", "deleteWebhookEndpoint", "Delete a webhook endpoint",
              "Webhooks", "DeletedWebhookEndpoint"),
    Operation("post", "/v1/webhook_endpoints/{id}/rotate_secret", "rotateWebhookEndpointSecret",
              "Rotate a webhook endpoint's secret", "Webhooks", "WebhookEndpointWithSecret", body=SecretRotation,
              body_note="The old secret keeps signing next to the new one for `expires_in` seconds."),
    Operation("get", "/v1/webhook_endpoints/{id}/deliveries", "listWebhookDeliveries",
              "List an endpoint's delivery attempts", "Webhooks", "WebhookDeliveryList", paginated=True),
    Operation("get", "/v1/events", "listEvents", "List events", "Events", "EventList", paginated=True,
              query=(_query("type", string_enum(EVENT_TYPES), "Only events of this type."),)),
    Operation("get", "/v1/events/{id}", "getEvent", "Retrieve an event", "Events", "Event"),
    Operation("post", "/v1/events/{id}/resend", "resendEvent", "Resend an event", "Events", "WebhookDeliveryList",
              body=Resend,
              body_note="Queues the event to every enabled endpoint that takes its type; answers with those "
                        "new deliveries."),
    Operation("get", "/v1/openapi.json", "getOpenApiDocument", "This OpenAPI document", "Meta", "openapi",
              public=True),
)

_PATH_IDS = {  # path segment before a {parameter} -> what the id names
    "customers": "customer (cus_…)", "plans": "plan (plan_…)", "subscriptions": "subscription (sub_…)",
    "invoices": "invoice (in_…)", "sessions": "portal session (sess_…)",
    "payment_methods": "payment method (pm_…)",
    "webhook_endpoints": "webhook endpoint (we_…)", "events": "event (evt_…)",
}

_ERRORS = {
    400: ("BadRequest", "A missing or invalid parameter (`param` names it, nested with dots), or an id in the body "
                        "or query that does not exist for this merchant (`resource_missing`)."),
    401: ("Unauthorized", "No API key (`api_key_missing`), or a wrong or revoked one (`api_key_invalid`)."),
    402: ("CardError", "The processor refused the card (`card_declined`, `insufficient_funds`, `expired_card`, "
                       "`incorrect_number`)."),
    404: ("NotFound", "No such object for this merchant (`resource_missing`)."),
    409: ("IdempotencyConflict", "The Idempotency-Key was used with another body (`idempotency_key_reused`) or its "
                                 "first request is still running (`idempotency_key_in_use`)."),
    429: ("RateLimited", "Too many requests: retry after the seconds in Retry-After."),
}
_STATE_CONFLICT = ("Conflict", "The object's state does not allow this (`state_conflict`, e.g. resuming a "
                               "subscription that is not paused), or an Idempotency-Key conflict "
                               "(`idempotency_key_reused`, `idempotency_key_in_use`).")


def _error_statuses(op: Operation) -> list[int]:
    """The error statuses an operation can answer with, from what it takes."""
    if op.public:
        return [429]
    statuses = [401, 429]
    if op.method == "post" or op.query or op.paginated:
        statuses.append(400)  # a bad body, filter, limit, cursor or Idempotency-Key
    if op.card_errors:
        statuses.append(402)
    if "{" in op.path:
        statuses.append(404)
    if op.method == "post":
        statuses.append(409)
    return sorted(statuses)


def _path_parameters(path: str) -> list[dict]:
    parameters = []
    for before, name in re.findall(r"/([a-z_]+)/\{([a-z_]+)\}", path):
        parameters.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"},
                           "description": f"The id of the {_PATH_IDS[before]}."})
    return parameters


def _success(op: Operation) -> dict:
    if op.response == "pdf":
        return {"description": "The invoice as a PDF file.",
                "headers": {"Content-Disposition": {"schema": {"type": "string"},
                                                    "description": 'attachment; filename="invoice-{number}.pdf"'}},
                "content": {"application/pdf": {}}}
    if op.response == "openapi":
        return {"description": "This document.",
                "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}}}
    answer = {"description": "OK", "content": {"application/json": {"schema": ref(op.response)}}}
    if op.method == "post":
        answer["headers"] = {"Idempotent-Replayed": {"$ref": "#/components/headers/IdempotentReplayed"}}
    return answer


def _operation(op: Operation, request_body: dict | None) -> dict:
    parameters = _path_parameters(op.path) + list(op.query)
    if op.paginated:
        parameters += [{"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/StartingAfter"}]
    if op.method == "post":
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    responses = {"200": _success(op)}
    for status in _error_statuses(op):
        name = _STATE_CONFLICT[0] if status == 409 and op.state_conflicts else _ERRORS[status][0]
        responses[str(status)] = {"$ref": f"#/components/responses/{name}"}
    operation = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    if parameters:
        operation["parameters"] = parameters
    if request_body is not None:
        operation["requestBody"] = request_body
    operation["responses"] = responses
    if op.public:
        operation["security"] = []
    return operation


# --- request bodies, from the pydantic models -------------------------------------------------------------------

def _model_schema(model: type[BaseModel], name: str, prefix: str = "", mode: str = "validation") -> tuple[dict, dict]:
    """The model's JSON Schema named `name`, and its nested models as components named `prefix` + model name."""
    schema = model.model_json_schema(ref_template=SCHEMAS + prefix + "{model}", mode=mode)
    nested = {prefix + key: value for key, value in schema.pop("$defs", {}).items()}
    schema["title"] = name
    return schema, nested


def _walk(schema, visit) -> None:
    """Call `visit` on every dict inside `schema`, depth first."""
    if isinstance(schema, dict):
        for value in schema.values():
            _walk(value, visit)
        visit(schema)
    elif isinstance(schema, list):
        for value in schema:
            _walk(value, visit)


def _admits_null(schema: dict) -> bool:
    kinds = schema.get("type")
    return (kinds == "null" or (isinstance(kinds, list) and "null" in kinds)
            or any(_admits_null(branch) for branch in schema.get("anyOf", ())))


def _drop_refused_null_default(schema: dict) -> None:
    # `field: T = None` in a model means "omitted: unchanged"; null itself is refused, so it is no default.
    if "default" in schema and schema["default"] is None and not _admits_null(schema):
        del schema["default"]


def _not_null(schema: dict) -> None:
    """Narrow an `X or null` property to X, keeping its other keywords."""
    branches = [branch for branch in schema.pop("anyOf", []) if branch != {"type": "null"}]
    if branches:
        schema.update(branches[0])
    schema.pop("default", None)


def _refine(schemas: dict) -> None:
    """Rules the routes enforce outside what pydantic can put in a schema."""
    # The processor is the one place that checks card fields: digit strings (or integers), never echoed back.
    card = schemas["CardDetails"]["properties"]
    card["number"].update(type=["string", "integer"], description="12–19 digits; spaces are ignored.")
    card["exp_month"].update(type=["string", "integer"], description="1–12.")
    card["exp_year"].update(type=["string", "integer"], description="Four digits (or two).")
    card["cvc"].update(type=["string", "integer"], description="3–4 digits.")
    # Event types are checked by a validator.
    for name in ("CreateWebhookEndpointRequest", "UpdateWebhookEndpointRequest"):
        schemas[name]["properties"]["enabled_events"]["items"]["enum"] = ["*", *EVENT_TYPES]
    schemas["CreateWebhookEndpointRequest"]["properties"]["enabled_events"]["default"] = ["*"]
    # The currencies we bill in: lower-case as answered; the route takes upper-case too.
    schemas["CreatePlanRequest"]["properties"]["currency"].update(
        enum=sorted(CURRENCIES) + sorted(code.upper() for code in CURRENCIES),
        description="An ISO 4217 code we bill in, answered in lower case.")
    # A plan keeps a name and an active flag: the route refuses null for them.
    for field in ("name", "active"):
        _not_null(schemas["UpdatePlanRequest"]["properties"][field])


def _portal_configuration_schemas() -> dict:
    """The configuration as answered (open, every field present) and as posted (any part of it, nothing else)."""
    answer, components = _model_schema(PortalSettings, "CustomerPortalConfiguration", "Portal", mode="serialization")
    answer["properties"] = {"object": const("customer_portal.configuration"), **answer["properties"],
                            "livemode": const(False)}
    answer["required"] = list(answer["properties"])
    answer.pop("description", None)

    def open_up(schema):
        if schema.get("additionalProperties") is False:
            del schema["additionalProperties"]

    _walk([answer, components], open_up)
    patch, patch_components = _model_schema(PortalSettings, "UpdateCustomerPortalConfigurationRequest", "PortalUpdate")
    patch.pop("description", None)

    def optional(schema):
        if isinstance(schema.get("required"), list):
            del schema["required"]

    _walk([patch, patch_components], optional)
    # What GET answered can be posted back: its read-only fields are accepted when unchanged.
    patch["properties"] = {"object": const("customer_portal.configuration"), **patch["properties"],
                           "livemode": const(False)}
    return {"CustomerPortalConfiguration": answer, PORTAL_CONFIGURATION_PATCH: patch,
            **components, **patch_components}


def _request_body(op: Operation, schemas: dict, portal: dict) -> dict | None:
    """The requestBody of `op`; its schemas are added to `schemas`."""
    if op.body is None:
        return None
    name = op.operation_id[0].upper() + op.operation_id[1:] + "Request"
    if op.body == PORTAL_CONFIGURATION_PATCH:
        schema, nested = portal[PORTAL_CONFIGURATION_PATCH], {}
    else:
        schema, nested = _model_schema(op.body, name)
        if op.body is Body:
            schema.pop("description", None)  # the base class's docstring speaks to developers, not merchants
    for component, value in {**nested, name: schema}.items():
        _add(schemas, component, value)
    body = {"required": bool(schema.get("required")), "content": {"application/json": {"schema": ref(name)}}}
    if op.body_note:
        body["description"] = op.body_note
    return body


def _add(schemas: dict, name: str, schema: dict) -> None:
    if name in schemas and schemas[name] != schema:
        raise ValueError(f"two different schemas are both named {name}")
    schemas[name] = schema


def _components(schemas: dict) -> dict:
    error = {"application/json": {"schema": ref("Error")}}
    responses = {name: {"description": description, "content": error} for name, description in _ERRORS.values()}
    responses[_STATE_CONFLICT[0]] = {"description": _STATE_CONFLICT[1], "content": error}
    responses["RateLimited"]["headers"] = {"Retry-After": {
        "schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}
    return {
        "schemas": dict(sorted(schemas.items())),
        "responses": responses,
        "parameters": {
            "Limit": _query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                            "How many objects to return (1–100)."),
            "StartingAfter": _query("starting_after", {"type": "string"},
                                    "An object id: the page starts after it (newest first)."),
            "IdempotencyKey": {
                "name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                "description": "Replays the first answer to this key for 24 h; another body with it is a 409."},
        },
        "headers": {"IdempotentReplayed": {
            "schema": {"type": "string", "enum": ["true"]},
            "description": "Present when this is the replayed answer to an earlier request with the same key."}},
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                           "description": "The merchant's secret key, sk_test_…"}},
    }


@functools.cache
def openapi_document() -> dict:
    """The whole document, built once per process (the deployment's server URL is added per answer)."""
    schemas = copy.deepcopy(RESPONSE_SCHEMAS)
    portal = _portal_configuration_schemas()
    for name, schema in portal.items():
        if name != PORTAL_CONFIGURATION_PATCH:
            _add(schemas, name, schema)
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        operation = _operation(op, _request_body(op, schemas, portal))
        paths.setdefault(op.path, {})[op.method] = operation
    _refine(schemas)
    _walk(schemas, _drop_refused_null_default)
    tags = list(dict.fromkeys(op.tag for op in OPERATIONS))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Xtopay Customer Portal API", "version": "1.0.0", "description": DESCRIPTION},
        "tags": [{"name": tag} for tag in tags],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": _components(schemas),
    }


@bp.get("/openapi.json", endpoint="openapi")
def openapi():
    """The OpenAPI document, with this deployment's base URL as its server; no API key needed."""
    return jsonify({**openapi_document(), "servers": [{"url": current_app.config["PUBLIC_URL"]}]})
