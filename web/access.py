"""The warehouse for one request: opened, used and closed within it.

DuckDB lets one process write a file or several read it, never both at once, and inside
one process a read-only and a writable connection to the same file cannot coexist. So the
server holds no connection between requests (another process's ``admedtagger sql`` or
``label`` can open the file in between), and inside the server read-only connections run
side by side (they share one DuckDB instance) while a writable one waits for them to close
and runs alone (:class:`_ReadWriteLock`). A request that finds the file held by another process retries for
``lock_wait`` seconds, then answers 503 ("busy") and changes nothing.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from admedtagger.warehouse import Config, WarehouseError, is_locked
from admedtagger.warehouse.project import open_warehouse


class WarehouseBusy(Exception):
    """Another process held the warehouse for longer than ``lock_wait`` seconds."""


class Warehouse:
    """Short-lived connections to one project's warehouse.

    ``config``: the project (its taxonomy and settings); ``db``: the ``--db`` override;
    ``lock_wait``: seconds to wait for a file another process holds.
    """

    def __init__(self, config: Config, db: str | Path | None = None, lock_wait: float = 5.0):
        self.config = config
        self.db = db
        self.lock_wait = lock_wait
        self._lock = _ReadWriteLock()

    @property
    def path(self) -> Path:
        return self.config.db_path(self.db)

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for the block."""
        with self._connection(write=False) as con:
            yield con

    @contextmanager
    def writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writable connection for the block: keep the block short (one decision)."""
        with self._connection(write=True) as con:
            yield con

    @contextmanager
    def _connection(self, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock.held(exclusive=write), ExitStack() as stack:
            try:
                con = stack.enter_context(open_warehouse(self.config, self.db, write=write, lock_wait=self.lock_wait))
            except WarehouseError as exc:
                if is_locked(exc):
                    raise WarehouseBusy(str(exc)) from exc
                raise
            yield con


class _ReadWriteLock:
    """Many readers or one writer; a waiting writer goes before readers that come after it,
    so a stream of page views cannot starve a decision."""

    def __init__(self):
        self._changed = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def held(self, exclusive: bool) -> Iterator[None]:
        with self._changed:
            if exclusive:
                self._writers_waiting += 1
                self._changed.wait_for(lambda: not self._writing and self._readers == 0)
                self._writers_waiting -= 1
                self._writing = True
            else:
                self._changed.wait_for(lambda: not self._writing and self._writers_waiting == 0)
                self._readers += 1
        try:
            yield
        finally:
            with self._changed:
                if exclusive:
                    self._writing = False
                else:
                    self._readers -= 1
                self._changed.notify_all()
