"""LLM labelling benchmark with the bundled SmolLM2-135M-Instruct (transformers, CPU).

The same demo texts through the same prompt views, four ways:

* **batched scoring**: what the LLM LFs do — prompts sorted by length, batches of
  ``--batch-size``, the shared prompt prefix computed once per batch, one forward pass
  per prompt, the next-token probabilities of the label words;
* the same without prefix sharing (left-padded full prompts), to show what sharing buys;
* **naive generation**: one prompt at a time, ``model.generate`` (greedy, up to the longest
  label word's tokens + 4, stopping at end of turn), the text parsed as a label word —
  the obvious way to ask an LLM for a label;
* **cache-hit rerun**: fresh LFs on a warehouse whose ``llm_cache`` already holds every
  answer (what a rerun with unchanged views costs).

Rates are texts/s per LF (one text through one LF = one prompt). The model load is
not timed. Target: batched scoring >= 5x naive generation.

Then, when Ray is installed, the **Ray engine against the local backend** on the same
prompts (``--ray-texts`` texts x every LF: 32 x 8 = 256 prompts, plus each LF's 3
content-free prompts): each way is one whole ``label`` run on a fresh warehouse, from
building the LFs to the last committed vote, so both include loading the model (here in
this process; there in the replicas, started by the run's Ray job). The Ray cluster, of
``--ray-threads`` CPUs, is started before the clock, like a cluster that is up before a
job is submitted. The figure compares the same compute both ways: one replica with
``--ray-threads`` torch threads against the local backend with as many threads, so the
ratio is what Ray itself costs (starting the replica, Ray's own processes on the same
cores). Target: Ray at least 0.8x the local rate (its overhead under 20 %). A last line
shows the same cores as ``--ray-threads`` single-thread replicas.

    python -m bench.llm --n 16
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from admedtagger.labeling.llm.backend_transformers import TransformersBackend
from admedtagger.labeling.llm.build import lfs_for_backend
from admedtagger.labeling.llm.cache import LLMCache
from admedtagger.labeling.llm.labels import parse_choice
from admedtagger.warehouse import Config, connect, ingest_files, sync_categories

DEMO = Path(__file__).resolve().parents[1] / "demo" / "data" / "demo_pl.jsonl"
VIEWS = ["direct_pl", "definitions_en", "persona_pl", "yesno_pl"]  # the pack's views but few-shot (needs gold)


def demo_texts(n: int) -> list[str]:
    with DEMO.open(encoding="utf-8") as lines:
        return [json.loads(line)["text"] for line, _ in zip(lines, range(n))]


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def batched(lfs, texts) -> list:
    return [lf.apply(texts) for lf in lfs]


def naive_generate(engine: TransformersBackend, lfs, texts) -> list:
    """One ``generate`` call per prompt; the generated text parsed as a label word: the vote."""
    import torch

    model, tokenizer = engine.model, engine.tokenizer
    answers = []
    with torch.inference_mode():
        for lf in lfs:
            for text in texts:
                ids = torch.tensor([lf.prompter.render(text).ids])
                out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                     max_new_tokens=lf.labels.max_tokens + 4, pad_token_id=tokenizer.pad_token_id)
                index = parse_choice(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True), lf.labels)
                if lf.category is not None:  # a yes/no LF votes its category on "yes"
                    index = lf.category if index == 0 else -1
                answers.append(index)
    return answers


def label_run(n_texts: int, options: dict) -> tuple[float, int]:
    """Seconds of one ``label`` run of every view on the first ``n_texts`` demo texts (in
    ``--limit`` order) in a fresh warehouse, the LFs built inside the clock, and the
    prompts the model answered."""
    from admedtagger.labeling.llm.build import build_llm_lfs
    from admedtagger.labeling.runner import apply_lfs

    config = Config(root=Path.cwd())
    with tempfile.TemporaryDirectory() as folder:
        con = connect(Path(folder) / "bench.duckdb")
        sync_categories(con, config)
        ingest_files(con, [DEMO], id_col="id")
        started = time.perf_counter()
        lfs = build_llm_lfs(con, config, views=VIEWS, options=options)
        result = apply_lfs(con, lfs, limit=n_texts)
        seconds = time.perf_counter() - started
        answered = sum(m["model_calls"] + m["calibration_calls"] for m in result.lfs.values())
        con.close()
    return seconds, answered


def ray_versus_local(n_texts: int, threads: int, options: dict) -> None:
    """Print prompts/s of the Ray engine and of the local backend on the same prompts."""
    try:
        import ray
    except ImportError:
        print("ray engine: skipped (pip install 'admedtagger[ray]')")
        return
    ray.init(num_cpus=threads, include_dashboard=False, logging_level="WARNING")
    try:
        one_s, one_n = label_run(n_texts, {**options, "engine": "ray", "replicas": 1, "threads": threads})
        many_s, many_n = label_run(n_texts, {**options, "engine": "ray", "replicas": threads, "threads": 1})
    finally:
        ray.shutdown()
    local_s, local_n = label_run(n_texts, {**options, "threads": threads})
    assert one_n == many_n == local_n, (one_n, many_n, local_n)
    print(f"local backend                  : {local_n / local_s:8.2f} prompts/s ({local_n} prompts in "
          f"{local_s:.1f} s, {threads} threads, model load included)")
    print(f"ray engine, 1 replica          : {one_n / one_s:8.2f} prompts/s ({one_n} prompts in {one_s:.1f} s, "
          f"{threads} threads, the replica's start and model load included)")
    print(f"ray vs local                   : x{local_s / one_s:.2f}  (target >= 0.8)")
    print(f"ray engine, {threads} replicas x 1 thread: {many_n / many_s:8.2f} prompts/s "
          f"(x{local_s / many_s:.2f} the local backend)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="demo texts")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-prompt-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--ray-texts", type=int, default=32, help="texts for Ray vs local (x 8 LFs; 0: skip)")
    parser.add_argument("--ray-threads", type=int, default=2, help="torch threads of the replica and of the local run")
    args = parser.parse_args()

    import torch

    config = Config(root=Path.cwd())
    texts = demo_texts(args.n)
    opts = {"max_prompt_tokens": args.max_prompt_tokens}
    engine = TransformersBackend(None, batch_size=args.batch_size, threads=args.threads)
    load_s, _ = timed(lambda: engine.model)
    lfs = lfs_for_backend(engine, config, config.categories, VIEWS, opts)
    prompts = len(texts) * len(lfs)
    mean_tokens = sum(len(lf.prompter.render(t).ids) for lf in lfs for t in texts) / prompts
    print(f"model {engine.model_id}: loaded in {load_s:.1f} s; torch threads {torch.get_num_threads()}; "
          f"{len(texts)} texts x {len(lfs)} LFs (views {', '.join(VIEWS)}) = {prompts} prompts, "
          f"mean {mean_tokens:.0f} tokens")
    batched(lfs, texts[:2])  # warm-up

    engine.share_prefix = True
    shared_s, _ = timed(lambda: batched(lfs, texts))
    engine.share_prefix = False
    padded_s, _ = timed(lambda: batched(lfs, texts))
    engine.share_prefix = True
    naive_s, _ = timed(lambda: naive_generate(engine, lfs, texts))

    with tempfile.TemporaryDirectory() as folder:
        con = connect(Path(folder) / "bench.duckdb")
        sync_categories(con, config)
        cached = lfs_for_backend(engine, config, config.categories, VIEWS, opts, cache=LLMCache(con))
        fill_s, _ = timed(lambda: batched(cached, texts))
        rerun = lfs_for_backend(engine, config, config.categories, VIEWS, opts, cache=LLMCache(con))
        hit_s, _ = timed(lambda: batched(rerun, texts))
        calls = sum(lf.metrics["model_calls"] for lf in rerun)
        con.close()

    def rate(seconds: float) -> float:
        return prompts / seconds

    print(f"batched scoring, shared prefix : {rate(shared_s):8.2f} texts/s per LF")
    print(f"batched scoring, no sharing    : {rate(padded_s):8.2f} texts/s per LF "
          f"(sharing gives x{padded_s / shared_s:.2f})")
    print(f"naive generate, one at a time  : {rate(naive_s):8.2f} texts/s per LF")
    print(f"batched vs naive               : x{naive_s / shared_s:.2f}  (target >= 5)")
    print(f"first run with cache writes    : {rate(fill_s):8.2f} texts/s per LF")
    print(f"cache-hit rerun                : {rate(hit_s):8.0f} texts/s per LF ({calls} model calls)")
    if args.ray_texts:
        ray_versus_local(args.ray_texts, args.ray_threads, {**opts, "batch_size": args.batch_size})


if __name__ == "__main__":
    main()
