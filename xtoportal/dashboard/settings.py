"""Settings → Customer Portal: the configuration the API reads and writes, a form with a live preview beside it,
and the merchant's logo. Saving goes through `portal_settings.update_portal_configuration`, like the API."""
import re

from flask import flash, g, redirect, render_template, request, url_for
from sqlalchemy import or_

from ..extensions import db
from ..models import MerchantLogo, Plan, merge_settings
from ..portal_settings import PortalSettingsInvalid, readable_text_colour, update_portal_configuration
from ..web import LOCALES
from . import audit, bp, forms
from .auth import requires
from .forms import GENERAL, check_settings, settings_patch, settings_values
from .loaders import merchant_rows, portal_configuration
from .logos import MAX_LOGO_BYTES, LogoRefused, delete_logo, logo_url, reencode_logo, store_logo
from .sample_portal import offered_plans, render_sample_portal

WCAG_AA_TEXT = 4.5
HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
SURFACE = "#ffffff"  # portal cards, where links in the primary colour sit


@bp.get("/settings/portal")
@requires("view")
def portal_settings():
    return _settings_page(portal_configuration().document)


@bp.post("/settings/portal")
@requires("change_settings")
def save_portal_settings():
    config = portal_configuration(lock=True)
    before = config.document
    patch = settings_patch(request.form, before)
    checked = check_settings(config, patch)
    if checked.errors:
        db.session.rollback()
        return _settings_page(merge_settings(before, patch), checked.errors, preview_document=checked.document), 422
    if not patch:
        flash("Nothing to save: these are the settings already in place.")
        return redirect(url_for(".portal_settings"), 303)
    update_portal_configuration(config, patch)
    audit.record("portal_settings.updated", None, {"changes": audit.changes_between(before, config.document)})
    db.session.commit()
    flash("Customer Portal settings saved. Customers see them from their next page.")
    return redirect(url_for(".portal_settings"), 303)


@bp.post("/settings/portal/preview")
@requires("view")
def preview_portal_settings():
    """The portal under the form's unsaved settings: the preview fragment for htmx, the whole page otherwise.

    Read-only: nothing is added to the database session, so there is nothing to commit.
    """
    config = portal_configuration()
    patch = settings_patch(request.form, config.document)
    checked = check_settings(config, patch)
    locale = request.form.get("preview_locale", "en")
    if request.headers.get("HX-Request") == "true":
        return render_template("dashboard/_portal_preview.html", **_preview(checked.document, checked.errors, locale))
    return _settings_page(merge_settings(config.document, patch), checked.errors, preview_document=checked.document,
                          locale=locale)


@bp.post("/settings/portal/logo")
@requires("change_settings")
def upload_logo():
    upload = request.files.get("logo")
    try:
        logo = reencode_logo(upload.read() if upload else b"")
    except LogoRefused as exc:
        return _settings_page(portal_configuration().document, logo_error=str(exc)), 422
    config = portal_configuration(lock=True)
    before = config.document
    row = store_logo(g.staff.merchant_id, logo)
    try:
        update_portal_configuration(config, {"branding": {"logo_url": logo_url(row)}})
    except PortalSettingsInvalid as exc:  # PUBLIC_URL is not one the portal may load a logo from
        db.session.rollback()
        return _settings_page(before, logo_error=f"The logo cannot be used at {logo_url(row)}: {exc.message}"), 422
    audit.record("portal_settings.logo_uploaded", None, {
        "digest": logo.digest, "width": logo.width, "height": logo.height, "bytes": len(logo.content),
        "changes": audit.changes_between(before, config.document)})
    db.session.commit()
    flash("Logo uploaded. It was redrawn as a PNG; only its pixels were kept.")
    return redirect(url_for(".portal_settings"), 303)


@bp.post("/settings/portal/logo/delete")
@requires("change_settings")
def remove_logo():
    config = portal_configuration(lock=True)
    before = config.document
    delete_logo(g.staff.merchant_id)
    update_portal_configuration(config, {"branding": {"logo_url": None}})
    audit.record("portal_settings.logo_removed", None, {"changes": audit.changes_between(before, config.document)})
    db.session.commit()
    flash("Logo removed: the portal shows your business name instead.")
    return redirect(url_for(".portal_settings"), 303)


def logo_too_large():
    """What a logo larger than the whole request limit gets: the settings page, saying so beside the logo."""
    limit = _megabytes_text(request.max_content_length or 0)
    message = (f"This file is larger than {limit}, so it was not received. "
               f"A logo must be at most {_megabytes_text(MAX_LOGO_BYTES)}.")
    return _settings_page(portal_configuration().document, logo_error=message), 413


def _megabytes_text(size: int) -> str:
    return f"{size // (1024 * 1024)} MB"


def _settings_page(document: dict, errors: dict | None = None, logo_error: str | None = None,
                   preview_document: dict | None = None, locale: str = "en"):
    """The settings page showing `document` in the form (saved settings, or them with what was typed)."""
    errors = errors or {}
    saved = portal_configuration().document
    plans = _plans_for_form(document)
    has_uploaded_logo = db.session.scalar(
        db.select(MerchantLogo.merchant_id).where(MerchantLogo.merchant_id == g.staff.merchant_id)) is not None
    return render_template(
        "dashboard/settings_portal.html", values=settings_values(document), errors=errors,
        general_error=errors.get(GENERAL), plans=plans, plan_positions=_plan_positions(document),
        logo_url=saved["branding"]["logo_url"], has_uploaded_logo=has_uploaded_logo, logo_error=logo_error,
        max_logo_size=_megabytes_text(MAX_LOGO_BYTES), locales=LOCALES,
        survey_reason_labels=forms.SURVEY_REASON_LABELS,
        **_preview(preview_document or document, errors, locale, plans=plans),
    )


def _preview(document: dict, errors: dict, locale: str, plans: list[Plan] | None = None) -> dict:
    plans = [plan for plan in (plans if plans is not None else _plans_for_form(document)) if plan.active]
    sample = render_sample_portal(document, g.staff.merchant, plans, locale)
    return {
        "preview_html": sample.html, "preview_document": document, "preview_errors": errors,
        "preview_locale": locale, "offered": offered_plans(document, plans),
        "contrast": contrast_warnings(document["branding"]), "labels": forms.FIELD_LABELS,
        "payment_method_labels": forms.PAYMENT_METHOD_LABELS, "customer_field_labels": forms.CUSTOMER_FIELD_LABELS,
    }


def _plans_for_form(document: dict) -> list[Plan]:
    """Active plans, and any plan the settings list though it was since deactivated: configured order first."""
    listed = document["features"]["subscription_update"]["plans"]
    configured = [plan_id for plan_id in listed if isinstance(plan_id, str) and "\x00" not in plan_id]  # PG refuses NUL
    rows = db.session.scalars(
        merchant_rows(Plan).where(or_(Plan.active.is_(True), Plan.id.in_(configured)))
        .order_by(Plan.currency, Plan.amount, Plan.sort_key)).all()
    order = {plan_id: index for index, plan_id in enumerate(configured)}
    return sorted(rows, key=lambda plan: order.get(plan.id, len(order)))


def _plan_positions(document: dict) -> dict:
    return {plan_id: index + 1 for index, plan_id in enumerate(document["features"]["subscription_update"]["plans"])}


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours, from 1 (none) to 21 (black on white)."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_warnings(branding: dict) -> dict:
    """Where the portal's text on or in these colours falls short of WCAG AA (4.5:1), by colour field."""
    warnings = {}
    primary, accent = branding["primary_color"], branding["accent_color"]
    if not (HEX_COLOUR.match(str(primary)) and HEX_COLOUR.match(str(accent))):
        return warnings
    problems = []
    on_primary = contrast_ratio(primary, readable_text_colour(primary))
    if on_primary < WCAG_AA_TEXT:
        problems.append(f"button text on it reaches {on_primary:.1f}:1")
    as_link = contrast_ratio(primary, SURFACE)
    if as_link < WCAG_AA_TEXT:
        problems.append(f"links in it on white reach {as_link:.1f}:1")
    if problems:
        warnings["branding.primary_color"] = _contrast_message(problems)
    on_accent = contrast_ratio(accent, readable_text_colour(accent))
    if on_accent < WCAG_AA_TEXT:
        warnings["branding.accent_color"] = _contrast_message([f"text on it reaches {on_accent:.1f}:1"])
    return warnings


def _contrast_message(problems: list[str]) -> str:
    return (f"Low contrast: {' and '.join(problems)}; WCAG AA asks for {WCAG_AA_TEXT:.1f}:1. "
            "Some customers will find it hard to read.")

