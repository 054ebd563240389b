"""The English language pack on the real English texts in ../shared/data/en.

Ingests ``chest_xray_reports.jsonl`` (all Radiology) and ``pubmed_abstracts.jsonl``
(Oncology, Cardiology, Other) into a fresh English project, with their labels as gold,
runs the keyword LFs on every text and the embedding LFs on a reproducible sample
(``--embedding-limit``, the runner's md5 order), and prints per LF and category the
votes, precision, recall and support (scikit-learn, through ``evaluation.scoring``).
Keyword and description LFs are scored on every gold document they saw; ``emb_examples``
only on the test split, because its examples come from the dev split.

Skips (exit 0) when ../shared/data/en is absent.

    python -m bench.english_pack --embedding-limit 300
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "en"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--embedding-limit", type=int, default=300, help="texts for the embedding LFs (0: skip them)")
    args = parser.parse_args()
    files = sorted(args.data.glob("*.jsonl"))
    if not files:
        print(f"skipped: no English data in {args.data}")
        return

    from admedtagger.labeling.embedding import embedding_lfs
    from admedtagger.labeling.keywords import keyword_lfs
    from admedtagger.labeling.registry import project_lexicon
    from admedtagger.labeling.runner import apply_lfs
    from admedtagger.warehouse import connect, ingest_files, load_config, render_config, sync_categories
    from admedtagger.evaluation.scoring import gold_labels, score

    folder = Path(tempfile.mkdtemp(prefix="admedtagger-en-"))
    (folder / "admedtagger.toml").write_text(render_config("en"), encoding="utf-8")
    config = load_config(folder / "admedtagger.toml")
    con = connect(config.db_path())
    sync_categories(con, config)
    stats = ingest_files(con, files, id_col="id", label_col="label")
    print(f"ingested {stats.inserted:,} English texts with {stats.gold_imported:,} gold labels from {len(files)} files")

    categories = con.execute("SELECT label, name FROM categories ORDER BY label").fetchall()
    names = [n for _, n in categories]
    keyword = keyword_lfs(project_lexicon(config), categories)
    started = time.perf_counter()
    apply_lfs(con, keyword)
    print(f"keyword LFs: {len(keyword)} LFs on {stats.inserted:,} texts in {time.perf_counter() - started:.1f} s")
    lfs = list(keyword)
    if args.embedding_limit:
        embedding = embedding_lfs(con, "en", config.section("label").get("embedding"))
        started = time.perf_counter()
        apply_lfs(con, embedding, limit=args.embedding_limit)
        print(f"embedding LFs: {len(embedding)} LFs on {args.embedding_limit} texts in {time.perf_counter() - started:.1f} s")
        lfs += embedding

    everything, test = gold_labels(con), gold_labels(con, "test")
    print()
    print(f"{'LF':18} {'category':13} {'votes':>6} {'precision':>9} {'recall':>7} {'support':>8}  scored on")
    for lf in lfs:
        gold = test if lf.name == "emb_examples" else everything
        votes = dict(con.execute("SELECT doc_id, label FROM votes WHERE lf = ?", [lf.name]).fetchall())
        docs = [d for d in votes if d in gold]
        y_true, y_pred = [gold[d] for d in docs], [votes[d] for d in docs]
        rows = {r["category"]: r for r in score(y_true, y_pred, names)}
        shown = [lf.spec["category"]] if lf.kind == "keyword" else [n for i, n in enumerate(names) if i in set(y_true) | set(y_pred)]
        for name in shown:
            r = rows[name]
            n_votes = sum(1 for p in y_pred if p == names.index(name))
            print(f"{lf.name:18} {name:13} {n_votes:6d} {r['precision']:9.3f} {r['recall']:7.3f} {r['support']:8d}  "
                  f"{'test split' if gold is test else 'all gold'} ({len(docs):,} docs)")
    con.close()


if __name__ == "__main__":
    main()
