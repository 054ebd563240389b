"""Where trained students live: a folder per model and a row in ``students``.

A student's folder (``models/<model_id>/`` under the project folder by default) holds
its weights (``model.npz`` for tfidf and embedding, the ``save_pretrained`` files for
transformers) and ``student.json``: kind, category names, the classes it predicts (the
categories, then ``none``) and the settings it was trained with, enough to load it
without the warehouse. A manifest without ``classes`` belongs to a student from before
"fits no category" was learned (it predicted the K categories and abstained below a
threshold chosen on dev gold); such a student is refused with a request to retrain
(seconds for tfidf and embedding), never silently served without its threshold. ``students.path`` stores the
folder relative to the project folder when it is inside it, so a project can move.

A folder exists only with its ``students`` row. Training writes into a staging folder
``models/.<model_id>.<pid>.partial`` and, in one DuckDB transaction, renames it to
``models/<model_id>`` and inserts the row, then commits. A process killed before the
rename leaves only the staging folder; one killed between the rename and the commit
leaves a folder whose manifest names this warehouse but that has no row.
:func:`clean_models_dir`, at the start of every ``train``, removes both kinds of
leftovers: staging folders whose process is gone, and such orphan folders.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path

import duckdb

from admedtagger.warehouse import NONE_NAME, Config, UserError

MANIFEST = "student.json"
KINDS = ("tfidf", "transformer", "embedding")


class StudentNotFound(UserError):
    pass


class StudentTooOld(UserError):
    pass


def classes_of(category_names: list[str]) -> list[str]:
    """The classes a student predicts, in column order: the categories, then "fits no category"."""
    return [*category_names, NONE_NAME]


def models_dir(config: Config) -> Path:
    """The folder that holds the students' folders: ``[students] models_dir`` of the
    config (default ``models``), a relative path taken from the project folder."""
    folder = Path(config.section("students").get("models_dir", "models"))
    return folder if folder.is_absolute() else config.root / folder


def new_model_id(kind: str) -> str:
    return f"{kind}-{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


STAGING_SUFFIX = ".partial"


def staging_folder(models_dir: Path, model_id: str) -> Path:
    """Where this process writes ``model_id`` before it is registered (hidden, with our pid)."""
    return models_dir / f".{model_id}.{os.getpid()}{STAGING_SUFFIX}"


def warehouse_path(con: duckdb.DuckDBPyConnection) -> str | None:
    """The resolved path of the connection's database file; None in memory."""
    rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    return str(Path(rows[0][0]).resolve()) if rows and rows[0][0] else None


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not; unsure counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. another user's process
    try:  # Linux: a killed child its parent has not reaped yet is still listed
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def clean_models_dir(con: duckdb.DuckDBPyConnection, models_dir: Path) -> list[str]:
    """Remove what interrupted ``train`` runs left in ``models_dir``; returns the names removed.

    That is: staging folders (``.<model_id>.<pid>.partial``) of processes that are gone,
    and folders whose manifest names this warehouse and their own folder as model id but
    that have no ``students`` row. Anything else (other files, models of another
    warehouse, folders from before manifests named their warehouse) is left alone.
    """
    if not models_dir.is_dir():
        return []
    here = warehouse_path(con)
    registered = {r[0] for r in con.execute("SELECT model_id FROM students").fetchall()}
    stale = []
    for entry in sorted(models_dir.iterdir()):
        if not entry.is_dir() or entry.is_symlink():
            continue
        name = entry.name
        if name.startswith(".") and name.endswith(STAGING_SUFFIX):
            pid = name[: -len(STAGING_SUFFIX)].rsplit(".", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                stale.append(entry)
        elif not name.startswith(".") and name not in registered and here is not None:
            try:
                manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(manifest, dict) and manifest.get("model_id") == name and manifest.get("warehouse") == here:
                stale.append(entry)
    removed = []
    for entry in stale:
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry.name)
    return removed


def folder_size(folder: Path) -> int:
    """Bytes on disk of every file below ``folder``."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def write_manifest(folder: Path, manifest: dict) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StudentNotFound(f"{folder} is not a student folder (no {MANIFEST})") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: unreadable ({exc})") from exc


def register(con: duckdb.DuckDBPyConnection, *, model_id: str, kind: str, base_model: str | None, folder: Path,
             root: Path | None, n_params: int, params: dict, metrics: dict, run_id: str | None) -> dict:
    """Insert the ``students`` row; returns it as a dict."""
    stored = _relative(folder, root)
    row = {
        "model_id": model_id, "kind": kind, "base_model": base_model, "path": stored,
        "size_bytes": folder_size(folder), "n_params": n_params, "params": params, "metrics": metrics, "run_id": run_id,
    }
    con.execute(
        "INSERT INTO students (model_id, kind, base_model, path, size_bytes, n_params, params, metrics, run_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [model_id, kind, base_model, stored, row["size_bytes"], n_params,
         json.dumps(params, default=str), json.dumps(metrics, default=str), run_id],
    )
    return row


def _relative(folder: Path, root: Path | None) -> str:
    folder = folder.resolve()
    if root is not None:
        try:
            return folder.relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return str(folder)


def student_rows(con: duckdb.DuckDBPyConnection, model_id: str | None = None, kind: str | None = None) -> list[dict]:
    """``students`` rows, newest first; one model when ``model_id`` is given (error if unknown)."""
    where, args = [], []
    if model_id:
        where.append("model_id = ?")
        args.append(model_id)
    if kind:
        where.append("kind = ?")
        args.append(kind)
    sql = ("SELECT model_id, kind, base_model, path, size_bytes, n_params, params, metrics, run_id, created_at "
           "FROM students" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at DESC")
    columns = ("model_id", "kind", "base_model", "path", "size_bytes", "n_params", "params", "metrics", "run_id", "created_at")
    rows = [dict(zip(columns, r)) for r in con.execute(sql, args).fetchall()]
    if model_id and not rows:
        known = [r[0] for r in con.execute("SELECT model_id FROM students ORDER BY created_at DESC LIMIT 5").fetchall()]
        raise StudentNotFound(f"no student {model_id!r}" + (f" (latest: {', '.join(known)})" if known else
                                                             ": train one with `admedtagger train`"))
    return rows


def latest_student(con: duckdb.DuckDBPyConnection, model_id: str | None = None) -> dict:
    """The row of ``model_id``, or of the newest student."""
    rows = student_rows(con, model_id)
    if not rows:
        raise StudentNotFound("no trained student: run `admedtagger train` first")
    return rows[0]


def resolve_path(row: dict, root: Path | None) -> Path:
    path = Path(row["path"])
    return path if path.is_absolute() or root is None else root / path


def load_folder(folder: Path, *, quantize: bool = False, device: str | None = None,
                con: duckdb.DuckDBPyConnection | None = None):
    """Load a student from its folder: a TfidfStudent, TransformerStudent or EmbeddingStudent.

    ``con``: the warehouse an embedding student reads stored vectors from (and, when
    writable, stores new ones in); without it the student embeds every text itself.
    """
    manifest = read_manifest(folder)
    names = manifest["category_names"]
    if "classes" not in manifest:
        raise StudentTooOld(
            f"{folder} is a student from before students learned 'fits no category' (it predicts the categories "
            f"only, with a threshold chosen on dev gold): retrain it with `admedtagger train --kind {manifest['kind']}`")
    if manifest["classes"] != classes_of(names):
        raise UserError(f"{folder / MANIFEST}: classes {manifest['classes']} do not match the categories {names}")
    if quantize and manifest["kind"] != "transformer":
        raise UserError(f"--quantize applies to transformer students; this one is {manifest['kind']}")
    if manifest["kind"] == "tfidf":
        from . import tfidf

        return tfidf.load(folder, names)
    if manifest["kind"] == "embedding":
        from . import embedding

        return embedding.load(folder, names).bound(con)
    from . import transformer

    return transformer.load(folder, names, max_length=int(manifest.get("max_length", 128)),
                            device=device, quantize=quantize)


def load_student(con: duckdb.DuckDBPyConnection, model_id: str | None = None, root: Path | None = None,
                 *, quantize: bool = False, device: str | None = None):
    """(row, loaded student) for ``model_id`` or the newest student; an embedding student reads vectors via ``con``."""
    row = latest_student(con, model_id)
    return row, load_folder(resolve_path(row, root), quantize=quantize, device=device, con=con)
