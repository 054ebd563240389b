"""Ingest benchmark: N synthetic ~1 KB texts from JSONL into a fresh warehouse.

Prints texts/s and the peak resident memory of the ingesting process. Target: 1M texts in
under 60 s on a 2-core machine, peak memory under 2 GB.

    python -m bench.ingest --n 1000000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = (
    "pacjent pacjentka lat badanie wynik rozpoznanie zalecenia kontrola leczenie objawy "
    "bez zmian stwierdzono w obrębie prawidłowy nieprawidłowy ocena dawka mg dziennie "
    "skierowanie poradnia oddział szpital wypis konsultacja wywiad przyjęty stan ogólny "
    "dobry średni ciężki tkanki narządy jamy brzusznej klatki piersiowej serca płuc "
    "wątroby nerek ciśnienie tętnicze RR EKG TK MR USG RTG guz zmiana ognisko naciek"
).split()


def write_corpus(path: Path, n: int, seed: int = 0) -> None:
    """Stream ``n`` unique ~1 KB texts to JSONL without holding them in memory."""
    rng = random.Random(seed)
    sentences = [" ".join(rng.choices(WORDS, k=rng.randint(8, 16))).capitalize() + "." for _ in range(5000)]
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            parts, size = [f"Dokument {i}."], 0
            while size < 1000:
                sentence = sentences[rng.randrange(5000)]
                parts.append(sentence)
                size += len(sentence) + 1
            out.write(json.dumps({"text": " ".join(parts)}, ensure_ascii=False) + "\n")


def ingest_only(corpus: Path, db: Path) -> dict:
    """Ingest into a new warehouse; run in a child process so its peak memory is its own."""
    from admedtagger.warehouse import connect, ingest_files

    con = connect(db)
    started = time.perf_counter()
    stats = ingest_files(con, [corpus], batch_size=20_000)
    seconds = time.perf_counter() - started
    con.close()
    return {"texts": stats.inserted, "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="number of texts (the target is stated for 1,000,000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        started = time.perf_counter()
        write_corpus(corpus, args.n)
        print(f"generated {args.n:,} texts ({corpus.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s")
        child = subprocess.run(
            [sys.executable, "-c", "import json,sys; from bench.ingest import ingest_only; "
             "print(json.dumps(ingest_only(*map(__import__('pathlib').Path, sys.argv[1:]))))",
             str(corpus), str(Path(tmp) / "w.duckdb")],
            check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
    rate = result["texts"] / result["seconds"]
    projected = 1_000_000 / rate
    print(f"ingest: {result['texts']:,} texts in {result['seconds']:.1f} s = {rate:,.0f} texts/s "
          f"(1M projected: {projected:.0f} s, target < 60 s); peak RSS {result['peak_rss_mb']:.0f} MB (target < 2048)")
    return {"texts_per_s": rate, "peak_rss_mb": result["peak_rss_mb"], "seconds_per_million": projected}


if __name__ == "__main__":
    main()
