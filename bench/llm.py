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
from admedtagger.warehouse import Config, connect, sync_categories

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="demo texts")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-prompt-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
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


if __name__ == "__main__":
    main()
