"""The dashboard's forms, read into plain values. The Customer Portal settings form names each field by its dotted
path in the configuration document (`branding.primary_color`), so a `PortalSettingsInvalid.param` from the one
validation the API also uses lands beside the field it is about."""
import re
from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from ..events import EVENT_TYPES
from ..models import DEFAULT_PORTAL_CONFIGURATION, PortalConfiguration, merge_settings
from ..portal.forms import has_control_characters
from ..portal_settings import PortalSettingsInvalid, validated_document

TEXT_FIELDS = (
    "branding.business_name", "branding.primary_color", "branding.accent_color",
    "business_profile.support_email", "business_profile.privacy_policy_url",
    "business_profile.terms_of_service_url", "default_return_url",
)
COLOUR_FIELDS = ("branding.primary_color", "branding.accent_color")
TOGGLE_FIELDS = (
    "features.invoice_history.enabled", "features.payment_method_update.enabled",
    "features.customer_update.enabled", "features.subscription_update.enabled",
    "features.subscription_cancel.enabled", "features.subscription_cancel.survey.enabled",
    "features.subscription_cancel.pause_before_cancel.enabled", "features.subscription_pause.enabled",
)
CHOICE_FIELDS = (
    "features.subscription_update.proration_behavior", "features.subscription_update.downgrades",
    "features.subscription_cancel.mode",
)
# A checkbox group, and the toggle without which its choice does not matter (kept as it was when left empty).
LIST_FIELDS = {
    "features.payment_method_update.types": "features.payment_method_update.enabled",
    "features.customer_update.allowed_updates": "features.customer_update.enabled",
    "features.subscription_cancel.survey.options": "features.subscription_cancel.survey.enabled",
}
PLANS_FIELD = "features.subscription_update.plans"
PLAN_POSITION_PREFIX = "plan_position."
HOSTS_FIELD = "allowed_return_hosts"
ALL_FIELDS = (*TEXT_FIELDS, *TOGGLE_FIELDS, *CHOICE_FIELDS, *LIST_FIELDS, PLANS_FIELD, HOSTS_FIELD)
GENERAL = "__all__"
FIELD_LABELS = {
    "branding.business_name": "Business name", "branding.primary_color": "Primary colour",
    "branding.accent_color": "Accent colour", "business_profile.support_email": "Support email",
    "business_profile.privacy_policy_url": "Privacy policy URL",
    "business_profile.terms_of_service_url": "Terms of service URL", "default_return_url": "Default return URL",
    "allowed_return_hosts": "Allowed return hosts", "features.invoice_history.enabled": "Invoice history",
    "features.payment_method_update.enabled": "Payment methods",
    "features.payment_method_update.types": "Payment method types",
    "features.customer_update.enabled": "Billing details",
    "features.customer_update.allowed_updates": "Editable details",
    "features.subscription_update.enabled": "Plan changes", "features.subscription_update.plans": "Plans offered",
    "features.subscription_update.proration_behavior": "Proration",
    "features.subscription_update.downgrades": "Downgrade timing", "features.subscription_cancel.enabled": "Cancel",
    "features.subscription_cancel.mode": "When a cancellation takes effect",
    "features.subscription_cancel.survey.enabled": "Cancellation survey",
    "features.subscription_cancel.survey.options": "Survey reasons",
    "features.subscription_cancel.pause_before_cancel.enabled": "Offer a pause first",
    "features.subscription_pause.enabled": "Pause", GENERAL: "Settings",
}
PAYMENT_METHOD_LABELS = {"card": "Cards", "mobile_money": "Mobile money"}
CUSTOMER_FIELD_LABELS = {"name": "Name", "email": "Email", "phone": "Phone", "address": "Address"}
SURVEY_REASON_LABELS = {
    "too_expensive": "It's too expensive", "missing_features": "Some features are missing",
    "switched_service": "I'm switching to another service", "unused": "I don't use it enough",
    "customer_service": "Customer service was not good enough", "too_complex": "It's too complicated",
    "low_quality": "Quality was lower than expected", "other": "Another reason",
}
MAX_CORRECTIONS = 40  # one per field at most; a loop guard, never reached by a real form


def _get_path(document: dict, path: str):
    value = document
    for part in path.split("."):
        value = value[part]
    return value


def _set_path(document: dict, path: str, value) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        document = document.setdefault(part, {})
    document[leaf] = value


def _drop_path(document: dict, path: str) -> bool:
    *parents, leaf = path.split(".")
    for part in parents:
        document = document.get(part)
        if not isinstance(document, dict):
            return False
    return document.pop(leaf, _MISSING) is not _MISSING


_MISSING = object()


def _get_path_or_missing(document: dict, path: str):
    try:
        return _get_path(document, path)
    except KeyError:
        return _MISSING


CONTROL_CHARACTERS_MESSAGE = "Remove the invisible control characters (such as NUL) from this field."


def settings_values(document: dict) -> dict:
    """What each settings field shows for a configuration `document` (saved, or saved plus what was typed)."""
    values = {name: _get_path(document, name) for name in (*TOGGLE_FIELDS, *CHOICE_FIELDS, *LIST_FIELDS)}
    values.update({name: _get_path(document, name) or "" for name in TEXT_FIELDS})
    values[PLANS_FIELD] = list(_get_path(document, PLANS_FIELD))
    values[HOSTS_FIELD] = "\n".join(document[HOSTS_FIELD])
    return values


def settings_patch(form: MultiDict, document: dict) -> dict:
    """The settings form read into a configuration patch holding only what differs from `document`."""
    patch: dict = {}
    for name in TEXT_FIELDS:
        value = form.get(name, "").strip()
        _set_path(patch, name, value if name in COLOUR_FIELDS else value or None)
    for name in TOGGLE_FIELDS:
        _set_path(patch, name, name in form)
    for name in CHOICE_FIELDS:
        _set_path(patch, name, form.get(name, ""))
    for name, toggle in LIST_FIELDS.items():
        chosen = form.getlist(name)
        if chosen or toggle in form:  # an empty choice under a switched-off feature keeps the earlier one
            _set_path(patch, name, chosen)
    _set_path(patch, PLANS_FIELD, _offered_plans(form))
    _set_path(patch, HOSTS_FIELD, [host for host in re.split(r"[\s,]+", form.get(HOSTS_FIELD, "")) if host])
    return _differences(patch, document)


def _offered_plans(form: MultiDict) -> list[str]:
    """The ticked plans in the order of their position numbers (ties and blanks keep the order on the page)."""
    offered = list(dict.fromkeys(form.getlist(PLANS_FIELD)))

    def position(item):
        index, plan_id = item
        raw = form.get(PLAN_POSITION_PREFIX + plan_id, "").strip()
        # ASCII digits only: str.isdigit() is also true for "²" or "١", which int() refuses or reads as a number.
        return (int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else 10**6, index)

    return [plan_id for _, plan_id in sorted(enumerate(offered), key=position)]


def _differences(patch: dict, document: dict) -> dict:
    changed = {}
    for key, value in patch.items():
        current = document.get(key, _MISSING)
        if isinstance(value, dict) and isinstance(current, dict):
            nested = _differences(value, current)
            if nested:
                changed[key] = nested
        elif value != current:
            changed[key] = value
    return changed


def field_for(param: str | None) -> str:
    """The form field a validation error's dotted `param` is about (`….plans.2` is the plans field)."""
    parts = (param or "").split(".")
    while parts and parts[-1].isdigit():
        parts.pop()
    name = ".".join(parts)
    return name if name in ALL_FIELDS else GENERAL


def _readable(error: PortalSettingsInvalid) -> str:
    message = error.message
    prefix = f"Invalid {error.param}: "
    if error.param and message.startswith(prefix):
        message = message[len(prefix):]
    return message[:1].upper() + message[1:]


@dataclass
class SettingsCheck:
    """A settings patch checked by the portal's own validation: the document it gives with every field that
    passed, and a message for each field that did not (that field keeps its saved value in the document)."""

    document: dict
    errors: dict = field(default_factory=dict)


def check_settings(config: PortalConfiguration, patch: dict) -> SettingsCheck:
    """Validate `patch` over `config` as saving would, collecting every field's error rather than the first."""
    patch = merge_settings({}, patch)
    errors = {}
    for name in (*TEXT_FIELDS, *LIST_FIELDS, PLANS_FIELD, HOSTS_FIELD):
        value = _get_path_or_missing(patch, name)
        if any(has_control_characters(text) for text in (value if isinstance(value, list) else [value])):
            errors[name] = CONTROL_CHARACTERS_MESSAGE
            _drop_path(patch, name)
    for _ in range(MAX_CORRECTIONS):
        candidate = merge_settings(DEFAULT_PORTAL_CONFIGURATION, merge_settings(config.settings or {}, patch))
        try:
            return SettingsCheck(validated_document(candidate, config.merchant_id), errors)
        except PortalSettingsInvalid as exc:
            name = field_for(exc.param)
            errors.setdefault(name, _readable(exc))
            if name == GENERAL or not _drop_path(patch, name):
                break
    return SettingsCheck(config.document, errors or {GENERAL: "These settings could not be checked."})


# Webhook endpoints

EVENT_CHOICES = ("*", *EVENT_TYPES)


@dataclass
class EndpointForm:
    url: str = ""
    description: str = ""
    enabled_events: list = field(default_factory=lambda: ["*"])
    errors: dict = field(default_factory=dict)


def endpoint_form(form: MultiDict) -> EndpointForm:
    """The new-endpoint form as typed; the URL itself is checked by the caller (it resolves the host)."""
    events = [name for name in form.getlist("enabled_events") if name in EVENT_CHOICES]
    parsed = EndpointForm(url=form.get("url", "").strip(), description=form.get("description", "").strip(),
                          enabled_events=["*"] if "*" in events else events)
    if not parsed.url:
        parsed.errors["url"] = "Enter the URL that should receive events."
    if not parsed.enabled_events:
        parsed.errors["enabled_events"] = "Choose at least one event, or all events."
    if len(parsed.description) > 1000:
        parsed.errors["description"] = "Keep the description under 1,000 characters."
    elif has_control_characters(parsed.description):
        parsed.errors["description"] = CONTROL_CHARACTERS_MESSAGE
    return parsed
