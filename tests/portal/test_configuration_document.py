"""The portal configuration's merged document is worked out once per settings value (every portal page asks
`allows` a dozen times): a settings change, however it arrives, must still be seen at once, and no caller may
change what the next one reads."""
from sqlalchemy import text

from xtoportal.extensions import db
from xtoportal.models import DEFAULT_PORTAL_CONFIGURATION, PortalConfiguration
from xtoportal.portal_settings import update_portal_configuration


def configuration(merchant) -> PortalConfiguration:
    return db.session.get(PortalConfiguration, merchant[0].id)


def test_a_settings_change_in_this_session_is_seen_at_once(merchant):
    config = configuration(merchant)
    assert config.allows("invoice_history")
    update_portal_configuration(config, {"features": {"invoice_history": {"enabled": False}}})
    assert not config.allows("invoice_history")
    assert config.document["features"]["invoice_history"]["enabled"] is False


def test_a_change_made_elsewhere_is_seen_once_the_row_is_read_again(merchant):
    config = configuration(merchant)
    assert config.allows("customer_update")
    db.session.execute(text("UPDATE portal_configurations SET settings = :s WHERE merchant_id = :m"),
                       {"s": '{"features": {"customer_update": {"enabled": false}}}', "m": merchant[0].id})
    db.session.refresh(config)
    assert not config.allows("customer_update")


def test_changing_a_document_or_feature_handed_out_changes_nothing_else(merchant):
    config = configuration(merchant)
    document = config.document
    document["features"]["invoice_history"]["enabled"] = False
    document["branding"]["business_name"] = "Changed"
    config.feature("payment_method_update")["enabled"] = False
    assert config.allows("invoice_history") and config.allows("payment_method_update")
    assert config.to_api()["branding"]["business_name"] == merchant[0].name  # filled in on its copy only
    assert config.document["branding"]["business_name"] == DEFAULT_PORTAL_CONFIGURATION["branding"]["business_name"]
