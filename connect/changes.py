"""Change stamps and watermarks: how read models find every committed change.

Every write to a tracked row sets its ``change_seq`` to a stamp, and a reader remembers a
watermark such that every change committed after its last read is stamped at or above it.

- PostgreSQL: the stamp is the writing transaction's id, and the watermark is the xmin of
  the reader's snapshot taken *before* it reads. Transactions that had not committed then
  have ids at or above that xmin, so a later read catches them, whatever order they commit
  in (sequence values would not do: they are handed out in start order, not commit order).
- SQLite: writers are serialised (BEGIN IMMEDIATE), so max(change_seq) + 1 taken inside the
  write is increasing in commit order, and the watermark is the same expression.
Rows may be read twice; applying a row is idempotent.
"""

from sqlalchemy import BigInteger, Text, cast, func, select, text


def change_stamp(session, column):
    """SQL expression for the stamp of a write to ``column``'s table in this transaction."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(cast(func.pg_current_xact_id(), Text), BigInteger)
    return select(func.coalesce(func.max(column), 0) + 1).scalar_subquery()


def read_watermark(conn, column):
    """The watermark to store before reading changes in this transaction."""
    if conn.dialect.name == "postgresql":
        return conn.execute(
            text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        ).scalar_one()
    return conn.execute(select(func.coalesce(func.max(column), 0) + 1)).scalar_one()
