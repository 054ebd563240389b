"""The whole pipeline on the bundled demo corpus: the README's walk-through, run for real.

The demo is a script of ordinary ``admedtagger`` commands run in-process against one
project folder, so every stage prints what it prints for a user and nothing here
duplicates a stage's logic. The only demo-specific step is the *simulated review*: the
worst flagged items are decided with the label each demo text was written for, through
the same ``review decide`` command a person would use, under the reviewer name
``simulated-demo`` so that nobody mistakes it for a human decision.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from admedtagger.warehouse import connect, last_ok_run, review_decision

from .corpus import BUNDLED_CORPUS

SIMULATED_REVIEWER = "simulated-demo"

# New texts for the `predict` step: not in the corpus, one per category and one of none.
NEW_TEXTS = (
    "Opis badania MR kręgosłupa lędźwiowego: przepuklina krążka L4/L5 uciskająca worek oponowy.",
    "Chora po mastektomii z powodu raka piersi, kwalifikacja do kolejnego kursu chemioterapii.",
    "W EKG migotanie przedsionków z szybką czynnością komór, w ECHO serca EF 35%.",
    "Nadciśnienie tętnicze źle kontrolowane, RR 172/104 mmHg, dołączono amlodypinę 5 mg.",
    "Wynik badania histopatologicznego: wycinek z żołądka, utkanie gruczolakoraka G2.",
    "Skierowanie do poradni dermatologicznej z powodu zmian łuszczycowych na łokciach.",
)


@dataclass(frozen=True)
class DemoSettings:
    llm_sample: int = 12  # documents the tiny LLM labels with every view (~1 s a prompt on 2 cores)
    transformer_epochs: int = 2
    simulated_reviews: int = 10


def demo_steps(settings: DemoSettings) -> list[tuple[str, list[str]]]:
    """(title, admedtagger arguments) for every stage, in order, run inside the project folder."""
    return [
        ("init", ["init", "."]),
        ("ingest", ["ingest", str(BUNDLED_CORPUS), "--id-col", "id", "--label-col", "label"]),
        ("label: keyword, python and embedding LFs on every document", ["label"]),
        (f"label: LLM prompt views on a sample of {settings.llm_sample} documents",
         ["label", "--kind", "llm", "--limit", str(settings.llm_sample)]),
        ("label model", ["label-model", "--model", "auto"]),
        ("flag suspect weak labels", ["flag"]),
        ("simulated review", []),  # run by run_demo: needs the flags of the step above
        ("train the TF-IDF student", ["train", "--kind", "tfidf"]),
        ("train the embedding student (a linear head on the e5 vectors the embedding LFs stored)",
         ["train", "--kind", "embedding"]),
        ("train the transformer student", ["train", "--kind", "transformer",
                                           "--epochs", str(settings.transformer_epochs)]),
        ("evaluate on the gold test split", ["evaluate"]),
        ("teacher vs students (speed, size, memory)", ["compare", "--texts", "8"]),
        ("predict new texts", ["predict", "new_texts.jsonl", "--out", "predictions.jsonl"]),
        ("report", ["report", "--out", "report.html"]),
    ]


def simulated_decisions(db_path: Path, limit: int) -> list[list[str]]:
    """``review decide`` arguments for the worst ``limit`` flags, using the demo's known labels."""
    con = connect(db_path, read_only=True)
    try:
        rows = con.execute(
            """
            SELECT i.doc_id, i.given_label, k.label
            FROM label_issues i JOIN gold_imports k USING (doc_id)
            WHERE i.run_id = ? AND i.doc_id NOT IN (SELECT doc_id FROM reviews)
            ORDER BY i.rank LIMIT ?
            """,
            [last_ok_run(con, "flag"), limit],
        ).fetchall()
    finally:
        con.close()
    decisions = []
    for doc_id, given, known in rows:
        decision = review_decision(known, given)
        verdict = {"accept": ["--accept"], "reject": ["--none"]}.get(decision, ["--label", str(known)])
        decisions.append(["review", "decide", doc_id, *verdict,
                          "--reviewer", SIMULATED_REVIEWER, "--note", "simulated: the demo text's known label"])
    return decisions


def run_demo(folder: Path, invoke: Callable[[list[str]], int], announce: Callable[[str, list[str]], None],
             settings: DemoSettings = DemoSettings()) -> list[tuple[str, float]]:
    """Run every stage through ``invoke`` (the CLI) inside ``folder``; return (stage, seconds).

    Stops at the first failing stage. The working folder is the project folder meanwhile,
    so every command finds its ``admedtagger.toml`` as it would for a user.
    """
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(folder):
        return _run_steps(folder, invoke, announce, settings)


def _run_steps(folder: Path, invoke: Callable[[list[str]], int], announce: Callable[[str, list[str]], None],
               settings: DemoSettings) -> list[tuple[str, float]]:
    (folder / "new_texts.jsonl").write_text(
        "".join(f'{{"id": "new-{i + 1}", "text": "{text}"}}\n' for i, text in enumerate(NEW_TEXTS)), encoding="utf-8"
    )
    timings = []
    for title, args in demo_steps(settings):
        started = time.perf_counter()
        commands = simulated_decisions(folder / "admedtagger.duckdb", settings.simulated_reviews) if not args else [args]
        announce(title, commands[0] if len(commands) == 1 else [f"review decide × {len(commands)}"])
        for command in commands:
            code = invoke(command)
            if code:
                raise RuntimeError(f"demo stage '{title}' failed (exit {code}): admedtagger {' '.join(command)}")
        timings.append((title, time.perf_counter() - started))
    return timings
