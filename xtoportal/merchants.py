"""Creating merchants and their staff."""
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .extensions import db
from .models import ApiKey, Merchant, PortalConfiguration, StaffUser

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def invoice_prefix_for(name: str) -> str:
    """ACME from "Acme Ltd.": the first letters of the name, upper-case, 3 to 6 of them."""
    letters = re.sub(r"[^A-Za-z0-9]", "", name.upper())[:6]
    return letters if len(letters) >= 3 else (letters + "INV")[:6]


def create_merchant(name: str, email: str, password: str) -> tuple[Merchant, str]:
    """A merchant with its owner, its portal configuration and a secret key (returned once, in plain)."""
    merchant = Merchant(name=name, email=email, invoice_prefix=invoice_prefix_for(name))
    db.session.add(merchant)
    db.session.flush()
    db.session.add(PortalConfiguration(merchant_id=merchant.id, settings={}))
    db.session.add(StaffUser(merchant_id=merchant.id, email=email.lower(), password_hash=hash_password(password),
                             role="owner"))
    key, secret = ApiKey.issue(merchant.id)
    db.session.add(key)
    db.session.flush()
    return merchant, secret


def create_staff(merchant_id: str, email: str, password: str, role: str) -> StaffUser:
    if role not in StaffUser.ROLES:
        raise ValueError(f"role must be one of {', '.join(StaffUser.ROLES)}")
    user = StaffUser(merchant_id=merchant_id, email=email.lower(), password_hash=hash_password(password), role=role)
    db.session.add(user)
    db.session.flush()
    return user
