"""client.customer_portal: sessions and the configuration, against the real API."""
import pytest

from xtoportal.client import InvalidRequestError

RETURN_URL = "https://shop.example.com/account"


@pytest.fixture
def customer(xtopay):
    return xtopay.customers.create(email="ama@example.com", name="Ama Mensah")


def test_create_session_returns_a_single_use_url_valid_30_minutes(xtopay, customer, api_url):
    session = xtopay.customer_portal.create_session(customer_id=customer.id, return_url=RETURN_URL)
    assert session.id.startswith("sess_") and session.object == "customer_portal.session"
    assert session.url.startswith(f"{api_url}/portal/sess_")
    assert session.expires_at == session.created + 1800
    assert (session.status, session.customer_id, session.return_url) == ("active", customer.id, RETURN_URL)


def test_retrieved_session_hides_the_url_and_revoke_ends_it(xtopay, customer):
    session = xtopay.customer_portal.create_session(customer_id=customer.id, return_url=RETURN_URL, locale="fr")
    fetched = xtopay.customer_portal.retrieve_session(session.id)
    assert fetched.url is None and fetched.locale == "fr"

    revoked = xtopay.customer_portal.revoke_session(session.id)
    assert revoked.status == "revoked"
    assert xtopay.customer_portal.retrieve_session(session.id).status == "revoked"


def test_unsafe_return_url_names_the_param(xtopay, customer):
    with pytest.raises(InvalidRequestError) as raised:
        xtopay.customer_portal.create_session(customer_id=customer.id, return_url="http://shop.example.com/account")
    assert (raised.value.status, raised.value.param) == (400, "return_url")


def test_configuration_update_merges_and_governs_flows(xtopay, customer):
    config = xtopay.customer_portal.configuration.retrieve()
    assert config.object == "customer_portal.configuration"
    assert config.features.subscription_pause.enabled is True

    updated = xtopay.customer_portal.configuration.update(
        branding={"business_name": "Shopwise", "primary_color": "#112233"},
        features={"payment_method_update": {"enabled": False}})
    assert updated.branding.business_name == "Shopwise" and updated.branding.primary_color == "#112233"
    assert updated.features.payment_method_update.enabled is False
    assert updated.features.invoice_history.enabled is True  # untouched parts stay

    with pytest.raises(InvalidRequestError) as raised:
        xtopay.customer_portal.create_session(customer_id=customer.id, return_url=RETURN_URL,
                                              flow={"type": "payment_method_update"})
    assert raised.value.param == "flow.type"


def test_invalid_configuration_names_the_dotted_param(xtopay):
    with pytest.raises(InvalidRequestError) as raised:
        xtopay.customer_portal.configuration.update(branding={"primary_color": "blue"})
    assert raised.value.param == "branding.primary_color"


def test_default_return_url_is_used_when_none_is_given(xtopay, customer):
    xtopay.customer_portal.configuration.update(default_return_url=RETURN_URL)
    session = xtopay.customer_portal.create_session(customer_id=customer.id)
    assert session.return_url == RETURN_URL
