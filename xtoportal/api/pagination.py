"""List endpoints: newest first, `limit` 1–100 (default 10), cursor `starting_after`."""
from flask import g, jsonify, request
from sqlalchemy import and_, or_

from ..extensions import db
from .errors import invalid, not_found
from .loaders import kind_of
from .parsing import storable


def page_limit() -> int:
    raw = request.args.get("limit", "10")
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise invalid("limit", "limit must be an integer between 1 and 100.")
    return int(raw)


def choice_arg(name: str, choices) -> str | None:
    """A list filter from the query string limited to `choices`; anything else is a 400 naming it."""
    value = request.args.get(name)
    if value is not None and value not in choices:
        raise invalid(name, f"{name} must be one of: {', '.join(choices)}.")
    return value


def paginate(query, model, serialize=None):
    """Run `query` (already scoped to the merchant) as one page of the list object."""
    limit = page_limit()
    after_id = request.args.get("starting_after")
    if after_id:
        if not storable(after_id):
            raise not_found(kind_of(model), after_id, param="starting_after")
        cursor = db.session.execute(
            db.select(model.sort_key, model.id).where(model.id == after_id, model.merchant_id == g.merchant_id)
        ).first()
        if cursor is None:
            raise not_found(kind_of(model), after_id, param="starting_after")
        query = query.where(or_(model.sort_key < cursor.sort_key,
                                and_(model.sort_key == cursor.sort_key, model.id < cursor.id)))
    rows = db.session.scalars(query.order_by(model.sort_key.desc(), model.id.desc()).limit(limit + 1)).all()
    serialize = serialize or (lambda row: row.to_api())
    return jsonify(object="list", url=request.path, data=[serialize(row) for row in rows[:limit]],
                   has_more=len(rows) > limit)
