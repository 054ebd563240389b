"""Students benchmark: texts/s of each student and of the teacher, TF-IDF training on 100k texts.

1. Trains the two students on half of the bundled demo corpus (its known labels, hard):
   TF-IDF, and all-MiniLM-L6-v2 (``--epochs``, 128 tokens).
2. Accuracy change from int8 dynamic quantisation: MiniLM fp32 against int8 on the other
   half (macro-F1 over the 5 categories as ``evaluate`` scores it, and agreement).
3. Throughput on the same ~1 KB texts (demo texts joined), each model in a fresh process
   (texts/s, peak RSS, parameters, size): TF-IDF, MiniLM fp32, MiniLM int8, and the
   teacher (``measure_teacher`` of the labelling stage, SmolLM2-135M through every prompt
   view) on the first ``--teacher-texts`` of them, with the ratios.
4. TF-IDF training time on ``--n-train`` synthetic texts from the demo generator (target:
   100k under 2 min), hard labels and soft labels shaped like the label model's output
   (each text expands to 1.25 weighted rows), with macro-F1 on 5k fresh texts.

    python -m bench.students [--n-train 100000] [--texts 128] [--epochs 4] [--teacher-texts 4]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "data" / "demo_pl.jsonl"
NAMES = ["Radiology", "Oncology", "Cardiology", "Hypertension", "Pathology"]


def demo_rows() -> tuple[list[str], np.ndarray]:
    rows = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]
    return [r["text"] for r in rows], np.asarray([NAMES.index(r["label"]) if r["label"] in NAMES else -1 for r in rows])


def kilobyte_texts(texts: list[str], n: int) -> list[str]:
    """``n`` texts of ~1 KB: consecutive demo texts joined until 1,000 characters."""
    out, current = [], ""
    for text in texts * 10:
        current = f"{current} {text}".strip()
        if len(current) >= 1000:
            out.append(current[:1100])
            current = ""
            if len(out) == n:
                break
    return out


def save(student, folder: Path, model_id: str, max_length: int = 128) -> Path:
    from admedtagger.students import registry

    folder.mkdir(parents=True)
    student.save(folder)
    registry.write_manifest(folder, {"model_id": model_id, "kind": student.kind, "category_names": NAMES,
                                     "classes": registry.classes_of(NAMES), "max_length": max_length})
    return folder


def macro_f1(gold, predicted) -> float:
    from admedtagger.students.labels import macro_f1

    return macro_f1(gold, predicted, NAMES)


def train_students(work: Path, epochs: int, threads: int | None) -> tuple[Path, Path, dict]:
    from admedtagger.students import tfidf, transformer
    from admedtagger.students.labels import predicted_labels

    texts, labels = demo_rows()
    train_idx = [i for i in range(len(texts)) if i % 2 == 0 and labels[i] >= 0]
    eval_idx = [i for i in range(len(texts)) if i % 2 == 1]
    targets = np.eye(len(NAMES) + 1)[labels[train_idx]]  # K+1 columns: "none" last, unused here
    train_texts = [texts[i] for i in train_idx]
    eval_texts, eval_gold = [texts[i] for i in eval_idx], labels[eval_idx]

    started = time.perf_counter()
    tfidf_student = tfidf.fit(train_texts, targets, NAMES, soft=False)
    print(f"tfidf: trained on {len(train_texts)} demo texts in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    options = transformer.TrainOptions(epochs=epochs, max_length=128, batch_size=16, threads=threads)
    minilm = transformer.fit(train_texts, targets, NAMES, soft=False, options=options)
    print(f"MiniLM: trained {epochs} epoch(s) on {len(train_texts)} demo texts in {time.perf_counter() - started:.1f} s")

    fp32 = predicted_labels(minilm.predict_proba(eval_texts))
    int8 = predicted_labels(minilm.quantized().predict_proba(eval_texts))
    tf = predicted_labels(tfidf_student.predict_proba(eval_texts))
    quality = {
        "tfidf": macro_f1(eval_gold, tf), "minilm_fp32": macro_f1(eval_gold, fp32),
        "minilm_int8": macro_f1(eval_gold, int8), "int8_agreement": float((fp32 == int8).mean()),
    }
    print(f"macro-F1 on the other {len(eval_texts)} demo texts (trained on category texts only, so never none): tfidf {quality['tfidf']:.3f}, "
          f"MiniLM fp32 {quality['minilm_fp32']:.3f}, int8 {quality['minilm_int8']:.3f} "
          f"(change {quality['minilm_int8'] - quality['minilm_fp32']:+.3f}); "
          f"int8 agrees with fp32 on {quality['int8_agreement']:.1%}")
    return (save(tfidf_student, work / "tfidf", "tfidf-bench"),
            save(minilm, work / "minilm", "minilm-bench"), quality)


def throughput(tfidf_dir: Path, minilm_dir: Path, n_texts: int, teacher_texts: int, threads: int | None) -> list[dict]:
    from admedtagger.students.measure import in_fresh_process, measure_student, ratio_rows

    texts = kilobyte_texts(demo_rows()[0], n_texts)
    print(f"\nthroughput on {len(texts)} texts of {np.mean([len(t) for t in texts]):.0f} characters, "
          "each model in a fresh process:")
    students = [
        measure_student(tfidf_dir, texts, threads=threads),
        measure_student(minilm_dir, texts, threads=threads),
        measure_student(minilm_dir, texts, quantize=True, threads=threads),
    ]
    teacher = None
    if teacher_texts:
        try:
            from admedtagger.labeling.llm import measure_teacher
        except ImportError as exc:
            print(f"teacher not measured: {exc}")
        else:
            teacher, peak = in_fresh_process(measure_teacher, texts[:teacher_texts])
            teacher["peak_rss_bytes"] = peak  # the child's own (see students.measure.peak_rss_bytes)
            print(f"teacher: {teacher['model']} ({teacher['backend']}, views {', '.join(teacher['views'])}) "
                  f"on the first {teacher_texts} texts")
    table = ratio_rows(teacher or {"model": "(not measured)"}, students)
    for row in table.to_pylist():
        print("  " + "  ".join(f"{k} {v}" for k, v in row.items() if v is not None))
    return table.to_pylist()


def train_100k(n: int) -> dict:
    from admedtagger.students import tfidf
    from admedtagger.students.labels import predicted_labels
    from admedtagger.demo.corpus import generate

    per_category = int(n * 0.95 / len(NAMES))
    started = time.perf_counter()
    rows = generate(per_category, n - per_category * len(NAMES), seed=7)
    fresh = generate(950, 250, seed=8)
    generated = time.perf_counter() - started
    texts = [r["text"] for r in rows if r["label"] in NAMES]
    labels = np.asarray([NAMES.index(r["label"]) for r in rows if r["label"] in NAMES])
    test_texts = [r["text"] for r in fresh]
    test_gold = np.asarray([NAMES.index(r["label"]) if r["label"] in NAMES else -1 for r in fresh])
    print(f"\nTF-IDF training on {len(texts):,} synthetic texts ({np.mean([len(t) for t in texts]):.0f} characters; "
          f"generated in {generated:.1f} s):")
    rng = np.random.default_rng(0)
    hard = np.eye(len(NAMES) + 1)[labels]  # K+1 columns: "none" last, unused here
    # Shaped like the label model's output on the demo (1.3 classes >= 0.01 per text):
    # most texts near one-hot, a quarter split between their class and another one.
    other = np.eye(len(NAMES) + 1)[(labels + rng.integers(1, len(NAMES), len(labels))) % len(NAMES)]
    split = rng.random(len(labels)) < 0.25
    share = np.where(split, rng.uniform(0.1, 0.45, len(labels)), 0.005)[:, None]
    soft = (1 - share) * hard + share * other
    figures = {}
    for name, targets, is_soft in (("hard", hard, False), ("soft", soft, True)):
        stages = []
        started = time.perf_counter()
        student = tfidf.fit(texts, targets, NAMES, soft=is_soft,
                            on_progress=lambda stage: stages.append((stage, time.perf_counter())))
        seconds = time.perf_counter() - started
        features_s = stages[1][1] - stages[0][1]
        f1 = macro_f1(test_gold, predicted_labels(student.predict_proba(test_texts)))
        figures[name] = {"seconds": seconds, "features_s": features_s, "macro_f1": f1}
        print(f"  {name}: {seconds:.1f} s (features {features_s:.1f} s, {stages[1][0]}); "
              f"macro-F1 on 5k fresh texts {f1:.3f}; target < 120 s: {'met' if seconds < 120 else 'MISSED'}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=100_000, help="synthetic texts for the TF-IDF training time")
    parser.add_argument("--texts", type=int, default=128, help="~1 KB texts for the throughput figures")
    parser.add_argument("--epochs", type=int, default=4, help="MiniLM fine-tuning epochs")
    parser.add_argument("--teacher-texts", type=int, default=4, help="texts for the teacher (0 = skip it)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as folder:
        tfidf_dir, minilm_dir, _ = train_students(Path(folder), args.epochs, args.threads)
        throughput(tfidf_dir, minilm_dir, args.texts, args.teacher_texts, args.threads)
    train_100k(args.n_train)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
