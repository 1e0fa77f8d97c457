"""/v1/customer_portal/configuration: one object per merchant; a POST merges, validates the whole, returns it."""
import copy

import pytest

from tests.factories import make_plan
from xtoportal.extensions import db
from xtoportal.models import DEFAULT_PORTAL_CONFIGURATION, PortalConfiguration

PATH = "/v1/customer_portal/configuration"


def _update(api, body):
    return api.post(PATH, json=body)


def _error(response):
    assert response.status_code == 400, response.get_json()
    return response.get_json()["error"]


def test_get_returns_the_defaults_with_the_merchants_name(api):
    body = api.get(PATH).get_json()
    assert body["object"] == "customer_portal.configuration" and body["livemode"] is False
    assert "id" not in body
    assert body["branding"] == {"business_name": "Acme", "logo_url": None,
                                "primary_color": "#1a56db", "accent_color": "#0e9f6e"}
    assert body["default_return_url"] is None and body["allowed_return_hosts"] == []
    assert body["features"] == DEFAULT_PORTAL_CONFIGURATION["features"]


def test_post_merges_a_part_and_returns_the_whole(api):
    body = _update(api, {"branding": {"primary_color": "#112233"}}).get_json()
    assert body["branding"]["primary_color"] == "#112233"
    assert body["branding"]["accent_color"] == "#0e9f6e" and body["branding"]["business_name"] == "Acme"
    assert body["features"] == DEFAULT_PORTAL_CONFIGURATION["features"]
    body = _update(api, {"features": {"subscription_cancel": {"survey": {"enabled": False}}}}).get_json()
    assert body["branding"]["primary_color"] == "#112233"
    default_options = DEFAULT_PORTAL_CONFIGURATION["features"]["subscription_cancel"]["survey"]["options"]
    assert body["features"]["subscription_cancel"]["survey"] == {"enabled": False, "options": default_options}
    assert body["features"]["subscription_cancel"]["mode"] == "at_period_end"
    assert api.get(PATH).get_json() == body


def test_only_what_the_merchant_set_is_stored(api, merchant):
    _update(api, {"branding": {"accent_color": "#ABCDEF"}, "default_return_url": "https://acme.example/account"})
    row = db.session.get(PortalConfiguration, merchant[0].id)
    db.session.refresh(row)
    assert row.settings == {"branding": {"accent_color": "#abcdef"},
                            "default_return_url": "https://acme.example/account"}


def test_lists_replace_rather_than_merge(api):
    _update(api, {"features": {"payment_method_update": {"types": ["card"]}}})
    body = _update(api, {"features": {"payment_method_update": {"types": ["mobile_money"]}}}).get_json()
    assert body["features"]["payment_method_update"]["types"] == ["mobile_money"]


def test_posting_back_what_get_returned_is_accepted(api):
    document = api.get(PATH).get_json()
    document["features"]["subscription_pause"]["enabled"] = False
    response = _update(api, document)
    assert response.status_code == 200
    assert response.get_json()["features"]["subscription_pause"] == {"enabled": False}


def test_business_name_null_shows_the_merchants_name(api):
    def shown_name(business_name):
        return _update(api, {"branding": {"business_name": business_name}}).get_json()["branding"]["business_name"]
    assert shown_name("Acme Cloud") == "Acme Cloud"
    assert shown_name(None) == "Acme"
    assert shown_name("  ") == "Acme"


@pytest.mark.parametrize("colour", ["red", "#fff", "#12345g", "1a56db", "#1a56db80", "rgb(0,0,0)", 123, None,
                                    "#1a56db;}body{display:none"])
def test_colours_are_strict_hex(api, colour):
    assert _error(_update(api, {"branding": {"primary_color": colour}}))["param"] == "branding.primary_color"
    assert _error(_update(api, {"branding": {"accent_color": colour}}))["param"] == "branding.accent_color"


def test_colours_are_kept_lower_case(api):
    assert _update(api, {"branding": {"primary_color": "#AABBCC"}}).get_json()["branding"]["primary_color"] == "#aabbcc"


@pytest.mark.parametrize("param,value", [
    ("branding.logo_url", "http://cdn.acme.example/logo.png"),
    ("branding.logo_url", "javascript:alert(1)"),
    ("business_profile.privacy_policy_url", "http://localhost/privacy"),
    ("business_profile.terms_of_service_url", "//acme.example/terms"),
    ("business_profile.support_email", "not-an-email"),
])
def test_merchant_links_are_validated(api, param, value):
    group, field = param.split(".")
    assert _error(_update(api, {group: {field: value}}))["param"] == param


def test_merchant_links_accept_https_and_null(api):
    body = _update(api, {"branding": {"logo_url": "https://cdn.acme.example/logo.png"},
                         "business_profile": {"support_email": "help@acme.example",
                                              "privacy_policy_url": "https://acme.example/privacy"}}).get_json()
    assert body["branding"]["logo_url"] == "https://cdn.acme.example/logo.png"
    assert body["business_profile"]["support_email"] == "help@acme.example"
    assert _update(api, {"branding": {"logo_url": None}}).get_json()["branding"]["logo_url"] is None


@pytest.mark.parametrize("url", ["javascript:alert(1)", "//evil.example", "https://a@evil.example",
                                 "http://evil.example", "ftp://x"])
def test_default_return_url_follows_the_return_url_rules(api, url):
    assert _error(_update(api, {"default_return_url": url}))["param"] == "default_return_url"


def test_default_return_url_may_be_local_http(api):
    assert _update(api, {"default_return_url": "http://localhost:3000/"}).get_json()["default_return_url"] == \
        "http://localhost:3000/"


def test_default_return_url_must_be_on_an_allowed_host(api):
    _update(api, {"default_return_url": "https://acme.example/account"})
    error = _error(_update(api, {"allowed_return_hosts": ["app.acme.example"]}))
    assert error["param"] == "default_return_url"
    body = _update(api, {"allowed_return_hosts": ["app.acme.example", "acme.example"]}).get_json()
    assert body["allowed_return_hosts"] == ["app.acme.example", "acme.example"]


@pytest.mark.parametrize("hosts,param", [
    (["https://acme.example"], "allowed_return_hosts.0"),
    (["acme.example", "*.acme.example"], "allowed_return_hosts.1"),
    (["acme.example:443"], "allowed_return_hosts.0"),
    (["acme.example", "ACME.example"], "allowed_return_hosts"),
    ("acme.example", "allowed_return_hosts"),
])
def test_allowed_return_hosts_are_host_names(api, hosts, param):
    assert _error(_update(api, {"allowed_return_hosts": hosts}))["param"] == param


def test_allowed_return_hosts_are_kept_lower_case(api):
    assert _update(api, {"allowed_return_hosts": ["App.Acme.Example"]}).get_json()["allowed_return_hosts"] == \
        ["app.acme.example"]


def test_subscription_update_plans_are_this_merchants_plans(api, merchant, make_merchant):
    basic, pro = make_plan(merchant[0], name="Basic"), make_plan(merchant[0], name="Pro")
    body = _update(api, {"features": {"subscription_update": {"plans": [pro.id, basic.id]}}}).get_json()
    assert body["features"]["subscription_update"]["plans"] == [pro.id, basic.id]

    globex, _ = make_merchant("Globex")
    foreign = make_plan(globex)
    for plans, param in (([pro.id, "plan_missing"], "features.subscription_update.plans.1"),
                         ([foreign.id], "features.subscription_update.plans.0")):
        error = _error(_update(api, {"features": {"subscription_update": {"plans": plans}}}))
        assert (error["code"], error["param"]) == ("resource_missing", param)
    error = _error(_update(api, {"features": {"subscription_update": {"plans": [pro.id, pro.id]}}}))
    assert error["param"] == "features.subscription_update.plans"


@pytest.mark.parametrize("feature,field,value,param", [
    ("subscription_update", "downgrades", "later", "features.subscription_update.downgrades"),
    ("subscription_update", "proration_behavior", "always_invoice", "features.subscription_update.proration_behavior"),
    ("subscription_cancel", "mode", "now", "features.subscription_cancel.mode"),
    ("payment_method_update", "types", ["card", "bank_transfer"], "features.payment_method_update.types.1"),
    ("payment_method_update", "types", [], "features.payment_method_update.types"),
    ("customer_update", "allowed_updates", ["password"], "features.customer_update.allowed_updates.0"),
    ("invoice_history", "enabled", "yes", "features.invoice_history.enabled"),
    ("subscription_pause", "enabled", 1, "features.subscription_pause.enabled"),
    ("invoice_history", "colour", "red", "features.invoice_history.colour"),
])
def test_feature_values_are_validated(api, feature, field, value, param):
    assert _error(_update(api, {"features": {feature: {field: value}}}))["param"] == param


def test_survey_options_are_a_subset_of_the_eight_reasons(api):
    body = _update(api, {"features": {"subscription_cancel": {"survey": {"options": ["other", "too_expensive"]}}}})
    assert body.get_json()["features"]["subscription_cancel"]["survey"]["options"] == ["other", "too_expensive"]
    error = _error(_update(api, {"features": {"subscription_cancel": {"survey": {"options": ["unused", "bored"]}}}}))
    assert error["param"] == "features.subscription_cancel.survey.options.1"


def test_enumerated_settings_accept_each_documented_value(api):
    body = _update(api, {"features": {
        "subscription_update": {"downgrades": "at_period_end", "proration_behavior": "none"},
        "subscription_cancel": {"mode": "immediately", "pause_before_cancel": {"enabled": False}},
        "customer_update": {"allowed_updates": ["email"]},
    }}).get_json()["features"]
    assert body["subscription_update"]["downgrades"] == "at_period_end"
    assert body["subscription_update"]["proration_behavior"] == "none"
    assert body["subscription_cancel"]["mode"] == "immediately"
    assert body["customer_update"]["allowed_updates"] == ["email"]


def test_unknown_settings_are_refused_with_their_path(api):
    assert _error(_update(api, {"theme": "dark"}))["param"] == "theme"
    assert _error(_update(api, {"branding": {"font": "Inter"}}))["param"] == "branding.font"
    assert _error(_update(api, {"features": {"gift_cards": {"enabled": True}}}))["param"] == "features.gift_cards"
    assert _error(_update(api, {"object": "something_else"}))["param"] == "object"


def test_a_wrong_shape_is_400_not_500(api):
    assert _error(_update(api, {"branding": "blue"}))["param"] == "branding"
    assert _error(_update(api, {"features": None}))["param"] == "features"
    assert _error(_update(api, {"features": {"subscription_cancel": {"survey": []}}}))["param"] == \
        "features.subscription_cancel.survey"
    response = api.post(PATH, data="[1, 2]", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_a_refused_update_changes_nothing(api):
    before = _update(api, {"branding": {"primary_color": "#112233"}}).get_json()
    _error(_update(api, {"branding": {"primary_color": "#445566", "accent_color": "nope"}}))
    assert api.get(PATH).get_json() == before


def test_each_merchant_has_its_own_configuration(api, other_api):
    _update(api, {"branding": {"primary_color": "#112233"}})
    theirs = other_api.get(PATH).get_json()
    assert theirs["branding"]["primary_color"] == "#1a56db" and theirs["branding"]["business_name"] == "Globex"


def test_requires_an_api_key(client):
    assert client.get(PATH).status_code == 401
    assert client.post(PATH, json={}).status_code == 401


def test_an_empty_post_returns_the_configuration_unchanged(api):
    before = copy.deepcopy(api.get(PATH).get_json())
    assert api.post(PATH).get_json() == before
