"""Every benchmark in one run, summed up in one table: stage, workload, figure, target, pass/miss.

Each benchmark runs as its own process (``python -m bench.NAME``) so that their peak
memory and imports do not mix; its printed figure is read back from its output.

    python -m bench.all            # the synthetic workloads of every stage (~15 min on 2 cores)
    python -m bench.all --real     # also the English language pack on ../shared/data
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Bench:
    stage: str
    module: str
    args: tuple[str, ...]
    workload: str
    pattern: str  # regex whose first group is the figure, in the benchmark's output
    unit: str
    target: float
    higher_is_better: bool


BENCHES = (
    Bench("ingest", "bench.ingest", ("--n", "1000000"), "1M texts of ~1 KB, JSONL -> DuckDB",
          r"1M projected: (\d+) s", "s per 1M texts", 60, False),
    Bench("label: keywords", "bench.keywords", ("--n", "100000", "--regex-n", "200", "--runner-n", "0"),
          "100k texts of ~1 KB, all keyword LFs, one core", r"all \d+ keyword LFs[^:]*: ([\d,]+) texts/s",
          "texts/s", 10_000, True),
    Bench("label: LLM", "bench.llm", ("--n", "16", "--threads", "1"),
          "16 demo texts x every view, SmolLM2-135M", r"batched vs naive\s*: x([\d.]+)",
          "x faster than naive generate", 5, True),
    Bench("label: LLM on Ray", "bench.llm", ("--n", "16", "--threads", "1"),
          "256 prompts, one Ray replica vs the local backend, 2 threads each, model load included",
          r"ray vs local\s*: x([\d.]+)", "x the local prompts/s", 0.8, True),
    Bench("review in the browser", "bench.web", ("--seconds", "8"), "GET /queue, 10 concurrent reviewers, demo warehouse",
          r"GET /queue: ([\d.]+) req/s with 10 clients", "req/s", 10, True),
    Bench("review in the browser", "bench.web", ("--seconds", "8"), "POST a decision, 10 concurrent reviewers",
          r"POST /queue/decide \(skip\): ([\d.]+) req/s with 10 clients", "req/s", 5, True),
    Bench("label model", "bench.label_model", (), "1M docs x 10 LFs x 5 classes, majority",
          r"majority: [\d,]+ weak labels in ([\d.]+) s end-to-end", "s end-to-end", 20, False),
    Bench("label model", "bench.label_model", (), "1M docs x 10 LFs x 5 classes, snorkel",
          r"snorkel: [\d,]+ weak labels in ([\d.]+) s end-to-end", "s end-to-end", 20, False),
    Bench("flag", "bench.flag", ("--n", "100000"), "100k texts of ~1 KB -> flags",
          r"flags written in ([\d.]+) s", "s", 60, False),
    Bench("students", "bench.students", (), "TF-IDF student trained on 100k texts",
          r"hard: ([\d.]+) s \(features", "s", 120, False),
    Bench("label quality", "bench.quality", (), "demo corpus, no gold: weak labels' macro-F1",
          r"demo \(pl\)\s+0\s+([\d.]+)", "macro-F1", 0.85, True),
    Bench("label quality", "bench.quality", (), "demo corpus, after 50 simulated reviews: final labels",
          r"demo \(pl\)\s+50\s+[\d.]+\s+([\d.]+)", "macro-F1", 0.90, True),
    Bench("label quality", "bench.quality", (), "real English texts, no gold: chosen label model minus majority vote",
          r"en: PubMed \+ chest X-ray: .*chosen minus majority ([+-][\d.]+)", "macro-F1", 0.0, True),
)


def run(bench: Bench, cache: dict[tuple, str]) -> tuple[float | None, str]:
    """The figure a benchmark printed (None if it printed none) and its whole output."""
    key = (bench.module, bench.args)
    if key not in cache:  # one run serves every row reading the same benchmark
        done = subprocess.run([sys.executable, "-m", bench.module, *bench.args], cwd=ROOT,
                              capture_output=True, text=True)
        cache[key] = done.stdout + done.stderr
    match = re.search(bench.pattern, cache[key])
    return (float(match.group(1).replace(",", "")) if match else None), cache[key]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", action="store_true", help="also run the English pack on ../shared/data")
    parser.add_argument("--only", action="append", default=[], help="run only benchmarks whose module contains this")
    args = parser.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    console = Console()
    cache: dict[tuple, str] = {}
    rows = []
    for bench in BENCHES:
        if args.only and not any(o in bench.module for o in args.only):
            continue
        started = time.perf_counter()
        console.print(f"[dim]running {bench.module} {' '.join(bench.args)} ...[/dim]")
        fresh = (bench.module, bench.args) not in cache
        figure, output = run(bench, cache)
        if fresh:
            console.print(output, highlight=False, markup=False)
        if figure is None:
            console.print(f"[red]{bench.module} printed no figure[/red]")
        met = figure is not None and (figure >= bench.target if bench.higher_is_better else figure <= bench.target)
        rows.append({"stage": bench.stage, "workload": bench.workload,
                     "figure": "-" if figure is None else f"{figure:,.2f} {bench.unit}",
                     "target": f"{'>=' if bench.higher_is_better else '<='} {bench.target:,} {bench.unit}",
                     "result": "pass" if met else "miss", "seconds": round(time.perf_counter() - started)})
    if args.real:
        done = subprocess.run([sys.executable, "-m", "bench.english_pack"], cwd=ROOT, capture_output=True, text=True)
        console.print(done.stdout + done.stderr)
    table = Table(title="admedtagger benchmarks (this machine)")
    for column in ("stage", "workload", "figure", "target", "result"):
        table.add_column(column)
    for row in rows:
        colour = "green" if row["result"] == "pass" else "red"
        table.add_row(row["stage"], row["workload"], row["figure"], row["target"], f"[{colour}]{row['result']}[/{colour}]")
    console.print(table)
    return rows


if __name__ == "__main__":
    main()
