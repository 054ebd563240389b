"""Label quality with no labels, then after simulated reviews: the figures of issue 12.

For each corpus (the Polish demo corpus; the real English texts in ../shared/data/en,
PubMed abstracts and chest X-ray reports), in a fresh project:

1. ``init``, then ``ingest`` WITHOUT the labels: the gold labels stay in this script,
   hidden from every LF, from the label-model choice and from the students;
2. ``label`` (keyword LFs; ``--embeddings``: the embedding LFs too, so the corpus-seeded
   example LF can run), ``label-model --model majority`` and ``label-model --model auto``
   on the same votes; the seeded LF is refreshed and the label model refitted;
3. ``flag`` and ``train --kind tfidf``; the student predicts every document;
4. then, in steps up to 25, 50, 100 and 200 reviews, the queue's next items in its order
   are answered by an oracle with the hidden gold label (``review decide`` under the
   reviewer name ``oracle``), and the chain runs again: (``label`` for the seeded LF,)
   ``label-model --model auto``, ``flag``, ``train``.

Printed per corpus and step: macro-F1 over the categories present in the gold labels
("fits no category" counted as a class of its own for precision and recall, not in the
mean), and per-category F1, of the weak labels, of the final labels (``labelled_corpus``:
the review decision, else the weak label) and of the TF-IDF student; plus majority vote
against the chosen model on the same zero-review votes.

    python -m bench.quality                  # both corpora, keyword LFs (a few minutes)
    python -m bench.quality --embeddings 1500  # + embedding LFs on a 1,500-text sample
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CORPORA = {
    "demo (pl)": ("pl", [ROOT / "demo" / "data" / "demo_pl.jsonl"]),
    "en: PubMed + chest X-ray": ("en", sorted((ROOT.parent / "shared" / "data" / "en").glob("*.jsonl"))),
}
REVIEW_STEPS = (0, 25, 50, 100, 200)
ORACLE = "oracle"


def invoke(args: list[str]) -> None:
    """Run one admedtagger command in-process, quietly; raise if it fails."""
    from admedtagger.cli import app

    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        code = app(args, standalone_mode=False) or 0
    if code:
        raise RuntimeError(f"admedtagger {' '.join(args)} exited {code}")


def read_corpus(files: list[Path], sample: int | None, seed: int = 0) -> list[dict]:
    rows = [json.loads(line) for f in files for line in f.open(encoding="utf-8") if line.strip()]
    if sample and sample < len(rows):
        rows = random.Random(seed).sample(rows, sample)
    return rows


def macro_present(gold: np.ndarray, predicted: np.ndarray, names: list[str]) -> tuple[float, dict[str, float]]:
    """Macro-F1 over the categories with gold support, and their F1s (scoring.score's rows)."""
    from admedtagger.evaluation.scoring import score

    rows = [r for r in score(gold, predicted, names)[: len(names)] if r["support"] > 0]
    return float(np.mean([r["f1"] for r in rows])), {r["category"]: r["f1"] for r in rows}


def run_corpus(title: str, language: str, files: list[Path], sample: int | None, embeddings: int) -> list[dict]:
    from admedtagger.cleaning.review import pending
    from admedtagger.warehouse import connect, label_lookup, resolve_label

    rows = read_corpus(files, sample)
    folder = Path(tempfile.mkdtemp(prefix="admedtagger-quality-"))
    corpus = folder / "corpus.jsonl"
    with corpus.open("w", encoding="utf-8") as out:
        for r in rows:
            out.write(json.dumps({"id": str(r["id"]), "text": r["text"]}, ensure_ascii=False) + "\n")
    cwd = Path.cwd()
    os.chdir(folder)
    results = []
    try:
        invoke(["init", ".", "--language", language])
        invoke(["ingest", str(corpus), "--id-col", "id"])
        con = connect(folder / "admedtagger.duckdb", read_only=True)
        lookup = label_lookup(con)
        names = [n for (n,) in con.execute("SELECT name FROM categories ORDER BY label").fetchall()]
        doc_ids = [d for (d,) in con.execute("SELECT doc_id FROM documents ORDER BY doc_id").fetchall()]
        con.close()
        truth = {str(r["id"]): resolve_label(lookup, r["label"]) for r in rows}
        gold = np.array([truth[d] for d in doc_ids])
        kinds = ["--kind", "keyword"] + (["--kind", "embedding"] if embeddings else [])
        limit = ["--limit", str(embeddings)] if embeddings else []

        def weak_and_final() -> tuple[np.ndarray, np.ndarray]:
            con = connect(folder / "admedtagger.duckdb", read_only=True)
            found = dict(con.execute("SELECT doc_id, (weak_label, final_label) FROM labelled_corpus").fetchall())
            con.close()
            weak = np.array([(found[d][0] if found[d][0] is not None else -1) for d in doc_ids])
            final = np.array([(found[d][1] if found[d][1] is not None else -1) for d in doc_ids])
            return weak, final

        def student() -> np.ndarray:
            invoke(["train", "--kind", "tfidf"])
            invoke(["predict", str(corpus), "--out", "predicted.jsonl"])
            labels = {r["id"]: r["label_id"] for r in map(json.loads, Path("predicted.jsonl").open(encoding="utf-8"))}
            return np.array([labels[d] for d in doc_ids])

        started = time.perf_counter()
        invoke(["label", *kinds, *limit])
        invoke(["label-model", "--model", "auto"])
        if embeddings:  # the seeded LF now has seeds: refresh it
            invoke(["label", "--kind", "embedding", *limit])
        invoke(["label-model", "--model", "majority"])  # majority vote on the same votes, for comparison
        majority, _ = weak_and_final()
        invoke(["label-model", "--model", "auto"])
        reviewed = 0
        for step in REVIEW_STEPS:
            if step > reviewed:
                con = connect(folder / "admedtagger.duckdb", read_only=True)
                items = pending(con, limit=step - reviewed)
                con.close()
                for item in items:
                    label = truth[item.doc_id]
                    answer = ["--label", names[label]] if label >= 0 else ["--none"]
                    invoke(["review", "decide", item.doc_id, *answer, "--reviewer", ORACLE])
                if not items:  # the queue is empty: nothing more to review
                    break
                reviewed += len(items)
                if embeddings:
                    invoke(["label", "--kind", "embedding", *limit])
                invoke(["label-model", "--model", "auto"])
            invoke(["flag"])
            weak, final = weak_and_final()
            predicted = student()
            con = connect(folder / "admedtagger.duckdb", read_only=True)
            chosen, choice = con.execute(
                "SELECT metrics->>'chosen', metrics->>'choice' FROM last_ok_runs WHERE stage = 'label-model'").fetchall()[0]
            con.close()
            row = {"corpus": title, "reviews": reviewed, "chosen": chosen, "choice": choice,
                   "seconds": time.perf_counter() - started}
            for what, labels in (("weak", weak), ("final", final), ("tfidf", predicted)):
                row[what] = macro_present(gold, labels, names)
            if step == 0:
                row["majority"] = macro_present(gold, majority, names)
            results.append(row)
            print_row(row)
    finally:
        os.chdir(cwd)
    return results


def print_row(row: dict) -> None:
    per = lambda f1s: " ".join(f"{name[:5]} {f:.2f}" for name, f in f1s.items())  # noqa: E731
    if "majority" in row:
        print(f"{row['corpus']}: majority vote {row['majority'][0]:.3f} ({per(row['majority'][1])}) vs "
              f"{row['chosen']} {row['weak'][0]:.3f} on the same votes ({row['choice']})")
    print(f"{row['corpus']:26} {row['reviews']:4d} reviews  weak {row['weak'][0]:.3f}  final {row['final'][0]:.3f}  "
          f"tfidf {row['tfidf'][0]:.3f}   weak: {per(row['weak'][1])} | tfidf: {per(row['tfidf'][1])}  "
          f"({row['seconds']:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=None, help="texts per corpus (seeded sample; default all)")
    parser.add_argument("--embeddings", type=int, default=0, help="texts the embedding LFs label (0: keyword LFs only)")
    parser.add_argument("--corpus", choices=list(CORPORA), action="append", help="only this corpus (repeat)")
    args = parser.parse_args()
    results = []
    for title in args.corpus or CORPORA:
        language, files = CORPORA[title]
        if not files:
            print(f"{title}: skipped, no data")
            continue
        results += run_corpus(title, language, files, args.sample, args.embeddings)
    print()
    print(f"{'corpus':26} {'reviews':>7}  {'weak':>5}  {'final':>5}  {'tfidf':>5}  chosen label model")
    for row in results:
        print(f"{row['corpus']:26} {row['reviews']:7d}  {row['weak'][0]:.3f}  {row['final'][0]:.3f}  "
              f"{row['tfidf'][0]:.3f}  {row['chosen']}")
    for row in results:
        if "majority" in row:
            print(f"{row['corpus']}: majority vote {row['majority'][0]:.3f}, chosen {row['chosen']} {row['weak'][0]:.3f}: "
                  f"chosen minus majority {row['weak'][0] - row['majority'][0]:+.3f}")


if __name__ == "__main__":
    main()
