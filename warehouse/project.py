"""A project: its config file and its warehouse, opened together.

Every command works on one project: the ``admedtagger.toml`` found upward from the working
folder (or the defaults) and the warehouse file it names. :func:`open_warehouse` is the one
way a command gets a connection; :func:`init_project` is what ``admedtagger init`` does.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb

from .config import CONFIG_NAME, LANGUAGES, Config, load_config, render_config
from .db import connect, default_lock_wait, sync_categories
from .errors import UserError
from .paths import output_folder


@contextmanager
def open_warehouse(config: Config, db: str | os.PathLike | None = None, *, write: bool = False,
                   create: bool = False, lock_wait: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The project's warehouse for one command, closed when the block ends (error or not).

    Read-only unless ``write``: commands that only read work on a read-only file and beside
    other readers. A writing connection has the schema brought up to date and the
    taxonomy stored; only ``create`` (init, ingest) may create a missing warehouse file.
    ``db`` overrides the config's database path (``--db``). While another process holds
    the file, the open is retried for ``lock_wait`` seconds (default
    :func:`~.db.default_lock_wait`: a command started beside ``admedtagger serve`` waits
    out its short connections instead of failing).
    """
    wait = default_lock_wait() if lock_wait is None else lock_wait
    con = connect(config.db_path(db), read_only=not write, create=create, lock_wait=wait)
    try:
        if write and not con.execute("SELECT count(*) FROM categories").fetchall()[0][0]:
            sync_categories(con, config)
        yield con
    finally:
        con.close()


@dataclass(frozen=True)
class InitResult:
    config: Config
    config_written: bool  # False when an existing admedtagger.toml was kept
    db_path: Path


def init_project(folder: str | os.PathLike, language: str = "pl", *, force: bool = False,
                 db: str | os.PathLike | None = None) -> InitResult:
    """Write ``folder/admedtagger.toml`` (unless one exists and not ``force``) and create or
    upgrade its warehouse with the config's taxonomy.

    ``folder`` is created if its parent exists. If the warehouse cannot be opened, the
    config file is put back as it was, so a failed init changes nothing.
    """
    if language not in LANGUAGES:
        raise UserError(f"--language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    folder = output_folder(folder, "init")
    folder.mkdir(exist_ok=True)
    config_path = folder / CONFIG_NAME
    keep = config_path.exists() and not force
    previous = config_path.read_bytes() if config_path.exists() else None
    if not keep:
        config_path.write_text(render_config(language), encoding="utf-8")
    try:
        config = load_config(config_path)
        with open_warehouse(config, db, write=True, create=True) as con:
            sync_categories(con, config)
    except BaseException:
        if not keep:
            if previous is None:
                config_path.unlink()
            else:
                config_path.write_bytes(previous)
        raise
    return InitResult(config=config, config_written=not keep, db_path=config.db_path(db))
