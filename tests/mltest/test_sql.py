"""assert_sql_valid: sqlglot parsing, and EXPLAIN on a real SQLite database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tessera.errors import InvalidInputError
from tessera.mltest import MLTestFailure, assert_sql_valid


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    connection.executescript(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, age INTEGER, country TEXT);"
        "CREATE TABLE orders (id INTEGER, user_id INTEGER, amount REAL);"
        "INSERT INTO users VALUES (1, 34, 'FR'), (2, 51, 'DE');"
    )
    yield connection
    connection.close()


FEATURES = """
SELECT u.id, u.age, COUNT(o.id) AS n_orders, COALESCE(SUM(o.amount), 0) AS spend
FROM users AS u LEFT JOIN orders AS o ON o.user_id = u.id
WHERE u.country IN ('FR', 'DE')
GROUP BY u.id, u.age
"""


def test_valid_sql_parses_and_plans(db: sqlite3.Connection) -> None:
    statements = assert_sql_valid(FEATURES, connection=db)
    assert len(statements) == 1 and statements[0].startswith("SELECT u.id")
    assert assert_sql_valid("SELECT 1; SELECT 2", dialect="postgres") == ["SELECT 1", "SELECT 2"]


def test_a_syntax_error_names_its_line_and_column() -> None:
    with pytest.raises(MLTestFailure) as info:
        assert_sql_valid("SELECT id\nFROM users\nWHERE (age > 30", dialect="sqlite")
    failure = info.value
    assert failure.expected == "text 1 to parse as sqlite SQL"
    assert "Expecting )" in failure.measured
    assert failure.where.startswith("text 1, line 3, column")


def test_a_missing_column_fails_without_running_anything(db: sqlite3.Connection) -> None:
    with pytest.raises(MLTestFailure) as info:
        assert_sql_valid(FEATURES.replace("u.country", "u.region"), connection=db)
    assert info.value.measured == "no such column: u.region"
    assert info.value.expected == "statement 1 to plan on sqlite3 (EXPLAIN; nothing executed)"
    with pytest.raises(MLTestFailure, match=r"no such table: payments"):
        assert_sql_valid(["SELECT 1", "SELECT * FROM payments"], connection=db)


def test_explain_does_not_execute_writes(db: sqlite3.Connection) -> None:
    assert_sql_valid("DELETE FROM users WHERE age > 0", connection=db)
    assert_sql_valid("INSERT INTO users VALUES (3, 20, 'IT')", connection=db)
    assert db.execute("SELECT COUNT(*) FROM users").fetchone() == (2,)


def test_duckdb_when_installed() -> None:
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed")
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t (a INTEGER)")
    assert_sql_valid("SELECT a FROM t", connection=connection)
    with pytest.raises(MLTestFailure):
        assert_sql_valid("SELECT b FROM t", connection=connection)


def test_argument_errors(db: sqlite3.Connection) -> None:
    with pytest.raises(InvalidInputError, match=r"^sql='' is invalid"):
        assert_sql_valid("")
    with pytest.raises(InvalidInputError, match=r"^sql=42 is invalid"):
        assert_sql_valid(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"^dialect='oracle9' is invalid"):
        assert_sql_valid("SELECT 1", dialect="oracle9")
    with pytest.raises(InvalidInputError, match=r"^connection='db.sqlite' is invalid"):
        assert_sql_valid("SELECT 1", connection="db.sqlite")
