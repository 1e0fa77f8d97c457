"""Ownership in one place for the dashboard: every row a page shows or changes is loaded here, scoped to the
signed-in staff member's merchant; another merchant's row is a 404 exactly like a missing one."""
from flask import abort, g, request
from sqlalchemy import BigInteger

from ..extensions import db
from ..models import PortalConfiguration

PAGE_SIZE = 25


def merchant_row_or_404(model, id: str, lock: bool = False):
    """The merchant's `model` row with this id, or 404."""
    if not isinstance(id, str) or len(id) > 40 or "\x00" in id:  # no id looks like that (PostgreSQL refuses NUL)
        abort(404)
    query = db.select(model).where(model.id == id, model.merchant_id == g.staff.merchant_id)
    if lock:
        query = query.with_for_update(of=model)
    row = db.session.scalars(query).first()
    if row is None:
        abort(404)
    return row


def merchant_rows(model):
    """A query for the merchant's rows of `model` (the caller filters and orders)."""
    return db.select(model).where(model.merchant_id == g.staff.merchant_id)


def portal_configuration(lock: bool = False) -> PortalConfiguration:
    """The merchant's portal configuration (every merchant has one from creation; made here if not)."""
    query = db.select(PortalConfiguration).where(PortalConfiguration.merchant_id == g.staff.merchant_id)
    config = db.session.scalars(query.with_for_update() if lock else query).first()
    if config is None:
        config = PortalConfiguration(merchant_id=g.staff.merchant_id, settings={})
        db.session.add(config)
        db.session.flush()
    return config


def newest_first_page(query, model, size: int = PAGE_SIZE, cursor_column=None):
    """One page of `query`, newest first, after the `before` cursor in the query string.

    Returns (rows, cursor of the next page or None). The cursor is the sort column's value of the last row shown.
    """
    column = cursor_column if cursor_column is not None else model.sort_key
    before = request.args.get("before", "")
    # ASCII digits only ("²" is a digit to isdigit()), and within the column's type (PostgreSQL refuses a larger
    # bound for an INTEGER, SQLite one past 64 bits): anything else is no cursor, the first page.
    largest = 2**63 - 1 if isinstance(column.type, BigInteger) else 2**31 - 1
    if before.isascii() and before.isdigit() and len(before) <= 19 and int(before) <= largest:
        query = query.where(column < int(before))
    rows = db.session.scalars(query.order_by(column.desc()).limit(size + 1)).all()
    next_cursor = getattr(rows[size - 1], column.key) if len(rows) > size else None
    return rows[:size], next_cursor
