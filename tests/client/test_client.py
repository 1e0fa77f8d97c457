"""The merchant SDK against the real API served over HTTP: objects, typed errors, idempotent retries, paging."""
import httpx
import pytest

from xtoportal.client import (
    APIConnectionError, AuthenticationError, IdempotencyError, InvalidRequestError, ListObject, RateLimitError,
    Xtopay,
)


class FlakyTransport(httpx.BaseTransport):
    """A real HTTP transport that can lose the server's first answer, or answer the first request itself.

    `lose_first_response`: the request reaches the server and runs, then the connection drops before the
    response arrives — the case idempotency keys exist for. `first_answer`: a response returned instead of
    sending the first request (a 429 or 503 from a proxy in front of the API).
    """

    def __init__(self, lose_first_response=False, first_answer=None):
        self.inner = httpx.HTTPTransport()
        self.lose_first_response, self.first_answer = lose_first_response, first_answer
        self.requests = []

    def handle_request(self, request):
        self.requests.append(request)
        first = len(self.requests) == 1
        if first and self.first_answer is not None:
            return self.first_answer
        response = self.inner.handle_request(request)
        if first and self.lose_first_response:
            response.read()
            response.close()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    def close(self):
        self.inner.close()


@pytest.fixture
def flaky_client(api_url, merchant):
    """flaky_client(transport) -> an Xtopay client whose requests go through `transport`."""
    http_clients = []

    def make(transport, **kwargs):
        http_clients.append(httpx.Client(transport=transport))
        return Xtopay(merchant[1], base_url=api_url, http_client=http_clients[-1], **kwargs)

    yield make
    for http_client in http_clients:
        http_client.close()


def test_customer_create_retrieve_update_list(xtopay):
    created = xtopay.customers.create(email="ama@example.com", name="Ama Mensah",
                                      address={"country": "gh", "city": "Accra"}, metadata={"user_id": "42"})
    assert created.id.startswith("cus_") and created.object == "customer"
    assert created.address.country == "GH" and created.metadata == {"user_id": "42"}

    fetched = xtopay.customers.retrieve(created.id)
    assert fetched == created

    updated = xtopay.customers.update(created.id, name="Ama K. Mensah", metadata={"plan": "pro", "user_id": ""})
    assert updated.name == "Ama K. Mensah" and updated.metadata == {"plan": "pro"}

    page = xtopay.customers.list()
    assert isinstance(page, ListObject) and page.has_more is False
    assert [customer.id for customer in page.data] == [created.id]


def test_every_response_carries_its_request_id(xtopay):
    customer = xtopay.customers.create(name="Kofi")
    assert customer.last_response.headers["Request-Id"].startswith("req_")


def test_wrong_key_raises_authentication_error(api_url):
    with Xtopay("sk_test_wrongwrongwrongwrongwrongwrongwr", base_url=api_url) as client:
        with pytest.raises(AuthenticationError) as raised:
            client.customers.list()
    error = raised.value
    assert (error.status, error.type, error.code) == (401, "authentication_error", "api_key_invalid")
    assert error.request_id.startswith("req_")


def test_bad_email_raises_invalid_request_error_naming_the_param(xtopay):
    with pytest.raises(InvalidRequestError) as raised:
        xtopay.customers.create(email="not-an-email")
    assert (raised.value.status, raised.value.code, raised.value.param) == (400, "parameter_invalid", "email")


def test_missing_customer_raises_invalid_request_error_resource_missing(xtopay):
    with pytest.raises(InvalidRequestError) as raised:
        xtopay.customers.retrieve("cus_doesnotexist00000000000")
    assert (raised.value.status, raised.value.code) == (404, "resource_missing")


def test_another_merchants_customer_is_missing(xtopay, api_url, make_merchant):
    with Xtopay(make_merchant("Globex")[1], base_url=api_url) as globex:
        theirs = globex.customers.create(name="Theirs")
    with pytest.raises(InvalidRequestError) as raised:
        xtopay.customers.retrieve(theirs.id)
    assert raised.value.code == "resource_missing"


def test_an_id_cannot_reach_another_route(xtopay):
    customer = xtopay.customers.create(name="Esi")
    with pytest.raises(InvalidRequestError) as raised:
        xtopay.customers.retrieve(f"../customers/{customer.id}")
    assert raised.value.status == 404


def test_same_idempotency_key_replays_the_first_response(xtopay):
    first = xtopay.customers.create(name="Yaw", idempotency_key="signup-user-42")
    second = xtopay.customers.create(name="Yaw", idempotency_key="signup-user-42")
    assert second.id == first.id
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert len(xtopay.customers.list().data) == 1


def test_same_key_with_another_body_raises_idempotency_error_without_retrying(flaky_client):
    transport = FlakyTransport()
    client = flaky_client(transport)
    client.customers.create(name="Yaw", idempotency_key="signup-user-42")
    with pytest.raises(IdempotencyError) as raised:
        client.customers.create(name="Someone else", idempotency_key="signup-user-42")
    assert (raised.value.status, raised.value.code) == (409, "idempotency_key_reused")
    assert len(transport.requests) == 2


def test_lost_response_is_retried_with_the_same_key_and_replayed(flaky_client, xtopay):
    transport = FlakyTransport(lose_first_response=True)
    customer = flaky_client(transport).customers.create(email="abena@example.com")

    keys = [request.headers["Idempotency-Key"] for request in transport.requests]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert customer.last_response.headers["Idempotent-Replayed"] == "true"
    assert [c.id for c in xtopay.customers.list().data] == [customer.id]


def test_each_call_gets_its_own_idempotency_key(flaky_client):
    transport = FlakyTransport()
    client = flaky_client(transport)
    client.customers.create(name="A")
    client.customers.create(name="A")
    keys = {request.headers["Idempotency-Key"] for request in transport.requests}
    assert len(keys) == 2
    assert len(client.customers.list().data) == 2


def test_rate_limited_request_is_retried_after_retry_after(flaky_client):
    transport = FlakyTransport(first_answer=httpx.Response(
        429, headers={"Retry-After": "0"},
        json={"error": {"type": "rate_limit_error", "code": None, "message": "slow down", "param": None}}))
    customer = flaky_client(transport).customers.create(name="Kwame")
    assert customer.id.startswith("cus_")
    keys = [request.headers["Idempotency-Key"] for request in transport.requests]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_key_still_in_use_is_retried_with_the_same_key(flaky_client):
    transport = FlakyTransport(first_answer=httpx.Response(409, json={"error": {
        "type": "idempotency_error", "code": "idempotency_key_in_use", "message": "in progress", "param": None}}))
    customer = flaky_client(transport).customers.create(name="Adwoa")
    assert customer.id.startswith("cus_")
    keys = [request.headers["Idempotency-Key"] for request in transport.requests]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_server_error_is_retried(flaky_client):
    transport = FlakyTransport(first_answer=httpx.Response(503, text="upstream unavailable"))
    assert flaky_client(transport).customers.list().data == []
    assert len(transport.requests) == 2


def test_rate_limit_still_failing_after_retries_raises_rate_limit_error(flaky_client):
    class AlwaysLimited(FlakyTransport):
        def handle_request(self, request):
            self.requests.append(request)
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"error": {
                "type": "rate_limit_error", "code": None, "message": "slow down", "param": None}})

    transport = AlwaysLimited()
    with pytest.raises(RateLimitError):
        flaky_client(transport, max_retries=2).customers.list()
    assert len(transport.requests) == 3


def test_client_errors_are_never_retried(flaky_client):
    transport = FlakyTransport()
    with pytest.raises(InvalidRequestError):
        flaky_client(transport).customers.create(email="not-an-email")
    assert len(transport.requests) == 1


def test_unreachable_api_raises_connection_error_without_the_key(api_url, merchant):
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with Xtopay(merchant[1], base_url=f"http://127.0.0.1:{closed_port}", max_retries=0) as client:
        with pytest.raises(APIConnectionError) as raised:
            client.customers.list()
    assert merchant[1] not in str(raised.value) and merchant[1] not in repr(raised.value)


def test_auto_paging_walks_every_customer_newest_first(xtopay):
    created = [xtopay.customers.create(name=f"Customer {n}").id for n in range(25)]

    first_page = xtopay.customers.list(limit=10)
    assert len(first_page.data) == 10 and first_page.has_more is True

    walked = [customer.id for customer in first_page.auto_paging_iter()]
    assert walked == list(reversed(created))


def test_repr_shows_only_the_key_prefix(merchant):
    secret = merchant[1]
    client = Xtopay(secret)
    assert secret not in repr(client) and secret[:12] in repr(client)
    client.close()


def test_a_missing_api_key_fails_at_construction():
    with pytest.raises(ValueError, match="api_key"):
        Xtopay(None)
