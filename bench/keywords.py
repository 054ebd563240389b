"""Keyword LF benchmark: all keyword LFs of the Polish pack on N synthetic ~1 KB texts, one core.

Texts are built from everyday clinical Polish words, inflected lexicon forms, negation
cues and punctuation, so the matcher sees realistic match and negation densities. Prints:

* morfeusz2 expansion time of the pack (cold cache) and the load time (warm cache), and
  the automaton compile time;
Rates are texts per CPU second of this (single-threaded) process, so other work on a
shared machine does not distort them; wall-clock rates are printed beside them.

* texts/s of the shared matcher alone and of all five keyword LFs through ``apply``
  (what the runner calls), in batches of 2,000;
* the runner end to end (``label`` on a fresh warehouse, votes committed in DuckDB) on
  ``--runner-n`` of the texts;
* the same texts matched by ONE big regular expression of all surface forms (the
  alternative the design considered), on a slice, as a ratio.

Target: >= 10,000 texts/s for all keyword LFs on one core.

    python -m bench.keywords --n 100000
"""

from __future__ import annotations

import argparse
import os
import random
import re
import tempfile
import time

FILLER = (
    "pacjent pacjentka lat badanie wynik rozpoznanie zalecenia kontrola leczenie objawy w obrębie "
    "prawidłowy ocena dawka mg dziennie skierowanie poradnia oddział szpital wypis konsultacja wywiad "
    "przyjęty stan ogólny dobry średni ciężki tkanki narządy jamy brzusznej klatki piersiowej płuc "
    "wątroby nerek z na do i oraz po przed od u się jest był była zgłosił zgłosiła dolegliwości ból "
    "gorączka kaszel duszność od tygodnia wizyta kontrolna dalsze postępowanie według zaleceń lekarza"
).split()
PUNCT = [".", ",", ".", ";", ":", "."]


def synthetic_texts(n: int, forms: list[str], cues: list[str], seed: int = 0, size: int = 1000) -> list[str]:
    """``n`` texts of about ``size`` characters: ~85 % filler words, ~10 % lexicon forms, ~5 % cues."""
    rng = random.Random(seed)
    pool = [rng.choice(FILLER) for _ in range(200_000)]
    texts = []
    for _ in range(n):
        words, length = [], 0
        while length < size:
            r = rng.random()
            word = rng.choice(forms) if r < 0.10 else rng.choice(cues) if r < 0.15 else pool[rng.randrange(len(pool))]
            if rng.random() < 0.12:
                word += rng.choice(PUNCT)
            words.append(word)
            length += len(word) + 1
        text = " ".join(words)
        texts.append(text[0].upper() + text[1:])
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="texts (default 100,000)")
    parser.add_argument("--regex-n", type=int, default=1_000, help="texts for the one-big-regex baseline")
    parser.add_argument("--runner-n", type=int, default=20_000, help="texts through the runner and DuckDB (0: skip)")
    args = parser.parse_args()
    # Fresh cache: the first build measures the morfeusz2 expansion, the second the cached load.
    os.environ["ADMEDTAGGER_CACHE"] = tempfile.mkdtemp(prefix="admedtagger-bench-")

    from admedtagger.labeling.keywords import KeywordMatcher, keyword_lfs, load_lexicon
    from admedtagger.labeling.morphology import expand_terms
    from admedtagger.labeling.registry import pack_lexicon

    lexicon = load_lexicon(pack_lexicon("pl"))
    categories = list(enumerate(["Radiology", "Oncology", "Cardiology", "Hypertension", "Pathology"]))
    terms = [t for c in lexicon.categories.values() for t in c.terms]
    started = time.perf_counter()
    forms = expand_terms(terms, lexicon.morphology, lexicon.inflect_like)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    expand_terms(terms, lexicon.morphology, lexicon.inflect_like)
    warm = time.perf_counter() - started
    started = time.perf_counter()
    lfs = keyword_lfs(lexicon, categories)
    build = time.perf_counter() - started
    surface = sorted({f for fs in forms.values() for f in fs} | {e for c in lexicon.categories.values() for e in c.exact})
    print(f"lexicon: {len(terms)} terms -> {len(surface):,} surface forms; "
          f"expansion {cold * 1000:.0f} ms cold (morfeusz2), {warm * 1000:.1f} ms from cache; "
          f"LFs with compiled matcher {build * 1000:.0f} ms (warm)")

    cues = [c for k in ("pre", "post", "pseudo", "cancels", "breakers") for c in getattr(lexicon.negation, k)]
    texts = synthetic_texts(args.n, surface, cues)
    mean_len = sum(map(len, texts)) / len(texts)
    print(f"{len(texts):,} synthetic texts, mean {mean_len:.0f} characters")

    matcher: KeywordMatcher = lfs[0].matcher
    cpu, wall = time.process_time(), time.perf_counter()
    for text in texts:
        matcher.match(text)
    matcher_rate = len(texts) / (time.process_time() - cpu)
    print(f"matcher alone: {matcher_rate:,.0f} texts/s ({len(texts) / (time.perf_counter() - wall):,.0f} wall)")

    cpu, wall = time.process_time(), time.perf_counter()
    voted = 0
    for i in range(0, len(texts), 2000):
        batch = texts[i: i + 2000]
        for lf in lfs:
            voted += sum(v.label >= 0 for v in lf.apply(batch))
    lf_rate = len(texts) / (time.process_time() - cpu)
    print(f"all {len(lfs)} keyword LFs (apply, batches of 2,000): {lf_rate:,.0f} texts/s "
          f"({len(texts) / (time.perf_counter() - wall):,.0f} wall); "
          f"{voted / (len(texts) * len(lfs)):.0%} of (text, LF) pairs voted")

    big = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, sorted(surface, key=len, reverse=True))) + r")(?![\w-])",
                     re.IGNORECASE)
    sample = texts[: args.regex_n]
    cpu = time.process_time()
    for text in sample:
        big.findall(text)
    regex_rate = len(sample) / (time.process_time() - cpu)
    print(f"one big regex of all forms (matching only, no negation): {regex_rate:,.0f} texts/s; "
          f"the automaton matcher with negation is {matcher_rate / regex_rate:.1f}x faster")
    print(f"target >= 10,000 texts/s for all keyword LFs: {'met' if lf_rate >= 10_000 else 'NOT met'}")
    if args.runner_n:
        runner_rate(texts[: args.runner_n])


def runner_rate(texts: list[str]) -> None:
    """The same LFs through ``label`` on a fresh warehouse: DuckDB reads and batch commits included."""
    import json
    from pathlib import Path

    from admedtagger.labeling.registry import build_lfs
    from admedtagger.labeling.runner import apply_lfs
    from admedtagger.warehouse import connect, ingest_files, load_config, render_config, sync_categories

    folder = Path(tempfile.mkdtemp(prefix="admedtagger-bench-"))
    (folder / "admedtagger.toml").write_text(render_config("pl"), encoding="utf-8")
    with (folder / "texts.jsonl").open("w", encoding="utf-8") as out:
        for i, text in enumerate(texts):
            out.write(json.dumps({"id": f"d{i}", "text": text}, ensure_ascii=False) + "\n")
    config = load_config(folder / "admedtagger.toml")
    con = connect(config.db_path())
    sync_categories(con, config)
    ingest_files(con, [folder / "texts.jsonl"], id_col="id")
    lfs = build_lfs(con, config, kinds=["keyword"])
    cpu, wall = time.process_time(), time.perf_counter()
    result = apply_lfs(con, lfs)
    print(f"runner (label) on {result.documents:,} documents, {len(lfs)} LFs, batches of {lfs[0].batch_size:,}: "
          f"{result.documents / (time.process_time() - cpu):,.0f} texts/s "
          f"({result.documents / (time.perf_counter() - wall):,.0f} wall), votes committed")
    con.close()


if __name__ == "__main__":
    main()
