"""Label-model benchmark: N documents x M LFs x K classes, from votes in DuckDB to weak_labels.

Generates the votes into a fresh warehouse (numpy -> Arrow -> one INSERT per LF, every
vote row written, abstains included, as the labelling stage writes them), then runs
``label-model`` with majority vote and with Snorkel in child processes, so each peak
memory is its own. Prints the end-to-end time with its share in load / fit / analyse /
write, and Snorkel's ``MajorityLabelVoter`` against the numpy majority vote on the same
matrix. Target: 1M x 10 x 5 under 20 s end-to-end, peak memory under 3 GB.

    python -m bench.label_model --n 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]


def generate(db: Path, n: int, m: int, k: int, seed: int = 0) -> None:
    """``n`` documents and ``m`` LFs of accuracy 0.55..0.85 and coverage 0.3..0.75, errors
    uniform over the other classes, 20% of LFs with a confidence per vote."""
    from admedtagger.warehouse import connect, load_config, record_run, registered, render_config, sync_categories

    config_path = db.parent / "admedtagger.toml"
    config_path.write_text(render_config("pl"), encoding="utf-8")
    con = connect(db)
    sync_categories(con, load_config(config_path))
    con.execute("INSERT INTO documents (doc_id, text, text_hash) "
                "SELECT 'doc' || lpad(i::VARCHAR, 8, '0'), 'text', md5(i::VARCHAR) FROM range(?) t(i)", [n])
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    with record_run(con, "label", {"synthetic": True}) as run:
        for j in range(m):
            accuracy, coverage = 0.55 + 0.3 * j / max(m - 1, 1), 0.3 + 0.45 * j / max(m - 1, 1)
            votes = rng.random(n) < coverage
            right = rng.random(n) < accuracy
            label = np.where(votes, np.where(right, y, (y + rng.integers(1, k, n)) % k), -1).astype(np.int32)
            confidence = rng.random(n) if j % 5 == 4 else None
            votes_table = pa.table({
                "i": np.arange(n, dtype=np.int64), "label": label,
                "confidence": pa.nulls(n, pa.float64()) if confidence is None else pa.array(confidence, mask=~votes),
            })
            con.execute("INSERT INTO lfs (lf, kind, version, spec) VALUES (?, 'python', 'v1', '{}')", [f"lf{j:02d}"])
            with registered(con, "_votes", votes_table):
                con.execute("INSERT INTO votes (doc_id, lf, lf_version, label, confidence, run_id) "
                            "SELECT 'doc' || lpad(i::VARCHAR, 8, '0'), ?, 'v1', label, confidence, ? FROM _votes",
                            [f"lf{j:02d}", run.run_id])
    con.close()


def label_only(db: str, model: str) -> dict:
    """One label-model run in this (child) process: timings and peak RSS."""
    started = time.perf_counter()
    from admedtagger.labeling.label_model import fit_label_model
    from admedtagger.labeling.selection import Options
    from admedtagger.warehouse import connect

    if model == "snorkel":
        # Import cost is start-up, not work; torch imports its optimiser machinery lazily.
        import snorkel.labeling.model  # noqa: F401
        import torch.optim  # noqa: F401
        import torch._dynamo  # noqa: F401
    imports = time.perf_counter() - started
    con = connect(db)
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    result = fit_label_model(con, Options(model=model))
    total = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    con.close()
    return {"total": total, "cpu": cpu, "imports": imports, "seconds": result.metrics["seconds"],
            "labelled": result.metrics["labelled"], "chosen": result.metrics["chosen"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def majority_voters(db: str, rows: int) -> dict:
    """Snorkel's MajorityLabelVoter against the numpy majority vote on the same rows."""
    from snorkel.labeling.model import MajorityLabelVoter

    from admedtagger.labeling.models import MajorityVote, TieBreak
    from admedtagger.labeling.vote_matrix import load_vote_matrix, select_lfs
    from admedtagger.warehouse import categories, connect

    con = connect(db)
    k = len(categories(con))
    lfs, _ = select_lfs(con)
    matrix, _ = load_vote_matrix(con, lfs, k)
    labels, confidence = matrix.labels[: int(rows)], matrix.confidence[: int(rows)]
    con.close()
    started = time.perf_counter()
    MajorityVote(k).predict(labels, confidence, TieBreak.from_votes("prior", labels, k))
    ours = time.perf_counter() - started
    started = time.perf_counter()
    MajorityLabelVoter(cardinality=k).predict_proba(labels)
    snorkel = time.perf_counter() - started
    return {"rows": len(labels), "numpy": ours, "snorkel": snorkel}


def _child(function: str, *args: str) -> dict:
    code = f"import json,sys; from bench.label_model import {function}; print(json.dumps({function}(*sys.argv[1:])))"
    done = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="documents")
    parser.add_argument("--lfs", type=int, default=10)
    parser.add_argument("--mlv-rows", type=int, default=200_000,
                        help="rows for the MajorityLabelVoter comparison (its Python loop takes ~18 s per 1M)")
    args = parser.parse_args(argv)
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        started = time.perf_counter()
        generate(db, args.n, args.lfs, 5)
        print(f"generated {args.n:,} documents x {args.lfs} LFs x 5 classes = {args.n * args.lfs:,} vote rows "
              f"in {time.perf_counter() - started:.1f} s")
        for model in ("majority", "snorkel"):
            r = _child("label_only", str(db), model)
            shares = ", ".join(f"{step} {s:.2f} s ({s / r['total']:.0%})" for step, s in r["seconds"].items())
            print(f"{model}: {r['labelled']:,} weak labels in {r['total']:.1f} s end-to-end (target < 20 s; "
                  f"{r['cpu']:.1f} s CPU, on {os.cpu_count()} cores shared with whatever else runs): {shares}; "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB (target < 3072); start-up imports {r['imports']:.1f} s not counted")
            figures[model] = r
        v = _child("majority_voters", str(db), str(args.mlv_rows))
        print(f"majority vote on {v['rows']:,} rows: numpy {v['numpy']:.3f} s, Snorkel MajorityLabelVoter "
              f"{v['snorkel']:.2f} s = {v['snorkel'] / v['numpy']:.0f}x slower")
        figures["majority_voters"] = v
    return figures


if __name__ == "__main__":
    main()
