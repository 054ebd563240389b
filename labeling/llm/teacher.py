"""Measuring the LLM teacher itself: size, parameters, throughput and peak memory.

The students stage compares its classifiers with the teacher on the same machine. The
teacher here is the model applied through every chosen prompt view WITHOUT the cache
(a cached rerun would measure DuckDB, not the model). ``texts_per_s`` counts texts
labelled by all views together (a text through 5 views is one text); the model load and
one warm-up batch are excluded. ``peak_rss_bytes`` is the process's peak resident memory
(``ru_maxrss``), which includes whatever the process held before.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

from admedtagger.warehouse import Config

from .backend import make_backend
from .build import lfs_for_backend, settings

WARMUP_TEXTS = 2


def model_size(path: str) -> tuple[int | None, int | None]:
    """``(parameters, bytes)`` of a local model folder's weight files; None when not local."""
    folder = Path(path)
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not files:
        return None, None
    from safetensors import safe_open

    params = 0
    for file in files:
        with safe_open(str(file), framework="np") as handle:
            for name in handle.keys():
                count = 1
                for dim in handle.get_slice(name).get_shape():
                    count *= dim
                params += count
    return params, sum(f.stat().st_size for f in files)


def measure_teacher(texts: list[str], *, model: str | None = None, backend: str = "transformers",
                    views: list[str] | None = None, config: Config | None = None,
                    options: dict | None = None) -> dict:
    """Label ``texts`` with every chosen view, uncached; return the teacher's figures.

    Returns ``{"model", "params", "size_bytes", "texts_per_s", "peak_rss_bytes"}`` plus
    ``backend``, ``views`` and ``load_s`` (model load and warm-up time).
    """
    config = config or Config(root=Path.cwd())
    opts = settings(config, options)
    engine = make_backend(backend, model, opts)
    lfs = lfs_for_backend(engine, config, config.categories, views, opts)
    started = time.perf_counter()
    for lf in lfs:
        lf.apply(texts[:WARMUP_TEXTS])
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    for lf in lfs:
        lf.apply(texts)
    elapsed = time.perf_counter() - started
    params, size = model_size(getattr(engine, "path", ""))
    engine.close()
    return {
        "model": engine.model_id,
        "params": params,
        "size_bytes": size,
        "texts_per_s": len(texts) / elapsed if elapsed > 0 else None,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "backend": backend,
        "views": sorted({lf.spec["view"] for lf in lfs}),
        "load_s": load_s,
    }
