"""Counting the SQL statements a request makes: the one listener the query-budget tests share."""
from contextlib import contextmanager

from sqlalchemy import event

from xtoportal.extensions import db


class QueryCounter:
    """The SQL statements run while it listens; savepoints are left out (they are the test's, not the page's)."""

    def __init__(self):
        self.statements = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE")):
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return "\n".join(self.statements)


@contextmanager
def counting_queries():
    """`with counting_queries() as queries:` … `queries.count` is the SQL statements run inside the block."""
    counter = QueryCounter()
    event.listen(db.engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        event.remove(db.engine, "before_cursor_execute", counter)
