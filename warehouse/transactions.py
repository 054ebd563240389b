"""One transaction helper and one way to query an Arrow table, for every module.

In the spirit of sqlite-utils' ``Database.atomic()``: a block is written whole or not at
all, whatever ends it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import duckdb


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run the block in one transaction: committed if it ends normally, rolled back on any
    exception (KeyboardInterrupt included), so a batch is written whole or not at all."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table) -> Iterator[str]:
    """Make an Arrow table (or pandas frame) queryable as ``name`` for the block's duration."""
    con.register(name, table)
    try:
        yield name
    finally:
        con.unregister(name)
