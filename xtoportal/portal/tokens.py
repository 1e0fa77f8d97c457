"""Portal link tokens: `sess_<id>.<timestamp>.<signature>`, signed with the app's secret keys.

The token names the session and proves we issued it; whether it still opens anything is the database's answer
(expired, revoked, already used), checked by `access.open_portal_link`.
"""
from flask import current_app
from itsdangerous import BadData, BadSignature, SignatureExpired, TimestampSigner
from itsdangerous.encoding import base64_decode, base64_encode

from .. import clock
from ..extensions import db
from ..models import Customer, PortalSession

SALT = "xtoportal.portal-session"


class InvalidPortalToken(Exception):
    """Forged, tampered with, or not a portal token at all."""


class ExpiredPortalToken(Exception):
    """Genuine, but older than a session lives; carries the session id so the page can offer a way back."""

    def __init__(self, session_id: str):
        super().__init__(session_id)
        self.session_id = session_id


class _Signer(TimestampSigner):
    def get_timestamp(self) -> int:
        return clock.now()  # so tests that freeze the clock age tokens too


def _signer() -> _Signer:
    # itsdangerous signs with the LAST key and accepts all; config keeps the newest first, so reverse.
    keys = [*reversed(current_app.config.get("SECRET_KEY_FALLBACKS") or []), current_app.config["SECRET_KEY"]]
    return _Signer(keys, salt=SALT)


def issue_portal_session(customer: Customer, return_url: str, locale: str = "auto",
                         flow: dict | None = None) -> tuple[PortalSession, str]:
    """A new 30-minute session for `customer` and its link (shown once). The caller has checked return_url
    and flow, and commits."""
    now = clock.now()
    session = PortalSession(merchant_id=customer.merchant_id, customer_id=customer.id, return_url=return_url,
                            locale=locale, flow=flow, created=now, expires_at=now + PortalSession.LIFETIME)
    db.session.add(session)
    db.session.flush()
    return session, portal_url(session)


def sign_portal_token(session: PortalSession) -> str:
    """The token that opens `session`: it starts with the session id; any changed character makes it invalid."""
    return _signer().sign(session.id).decode()


def portal_url(session: PortalSession) -> str:
    """The single-use link the merchant redirects the customer to."""
    return f"{current_app.config['PUBLIC_URL']}/portal/{sign_portal_token(session)}"


def verify_portal_token(token: str) -> str:
    """The session id the token names; InvalidPortalToken or ExpiredPortalToken when it opens nothing."""
    if not isinstance(token, str) or not token.startswith("sess_") or not _canonical_signature(token):
        raise InvalidPortalToken()
    try:
        return _signer().unsign(token, max_age=PortalSession.LIFETIME).decode()
    except SignatureExpired as exc:
        # The signature was checked before the age, so the payload is ours.
        raise ExpiredPortalToken(exc.payload.decode() if exc.payload else "") from None
    except (BadSignature, UnicodeError):
        raise InvalidPortalToken() from None


def _canonical_signature(token: str) -> bool:
    # The signature's last base64 character carries bits a decoder drops, so a changed character could still
    # verify; only the one spelling we issue is accepted.
    signature = token.rsplit(".", 1)[-1]
    try:
        return base64_encode(base64_decode(signature)).decode() == signature
    except (BadData, ValueError):
        return False
