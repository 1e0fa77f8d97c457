"""Support preview: a staff member sees a customer's real portal, read-only, under a banner naming them.

Starting a preview records it in the audit log and puts {staff, customer, merchant, expiry} in the staff member's
signed Flask session; the browser then opens /portal/ like a customer. For every portal request this module sets
`g.portal_preview` (None outside a preview) before the portal's own code runs, and refuses any request that could
change something (not GET or HEAD) with 403, whatever its route: the portal needs no list of what to block, and a
route added later is covered too. The portal's `portal_login_required` lets a preview in by entering
`preview.portal_session`, an in-memory session that is never saved.
"""
from dataclasses import dataclass

from flask import g, render_template, request, session, url_for

from .. import clock
from ..extensions import db
from ..models import Customer, Merchant, PortalConfiguration, PortalSession, StaffUser
from . import audit, bp
from .auth import can, signed_in_staff

PREVIEW_KEY = "portal_preview"
PREVIEW_LIFETIME = 15 * 60
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class PortalPreview:
    """A live preview: who is looking, at which customer, until when; `portal_session` lets the portal in (with
    the merchant's `portal_config`, read in the same query as the customer)."""

    staff: StaffUser
    customer: Customer
    portal_session: PortalSession
    expires_at: int
    portal_config: PortalConfiguration | None = None

    @property
    def staff_name(self) -> str:
        return self.staff.email

    @property
    def customer_name(self) -> str:
        return self.customer.name or self.customer.email or self.customer.id


def start_preview(customer: Customer) -> None:
    """Open a preview of `customer`'s portal for the signed-in staff member and log it (the caller commits)."""
    expires_at = clock.now() + PREVIEW_LIFETIME
    session[PREVIEW_KEY] = {"staff_user_id": g.staff.id, "customer_id": customer.id,
                            "merchant_id": customer.merchant_id, "expires": expires_at}
    audit.record("customer.portal_previewed", customer.id,
                 {"customer_email": customer.email, "customer_name": customer.name, "expires_at": expires_at})


def end_preview() -> str | None:
    """Close this browser's preview; returns the customer it showed, if any."""
    entry = session.pop(PREVIEW_KEY, None)
    return entry.get("customer_id") if isinstance(entry, dict) else None


def current_preview() -> PortalPreview | None:
    """This browser's preview, if it is still open and the staff member signed in may still preview."""
    entry = session.get(PREVIEW_KEY)
    if not isinstance(entry, dict) or not isinstance(entry.get("expires"), int) or clock.now() >= entry["expires"]:
        return None
    staff = signed_in_staff()
    if staff is None or staff.id != entry.get("staff_user_id") or not can("preview_portal", staff):
        return None
    if not isinstance(entry.get("customer_id"), str) or entry.get("merchant_id") != staff.merchant_id:
        return None
    # One query for the customer (of this staff member's merchant only), the merchant and its portal configuration.
    row = db.session.execute(
        db.select(Customer, Merchant, PortalConfiguration)
        .join(Merchant, Merchant.id == Customer.merchant_id)
        .outerjoin(PortalConfiguration, PortalConfiguration.merchant_id == Customer.merchant_id)
        .where(Customer.id == entry["customer_id"], Customer.merchant_id == staff.merchant_id)
    ).first()
    if row is None:
        return None
    customer, merchant, portal_config = row
    now = clock.now()
    portal_session = PortalSession(
        id="sess_preview", merchant_id=merchant.id, customer_id=customer.id, customer=customer, merchant=merchant,
        return_url=url_for("dashboard.customer", id=customer.id, _external=True), locale="auto", flow=None,
        created=now, expires_at=entry["expires"], redeemed_at=now,
    )
    return PortalPreview(staff, customer, portal_session, entry["expires"], portal_config)


@bp.before_app_request
def attach_portal_preview():
    """Before any portal code runs: g.portal_preview for a preview, and 403 for anything that would change data."""
    g.portal_preview = None
    if request.blueprint != "portal" or PREVIEW_KEY not in session:
        return None
    g.portal_preview = current_preview()
    if g.portal_preview is None:
        session.pop(PREVIEW_KEY, None)  # ended, or its staff member signed out: the browser is nobody again
    elif request.method not in READ_ONLY_METHODS:
        return render_template("dashboard/preview_refused.html", preview=g.portal_preview), 403
    return None
