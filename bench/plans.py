"""The query plans of the portal's overview and billing history on PostgreSQL, from the SQL they really send.

`portal_statements` opens a portal session for a customer through the API (test client, same database), then
records every statement the pages issue; `explain` asks PostgreSQL for each one's plan with the same parameters
and names every sequential scan of a table big enough to matter. The benchmark prints these plans for the
million-invoice database; tests/perf/test_query_plans.py asserts on them.
"""
from dataclasses import dataclass

from sqlalchemy import event

from xtoportal.extensions import db

PAGES = ("/portal/", "/portal/invoices", "/portal/invoices?after={after}")
BIG = 10_000  # rows (PostgreSQL's estimate): a sequential scan of a table this size is flagged


@dataclass(frozen=True)
class Plan:
    page: str
    sql: str
    text: str
    seq_scans: list[str]  # big tables read by a Seq Scan


def portal_statements(app, secret_key: str, customer_id: str) -> list[tuple[str, str, object]]:
    """(page, statement, parameters) of every statement the portal pages issue for `customer_id`'s session."""
    client = app.test_client()
    created = client.post("/v1/customer_portal/sessions", headers={"Authorization": f"Bearer {secret_key}"},
                          json={"customer_id": customer_id, "return_url": "http://127.0.0.1/account"})
    assert created.status_code == 200, created.get_data(as_text=True)
    link = created.get_json()["url"]
    opened = client.get(link[link.index("/portal/"):])
    assert opened.status_code == 303, opened.status_code
    with app.app_context():
        after = db.session.execute(db.text(  # the last row of the first page of the billing history
            "SELECT id FROM invoices WHERE customer_id = :c ORDER BY sort_key DESC, id DESC LIMIT 1 OFFSET 9"),
            {"c": customer_id}).scalar()
        engine = db.engine
    seen: list[tuple[str, str, object]] = []
    page = None

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((page, statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        for page in PAGES:
            page = page.format(after=after)
            answer = client.get(page)
            assert answer.status_code == 200, (page, answer.status_code)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return [(p, s, params) for p, s, params in seen if s.lstrip().upper().startswith("SELECT")]


def explain(engine, statements, big: int = BIG) -> list[Plan]:
    """PostgreSQL's plan of each statement (the same parameters, planned as they would be executed); a Seq Scan of
    a table of at least `big` rows is named in its `seq_scans`."""
    plans = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT relname, reltuples FROM pg_class WHERE relkind = 'r'")
        sizes = dict(cursor.fetchall())
        for page, statement, parameters in statements:
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            tree = cursor.fetchone()[0][0]["Plan"]
            cursor.execute("EXPLAIN " + statement, parameters)
            text = "\n".join(row[0] for row in cursor.fetchall())
            scans = sorted({node["Relation Name"] for node in _nodes(tree)
                            if node["Node Type"] == "Seq Scan" and sizes.get(node["Relation Name"], 0) >= big})
            plans.append(Plan(page, statement, text, scans))
        raw.rollback()
    finally:
        raw.close()
    return plans


def _nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)
