"""The audit log: who did what in the dashboard, from where; written in the same transaction as the change."""
from flask import g, request

from ..extensions import db
from ..models import AuditEntry

USER_AGENT_LENGTH = 200


def record(action: str, target_id: str | None = None, details: dict | None = None) -> AuditEntry:
    """Add an entry for the signed-in staff member's `action` (the caller commits it with the change).

    The staff member's email and role are copied into the entry, so it still names them if the account goes.
    """
    staff = g.staff
    entry = AuditEntry(
        merchant_id=staff.merchant_id, staff_user_id=staff.id, action=action, target_id=target_id,
        details={"staff_email": staff.email, "staff_role": staff.role,
                 "user_agent": request.headers.get("User-Agent", "")[:USER_AGENT_LENGTH], **(details or {})},
        remote_addr=(request.remote_addr or "")[:64] or None,
    )
    db.session.add(entry)
    return entry


def changes_between(before: dict, after: dict, prefix: str = "") -> dict:
    """What changed from `before` to `after`, by dotted path: {"branding.primary_color": {"from": …, "to": …}}."""
    changes = {}
    for key in before.keys() | after.keys():
        path = f"{prefix}{key}"
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changes.update(changes_between(old, new, path + "."))
        elif old != new:
            changes[path] = {"from": old, "to": new}
    return dict(sorted(changes.items()))
