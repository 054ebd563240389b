"""Opening a warehouse, syncing the taxonomy, and recording stage runs.

Every stage takes an open connection (``duckdb.DuckDBPyConnection``) from :func:`connect`
and writes through it; stages never share state any other way.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Iterator

import duckdb

from .config import Category, Config
from .errors import UserError
from .schema import SCHEMA_VERSION, current_version, migrate
from .transactions import transaction


class WarehouseError(UserError):
    pass


# Seconds a command waits for a warehouse another process holds (``admedtagger serve``
# opens it for a few milliseconds per request; a long writer like ``label`` holds it for
# its whole run). Overridden by ADMEDTAGGER_LOCK_WAIT.
LOCK_WAIT = 10.0


def default_lock_wait() -> float:
    """``$ADMEDTAGGER_LOCK_WAIT`` seconds, else :data:`LOCK_WAIT`."""
    value = os.environ.get("ADMEDTAGGER_LOCK_WAIT")
    if value is None:
        return LOCK_WAIT
    try:
        wait = float(value)
    except ValueError:
        raise WarehouseError(f"ADMEDTAGGER_LOCK_WAIT must be a number of seconds, got {value!r}") from None
    if not wait >= 0:
        raise WarehouseError(f"ADMEDTAGGER_LOCK_WAIT must be >= 0, got {value!r}")
    return wait


def is_locked(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what it was raised from) is DuckDB's "file locked by another
    process" error."""
    while exc is not None:
        message = str(exc).lower()
        if isinstance(exc, duckdb.IOException) and ("could not set lock" in message or "conflicting lock" in message):
            return True
        exc = exc.__cause__
    return False


def connect(path: str | Path, read_only: bool = False, create: bool = True,
            lock_wait: float = 0.0) -> duckdb.DuckDBPyConnection:
    """Open a warehouse file and bring its schema up to date.

    ``read_only=True`` opens an existing file without upgrading it: nothing written
    through that connection can reach the file, and other processes may read it at the
    same time. ``create=False`` refuses to create a missing file (commands other than
    ``init`` and ``ingest`` must not leave an empty warehouse behind a typo). No folder is
    ever created here: a missing parent folder is an error, not a new folder.

    A writable open also marks runs that were left 'running' by a process that died as
    'interrupted': DuckDB lets one process write at a time, so a 'running' row not owned
    by this process belongs to a process that is gone.

    While another process holds the file (DuckDB: one writer, or several readers), the open
    is retried for ``lock_wait`` seconds, then fails with one line naming the holder.
    """
    path = Path(path)
    if path.is_dir():
        raise WarehouseError(f"{path} is a folder, not a warehouse file (--db names the .duckdb file)")
    if not path.exists():
        if read_only or not create:
            raise WarehouseError(f"no warehouse at {path}: run `admedtagger init` (or `admedtagger ingest`) first")
        if not path.parent.is_dir():
            raise WarehouseError(f"cannot create {path}: folder {path.parent} does not exist")
    con = _open(path, read_only=read_only, lock_wait=lock_wait)
    try:
        version = current_version(con)
        if version == 0:
            tables = [r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1").fetchall()]
            if tables:
                raise WarehouseError(
                    f"{path} is a DuckDB file but not an admedtagger warehouse (it has tables "
                    f"{', '.join(tables[:5])}{', ...' if len(tables) > 5 else ''} and no schema_version): "
                    "choose another --db")
        if version > SCHEMA_VERSION:
            raise WarehouseError(
                f"{path} has schema version {version}, newer than this admedtagger knows ({SCHEMA_VERSION}): "
                "upgrade admedtagger (pip install -U admedtagger)")
        if read_only:
            if version == 0:
                raise WarehouseError(f"{path} is an empty DuckDB file: run `admedtagger init` first")
            if version < SCHEMA_VERSION:
                raise WarehouseError(
                    f"{path} has schema version {version}, this admedtagger uses {SCHEMA_VERSION}: "
                    "run `admedtagger init` in the project to upgrade it")
            return con
        try:
            migrate(con)
            _mark_dead_runs(con)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot write to {path}: {_first_line(exc)}") from exc
        return con
    except BaseException:
        con.close()
        raise


def _open(path: Path, read_only: bool, lock_wait: float) -> duckdb.DuckDBPyConnection:
    con = open_file(path, read_only=read_only, lock_wait=lock_wait)
    con.execute("SET enable_progress_bar = false")  # DuckDB's own bar would draw over ours
    return con


def open_file(path: Path, *, read_only: bool, lock_wait: float, config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` retried for ``lock_wait`` seconds while another process holds the
    file; any other failure, or the lock after the wait, is a one-line :class:`WarehouseError`."""
    deadline = time.monotonic() + lock_wait
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.Error as exc:
            if is_locked(exc) and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            waited = f" (waited {lock_wait:g} s)" if is_locked(exc) and lock_wait else ""
            raise WarehouseError(f"cannot open {path}{waited}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# Runs recorded by this process and not finished yet: a writable open elsewhere in this
# process must not mistake them for the runs of a dead process.
_LIVE_RUNS: set[str] = set()


def _mark_dead_runs(con: duckdb.DuckDBPyConnection) -> None:
    live = sorted(_LIVE_RUNS) or [""]
    con.execute(
        "UPDATE runs SET status = 'interrupted', ended_at = coalesce(ended_at, current_timestamp::TIMESTAMP) "
        "WHERE status = 'running' AND NOT list_contains(?, run_id)",
        [live],
    )


def sync_categories(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """Write the config's taxonomy into ``categories`` and its settings into ``settings``.

    Label ids follow the order in the config. Renaming or adding categories at the end is
    safe; reordering or removing them once votes exist would change what stored label ids
    mean, so that is refused.
    """
    wanted = [
        (i, c.name, c.description(config.language), c.name_pl, c.name_en, c.description_pl, c.description_en)
        for i, c in enumerate(config.categories)
    ]
    stored = con.execute("SELECT label, name FROM categories ORDER BY label").fetchall()
    has_labels = con.execute("SELECT (SELECT count(*) FROM votes) + (SELECT count(*) FROM gold_imports)").fetchall()[0][0]
    if has_labels and stored:
        for label, name in stored:
            if label >= len(wanted) or wanted[label][1].lower() != name.lower():
                raise WarehouseError(
                    f"the taxonomy in {config.path or 'the defaults'} changes category {label} "
                    f"({name!r}) of a warehouse that already holds labels: keep the existing "
                    "categories in order and add new ones at the end"
                )
    with transaction(con):
        con.execute("DELETE FROM categories")
        con.executemany("INSERT INTO categories VALUES (?, ?, ?, ?, ?, ?, ?)", wanted)
        con.execute("DELETE FROM settings WHERE key IN ('dev_ratio', 'language')")
        con.executemany(
            "INSERT INTO settings VALUES (?, ?)",
            [("dev_ratio", str(config.dev_ratio)), ("language", config.language)],
        )


def categories(con: duckdb.DuckDBPyConnection) -> list[Category]:
    """The taxonomy stored in the warehouse, in label-id order."""
    rows = con.execute(
        "SELECT name, name_pl, name_en, description_pl, description_en FROM categories ORDER BY label"
    ).fetchall()
    return [Category(*row) for row in rows]


def package_versions(*names: str) -> dict[str, str]:
    versions = {}
    for name in ("admedtagger", "duckdb", *names):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


@dataclass
class Run:
    """A stage run in progress; fill ``metrics`` while working."""

    run_id: str
    stage: str
    params: dict
    metrics: dict = field(default_factory=dict)


@contextmanager
def record_run(
    con: duckdb.DuckDBPyConnection, stage: str, params: dict | None = None, packages: tuple[str, ...] = ()
) -> Iterator[Run]:
    """Record a stage run in ``runs``: 'running' at once (committed), then ok/failed/interrupted.

    The row is written before any work so that a killed process leaves a trace; its
    status stays 'running' until the next writable :func:`connect` marks it 'interrupted'.
    """
    run = Run(run_id=f"{stage}-{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}", stage=stage, params=params or {})
    con.execute(
        "INSERT INTO runs (run_id, stage, started_at, status, params, versions) VALUES (?, ?, ?, 'running', ?, ?)",
        [run.run_id, stage, datetime.now(), json.dumps(run.params, default=str), json.dumps(package_versions(*packages))],
    )
    _LIVE_RUNS.add(run.run_id)
    status = "failed"
    try:
        yield run
        status = "ok"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        _LIVE_RUNS.discard(run.run_id)
        con.execute(
            "UPDATE runs SET ended_at = ?, status = ?, metrics = ? WHERE run_id = ?",
            [datetime.now(), status, json.dumps(run.metrics, default=str), run.run_id],
        )

