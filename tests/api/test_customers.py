import pytest

from xtoportal.extensions import db
from xtoportal.models import Event


def test_create_customer_returns_the_object_with_prefixed_id(api):
    response = api.post("/v1/customers", json={"email": "ama@example.com", "name": "Ama Mensah",
                                               "phone": "+233201234567", "address": {"country": "gh", "city": "Accra"},
                                               "metadata": {"user_id": "42"}})
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"].startswith("cus_") and body["object"] == "customer"
    assert body["email"] == "ama@example.com"
    assert body["address"]["country"] == "GH" and body["address"]["city"] == "Accra"
    assert body["metadata"] == {"user_id": "42"}
    assert body["livemode"] is False


def test_missing_key_is_401_api_key_missing(client):
    response = client.get("/v1/customers")
    assert response.status_code == 401
    assert response.get_json()["error"] == {"type": "authentication_error", "code": "api_key_missing",
                                            "message": response.get_json()["error"]["message"], "param": None}


def test_wrong_key_is_401_api_key_invalid(client):
    response = client.get("/v1/customers", headers={"Authorization": "Bearer sk_test_nope"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "api_key_invalid"


def test_invalid_email_names_the_param(api):
    response = api.post("/v1/customers", json={"email": "not-an-email"})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "parameter_invalid", "email")


def test_bad_address_country_param_is_dotted(api):
    response = api.post("/v1/customers", json={"address": {"country": "XX"}})
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "address.country"


def test_phone_must_be_e164(api):
    response = api.post("/v1/customers", json={"phone": "0201234567"})
    assert response.get_json()["error"]["param"] == "phone"


def test_update_merges_metadata_and_empty_string_removes(api):
    customer = api.post("/v1/customers", json={"metadata": {"a": "1", "b": "2"}}).get_json()
    updated = api.post(f"/v1/customers/{customer['id']}", json={"metadata": {"b": "", "c": "3"}}).get_json()
    assert updated["metadata"] == {"a": "1", "c": "3"}


def test_update_emits_customer_updated_with_previous_attributes(api, app):
    customer = api.post("/v1/customers", json={"name": "Old"}).get_json()
    api.post(f"/v1/customers/{customer['id']}", json={"name": "New"})
    event = db.session.scalars(db.select(Event).filter_by(type="customer.updated")).one()
    assert event.data["object"]["name"] == "New"
    assert event.data["previous_attributes"] == {"name": "Old"}
    assert event.request_source == "api"


def test_metadata_over_50_keys_after_merge_is_refused(api):
    customer = api.post("/v1/customers", json={"metadata": {f"k{i}": "v" for i in range(50)}}).get_json()
    response = api.post(f"/v1/customers/{customer['id']}", json={"metadata": {"one_more": "v"}})
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "metadata"


def test_another_merchants_customer_is_404(api, other_api):
    customer = api.post("/v1/customers", json={"name": "Mine"}).get_json()
    for response in (other_api.get(f"/v1/customers/{customer['id']}"),
                     other_api.post(f"/v1/customers/{customer['id']}", json={"name": "Stolen"})):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "resource_missing"
    assert api.get(f"/v1/customers/{customer['id']}").get_json()["name"] == "Mine"


def test_list_paginates_newest_first(api):
    ids = [api.post("/v1/customers", json={"name": f"c{i}"}).get_json()["id"] for i in range(5)]
    first = api.get("/v1/customers?limit=2").get_json()
    assert first["object"] == "list" and first["has_more"] is True
    assert [c["id"] for c in first["data"]] == ids[::-1][:2]
    rest = api.get(f"/v1/customers?limit=10&starting_after={first['data'][-1]['id']}").get_json()
    assert [c["id"] for c in rest["data"]] == ids[::-1][2:]
    assert rest["has_more"] is False


def test_limit_out_of_range_is_400_naming_limit(api):
    for limit in ("0", "101", "abc"):
        response = api.get(f"/v1/customers?limit={limit}")
        assert response.status_code == 400
        assert response.get_json()["error"]["param"] == "limit"


def test_unknown_field_is_refused(api):
    response = api.post("/v1/customers", json={"nickname": "x"})
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "nickname"


def test_non_json_body_is_400_not_500(api):
    response = api.post("/v1/customers", data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_null_metadata_is_a_400_not_an_erase(api):
    customer = api.post("/v1/customers", json={"metadata": {"a": "1"}}).get_json()
    response = api.post(f"/v1/customers/{customer['id']}", json={"metadata": None})
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "metadata"
    assert api.get(f"/v1/customers/{customer['id']}").get_json()["metadata"] == {"a": "1"}


@pytest.mark.parametrize("key", ["", "\t", " "])
def test_a_bad_metadata_key_names_metadata_as_the_param(api, key):
    """Found by schemathesis: the param was pydantic's location of the key, e.g. "metadata.\t.[key]"."""
    response = api.post("/v1/customers", json={"metadata": {key: "x"}})
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "metadata"
    assert response.get_json()["error"]["code"] == "parameter_invalid"
