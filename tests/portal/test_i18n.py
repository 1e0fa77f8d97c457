"""The portal speaks English and French: the session's locale (or, for `auto`, the browser's Accept-Language) picks
the words, and Babel formats amounts and dates the way that language writes them."""
import html
import re
from io import BytesIO

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from pypdf import PdfReader

from xtoportal import ROOT

from tests.factories import make_card, make_customer, make_plan

from .conftest import link_path
from .factories import make_subscription
from .test_invoices import make_invoice

CATALOG = ROOT / "xtoportal" / "translations" / "fr" / "LC_MESSAGES"
FRENCH_SPACES = re.compile("[\u00a0\u202f]")


def flat(text: str) -> str:
    """The text with French non-breaking spaces made plain, so assertions read naturally."""
    return FRENCH_SPACES.sub(" ", text)


def visit(browser, api, customer, path="/portal/", locale=None, headers=None):
    body = {"customer_id": customer.id, "return_url": "https://acme.example/account"}
    if locale:
        body["locale"] = locale
    session = api.post("/v1/customer_portal/sessions", json=body).get_json()
    browser.get(link_path(session), headers=headers or {})
    response = browser.get(path, headers=headers or {})
    assert response.status_code == 200, response.status_code
    return flat(response.get_data(as_text=True))


@pytest.fixture
def subscribed(customer, merchant):
    make_subscription(customer, make_plan(merchant[0], name="Pro", amount=123456), anchor=1_700_000_000)
    make_card(customer)
    return customer


def test_a_french_session_shows_the_overview_in_french(browser, api, subscribed):
    page = visit(browser, api, subscribed, locale="fr")
    assert '<html lang="fr">' in page
    for text in ("Abonnements", "Historique de facturation", "Moyens de paiement", "Informations de facturation",
                 "Actif", "Se renouvelle le 14 déc. 2023 pour 1 234,56 GHS.", "1 234,56 GHS", "/ mois",
                 "Retour à Acme", "Facturation sécurisée par Xtopay", "Expiration : 12/2040"):
        assert text in page, text
    assert "Subscriptions" not in page and "Renews on" not in page


def test_the_billing_history_in_french(browser, api, customer):
    make_invoice(customer, amount=123456, created=1_700_000_000)
    make_invoice(customer, amount=5000, status="open", attempts=1, created=1_700_100_000)
    page = visit(browser, api, customer, path="/portal/invoices", locale="fr")
    for text in ("Historique de facturation", "14 nov. 2023", "1 234,56 GHS", "Payée", "En retard", "Payer"):
        assert text in page, text


def test_auto_follows_the_browsers_accept_language(browser, other_browser, api, subscribed):
    french = visit(browser, api, subscribed, headers={"Accept-Language": "fr-CI,fr;q=0.9,en;q=0.5"})
    assert "Abonnements" in french and "1 234,56 GHS" in french
    english = visit(other_browser, api, subscribed, headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Subscriptions" in english and "GH₵1,234.56" in english


def test_auto_without_a_language_the_portal_speaks_falls_back_to_the_customers_preference(browser, api, merchant):
    customer = make_customer(merchant[0], email="fatou@example.com", preferred_locale="fr")
    page = visit(browser, api, customer, headers={"Accept-Language": "de-DE"})
    assert "Abonnements" in page


def test_a_session_in_english_stays_english_in_a_french_browser(browser, api, subscribed):
    page = visit(browser, api, subscribed, locale="en", headers={"Accept-Language": "fr"})
    assert "Subscriptions" in page and "Abonnements" not in page


def test_the_pdf_follows_the_sessions_language(browser, api, customer):
    invoice = make_invoice(customer, amount=123456, created=1_700_000_000)
    visit(browser, api, customer, locale="fr")
    text = flat(PdfReader(BytesIO(browser.get(f"/portal/invoices/{invoice.id}/pdf").data)).pages[0].extract_text())
    assert "FACTURE" in text and "1 234,56 GHS" in text and "14 novembre 2023" in text


def test_messages_from_python_are_french_too(browser, api, customer):
    invoice = make_invoice(customer, status="open")
    make_card(customer)
    page = visit(browser, api, customer, path=f"/portal/invoices/{invoice.id}/pay", locale="fr")
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = browser.post(f"/portal/invoices/{invoice.id}/pay", data={"csrf_token": token})
    assert response.status_code == 422
    assert "Choisissez comment vous souhaitez payer." in flat(response.get_data(as_text=True))


def test_refusal_pages_are_french_in_a_french_session(browser, api, customer):
    visit(browser, api, customer, locale="fr")
    api.post("/v1/customer_portal/configuration", json={"features": {"invoice_history": {"enabled": False}}})
    response = browser.get("/portal/invoices")
    assert response.status_code == 403
    assert "L’historique de facturation n’est pas disponible pour ce compte." in html.unescape(response.get_data(as_text=True))


# The catalog itself: complete, compiled, and with the same placeholders as the English.

def extracted_messages() -> set:
    """Every message the customer can see, found the way `pybabel extract -F babel.cfg` finds them."""
    with open(ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}
    return {message[2] if isinstance(message[2], str) else tuple(message[2])
            for message in extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)}


def catalog_strings(catalog) -> dict:
    return {(m.id if isinstance(m.id, str) else tuple(m.id)): m for m in catalog if m.id}


def test_every_message_has_a_french_translation_in_the_compiled_catalog():
    with open(CATALOG / "messages.po", "rb") as po, open(CATALOG / "messages.mo", "rb") as mo:
        source, compiled = catalog_strings(read_po(po)), catalog_strings(read_mo(mo))
    untranslated = [key for key in extracted_messages()
                    if key not in compiled or not compiled[key].string
                    or (isinstance(compiled[key].string, tuple) and not all(compiled[key].string))]
    assert untranslated == [], "run the pybabel steps in babel.cfg, translate, compile"
    assert not [key for key, message in source.items() if message.fuzzy]


def test_translations_keep_the_placeholders_of_the_english():
    with open(CATALOG / "messages.po", "rb") as po:
        catalog = read_po(po)
    placeholder = re.compile(r"%\((\w+)\)")
    for message in catalog:
        if not message.id:
            continue
        english = message.id if isinstance(message.id, str) else message.id[1]
        for french in (message.string if isinstance(message.string, tuple) else (message.string,)):
            assert set(placeholder.findall(french)) <= set(placeholder.findall(english)), (english, french)
            if isinstance(message.id, str):
                assert set(placeholder.findall(french)) == set(placeholder.findall(english)), (english, french)

