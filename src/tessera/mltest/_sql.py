"""SQL that parses (sqlglot) and, given a connection, plans (EXPLAIN) without running."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tessera._validation import bad_value
from tessera.mltest._failure import MLTestFailure, recorded

__all__ = ["assert_sql_valid"]


def _dialect_of(connection: Any) -> str | None:
    module = type(connection).__module__.split(".")[0]
    return {"sqlite3": "sqlite", "duckdb": "duckdb", "_duckdb": "duckdb"}.get(module)


@recorded("assert_sql_valid")
def assert_sql_valid(
    sql: str | Sequence[str], *, dialect: str | None = None, connection: Any = None
) -> list[str]:
    """Assert that SQL parses and, when a connection is given, plans against the real schema.

    The text is parsed with sqlglot in ``dialect``. With a DB-API connection
    (``sqlite3``, DuckDB, ...), each statement is then prefixed with
    ``EXPLAIN`` and executed: the database compiles and plans it, so an
    unknown table or column fails, but nothing runs -- no row is read, written
    or deleted.

    Parameters
    ----------
    sql : str or sequence of str
        One or more statements (``;``-separated in a string).
    dialect : str or None, default=None
        A sqlglot dialect (``"sqlite"``, ``"duckdb"``, ``"postgres"``, ...);
        ``None`` uses the connection's dialect when it is known, else
        sqlglot's generic SQL.
    connection : DB-API connection or None, default=None
        Where to plan the statements. Statements with ``?`` parameters
        cannot be planned by sqlite without values; plan them with literals.

    Returns
    -------
    list of str
        The statements, as sqlglot reads them back in the dialect.

    Examples
    --------
    >>> import sqlite3
    >>> from tessera.mltest import assert_sql_valid
    >>> db = sqlite3.connect(":memory:")
    >>> _ = db.execute("CREATE TABLE users (id INTEGER, age INTEGER)")
    >>> assert_sql_valid("SELECT id FROM users WHERE age > 30", connection=db)
    ['SELECT id FROM users WHERE age > 30']
    >>> assert_sql_valid("SELECT name FROM users", connection=db)
    Traceback (most recent call last):
    ...
    tessera.mltest.MLTestFailure: assert_sql_valid failed
      expected: statement 1 to plan on sqlite3 (EXPLAIN; nothing executed)
      measured: no such column: name
      where:    statement 1: SELECT name FROM users
    """
    import sqlglot
    from sqlglot.errors import ParseError

    texts = [sql] if isinstance(sql, str) else list(sql) if isinstance(sql, Sequence) else None
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise bad_value(
            "sql",
            sql,
            "it must be a non-empty SQL string or a list of them",
            "Pass e.g. 'SELECT id FROM users'.",
        )
    if dialect is None and connection is not None:
        dialect = _dialect_of(connection)
    if dialect is not None:
        try:
            sqlglot.Dialect.get_or_raise(dialect)
        except ValueError:
            raise bad_value(
                "dialect",
                dialect,
                "sqlglot does not know this dialect",
                "Pass e.g. 'sqlite', 'duckdb', 'postgres' or None.",
            ) from None
    if connection is not None and not hasattr(connection, "cursor"):
        raise bad_value(
            "connection",
            connection,
            "it must be a DB-API connection (.cursor())",
            "Pass e.g. sqlite3.connect(path), or None to parse only.",
        )
    statements: list[str] = []
    for number, text in enumerate(texts, start=1):
        try:
            parsed = sqlglot.parse(text, read=dialect)
        except ParseError as exc:
            first = exc.errors[0] if exc.errors else {}
            line, col = first.get("line", "?"), first.get("col", "?")
            near = f"{first.get('start_context', '')}>>{first.get('highlight', '')}<<"
            raise MLTestFailure(
                "assert_sql_valid",
                expected=f"text {number} to parse as {dialect or 'generic'} SQL",
                measured=f"{first.get('description', str(exc))}",
                where=f"text {number}, line {line}, column {col}, near {near!r}",
                details={"errors": exc.errors},
            ) from None
        statements.extend(p.sql(dialect=dialect) for p in parsed if p is not None)
    if connection is None:
        return statements
    name = type(connection).__module__.split(".")[0].lstrip("_")
    for number, statement in enumerate(statements, start=1):
        cursor = connection.cursor()
        try:
            cursor.execute(f"EXPLAIN {statement}")
            cursor.fetchall()
        except Exception as exc:  # noqa: BLE001 - every driver has its own error classes
            raise MLTestFailure(
                "assert_sql_valid",
                expected=f"statement {number} to plan on {name} (EXPLAIN; nothing executed)",
                measured=str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc),
                where=f"statement {number}: {statement}",
                details={"statement": statement, "error": exc},
            ) from None
        finally:
            cursor.close()
    return statements
