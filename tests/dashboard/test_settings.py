"""Settings → Customer Portal: the same configuration as the API, validated by the same code, with per-field
errors, an audit entry for each save, WCAG contrast warnings and a live preview that saves nothing."""
import html
import re

import pytest

from tests.factories import make_plan
from xtoportal.extensions import db
from xtoportal.models import AuditEntry, PortalConfiguration

from .conftest import row_counts, settings_form

HOSTILE_COLOUR = "red;}body{display:none}"
PAGE = "/dashboard/settings/portal"
PREVIEW = "/dashboard/settings/portal/preview"


def config(acme) -> PortalConfiguration:
    db.session.expire_all()
    return db.session.get(PortalConfiguration, acme.id)


def field_error(page: str, name: str) -> str | None:
    """The error shown beside field `name`, if any."""
    match = re.search(rf'id="error-{re.escape(name.replace(".", "-"))}">([^<]*)<', page)
    return html.unescape(match.group(1)) if match else None


def audit_entries(action=None):
    query = db.select(AuditEntry).order_by(AuditEntry.id)
    return db.session.scalars(query.filter_by(action=action) if action else query).all()


def test_the_page_shows_the_saved_settings(as_owner, api, acme):
    api.post("/v1/customer_portal/configuration", json={
        "branding": {"business_name": "Acme Cloud", "primary_color": "#123456"},
        "features": {"subscription_cancel": {"mode": "immediately"}}})
    page = as_owner.text(PAGE)
    assert 'name="branding.business_name" value="Acme Cloud"' in page
    assert 'name="branding.primary_color" value="#123456"' in page
    assert 'name="features.subscription_cancel.mode" value="immediately" checked' in page


def test_saving_changes_the_configuration_the_api_reads_and_records_who_changed_what(as_owner, api, acme, owner):
    form = settings_form(config(acme).document, branding__primary_color="#0F766E",
                         features__subscription_pause__enabled=False,
                         features__subscription_update__downgrades="at_period_end")
    response = as_owner.post(PAGE, form)
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    assert "Customer Portal settings saved." in as_owner.text(PAGE)
    body = api.get("/v1/customer_portal/configuration").get_json()
    assert body["branding"]["primary_color"] == "#0f766e"
    assert body["features"]["subscription_pause"] == {"enabled": False}
    assert body["features"]["subscription_update"]["downgrades"] == "at_period_end"
    [entry] = audit_entries("portal_settings.updated")
    assert entry.staff_user_id == owner.id and entry.details["staff_email"] == owner.email
    assert entry.remote_addr == "127.0.0.1"
    assert entry.details["changes"] == {
        "branding.primary_color": {"from": "#1a56db", "to": "#0f766e"},
        "features.subscription_pause.enabled": {"from": True, "to": False},
        "features.subscription_update.downgrades": {"from": "immediately", "to": "at_period_end"},
    }


def test_only_what_changed_is_stored_so_untouched_defaults_can_still_evolve(as_owner, acme):
    as_owner.post(PAGE, settings_form(config(acme).document, branding__accent_color="#7c3aed"))
    assert config(acme).settings == {"branding": {"accent_color": "#7c3aed"}}


def test_saving_the_same_settings_changes_nothing_and_logs_nothing(as_owner, acme):
    response = as_owner.post(PAGE, settings_form(config(acme).document))
    assert response.status_code == 303
    assert "Nothing to save" in as_owner.text(PAGE)
    assert config(acme).settings == {} and audit_entries("portal_settings.updated") == []


def test_a_hostile_colour_is_refused_beside_its_field_and_never_reaches_a_style(as_owner, acme):
    response = as_owner.post(PAGE, settings_form(config(acme).document, branding__primary_color=HOSTILE_COLOUR,
                                                 branding__business_name="Typed Name"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "branding.primary_color") == "Use a colour written #rrggbb, e.g. #1a56db."
    assert "Nothing was saved" in page
    assert 'value="red;}body{display:none}"' in page  # what was typed is kept, as an attribute value
    assert 'value="Typed Name"' in page
    assert "display:none" not in page.replace('value="red;}body{display:none}"', "")
    assert config(acme).settings == {} and audit_entries("portal_settings.updated") == []


def test_every_wrong_field_is_named_at_once(as_owner, acme):
    form = settings_form(config(acme).document, branding__accent_color="blue",
                         business_profile__support_email="not an email",
                         business_profile__privacy_policy_url="http://acme.example/privacy",
                         features__payment_method_update__types=[])
    page = as_owner.post(PAGE, form).get_data(as_text=True)
    assert field_error(page, "branding.accent_color") == "Use a colour written #rrggbb, e.g. #1a56db."
    assert "email" in field_error(page, "business_profile.support_email")
    assert field_error(page, "business_profile.privacy_policy_url") == "Must use https://."
    assert field_error(page, "features.payment_method_update.types").startswith("List should have at least 1 item")
    assert "4 fields need a change" in page


def test_a_default_return_url_outside_the_allowed_hosts_is_refused(as_owner, acme):
    form = settings_form(config(acme).document, default_return_url="https://shop.example/account",
                         allowed_return_hosts="app.example\nwww.app.example")
    page = as_owner.post(PAGE, form).get_data(as_text=True)
    assert "not in the portal configuration's allowed_return_hosts" in field_error(page, "default_return_url")
    assert config(acme).settings == {}


def test_allowed_return_hosts_are_one_per_line(as_owner, acme):
    form = settings_form(config(acme).document, allowed_return_hosts="App.Example\n\n www.app.example ")
    assert as_owner.post(PAGE, form).status_code == 303
    assert config(acme).document["allowed_return_hosts"] == ["app.example", "www.app.example"]


def test_plans_are_offered_in_the_order_given(as_owner, acme):
    starter, pro, business = (make_plan(acme, amount=amount, name=name)
                              for name, amount in (("Starter", 5000), ("Pro", 15000), ("Business", 40000)))
    form = settings_form(config(acme).document, features__subscription_update__plans=[starter.id, business.id])
    form[f"plan_position.{starter.id}"] = "2"
    form[f"plan_position.{business.id}"] = "1"
    form[f"plan_position.{pro.id}"] = "3"  # a position without its tick offers nothing
    assert as_owner.post(PAGE, form).status_code == 303
    assert config(acme).document["features"]["subscription_update"]["plans"] == [business.id, starter.id]
    page = as_owner.text(PAGE)
    assert page.index(">Business<") < page.index(">Starter<") < page.index(">Pro<")


def test_a_plan_of_another_merchant_cannot_be_offered(as_owner, acme, make_merchant):
    foreign = make_plan(make_merchant("Globex")[0], name="Foreign")
    form = settings_form(config(acme).document, features__subscription_update__plans=[foreign.id])
    page = as_owner.post(PAGE, form).get_data(as_text=True)
    assert field_error(page, "features.subscription_update.plans") == f"No such plan: '{foreign.id}'"


def test_a_switched_off_feature_keeps_its_earlier_choices(as_owner, acme):
    form = settings_form(config(acme).document, features__customer_update__enabled=False,
                         features__customer_update__allowed_updates=[])
    assert as_owner.post(PAGE, form).status_code == 303
    feature = config(acme).document["features"]["customer_update"]
    assert feature == {"enabled": False, "allowed_updates": ["name", "email", "phone", "address"]}


@pytest.mark.parametrize("colour,warned", [("#ffd400", True), ("#1e3a8a", False), ("#777777", True)])
def test_a_colour_failing_wcag_aa_is_warned_about(as_owner, api, colour, warned):
    api.post("/v1/customer_portal/configuration", json={"branding": {"primary_color": colour}})
    page = as_owner.text(PAGE)
    warning = re.search(r'id="contrast-primary"[^>]*>([^<]*)<', page).group(1)
    assert ("WCAG AA asks for 4.5:1" in warning) is warned


def test_the_live_preview_renders_the_portal_with_unsaved_colours_and_saves_nothing(as_owner, acme):
    before = row_counts()
    form = settings_form(config(acme).document, branding__primary_color="#ff0000",
                         branding__business_name="Preview Name", features__subscription_pause__enabled=False)
    response = as_owner.post(PREVIEW, form, htmx=True)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert fragment.startswith('<div id="portal-preview"')
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', fragment).group(1))
    assert "--brand: #ff0000;" in srcdoc and "Preview Name" in srcdoc and "Sample Customer" in srcdoc
    assert 'sandbox srcdoc=' in fragment
    assert 'id="swatch-primary" hx-swap-oob="true"' in fragment and "background-color: #ff0000" in fragment
    assert "<dt>Pause</dt><dd>Off</dd>" in fragment
    assert row_counts() == before and config(acme).settings == {}
    assert not db.session.new and not db.session.dirty


def test_the_live_preview_keeps_the_saved_colour_while_the_typed_one_is_wrong(as_owner, acme):
    form = settings_form(config(acme).document, branding__primary_color=HOSTILE_COLOUR)
    fragment = as_owner.post(PREVIEW, form, htmx=True).get_data(as_text=True)
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', fragment).group(1))
    assert "--brand: #1a56db;" in srcdoc and "display:none" not in srcdoc
    assert "Until fixed, the preview uses your saved primary colour." in fragment


def test_the_live_preview_warns_about_contrast_as_the_colour_is_typed(as_owner, acme):
    form = settings_form(config(acme).document, branding__primary_color="#ffd400")
    fragment = as_owner.post(PREVIEW, form, htmx=True).get_data(as_text=True)
    assert re.search(r'id="contrast-primary" hx-swap-oob="true"\s*>Low contrast', fragment)


def test_the_live_preview_speaks_the_chosen_language(as_owner, acme):
    form = settings_form(config(acme).document)
    form["preview_locale"] = "fr"
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"',
                                     as_owner.post(PREVIEW, form, htmx=True).get_data(as_text=True)).group(1))
    assert '<html lang="fr">' in srcdoc


def test_without_javascript_the_preview_button_shows_the_whole_page(as_owner, acme):
    form = settings_form(config(acme).document, branding__accent_color="#be123c")
    response = as_owner.post(PREVIEW, form)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h1>Customer Portal</h1>" in page and 'value="#be123c"' in page
    assert "--accent: #be123c;" in html.unescape(re.search(r'srcdoc="([^"]*)"', page).group(1))
    assert config(acme).settings == {}


def test_the_preview_shows_the_plans_customers_may_switch_to_in_order(as_owner, acme):
    starter, pro = make_plan(acme, name="Starter", amount=5000), make_plan(acme, name="Pro", amount=15000)
    form = settings_form(config(acme).document, features__subscription_update__plans=[pro.id, starter.id])
    form[f"plan_position.{pro.id}"], form[f"plan_position.{starter.id}"] = "1", "2"
    fragment = as_owner.post(PREVIEW, form, htmx=True).get_data(as_text=True)
    assert fragment.index("Pro · GH₵150.00") < fragment.index("Starter · GH₵50.00")
