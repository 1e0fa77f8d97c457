"""The portal configuration document: its validation (pydantic, errors named by a dotted path) and its theme.

Used by `POST /v1/customer_portal/configuration` and by the dashboard's settings page: both merge what the
merchant sends over what they set before and validate the whole result here, so the two cannot disagree.
"""
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints, ValidationError

from .extensions import db
from .models import DEFAULT_PORTAL_CONFIGURATION, Plan, PortalConfiguration, merge_settings
from .portal.return_urls import check_https_url, check_return_url, is_host_name

SURVEY_REASONS = ("too_expensive", "missing_features", "switched_service", "unused",
                  "customer_service", "too_complex", "low_quality", "other")
PAYMENT_METHOD_TYPES = ("card", "mobile_money")
CUSTOMER_FIELDS = ("name", "email", "phone", "address")
_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# Fields of the API's answer that are not settings: a merchant who posts back what GET returned is not wrong.
_READ_ONLY = {"object": "customer_portal.configuration", "livemode": False}


class PortalSettingsInvalid(ValueError):
    """The first thing wrong with a configuration, with the dotted `param` that names it."""

    def __init__(self, param: str | None, message: str, code: str = "parameter_invalid"):
        super().__init__(message)
        self.param, self.message, self.code = param, message, code


def _hex_colour(value: str) -> str:
    if not _HEX_COLOUR.match(value):
        raise ValueError("use a colour written #rrggbb, e.g. #1a56db")
    return value.lower()


def _host_name(value: str) -> str:
    value = value.lower().rstrip(".")
    if not is_host_name(value):
        raise ValueError("use a host name such as app.example.com, without scheme, port, path or wildcard")
    return value


def _no_repeats(values: list) -> list:
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"lists {', '.join(repeated)} more than once")
    return values


def _blank_is_null(value: str | None) -> str | None:
    return value or None


HexColour = Annotated[str, AfterValidator(_hex_colour)]
HttpsUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(check_https_url)]
ReturnUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(check_return_url)]
HostName = Annotated[str, StringConstraints(max_length=253), AfterValidator(_host_name)]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class Branding(_Settings):
    business_name: Annotated[str | None, StringConstraints(max_length=100), AfterValidator(_blank_is_null)]
    # Like a return URL: https, or http to this machine only (our own /brand/… logo under `make run`).
    logo_url: ReturnUrl | None
    primary_color: HexColour
    accent_color: HexColour


class BusinessProfile(_Settings):
    support_email: EmailStr | None
    privacy_policy_url: HttpsUrl | None
    terms_of_service_url: HttpsUrl | None


class Toggle(_Settings):
    enabled: bool


class PaymentMethodUpdate(Toggle):
    types: Annotated[list[Literal[PAYMENT_METHOD_TYPES]], Field(min_length=1), AfterValidator(_no_repeats)]


class CustomerUpdate(Toggle):
    allowed_updates: Annotated[list[Literal[CUSTOMER_FIELDS]], Field(min_length=1), AfterValidator(_no_repeats)]


class SubscriptionUpdate(Toggle):
    plans: Annotated[list[Annotated[str, StringConstraints(max_length=40)]], Field(max_length=50),
                     AfterValidator(_no_repeats)]
    proration_behavior: Literal["create_prorations", "none"]
    downgrades: Literal["immediately", "at_period_end"]


class Survey(Toggle):
    options: Annotated[list[Literal[SURVEY_REASONS]], Field(min_length=1), AfterValidator(_no_repeats)]


class SubscriptionCancel(Toggle):
    mode: Literal["at_period_end", "immediately"]
    survey: Survey
    pause_before_cancel: Toggle


class Features(_Settings):
    invoice_history: Toggle
    payment_method_update: PaymentMethodUpdate
    customer_update: CustomerUpdate
    subscription_update: SubscriptionUpdate
    subscription_cancel: SubscriptionCancel
    subscription_pause: Toggle


class PortalSettings(_Settings):
    branding: Branding
    business_profile: BusinessProfile
    default_return_url: ReturnUrl | None
    allowed_return_hosts: Annotated[list[HostName], Field(max_length=50), AfterValidator(_no_repeats)]
    features: Features


def validated_document(document: dict, merchant_id: str) -> dict:
    """The whole configuration checked and normalised; PortalSettingsInvalid names the first bad field."""
    try:
        settings = PortalSettings.model_validate(document)
    except ValidationError as exc:
        raise _first_error(exc) from None
    if settings.default_return_url and settings.allowed_return_hosts:
        try:
            check_return_url(settings.default_return_url, settings.allowed_return_hosts)
        except ValueError as exc:
            raise PortalSettingsInvalid("default_return_url", f"Invalid default_return_url: {exc}.") from None
    _check_plans_exist(settings.features.subscription_update.plans, merchant_id)
    return settings.model_dump(mode="json")


def update_portal_configuration(config: PortalConfiguration, patch: dict) -> None:
    """Merge `patch` over what the merchant set before, validate the whole result and keep it (caller commits).

    Only what the merchant set is stored, so a default they never touched can still change in a later release.
    """
    patch = {key: value for key, value in patch.items() if key not in _READ_ONLY or value != _READ_ONLY[key]}
    settings = merge_settings(config.settings or {}, patch)
    document = validated_document(merge_settings(DEFAULT_PORTAL_CONFIGURATION, settings), config.merchant_id)
    config.settings = _shaped_like(settings, document)


def portal_theme(config: PortalConfiguration) -> dict:
    """What portal pages show of the merchant: name, logo, colours with a readable text colour on each, links."""
    document = config.document
    branding, profile = document["branding"], document["business_profile"]
    primary = _safe_colour(branding["primary_color"], DEFAULT_PORTAL_CONFIGURATION["branding"]["primary_color"])
    accent = _safe_colour(branding["accent_color"], DEFAULT_PORTAL_CONFIGURATION["branding"]["accent_color"])
    return {
        "business_name": branding["business_name"] or config.merchant.name,
        "logo_url": branding["logo_url"],
        "primary_color": primary,
        "on_primary_color": readable_text_colour(primary),
        "accent_color": accent,
        "on_accent_color": readable_text_colour(accent),
        "support_email": profile["support_email"],
        "privacy_policy_url": profile["privacy_policy_url"],
        "terms_of_service_url": profile["terms_of_service_url"],
    }


def readable_text_colour(background: str) -> str:
    """White or near-black, whichever contrasts more with `background` (#rrggbb), by WCAG relative luminance."""
    channels = [int(background[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    dark = 0.0116  # luminance of #111827
    return "#ffffff" if (1.05 / (luminance + 0.05)) >= ((luminance + 0.05) / (dark + 0.05)) else "#111827"


def _safe_colour(value, default: str) -> str:
    # Colours go into a <style> block: anything that slipped past validation falls back rather than leaks in.
    return value.lower() if isinstance(value, str) and _HEX_COLOUR.match(value) else default


def _check_plans_exist(plan_ids: list[str], merchant_id: str) -> None:
    if not plan_ids:
        return
    known = set(db.session.scalars(
        db.select(Plan.id).where(Plan.merchant_id == merchant_id, Plan.id.in_(plan_ids))))
    for index, plan_id in enumerate(plan_ids):
        if plan_id not in known:
            raise PortalSettingsInvalid(f"features.subscription_update.plans.{index}",
                                        f"No such plan: '{plan_id}'", code="resource_missing")


def _shaped_like(shape, validated):
    """The validated (normalised) values, restricted to the keys present in `shape`."""
    if isinstance(shape, dict) and isinstance(validated, dict):
        return {key: _shaped_like(value, validated[key]) for key, value in shape.items()}
    return validated


def _first_error(exc: ValidationError) -> PortalSettingsInvalid:
    error = exc.errors(include_url=False)[0]
    param = ".".join(str(part) for part in error["loc"]) or None
    if error["type"] == "extra_forbidden":
        return PortalSettingsInvalid(param, f"Received unknown parameter: {param}.")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return PortalSettingsInvalid(param, f"Missing required parameter: {param}.", code="parameter_missing")
    return PortalSettingsInvalid(param, f"Invalid {param}: {message}." if param else message)
