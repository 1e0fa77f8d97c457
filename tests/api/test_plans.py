import pytest

from xtoportal.extensions import db
from xtoportal.models import Plan

PRO = {"name": "Pro", "amount": 5000, "currency": "ghs", "interval": "month"}


def create_plan(api, **fields):
    response = api.post("/v1/plans", json={**PRO, **fields})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def error_of(response, status=400):
    assert response.status_code == status, response.get_json()
    return response.get_json()["error"]


def test_create_plan_returns_the_object_with_defaults(api):
    plan = create_plan(api)
    assert plan["id"].startswith("plan_") and plan["object"] == "plan"
    assert {k: plan[k] for k in ("name", "amount", "currency", "interval")} == PRO
    assert (plan["interval_count"], plan["active"], plan["description"], plan["livemode"]) == (1, True, None, False)
    assert isinstance(plan["created"], int)


def test_create_plan_with_every_field(api):
    plan = create_plan(api, description="Billed quarterly", interval_count=3, active=False, amount=0)
    assert (plan["description"], plan["interval_count"], plan["active"], plan["amount"]) == \
        ("Billed quarterly", 3, False, 0)


@pytest.mark.parametrize("field", ["name", "amount", "currency", "interval"])
def test_each_required_field_missing_is_parameter_missing(api, field):
    body = {k: v for k, v in PRO.items() if k != field}
    error = error_of(api.post("/v1/plans", json=body))
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "parameter_missing", field)


@pytest.mark.parametrize("amount", [-1, 10**12 + 1, "5000", 50.5, True, None])
def test_amount_outside_0_to_10_to_the_12_or_not_an_integer_is_refused(api, amount):
    error = error_of(api.post("/v1/plans", json={**PRO, "amount": amount}))
    assert (error["code"], error["param"]) == ("parameter_invalid", "amount")


def test_amount_bounds_are_inclusive(api):
    assert create_plan(api, amount=0)["amount"] == 0
    assert create_plan(api, amount=10**12)["amount"] == 10**12


@pytest.mark.parametrize("currency", ["xyz", "cedi", "", "jpy", 840])
def test_unsupported_currency_is_refused(api, currency):
    error = error_of(api.post("/v1/plans", json={**PRO, "currency": currency}))
    assert (error["code"], error["param"]) == ("parameter_invalid", "currency")


def test_currency_is_stored_lower_case(api):
    assert create_plan(api, currency="UGX", amount=50000)["currency"] == "ugx"


@pytest.mark.parametrize("interval", ["fortnight", "months", "", None])
def test_unknown_interval_is_refused(api, interval):
    error = error_of(api.post("/v1/plans", json={**PRO, "interval": interval}))
    assert error["param"] == "interval"


@pytest.mark.parametrize("interval,longest", [("day", 1095), ("week", 156), ("month", 36), ("year", 3)])
def test_a_period_lasts_at_most_three_years(api, interval, longest):
    assert create_plan(api, interval=interval, interval_count=longest)["interval_count"] == longest
    error = error_of(api.post("/v1/plans", json={**PRO, "interval": interval, "interval_count": longest + 1}))
    assert (error["code"], error["param"]) == ("parameter_invalid", "interval_count")
    assert "three years" in error["message"]


@pytest.mark.parametrize("count", [0, -1, "2", 1.5])
def test_interval_count_must_be_a_positive_integer(api, count):
    error = error_of(api.post("/v1/plans", json={**PRO, "interval_count": count}))
    assert error["param"] == "interval_count"


@pytest.mark.parametrize("field,value", [("active", "true"), ("active", 1), ("name", ""), ("name", "x" * 201),
                                         ("name", 42), ("description", 7)])
def test_badly_typed_fields_are_refused_by_name(api, field, value):
    error = error_of(api.post("/v1/plans", json={**PRO, field: value}))
    assert (error["code"], error["param"]) == ("parameter_invalid", field)


def test_unknown_field_is_refused(api):
    error = error_of(api.post("/v1/plans", json={**PRO, "metadata": {"a": "b"}}))
    assert error["param"] == "metadata"


def test_get_plan(api):
    plan = create_plan(api)
    response = api.get(f"/v1/plans/{plan['id']}")
    assert response.status_code == 200
    assert response.get_json() == plan


def test_unknown_plan_is_404(api):
    error = error_of(api.get("/v1/plans/plan_doesnotexist"), 404)
    assert (error["type"], error["code"]) == ("invalid_request_error", "resource_missing")


def test_update_changes_name_description_and_active(api):
    plan = create_plan(api, description="old")
    response = api.post(f"/v1/plans/{plan['id']}", json={"name": "Pro 2025", "description": "new", "active": False})
    assert response.status_code == 200
    updated = response.get_json()
    assert (updated["name"], updated["description"], updated["active"]) == ("Pro 2025", "new", False)
    assert {k: updated[k] for k in ("amount", "currency", "interval", "interval_count", "created")} == \
        {k: plan[k] for k in ("amount", "currency", "interval", "interval_count", "created")}
    assert api.get(f"/v1/plans/{plan['id']}").get_json() == updated


def test_update_with_only_some_fields_keeps_the_rest(api):
    plan = create_plan(api, description="keep me")
    updated = api.post(f"/v1/plans/{plan['id']}", json={"active": False}).get_json()
    assert (updated["name"], updated["description"], updated["active"]) == ("Pro", "keep me", False)


def test_update_clears_the_description_with_null_or_empty(api):
    plan = create_plan(api, description="temporary")
    assert api.post(f"/v1/plans/{plan['id']}", json={"description": None}).get_json()["description"] is None
    api.post(f"/v1/plans/{plan['id']}", json={"description": "again"})
    assert api.post(f"/v1/plans/{plan['id']}", json={"description": ""}).get_json()["description"] is None


@pytest.mark.parametrize("field,value", [("amount", 9000), ("currency", "kes"), ("interval", "year"),
                                         ("interval_count", 2)])
def test_fields_fixed_at_creation_cannot_be_updated(api, field, value):
    plan = create_plan(api)
    error = error_of(api.post(f"/v1/plans/{plan['id']}", json={"name": "Renamed", field: value}))
    assert (error["code"], error["param"]) == ("parameter_invalid", field)
    assert "cannot change after creation" in error["message"]
    assert api.get(f"/v1/plans/{plan['id']}").get_json() == plan


@pytest.mark.parametrize("body,param", [({"name": None}, "name"), ({"name": ""}, "name"),
                                        ({"active": None}, "active"), ({"active": "false"}, "active"),
                                        ({"nickname": "x"}, "nickname")])
def test_update_refuses_bad_values(api, body, param):
    plan = create_plan(api)
    error = error_of(api.post(f"/v1/plans/{plan['id']}", json=body))
    assert error["param"] == param
    assert api.get(f"/v1/plans/{plan['id']}").get_json() == plan


def test_update_of_unknown_plan_is_404(api):
    error_of(api.post("/v1/plans/plan_doesnotexist", json={"name": "x"}), 404)


def test_list_plans_newest_first_with_pagination(api):
    ids = [create_plan(api, name=f"p{i}")["id"] for i in range(5)]
    first = api.get("/v1/plans?limit=3").get_json()
    assert first["object"] == "list" and first["has_more"] is True
    assert [p["id"] for p in first["data"]] == ids[::-1][:3]
    rest = api.get(f"/v1/plans?starting_after={first['data'][-1]['id']}").get_json()
    assert [p["id"] for p in rest["data"]] == ids[::-1][3:]
    assert rest["has_more"] is False


def test_list_filters_on_active(api):
    active = create_plan(api, name="on")
    inactive = create_plan(api, name="off", active=False)
    assert [p["id"] for p in api.get("/v1/plans?active=true").get_json()["data"]] == [active["id"]]
    assert [p["id"] for p in api.get("/v1/plans?active=false").get_json()["data"]] == [inactive["id"]]
    assert len(api.get("/v1/plans").get_json()["data"]) == 2


@pytest.mark.parametrize("query", ["active=yes", "active=1", "active=", "limit=0", "limit=101"])
def test_list_refuses_bad_query_values(api, query):
    error = error_of(api.get(f"/v1/plans?{query}"))
    assert error["param"] == query.split("=")[0]


def test_another_merchants_plan_is_404_and_not_listed(api, other_api):
    plan = create_plan(api)
    for response in (other_api.get(f"/v1/plans/{plan['id']}"),
                     other_api.post(f"/v1/plans/{plan['id']}", json={"name": "Stolen"})):
        error = error_of(response, 404)
        assert error["code"] == "resource_missing"
    assert other_api.get("/v1/plans").get_json()["data"] == []
    assert error_of(other_api.get(f"/v1/plans?starting_after={plan['id']}"))["param"] == "starting_after"
    assert db.session.get(Plan, plan["id"]).name == "Pro"


def test_plans_need_an_api_key(client):
    assert client.get("/v1/plans").status_code == 401
    assert client.post("/v1/plans", json=PRO).status_code == 401
