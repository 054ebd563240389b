"""Flag benchmark: N synthetic ~1 KB texts with weak labels and LF votes -> flags written.

Target: 100,000 texts in under 60 s on a 2-core machine, from the warehouse to
``label_issues`` (generation and loading the warehouse are not counted). Prints the total,
where the time goes (load, vectorise, cross-validation, cleanlab, LF signals, write) and
how well the flags find the weak labels that were flipped on purpose.

    python -m bench.flag --n 100000

Texts: a Polish-like vocabulary (syllable words) shared by all classes plus 400 stems per
class, each in 8 inflected forms; a text is ~140 words, about 12% from its class's stems
and 3% from other classes' (noise). Weak labels: the true class, 10% flipped at random,
label-model confidence ~ Beta(8, 2). Votes: three LFs, each right 80%, wrong 5%, abstaining 15%,
confidence uniform in [0.5, 1].
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

SYLLABLES = "ka ro wa ni ta po le mi no sa ko ra zy ście cz rze ło ną ję by dy gi tu pra sto kre wie".split()
SUFFIXES = ["", "a", "u", "em", "ie", "ów", "ami", "y"]
CLASSES = 5
WORDS_PER_TEXT = 140


def _words(rng: np.random.Generator, n: int) -> np.ndarray:
    lengths = rng.integers(2, 5, n)
    return np.array(["".join(rng.choice(SYLLABLES, k)) for k in lengths])


def make_corpus(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``n`` texts of ~1 KB and their true classes."""
    rng = np.random.default_rng(seed)
    common = _words(rng, 4000)
    stems = [_words(rng, 400) for _ in range(CLASSES)]
    vocab = [np.array([s + x for s in class_stems for x in SUFFIXES]) for class_stems in stems]
    truth = rng.integers(0, CLASSES, n)
    texts = []
    for i in range(n):
        source = rng.random(WORDS_PER_TEXT)
        words = common[rng.integers(0, len(common), WORDS_PER_TEXT)]
        own = source < 0.12
        words[own] = vocab[truth[i]][rng.integers(0, len(vocab[0]), own.sum())]
        other = (source >= 0.12) & (source < 0.15)
        words[other] = vocab[(truth[i] + 1 + rng.integers(0, CLASSES - 1)) % CLASSES][
            rng.integers(0, len(vocab[0]), other.sum())]
        sentences = [" ".join(words[j : j + 12]).capitalize() + "." for j in range(0, WORDS_PER_TEXT, 12)]
        texts.append(f"Dokument {i}. " + " ".join(sentences))
    return texts, truth


def load_warehouse(con, texts: list[str], truth: np.ndarray, seed: int = 0) -> set[str]:
    """Documents, one ok label-model run of weak labels (10% flipped) and LF votes; returns the flipped ids."""
    from admedtagger.warehouse import record_run, registered

    rng = np.random.default_rng(seed + 1)
    n = len(texts)
    ids = [f"b{i:07d}" for i in range(n)]
    docs = pa.table({"doc_id": ids, "text": texts, "text_hash": [hashlib.md5(t.encode()).hexdigest() for t in texts]})
    with registered(con, "_docs", docs):
        con.execute("INSERT INTO documents (doc_id, text, text_hash, source) "
                    "SELECT doc_id, text, text_hash, 'bench' FROM _docs")
    flipped = rng.random(n) < 0.10
    weak = np.where(flipped, (truth + rng.integers(1, CLASSES, n)) % CLASSES, truth)
    confidence = rng.beta(8, 2, n)
    with record_run(con, "label", {"bench": True}) as run:
        rows = []
        for j in range(3):
            outcome = rng.random(n)
            wrong = (truth + rng.integers(1, CLASSES, n)) % CLASSES
            label = np.where(outcome < 0.8, truth, np.where(outcome < 0.85, wrong, -1))
            confidence_lf = 0.5 + rng.random(n) / 2
            rows.append(pa.table({"doc_id": ids, "lf": [f"lf{j}"] * n, "label": label, "confidence": confidence_lf}))
            con.execute("INSERT INTO lfs (lf, kind, version, spec) VALUES (?, 'python', 'v1', '{}')", [f"lf{j}"])
        with registered(con, "_votes", pa.concat_tables(rows)):
            con.execute("INSERT INTO votes (doc_id, lf, lf_version, label, confidence, run_id) "
                        "SELECT doc_id, lf, 'v1', label, confidence, ? FROM _votes", [run.run_id])
    weak_table = pa.table({"doc_id": ids, "label": weak, "confidence": confidence})
    with record_run(con, "label-model", {"bench": True}) as run, registered(con, "_weak", weak_table):
        con.execute("INSERT INTO weak_labels (run_id, doc_id, label, confidence, model) "
                    "SELECT ?, doc_id, label, confidence, 'bench' FROM _weak", [run.run_id])
    return {ids[i] for i in np.flatnonzero(flipped)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of texts (the target is stated for 100,000)")
    parser.add_argument("--features", default="auto", help="char, word or auto (default: auto = word above 10,000 texts)")
    parser.add_argument("--char-sample", type=int, default=5_000,
                        help="also time char n-gram features on this many texts, for the trade-off (0: skip)")
    args = parser.parse_args(argv)

    from admedtagger.cleaning import FlagSettings, flag_labels
    from admedtagger.warehouse import connect, load_config, render_config, sync_categories

    started = time.perf_counter()
    texts, truth = make_corpus(args.n)
    print(f"generated {args.n:,} texts (mean {sum(map(len, texts)) / args.n:,.0f} chars) "
          f"in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "admedtagger.toml").write_text(render_config("pl"), encoding="utf-8")
        config = load_config(Path(tmp) / "admedtagger.toml")
        con = connect(config.db_path())
        sync_categories(con, config)
        started = time.perf_counter()
        flipped = load_warehouse(con, texts, truth)
        print(f"warehouse loaded (documents, 3 LFs' votes, weak labels) in {time.perf_counter() - started:.1f} s")
        del texts

        started = time.perf_counter()
        result = flag_labels(con, FlagSettings(features=args.features))
        total = time.perf_counter() - started
        flagged = {r[0] for r in con.execute(
            "SELECT doc_id FROM label_issues WHERE run_id = ? AND reason LIKE '%cleanlab%'", [result.run_id]
        ).fetchall()}
        con.close()
    m = result.metrics
    recall = len(flagged & flipped) / max(len(flipped), 1)
    precision = len(flagged & flipped) / max(len(flagged), 1)
    print(f"flag: {args.n:,} texts -> {m['flags']:,} flags written in {total:.1f} s "
          f"= {args.n / total:,.0f} texts/s (target for 100,000: < 60 s); features {m['features']}")
    print("  where the time goes: " + ", ".join(f"{k} {v:.1f} s" for k, v in m["seconds"].items())
          + f", bookkeeping {total - sum(m['seconds'].values()):.1f} s")
    print(f"  flags per reason: {m['flags_per_reason']}")
    print(f"  cleanlab flags vs the {len(flipped):,} flipped weak labels: recall {recall:.3f}, "
          f"precision {precision:.3f}; estimated wrong share {m['estimated_wrong_share']:.3f} (true 0.100); "
          f"cv accuracy {m['cv_accuracy']:.3f}")
    figures = {"seconds": total, "texts_per_s": args.n / total, "recall": recall, "precision": precision}
    if args.char_sample:
        figures["char_texts_per_s"] = char_baseline(args.char_sample, args.n / total)
    return figures


def char_baseline(n: int, word_rate: float) -> float:
    """The same run with char n-gram features on ``n`` texts: why large corpora get word features."""
    from admedtagger.cleaning import FlagSettings, flag_labels
    from admedtagger.warehouse import connect, load_config, render_config, sync_categories

    texts, truth = make_corpus(n, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "admedtagger.toml").write_text(render_config("pl"), encoding="utf-8")
        config = load_config(Path(tmp) / "admedtagger.toml")
        con = connect(config.db_path())
        sync_categories(con, config)
        load_warehouse(con, texts, truth)
        started = time.perf_counter()
        result = flag_labels(con, FlagSettings(features="char"))
        seconds = time.perf_counter() - started
        con.close()
    rate = n / seconds
    print(f"char n-gram features on {n:,} texts: {seconds:.1f} s = {rate:,.0f} texts/s, {word_rate / rate:.1f}x slower "
          f"than word features (100,000 projected: {100_000 / rate:.0f} s); where the time goes: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in result.metrics["seconds"].items()))
    return rate


if __name__ == "__main__":
    main()
