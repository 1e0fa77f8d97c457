"""Text no database can store — a NUL character (PostgreSQL refuses it), an unpaired surrogate (not UTF-8) — is a
400 naming the field, or a 404 for an id in the path, never a 500, and nothing is written.

Found by schemathesis on PostgreSQL: a NUL in a customer's metadata value was a 500 (UntranslatableCharacter).
"""
import json

import pytest

from xtoportal.extensions import db
from xtoportal.models import Customer


def post_raw(api, path, raw: str):
    return api.post(path, data=raw, headers={"Content-Type": "application/json"})


def customers_count() -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(Customer))


@pytest.mark.parametrize("body, param", [
    ({"metadata": {"k": "a\u0000b"}}, "metadata.k"),
    ({"name": "Ama\u0000"}, "name"),
    ({"address": {"line1": "\u0000", "country": "GH"}}, "address.line1"),
    ({"metadata": {"a\u0000": "x"}}, "metadata"),
])
def test_a_nul_character_in_the_body_is_a_400_naming_the_field(api, body, param):
    response = api.post("/v1/customers", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == param
    assert response.get_json()["error"]["code"] == "parameter_invalid"
    assert customers_count() == 0


def test_an_unpaired_surrogate_in_the_body_is_a_400(api):
    response = post_raw(api, "/v1/customers", '{"name": "x", "metadata": {"\\ud800": "x"}}')
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "metadata"
    response = post_raw(api, "/v1/customers", '{"name": "\\udfff"}')
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "name"
    assert customers_count() == 0


def test_an_update_with_a_nul_changes_nothing(api):
    customer = api.post("/v1/customers", json={"name": "Ama", "metadata": {"a": "1"}}).get_json()
    response = api.post(f"/v1/customers/{customer['id']}", json={"name": "Kofi", "metadata": {"b": "\u0000"}})
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "metadata.b"
    again = api.get(f"/v1/customers/{customer['id']}").get_json()
    assert again["name"] == "Ama" and again["metadata"] == {"a": "1"}


def test_a_nul_in_a_path_id_is_a_404(api):
    for path in ("/v1/customers/cus_%00", "/v1/plans/%00", "/v1/subscriptions/sub_%ED%A0%80"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "resource_missing"


@pytest.mark.parametrize("query, param", [
    ("customer_id=cus_%00", "customer_id"),
    ("starting_after=sub_%00", "starting_after"),
])
def test_a_nul_in_a_query_id_is_a_400_naming_it(api, query, param):
    response = api.get(f"/v1/subscriptions?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"] == {**response.get_json()["error"], "param": param,
                                            "code": "resource_missing"}
    json.dumps(response.get_json())  # the answer itself is valid JSON
