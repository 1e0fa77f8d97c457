"""GET /v1/openapi.json: a valid OpenAPI 3.1 document listing every /v1 route, matching every answer the API gives."""
import calendar
import copy
import re

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from xtoportal import clock
from xtoportal.api.openapi import openapi_document

NOW = calendar.timegm((2025, 6, 15, 12, 0, 0))
SPEC_URI = "urn:xtoportal:openapi"
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
CARD = {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}}
RETURN_URL = "https://example.com/account"


def card(number: str) -> dict:
    return {"type": "card", "card": {**CARD["card"], "number": number}}


@pytest.fixture
def spec(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def closed(spec: dict) -> dict:
    """The document with every described object closed, so an answer carrying an undocumented field fails."""
    strict = copy.deepcopy(spec)

    def close(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(strict["components"]["schemas"])
    return strict


def _registry(document: dict) -> Registry:
    return Registry().with_resource(SPEC_URI, Resource.from_contents(document, default_specification=DRAFT202012))


class DocumentedApi:
    """Calls the API and checks every answer against the schema the document declares for its operation and status.

    Successful requests are also checked against the documented request body, so the document accepts real requests.
    """

    def __init__(self, client, spec: dict, secret: str):
        self.client, self.spec, self.secret = client, spec, secret
        self.registries = {"open": _registry(spec), "closed": _registry(closed(spec))}
        self.templates = [(re.compile("^" + "".join("[^/]+" if part.startswith("{") else re.escape(part)
                                                    for part in re.split(r"(\{[^}]+\})", path)) + "$"), path)
                          for path in spec["paths"]]
        self.answered: set[tuple[str, str, int]] = set()

    def call(self, status: int, method: str, path: str, json=None, query=None, headers=None, auth="key"):
        """Send the request, assert the status, check the answer against the document; returns the response."""
        headers = dict(headers or {})
        if auth == "key":
            headers["Authorization"] = f"Bearer {self.secret}"
        elif auth is not None:
            headers["Authorization"] = auth
        kwargs = {"json": json} if json is not None else {}
        response = self.client.open(path, method=method.upper(), headers=headers, query_string=query, **kwargs)
        label = f"{method.upper()} {path}"
        assert response.status_code == status, (label, response.status_code, response.get_data(as_text=True)[:500])
        template = self._template(path)
        operation = self.spec["paths"][template][method]
        self._check_answer(operation, response, label)
        if status == 200 and json is not None:
            schema = self._resolve(operation["requestBody"])["content"]["application/json"]["schema"]
            self._validate(json, schema, f"the request body of {label}", "open")
        self.answered.add((method, template, status))
        return response

    def json(self, status: int, method: str, path: str, **kwargs) -> dict:
        return self.call(status, method, path, **kwargs).get_json()

    def _template(self, path: str) -> str:
        matches = [template for pattern, template in self.templates if pattern.match(path)]
        assert len(matches) == 1, f"{path} matches {matches} in the document"
        return matches[0]

    def _resolve(self, node: dict) -> dict:
        while "$ref" in node:
            target = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def _check_answer(self, operation: dict, response, label: str) -> None:
        declared = operation["responses"].get(str(response.status_code))
        assert declared is not None, f"{label} answered {response.status_code}, which the document does not declare"
        declared = self._resolve(declared)
        assert response.mimetype in declared["content"], (label, response.mimetype, list(declared["content"]))
        if response.mimetype == "application/json":
            schema = declared["content"]["application/json"]["schema"]
            self._validate(response.get_json(), schema, f"the answer to {label}", "open")
            self._validate(response.get_json(), schema, f"the answer to {label} (undocumented field?)", "closed")
        else:
            assert response.data.startswith(b"%PDF-")

    def _validate(self, instance, schema: dict, what: str, strictness: str) -> None:
        if "$ref" in schema:
            schema = {"$ref": SPEC_URI + schema["$ref"]}
        validator = Draft202012Validator(schema, registry=self.registries[strictness],
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
                  for error in validator.iter_errors(instance)]
        assert not errors, f"{what} does not match the document: {errors[:5]}"


@pytest.fixture
def documented(client, spec, merchant):
    return DocumentedApi(client, spec, merchant[1])


def documented_operations(spec: dict) -> set[tuple[str, str]]:
    return {(method, path) for path, item in spec["paths"].items() for method in item if method in HTTP_METHODS}


# --- the document -------------------------------------------------------------------------------------------------

def test_document_is_served_without_an_api_key_and_names_this_server(client):
    for headers in ({}, {"Authorization": "Bearer sk_test_wrong"}):
        response = client.get("/v1/openapi.json", headers=headers)
        assert response.status_code == 200 and response.mimetype == "application/json"
        document = response.get_json()
        assert document["openapi"] == "3.1.0"
        assert document["servers"] == [{"url": "http://portal.test"}]
        scheme = document["components"]["securitySchemes"]["bearerAuth"]
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer") and document["security"] == [{"bearerAuth": []}]


def test_document_is_valid_openapi_3_1_and_its_schemas_are_valid_json_schema(spec):
    from openapi_spec_validator import validate

    validate(spec)
    for schema in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_api_route_is_documented_and_every_documented_operation_exists(app, spec):
    routes = {
        (method.lower(), re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules() if rule.rule.startswith("/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert documented_operations(spec) == routes


def test_every_operation_declares_its_inputs_and_errors(spec):
    operation_ids = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            operation_ids.append(operation["operationId"])
            assert operation["summary"]
            statuses = set(operation["responses"])
            parameters = [p.get("name") or p["$ref"].rsplit("/", 1)[-1] for p in operation.get("parameters", [])]
            assert set(re.findall(r"\{([^}]+)\}", path)) <= set(parameters), path
            if "{" in path:
                assert "404" in statuses, (method, path)
            if operation.get("security") == []:
                assert path == "/v1/openapi.json"
                continue
            assert {"200", "401", "429"} <= statuses, (method, path)
            if method == "post":
                assert {"400", "409"} <= statuses and "IdempotencyKey" in parameters, path
                assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            if "Limit" in parameters:
                assert "400" in statuses and "StartingAfter" in parameters, path
    assert len(operation_ids) == len(set(operation_ids))
    attach = spec["paths"]["/v1/customers/{id}/payment_methods"]["post"]
    assert "402" in attach["responses"]


def test_request_bodies_are_the_models_the_routes_parse(spec):
    schemas = spec["components"]["schemas"]
    plan = schemas["CreatePlanRequest"]
    assert plan["required"] == ["name", "amount", "currency", "interval"] and plan["additionalProperties"] is False
    amount = plan["properties"]["amount"]
    assert (amount["type"], amount["minimum"], amount["maximum"]) == ("integer", 0, 10**12)
    address = schemas["CreateCustomerRequest"]["properties"]["address"]
    assert address["anyOf"][0] == {"$ref": "#/components/schemas/Address"}
    # `url: EndpointUrl = None` means "unchanged when omitted", not "null is allowed".
    assert "default" not in schemas["UpdateWebhookEndpointRequest"]["properties"]["url"]
    assert not any("$defs" in str(schema) for schema in schemas.values())


def test_the_document_is_built_once_per_process(client):
    first, second = client.get("/v1/openapi.json"), client.get("/v1/openapi.json")
    assert first.get_json() == second.get_json()
    assert openapi_document() is openapi_document()


# --- every operation, for real ------------------------------------------------------------------------------------

def test_every_operation_answers_as_the_document_says(documented, app, spec):
    with clock.frozen(NOW):
        endpoint = documented.json(200, "post", "/v1/webhook_endpoints",
                                   json={"url": "http://localhost:9999/hook", "description": "Local receiver"})
        assert endpoint["secret"].startswith("whsec_")
        customer = drive_customers(documented)
        plan, bigger_plan = drive_plans(documented)
        drive_payment_methods(documented, customer)
        subscription = drive_subscriptions(documented, customer, plan, bigger_plan)
        drive_invoices(documented, customer, subscription)
        drive_customer_portal(documented, customer, subscription)
        drive_webhooks_and_events(documented, endpoint)
        drive_authentication_and_rate_limit(documented, app)

    answered = documented.answered
    assert {(method, path) for method, path, status in answered if status == 200} == documented_operations(spec)
    assert {400, 401, 402, 404, 409, 429} <= {status for _, _, status in answered}


def drive_customers(api: DocumentedApi) -> dict:
    body = {"email": "ama@example.com", "name": "Ama Mensah", "phone": "+233201234567", "preferred_locale": "en",
            "address": {"line1": "1 Oxford Street", "city": "Accra", "country": "gh"}, "metadata": {"crm_id": "42"}}
    customer = api.json(200, "post", "/v1/customers", json=body, headers={"Idempotency-Key": "create-ama"})
    replay = api.call(200, "post", "/v1/customers", json=body, headers={"Idempotency-Key": "create-ama"})
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.get_json() == customer
    conflict = api.json(409, "post", "/v1/customers", json={"name": "Kofi"}, headers={"Idempotency-Key": "create-ama"})
    assert conflict["error"]["code"] == "idempotency_key_reused"
    api.call(400, "post", "/v1/customers", headers={"Idempotency-Key": "k" * 256})
    assert api.json(400, "post", "/v1/customers", json={"email": "not-an-email"})["error"]["param"] == "email"
    assert api.json(200, "post", "/v1/customers")["email"] is None  # every field optional, every one null

    assert api.json(200, "get", "/v1/customers", query={"limit": 1})["has_more"] is True
    assert api.json(400, "get", "/v1/customers", query={"limit": 0})["error"]["param"] == "limit"
    api.call(400, "get", "/v1/customers", query={"starting_after": "cus_missing"})
    assert api.json(200, "get", f"/v1/customers/{customer['id']}")["address"]["country"] == "GH"
    api.call(404, "get", "/v1/customers/cus_missing")
    updated = api.json(200, "post", f"/v1/customers/{customer['id']}", json={"metadata": {"crm_id": ""}})
    assert updated["metadata"] == {}
    api.call(404, "post", "/v1/customers/cus_missing", json={"name": "Nobody"})
    return customer


def drive_plans(api: DocumentedApi) -> tuple[dict, dict]:
    plan = api.json(200, "post", "/v1/plans", json={"name": "Basic", "amount": 5000, "currency": "ghs",
                                                    "interval": "month"})
    bigger = api.json(200, "post", "/v1/plans", json={"name": "Pro", "description": "Everything", "amount": 12000,
                                                      "currency": "GHS", "interval": "month", "interval_count": 1})
    assert api.json(400, "post", "/v1/plans", json={"name": "No price"})["error"]["code"] == "parameter_missing"
    assert len(api.json(200, "get", "/v1/plans", query={"active": "true"})["data"]) == 2
    api.call(400, "get", "/v1/plans", query={"active": "maybe"})
    assert api.json(200, "get", f"/v1/plans/{plan['id']}")["description"] is None
    api.call(200, "post", f"/v1/plans/{plan['id']}", json={"description": "For starters"})
    assert api.json(400, "post", f"/v1/plans/{plan['id']}", json={"amount": 1})["error"]["param"] == "amount"
    api.call(404, "get", "/v1/plans/plan_missing")
    return plan, bigger


def drive_payment_methods(api: DocumentedApi, customer: dict) -> None:
    methods = f"/v1/customers/{customer['id']}/payment_methods"
    visa = api.json(200, "post", methods, json=CARD)
    assert (visa["status"], visa["card"]["last4"], visa["mobile_money"]) == ("active", "4242", None)
    declined = api.json(402, "post", methods, json=card("4000000000000002"))
    assert declined["error"]["code"] == "card_declined"
    assert api.json(400, "post", methods, json={"type": "card"})["error"]["param"] == "card"
    wallet = api.json(200, "post", methods, json={"type": "mobile_money",
                                                  "mobile_money": {"provider": "mtn_momo", "phone": "+233240000000"}})
    assert (wallet["status"], wallet["card"]) == ("pending", None)
    clock.advance(10)  # the handset approves
    listed = api.json(200, "get", methods, query={"type": "mobile_money"})["data"]
    assert [(m["id"], m["status"]) for m in listed] == [(wallet["id"], "active")]
    api.call(400, "get", methods, query={"type": "cheque"})
    api.call(404, "get", "/v1/customers/cus_missing/payment_methods")
    assert api.json(200, "delete", f"{methods}/{wallet['id']}")["deleted"] is True
    api.call(404, "delete", f"{methods}/{wallet['id']}")


def drive_subscriptions(api: DocumentedApi, customer: dict, plan: dict, bigger: dict) -> dict:
    subscription = api.json(200, "post", "/v1/subscriptions",
                            json={"customer_id": customer["id"], "plan_id": plan["id"]})
    assert subscription["status"] == "active"
    trial = api.json(200, "post", "/v1/subscriptions", json={"customer_id": customer["id"], "plan_id": plan["id"],
                                                             "trial_period_days": 14})
    assert trial["status"] == "trialing" and trial["trial_end"] is not None
    refused = api.json(400, "post", "/v1/subscriptions", json={"customer_id": "cus_missing", "plan_id": plan["id"]})
    assert refused["error"]["code"] == "resource_missing"
    declining = api.json(200, "post", "/v1/customers", json={"name": "Kofi"})
    api.call(200, "post", f"/v1/customers/{declining['id']}/payment_methods", json=card("4000000000000341"))
    incomplete = api.json(200, "post", "/v1/subscriptions",
                          json={"customer_id": declining["id"], "plan_id": plan["id"]})
    assert incomplete["status"] == "incomplete"

    listed = api.json(200, "get", "/v1/subscriptions", query={"customer_id": customer["id"], "status": "active"})
    assert [s["id"] for s in listed["data"]] == [subscription["id"]]
    api.call(400, "get", "/v1/subscriptions", query={"status": "sleeping"})
    path = f"/v1/subscriptions/{subscription['id']}"
    api.call(200, "get", path)
    assert api.json(200, "post", path, json={"plan_id": bigger["id"]})["plan"]["id"] == bigger["id"]
    assert api.json(409, "post", f"{path}/resume")["error"]["code"] == "state_conflict"
    paused = api.json(200, "post", f"{path}/pause", json={"resumes_at": NOW + 7 * 86400})
    assert paused["pause_collection"] == {"resumes_at": NOW + 7 * 86400}
    assert api.json(200, "post", f"{path}/resume")["status"] == "active"
    assert api.json(200, "post", f"{path}/cancel", json={})["cancel_at_period_end"] is True
    ended = api.json(200, "post", f"/v1/subscriptions/{trial['id']}/cancel", json={"at_period_end": False})
    assert ended["status"] == "canceled" and ended["canceled_at"] is not None
    api.call(404, "post", "/v1/subscriptions/sub_missing/cancel")
    return subscription


def drive_invoices(api: DocumentedApi, customer: dict, subscription: dict) -> None:
    invoices = api.json(200, "get", "/v1/invoices", query={"customer_id": customer["id"],
                                                           "subscription_id": subscription["id"]})["data"]
    assert invoices[-1]["lines"][0]["proration"] is False  # the first period
    assert any(line["proration"] for invoice in invoices for line in invoice["lines"])  # the plan change
    api.call(400, "get", "/v1/invoices", query={"subscription_id": "sub_missing"})
    api.call(400, "get", "/v1/invoices", query={"status": "lost"})
    invoice = api.json(200, "get", f"/v1/invoices/{invoices[-1]['id']}")
    assert invoice["status"] == "paid" and invoice["lines"]
    pdf = api.call(200, "get", f"/v1/invoices/{invoice['id']}/pdf", query={"locale": "fr"})
    assert pdf.headers["Content-Disposition"] == f'attachment; filename="invoice-{invoice["number"]}.pdf"'
    refused = api.json(400, "get", f"/v1/invoices/{invoice['id']}/pdf", query={"locale": "de"})
    assert refused["error"]["param"] == "locale"
    api.call(404, "get", "/v1/invoices/in_missing")
    api.call(404, "get", "/v1/invoices/in_missing/pdf")


def drive_customer_portal(api: DocumentedApi, customer: dict, subscription: dict) -> None:
    configuration = api.json(200, "get", "/v1/customer_portal/configuration")
    assert api.json(200, "post", "/v1/customer_portal/configuration", json=configuration) == configuration
    changed = api.json(200, "post", "/v1/customer_portal/configuration",
                       json={"branding": {"primary_color": "#112233"}, "default_return_url": RETURN_URL,
                             "features": {"subscription_pause": {"enabled": False}}})
    assert changed["branding"]["primary_color"] == "#112233"
    refused = api.json(400, "post", "/v1/customer_portal/configuration", json={"branding": {"primary_color": "red"}})
    assert refused["error"]["param"] == "branding.primary_color"

    sessions = "/v1/customer_portal/sessions"
    session = api.json(200, "post", sessions, json={
        "customer_id": customer["id"], "return_url": RETURN_URL,
        "flow": {"type": "subscription_cancel", "subscription_id": subscription["id"]}})
    assert session["url"].startswith("http://portal.test/portal/sess_") and session["status"] == "active"
    refused = api.json(400, "post", sessions, json={"customer_id": customer["id"], "return_url": "javascript:alert(1)"})
    assert refused["error"]["param"] == "return_url"
    plain = api.json(200, "post", sessions, json={"customer_id": customer["id"]})  # the configured default_return_url
    assert plain["flow"] is None and plain["return_url"] == RETURN_URL
    assert api.json(200, "get", f"{sessions}/{session['id']}")["url"] is None
    assert api.json(200, "post", f"{sessions}/{session['id']}/revoke")["status"] == "revoked"
    api.call(404, "get", f"{sessions}/sess_missing")
    api.call(404, "post", f"{sessions}/sess_missing/revoke")


def drive_webhooks_and_events(api: DocumentedApi, endpoint: dict) -> None:
    api.call(400, "post", "/v1/webhook_endpoints", json={"url": "ftp://example.com/hook"})
    path = f"/v1/webhook_endpoints/{endpoint['id']}"
    assert [e["id"] for e in api.json(200, "get", "/v1/webhook_endpoints")["data"]] == [endpoint["id"]]
    assert "secret" not in api.json(200, "get", path)
    disabled = api.json(200, "post", path, json={"enabled_events": ["invoice.paid"], "status": "disabled"})
    assert disabled["status"] == "disabled" and disabled["disabled_reason"]
    assert "secret" not in disabled
    assert api.json(400, "post", path, json={"url": None})["error"]["param"] == "url"
    api.call(200, "post", path, json={"status": "enabled", "enabled_events": ["*"], "description": None})
    rotated = api.json(200, "post", f"{path}/rotate_secret", json={"expires_in": 3600})
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != endpoint["secret"]
    deliveries = api.json(200, "get", f"{path}/deliveries", query={"limit": 100})["data"]
    assert deliveries and {d["endpoint_id"] for d in deliveries} == {endpoint["id"]}
    api.call(404, "get", "/v1/webhook_endpoints/we_missing/deliveries")

    events = api.json(200, "get", "/v1/events", query={"limit": 100})["data"]
    kinds = {event["data"]["object"]["object"] for event in events}
    assert kinds == {"customer", "payment_method", "subscription", "invoice"}
    failed = api.json(200, "get", "/v1/events", query={"type": "invoice.payment_failed"})["data"]
    assert failed and "last_payment_error" in failed[0]["data"]["object"]
    api.call(400, "get", "/v1/events", query={"type": "invoice.exploded"})
    event = api.json(200, "get", f"/v1/events/{events[0]['id']}")
    resent = api.json(200, "post", f"/v1/events/{event['id']}/resend")
    assert [d["endpoint_id"] for d in resent["data"]] == [endpoint["id"]]
    api.call(400, "post", f"/v1/events/{event['id']}/resend", json={"to": "everyone"})
    api.call(404, "get", "/v1/events/evt_missing")
    assert api.json(200, "delete", path) == {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}
    api.call(404, "delete", path)


def drive_authentication_and_rate_limit(api: DocumentedApi, app) -> None:
    assert api.json(401, "get", "/v1/customers", auth=None)["error"]["code"] == "api_key_missing"
    wrong_key = api.json(401, "post", "/v1/plans", auth="Bearer sk_test_wrong", json={})
    assert wrong_key["error"]["code"] == "api_key_invalid"
    api.call(200, "get", "/v1/openapi.json", auth=None)
    app.config["API_RATE_LIMIT"] = "1 per minute"
    api.call(200, "get", "/v1/events")
    limited = api.call(429, "get", "/v1/events")
    assert limited.get_json()["error"]["type"] == "rate_limit_error" and int(limited.headers["Retry-After"]) > 0
