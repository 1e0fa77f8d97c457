"""Schemathesis over every operation of /v1/openapi.json, in process through WSGI, as a merchant with real data.

Each operation gets its own fresh database seeded through the API (a customer with a card, a plan, a subscription
and its invoice, a webhook endpoint, a portal session, events), for this merchant and for another one. Generated
ids in paths and bodies are swapped, often, for one of those real ids (the other merchant's too), so the fuzzing
reaches past the 404 into the handlers, and cross-tenant ids must answer exactly like missing ones.

The checks: no 5xx; every status code documented; every body valid against its declared schema; the declared
content type; documented headers; and every 2xx sent again without the key and with a wrong one must be a 401.
`make test` runs a few dozen examples per operation, `make fuzz` (HYPOTHESIS_PROFILE=fuzz) 500 or more (all but
GET /v1/openapi.json and GET /v1/customer_portal/configuration, which take no input: their ~10 distinct
requests are all there are). The calls, statuses and
times per operation are printed at the end of the module.
"""
import collections
import itertools
import time
import zlib

import pytest
import schemathesis
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import (
    content_type_conformance, ignored_auth, not_a_server_error, response_headers_conformance,
    response_schema_conformance, status_code_conformance,
)

from tests.fuzzing import fuzz_settings
from xtoportal.api.openapi import openapi_document

# ignored_auth: each answer is sent again without the key and with a wrong one, and must then be a 401.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, ignored_auth]
CARD = {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}}
# The WSGI transport hands checks the body as the app wrote it; a compressed one would not parse as JSON.
HEADERS = {"Accept-Encoding": "identity"}
RETURN_URL = "https://example.com/account"
# What an id names, from the path segment before it or the body/query field that carries it.
ID_KINDS = {"customers": "customer", "plans": "plan", "subscriptions": "subscription", "invoices": "invoice",
            "sessions": "session", "payment_methods": "payment_method", "webhook_endpoints": "webhook_endpoint",
            "events": "event", "customer_id": "customer", "plan_id": "plan", "subscription_id": "subscription"}

EXAMPLES = collections.Counter()  # calls made per operation in this run
STATUSES = collections.defaultdict(collections.Counter)
SECONDS = collections.Counter()  # in the app
WALL = {}  # the whole test item: generation, seeding, checks
STATEFUL_STEPS = collections.Counter()
FRESH_KEYS = itertools.count()


def _seed(api) -> dict[str, list[str]]:
    """Real objects of one merchant, made through the API; their ids by kind."""
    def post(path, body):
        response = api.post(path, json=body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    customer = post("/v1/customers", {"email": "ama@example.com", "name": "Ama Mensah"})
    bare = post("/v1/customers", {"name": "No Card"})
    method = post(f"/v1/customers/{customer['id']}/payment_methods", CARD)
    plan = post("/v1/plans", {"name": "Basic", "amount": 5000, "currency": "ghs", "interval": "month"})
    bigger = post("/v1/plans", {"name": "Pro", "amount": 9000, "currency": "ghs", "interval": "month"})
    subscription = post("/v1/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"]})
    trial = post("/v1/subscriptions", {"customer_id": customer["id"], "plan_id": bigger["id"],
                                       "trial_period_days": 7})
    invoices = api.get(f"/v1/invoices?customer_id={customer['id']}").get_json()["data"]
    endpoint = post("/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/hooks"})
    session = post("/v1/customer_portal/sessions", {"customer_id": customer["id"], "return_url": RETURN_URL})
    events = api.get("/v1/events").get_json()["data"]
    return {
        "customer": [customer["id"], bare["id"]], "payment_method": [method["id"]],
        "plan": [plan["id"], bigger["id"]], "subscription": [subscription["id"], trial["id"]],
        "invoice": [invoice["id"] for invoice in invoices], "webhook_endpoint": [endpoint["id"]],
        "session": [session["id"]], "event": [event["id"] for event in events[:3]],
    }


@pytest.fixture(autouse=True)
def timed(request):
    started = time.perf_counter()
    yield
    WALL[request.node.name.partition("[")[2].rstrip("]")] = time.perf_counter() - started


@pytest.fixture
def seeded(app, api, other_api):
    """(our ids, the other merchant's ids); requests act as `api`'s merchant."""
    return _seed(api), _seed(other_api)


# The document GET /v1/openapi.json serves (tests/api/test_openapi.py checks they are the same), loaded at import
# so each operation is a test item of its own, on its own fresh database; requests go to the test app via WSGI.
schema = schemathesis.openapi.from_dict({**openapi_document(), "servers": [{"url": "http://portal.test"}]})

# Requests carry the merchant's key, given to the call and to the checks as an explicit header, so ignored_auth
# knows to send each request again without it and with a wrong one (schemathesis generates no keys of its own).
schema.config.generation.update(with_security_parameters=False)


def sending(case, app, secret: str) -> dict:
    """The call's (and checks') arguments: this test's app, the merchant's key; the checks' probes go there too."""
    case.operation.schema.app = app
    return {"headers": {**HEADERS, "Authorization": f"Bearer {secret}"}, "app": app}


def _real_id(kind: str, generated, ours: dict, theirs: dict):
    """Mostly a real id of ours, sometimes the other merchant's, sometimes what was generated (by its hash)."""
    if kind not in ours or not isinstance(generated, str):
        return generated
    pick = zlib.crc32(generated.encode("utf-8", "surrogatepass"))
    if pick % 10 < 6:
        return ours[kind][pick // 10 % len(ours[kind])] if ours[kind] else generated
    if pick % 10 < 8:
        return theirs[kind][pick // 10 % len(theirs[kind])] if theirs[kind] else generated
    return generated


def _mostly_fresh_idempotency_key(case) -> None:
    """Generated keys repeat ("0", "a"…) and would make most POSTs a 409 replay conflict; a quarter keep theirs."""
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and zlib.crc32(repr(case.body).encode("utf-8", "surrogatepass")) % 4:
        case.headers["Idempotency-Key"] = f"{key[:200]}-{next(FRESH_KEYS)}"


def _use_real_ids(case, ours: dict, theirs: dict) -> None:
    _mostly_fresh_idempotency_key(case)
    segments = case.operation.path.strip("/").split("/")
    for before, segment in zip(segments, segments[1:]):
        if segment.startswith("{") and case.path_parameters:
            name = segment[1:-1]
            case.path_parameters[name] = _real_id(ID_KINDS.get(before, ""), case.path_parameters.get(name),
                                                  ours, theirs)
    for fields in (case.body, case.query):
        if isinstance(fields, dict):
            for name in ("customer_id", "plan_id", "subscription_id"):
                if name in fields:
                    fields[name] = _real_id(ID_KINDS[name], fields[name], ours, theirs)


@pytest.mark.fuzz
@schema.parametrize()
@fuzz_settings
def test_every_operation_answers_as_documented(case, app, seeded, api):
    ours, theirs = seeded
    _use_real_ids(case, ours, theirs)
    kwargs = sending(case, app, api.secret)
    started = time.perf_counter()
    response = case.call(**kwargs)
    label = f"{case.operation.method.upper()} {case.operation.path}"
    SECONDS[label] += time.perf_counter() - started
    EXAMPLES[label] += 1
    STATUSES[label][response.status_code] += 1
    case.validate_response(response, checks=CHECKS, headers=kwargs["headers"], transport_kwargs={"app": app})


# Stateful: sequences that feed one answer's ids into the next request, following the links Schemathesis infers
# from the document (create a customer → attach a card, subscribe, open a portal session; subscribe → cancel,
# pause, resume, change plan; create a webhook endpoint → update, rotate, list deliveries, delete; list events →
# resend…), scenarios of up to 10 steps. All scenarios share one database, so a link a scenario could follow
# depends on what earlier ones left: with 100 scenarios Hypothesis once refused its own replay of one
# (FlakyStrategyDefinition, no failing check); 25 in `make fuzz` (8 in `make test`) have run clean.
STATEFUL = settings(fuzz_settings, max_examples=max(fuzz_settings.max_examples // 20, 8), stateful_step_count=10)


@pytest.mark.fuzz
def test_workflows_of_linked_operations_answer_as_documented(app, seeded, api):
    ours, theirs = seeded
    transitions = collections.Counter()

    class Workflow(schema.as_state_machine()):
        def step(self, input):
            if input.transition is None:  # a first step gets real ids too; later ones take theirs from the links
                _use_real_ids(input.case, ours, theirs)
            transitions["linked" if input.transition is not None and input.applied_parameters else "first"] += 1
            return super().step(input)

        def get_call_kwargs(self, case):
            return sending(case, app, api.secret)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, headers=kwargs["headers"], transport_kwargs={"app": app})

    run_state_machine_as_test(Workflow, settings=STATEFUL)
    STATEFUL_STEPS.update(transitions)
    assert transitions["linked"] > 0


@pytest.fixture(scope="module", autouse=True)
def report_counts(request):
    """Print how many examples each operation got (shown without -s, after the module's tests)."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if not (EXAMPLES or STATEFUL_STEPS) or reporter is None:
        return
    with capture.global_and_fixture_disabled():
        write = reporter.write_line
        write("")
        write(f"schemathesis: {len(EXAMPLES)} operations; calls, seconds in the app / whole test, statuses:")
        for label, count in sorted(EXAMPLES.items()):
            write(f"  {count:5d} {SECONDS[label]:6.1f}s / {WALL.get(label, 0):6.1f}s {label}  "
                  f"{dict(sorted(STATUSES[label].items()))}")
        if EXAMPLES:
            write(f"  total {sum(EXAMPLES.values())} calls, fewest for one operation {min(EXAMPLES.values())}")
        if STATEFUL_STEPS:
            write(f"  stateful: {STATEFUL_STEPS['linked']} linked steps, {STATEFUL_STEPS['first']} first steps, "
                  f"{WALL.get('', 0):.1f}s")
